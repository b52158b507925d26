"""Downloaded files land as any file the user writes would: full size, umask permissions."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core import MemoryRepository, Registry


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o027)
    yield
    os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_downloaded_files_get_the_umask_permissions(umask: None, tmp_path: Path) -> None:
    registry = Registry(MemoryRepository())
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    registry.upload("m", "1.0.0", io.BytesIO(b"weights"), name="model/w.bin")
    written = registry.download("m", "1.0.0", tmp_path / "out")
    assert [p.read_bytes() for p in written] == [b"weights"]
    assert stat.S_IMODE(written[0].stat().st_mode) == 0o640  # 0o666 less the umask 0o027
    assert sorted(p.name for p in (tmp_path / "out" / "model").iterdir()) == ["w.bin"]
