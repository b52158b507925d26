"""examples/ui_screenshots.py saves a real PNG of every page that exists."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "ui_screenshots.py"
#: Every page the UI has.
BUILT = (
    "sign-in",
    "models",
    "models-search",
    "new-model",
    "model",
    "delete-model",
    "version",
    "version-artifacts",
    "version-metrics",
    "version-parameters",
    "version-tags",
    "version-log",
    "new-version",
    "settings",
)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ui_screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_every_page_is_saved_as_a_real_image(browser: Any, tmp_path: Path, capsys: Any) -> None:
    script = _script()
    assert {shot.name for shot in script.PAGES} >= set(BUILT)
    script.main(["--out", str(tmp_path), "--width", "1000"], browser=browser)
    printed = capsys.readouterr()
    for name in BUILT:
        png = tmp_path / f"{name}.png"
        assert png.is_file(), f"{name}.png was not saved:\n{printed.err}"
        width, height = _png_size(png)
        assert width == 1000 and 300 <= height <= 20_000, (name, width, height)
        assert png.stat().st_size > 5_000, f"{name}.png is suspiciously small"
