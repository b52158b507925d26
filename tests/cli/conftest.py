"""Fixtures for the in-process CLI tests: a fresh ``memory://`` registry per test and a
``cli`` helper that runs `main` and captures what it printed."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from registry_backends import open_registry
from registry_backends.cli import main
from registry_core import Registry


@attrs.frozen
class Run:
    """What one `main` call returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Run]


@pytest.fixture
def registry_url() -> str:
    return f"memory://cli-{uuid.uuid4().hex}"


@pytest.fixture
def registry(registry_url: str) -> Registry:
    """The same storage the commands use, opened trusted, to set up and inspect."""
    return open_registry(registry_url)


@pytest.fixture
def cli(registry_url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("model", "list", json=True)`` runs ``modelreg --registry <url> --json model list``."""

    def run(*args: str, json: bool = False, quiet: bool = False, user: str | None = None) -> Run:
        capsys.readouterr()
        argv = ["--registry", registry_url]
        argv += ["--json"] if json else []
        argv += ["--quiet"] if quiet else []
        argv += ["--as", user] if user else []
        code = main([*argv, *args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def draft(registry: Registry) -> tuple[str, str]:
    """Model ``fraud`` with an empty draft ``1.0.0``."""
    registry.create_model("fraud")
    registry.create_version("fraud", "1.0.0")
    return "fraud", "1.0.0"


@pytest.fixture
def ready(registry: Registry, draft: tuple[str, str]) -> tuple[str, str]:
    """Model ``fraud`` with ``1.0.0`` published, holding ``model.bin``."""
    registry.upload(*draft, io.BytesIO(b"weights"), name="model.bin")
    registry.publish(*draft)
    return draft


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder with ``model.bin`` and ``conf/a.json``, ``conf/sub/b.txt``."""
    root = tmp_path / "src"
    (root / "conf" / "sub").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"\x00\x01weights" * 100)
    (root / "conf" / "a.json").write_text('{"a": 1}')
    (root / "conf" / "sub" / "b.txt").write_text("b")
    return root


class FakeStdin(io.TextIOWrapper):
    """Standard input holding ``data``; a terminal if ``tty``."""

    def __init__(self, data: bytes = b"", *, tty: bool = False) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture
def stdin(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``stdin(b"data", tty=False)`` replaces sys.stdin for the next command."""

    def use(data: bytes = b"", *, tty: bool = False) -> None:
        monkeypatch.setattr("sys.stdin", FakeStdin(data, tty=tty))

    return use
