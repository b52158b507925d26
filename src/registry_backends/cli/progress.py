"""Progress bars on stderr for uploads and downloads.

A bar shows only when stderr is a terminal and ``--quiet`` was not given. It is tqdm's
when tqdm is installed (``pip install 'modelreg[cli]'``), else a small built-in one. The
registry's transfer calls take ``progress=callable(n_bytes)``; `progress_bar` yields one.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from registry_backends.cli.output import format_size

__all__ = ["TextBar", "bars_wanted", "progress_bar"]

Progress = Callable[[int], None]


def bars_wanted(quiet: bool) -> bool:
    """True when a bar may be drawn: stderr is a terminal and the user did not ask quiet."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not quiet and isatty is not None and bool(isatty())


def _load_tqdm() -> Any | None:
    try:
        module = importlib.import_module("tqdm")  # optional: the `cli` extra
    except ImportError:
        return None
    return module.tqdm


@contextlib.contextmanager
def progress_bar(total: int | None, label: str, *, enabled: bool) -> Iterator[Progress | None]:
    """A ``progress(n_bytes)`` callable drawing a bar of ``total`` bytes, or None if off."""
    if not enabled:
        yield None
        return
    tqdm = _load_tqdm()
    if tqdm is not None:
        with tqdm(
            total=total,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
        ) as bar:
            yield bar.update
        return
    text_bar = TextBar(total, label, sys.stderr)
    try:
        yield text_bar.update
    finally:
        text_bar.close()


class TextBar:
    """A one-line bar redrawn with ``\\r`` at most ten times a second."""

    WIDTH = 30

    def __init__(self, total: int | None, label: str, stream: IO[str]) -> None:
        self.total = total
        self.label = label
        self.stream = stream
        self.done = 0
        self._drawn_at = 0.0
        self._widest = 0

    def update(self, n_bytes: int) -> None:
        """Count ``n_bytes`` more and redraw if a tenth of a second has passed."""
        self.done += n_bytes
        now = time.monotonic()
        if now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw()

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def render(self) -> str:
        """The bar's current text, without the carriage return."""
        if not self.total:
            return f"{self.label} {format_size(self.done)}"
        share = min(self.done / self.total, 1.0)
        filled = round(share * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return (
            f"{self.label} [{bar}] {share:4.0%} "
            f"{format_size(self.done)} / {format_size(self.total)}"
        )

    def _draw(self) -> None:
        line = self.render()
        self._widest = max(self._widest, len(line))
        self.stream.write("\r" + line.ljust(self._widest))
        self.stream.flush()
