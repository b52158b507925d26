"""How results reach the user: aligned text tables, or one JSON document for machines.

`to_jsonable` is the CLI's small serializer: attrs entities become objects of their
fields (plus a few derived ones such as a version's ``package`` and ``size``), versions,
names and paths are strings, datetimes ISO-8601, enums by value (roles by name), and NaN
or infinite floats the strings ``"nan"``/``"inf"``. `to_json` sorts every object's keys,
so the output is stable whatever the payload was assembled from.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from registry_core import AliasName, ArtifactPath, CIJob, ModelName, ModelVersion, Role, Version

__all__ = [
    "Output",
    "by_user",
    "format_size",
    "format_time",
    "listing",
    "mapping_lines",
    "plural",
    "short_hash",
    "shorten",
    "table",
    "to_json",
    "to_jsonable",
]

#: Derived properties worth a field in JSON, per entity type.
_EXTRAS: dict[type, tuple[str, ...]] = {
    ModelVersion: ("package", "size"),
    CIJob: ("job_url", "pipeline_url", "merge_request_url"),
}
_AS_TEXT = (Version, ModelName, ArtifactPath, AliasName)


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (see the module docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name.lower() if isinstance(value, Role) else to_jsonable(value.value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, _AS_TEXT):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if attrs.has(type(value)):
        return _attrs_object(value)
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def _attrs_object(value: Any) -> dict[str, Any]:
    data = {
        f.name: to_jsonable(getattr(value, f.name))
        for f in attrs.fields(type(value))
        if not f.name.startswith("_")
    }
    extras = _EXTRAS.get(type(value), ())
    if not extras and isinstance(getattr(type(value), "ok", None), property):
        extras = ("ok",)
    for name in extras:
        data[name] = to_jsonable(getattr(value, name))
    return data


def to_json(value: Any) -> str:
    """One JSON document: indented, keys sorted, UTF-8 text kept as is."""
    return json.dumps(
        to_jsonable(value), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False
    )


# -- text -------------------------------------------------------------------------------


def format_size(size: int) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``12.0 MiB``."""
    if size < 1024:
        return f"{size} B"
    amount = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        amount /= 1024
        if amount < 1024 or unit == "PiB":
            return f"{amount:.1f} {unit}"
    raise AssertionError("unreachable")


def format_time(when: dt.datetime | None, *, seconds: bool = False) -> str:
    """A timestamp in UTC, to the minute (``2025-03-01 14:05Z``) or to the second."""
    if when is None:
        return "-"
    shape = "%Y-%m-%d %H:%M:%SZ" if seconds else "%Y-%m-%d %H:%MZ"
    return when.astimezone(dt.timezone.utc).strftime(shape)


def listing(items: Iterable[Any], next_page_token: str | None = None) -> dict[str, Any]:
    """The one JSON shape of every list the command prints, paged or not."""
    return {"items": list(items), "next_page_token": next_page_token}


def plural(count: int, noun: str) -> str:
    """``1 artifact``, ``2 artifacts``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def short_hash(sha256: str) -> str:
    """The first 12 hex digits of a SHA-256, for tables (``show`` and ``--json`` give all)."""
    return sha256[:12]


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], right: str = "", fit: int = 0
) -> list[str]:
    """Rows aligned under ``headers``; columns named in ``right`` (by header) align right.

    An empty cell shows as ``-``, so every column reads the same way. With ``fit``, the
    last column (free text such as a description) is cut short so lines stay within
    ``fit`` characters, as long as it keeps at least 12 of its own.
    """
    text_rows = [[str(cell) or "-" for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    if fit and sum(widths) + 2 * (len(widths) - 1) > fit:
        room = max(12, len(headers[-1]), fit - sum(widths[:-1]) - 2 * (len(widths) - 1))
        if room < widths[-1]:
            for row in text_rows:
                row[-1] = shorten(row[-1], room)
            widths[-1] = room
    lines = []
    for row in [list(headers), *text_rows]:
        cells = [
            cell.rjust(width) if header in right.split(",") else cell.ljust(width)
            for header, cell, width in zip(headers, row, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def mapping_lines(title: str, mapping: Mapping[str, object], sep: str = " = ") -> list[str]:
    """``title:`` then one indented line per key, sorted; ``title: -`` when empty."""
    if not mapping:
        return [f"  {title + ':':<14}-"]
    return [f"  {title}:"] + [f"    {k}{sep}{mapping[k]}" for k in sorted(mapping)]


def shorten(text: str, width: int = 50) -> str:
    """The first line of ``text``, cut to ``width`` characters with an ellipsis."""
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def by_user(user: str | None) -> str:
    """`` by ana`` for a known user, nothing for a trusted (anonymous) writer."""
    return f" by {user}" if user else ""


class Output:
    """Writes results to stdout: text for people, or exactly one JSON document."""

    def __init__(self, *, json_mode: bool, quiet: bool) -> None:
        self.json_mode = json_mode
        self.quiet = quiet

    def result(self, payload: Any, text: str | Iterable[str]) -> None:
        """A command's result: ``payload`` as JSON, or ``text`` (always shown, even quiet)."""
        if self.json_mode:
            self._write(to_json(payload))
        else:
            self._write(text if isinstance(text, str) else "\n".join(text))

    def done(self, payload: Any, text: str, quiet_text: str | None = None) -> None:
        """A change made: ``payload`` as JSON; ``text`` unless quiet (then ``quiet_text``)."""
        if self.json_mode:
            self._write(to_json(payload))
        elif not self.quiet:
            self._write(text)
        elif quiet_text is not None:
            self._write(quiet_text)

    def note(self, text: str) -> None:
        """A hint for people on stderr (more pages, ...); never with --quiet."""
        if not self.quiet:
            sys.stderr.write(f"modelreg: {text}\n")

    @staticmethod
    def _write(text: str) -> None:
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
