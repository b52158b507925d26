"""A SQLite registry whose folder vanished answers with `BackendError`, not the driver's
own exception (a new thread's first read opens the driver's connection directly)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from registry_backends import open_registry
from registry_core import BackendError


def test_a_read_after_the_database_folder_vanished_is_a_backend_error(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    registry = open_registry(f"sqlite:///{folder}/registry.db")
    registry.create_model("m")
    shutil.rmtree(folder)
    raised: list[BaseException] = []

    def read() -> None:  # a thread with no reader connection yet
        try:
            registry.get_model("m")
        except BaseException as error:
            raised.append(error)

    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    assert len(raised) == 1 and isinstance(raised[0], BackendError), raised
