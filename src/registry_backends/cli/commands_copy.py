"""``modelreg copy SRC_URL DST_URL``: a whole registry into another, of any kind.

Wired into the parser by `registry_backends.cli.app`; the work is `registry_backends.copy`.
Exit 0 when everything was copied or already there, 1 when a model met a conflict (it is
listed, and nothing of it was overwritten) or a blob failed its check.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from registry_backends.cli.common import Context, Subparsers, add_command, integer_from
from registry_backends.cli.output import format_size, plural
from registry_backends.cli.progress import bars_wanted
from registry_backends.copy import CopyProgress, CopyReport, copy

__all__ = ["CopyBar", "register"]


def register(subparsers: Subparsers) -> None:
    """Add ``copy``."""
    p = add_command(
        subparsers,
        "copy",
        summary="copy every model, version, experiment and run into another registry",
        examples=[
            "modelreg copy ./modelreg-registry sqlite:///registry.db",
            "modelreg copy sqlite:///registry.db 's3://ml-models/registry' --dry-run",
            "modelreg copy ./modelreg-registry ./other --models fraud/",
        ],
        func=run,
        details="SRC and DST are registry URLs or folders, of any kinds. Versions keep their "
        "numbers, states, timestamps, CI links, metrics, logs and sealed manifests; settings "
        "and memberships come along (tokens with --tokens). Every file's SHA-256 is checked "
        "before its version lands. Nothing in DST is overwritten: a model whose documents "
        "differ there is reported as a conflict and left alone. Killed or interrupted, run "
        "it again: what arrived already is not copied twice; a second run reports nothing to "
        "copy. Storage options come from the environment (AWS_ENDPOINT_URL, "
        "STORAGE_EMULATOR_HOST, credentials).",
    )
    p.add_argument("source", metavar="SRC", help="the registry to copy from")
    p.add_argument("destination", metavar="DST", help="the registry to copy into")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing; list what would be copied",
    )
    p.add_argument(
        "--models",
        metavar="PREFIX",
        help="only models whose name starts with PREFIX (then no settings or experiments)",
    )
    p.add_argument(
        "--tokens",
        action="store_true",
        help="copy the access tokens too (they are stored as hashes)",
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default=4,
        metavar="N",
        help="files copied at once (default 4)",
    )


def _workers(text: str) -> int:
    return integer_from(text, 1, 64)


def run(ctx: Context) -> int:
    """Copy, with a progress line on a terminal, then print the report."""
    args = ctx.args
    bar = CopyBar(sys.stderr) if bars_wanted(ctx.quiet) and not args.dry_run else None
    try:
        report = copy(
            args.source,
            args.destination,
            models=args.models,
            tokens=args.tokens,
            dry_run=args.dry_run,
            progress=bar,
            workers=args.workers,
        )
    finally:
        if bar is not None:
            bar.close()
    ctx.out.result(_payload(report), str(report))
    return 1 if report.conflicts else 0


def _payload(report: CopyReport) -> dict[str, object]:
    return {
        "dry_run": report.dry_run,
        "copied": list(report.copied),
        "unchanged": list(report.unchanged),
        "skipped": list(report.skipped),
        "conflicts": list(report.conflicts),
        "blobs_copied": report.blobs_copied,
        "bytes_copied": report.bytes_copied,
        "changed_nothing": report.changed_nothing,
    }


class CopyBar:
    """``copying: 12/40 versions, 3.1 MiB``, redrawn with ``\\r`` at most ten times a second."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last: CopyProgress | None = None
        self._drawn_at = 0.0
        self._widest = 0

    def __call__(self, progress: CopyProgress) -> None:
        self.last = progress
        now = time.monotonic()
        if now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw()

    def render(self) -> str:
        """The line's current text."""
        p = self.last or CopyProgress(0, 0, 0)
        done = f"{p.versions_done}/{plural(p.versions_total, 'version')}"
        return f"copying: {done}, {format_size(p.bytes_done)}"

    def close(self) -> None:
        """Draw the last state and end the line (nothing if no progress came)."""
        if self.last is not None:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        line = self.render()
        self._widest = max(self._widest, len(line))
        self.stream.write("\r" + line.ljust(self._widest))
        self.stream.flush()
