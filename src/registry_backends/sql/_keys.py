"""Protocol keys as table rows: which table holds a key, and in which columns.

A key of a known shape goes to its typed table (``("versions", model, prec)`` to
``versions``); any other key goes to ``documents`` as ``parent`` (the segments before the
last, each ended by ``\\x1f``, a control character no segment holds) and ``name``.
Bounds of `list_page` become index ranges on one column; a bound holding a character no
key can hold (NUL, a lone surrogate) is rewritten into the equivalent storable bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from registry_backends.sql import schema as s
from registry_core.errors import InvalidInput
from registry_core.protocol import Key

__all__ = [
    "ROUTES",
    "SEP",
    "Listing",
    "Location",
    "Route",
    "joined",
    "listing",
    "locate",
    "locate_for_write",
    "Bounds",
    "bounds",
    "storable_key",
]

SEP = "\x1f"
_BAD = re.compile(r"[\x00-\x1f\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


@attrs.frozen
class Route:
    """A typed table: the columns that hold ``key[1:]`` and their sizes in bytes."""

    table: sa.Table
    columns: tuple[str, ...]
    limits: tuple[int, ...]
    fixed: Mapping[str, Any] = attrs.field(factory=dict)


ROUTES: dict[tuple[str, int], Route] = {
    ("settings", 1): Route(s.settings, (), (), {"singleton": 1}),
    ("models", 2): Route(s.models, ("model_key",), (s.MODEL_KEY_BYTES,)),
    ("versions", 3): Route(
        s.versions, ("model_key", "precedence_key"), (s.MODEL_KEY_BYTES, s.PRECEDENCE_KEY_BYTES)
    ),
    ("metrics", 4): Route(
        s.metric_batches,
        ("model_key", "precedence_key", "batch_key"),
        (s.MODEL_KEY_BYTES, s.PRECEDENCE_KEY_BYTES, s.BATCH_KEY_BYTES),
    ),
}


@attrs.frozen
class Location:
    """Where one key lives: its table and the column values that select its row."""

    table: sa.Table
    where: Mapping[str, Any]

    def clause(self) -> sa.ColumnElement[bool]:
        return sa.and_(*(self.table.c[name] == value for name, value in self.where.items()))


def _nbytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def storable_key(key: Sequence[str]) -> bool:
    """Whether every segment is a string a key may hold (no control char, no surrogate)."""
    return all(isinstance(seg, str) and _BAD.search(seg) is None for seg in key)


def joined(segments: Sequence[str]) -> str:
    """``documents.parent`` of a key whose segments before the last are ``segments``."""
    return "".join(seg + SEP for seg in segments)


def _place(key: Key) -> Location | str:
    """The row of ``key``, or why no row can hold it."""
    problem = _problem(key)
    if problem is not None:
        return f"document key {key!r} cannot be stored: {problem}"
    route = ROUTES.get((key[0], len(key)))
    if route is not None:
        if any(_nbytes(seg) > limit for seg, limit in zip(key[1:], route.limits, strict=True)):
            return f"document key {key!r} has a segment too long for its column"
        return Location(
            route.table, {**route.fixed, **dict(zip(route.columns, key[1:], strict=True))}
        )
    parent = joined(key[:-1])
    if _nbytes(parent) > s.PARENT_BYTES or _nbytes(key[-1]) > s.NAME_BYTES:
        return (
            f"document key {key!r} is too long: at most {s.NAME_BYTES} bytes in the last "
            f"segment and {s.PARENT_BYTES} in the others"
        )
    return Location(s.documents, {"parent": parent, "name": key[-1]})


def locate(key: Key) -> Location | None:
    """The row of ``key``; None when no row can hold it (so a read finds nothing)."""
    found = _place(key)
    return found if isinstance(found, Location) else None


def locate_for_write(key: Key) -> Location:
    """The row of ``key``; `InvalidInput` when no row can hold it."""
    found = _place(key)
    if isinstance(found, str):
        raise InvalidInput(found)
    return found


def _problem(key: Key) -> str | None:
    if not isinstance(key, tuple) or not key:
        return "a key is a non-empty tuple of strings"
    if not storable_key(key):
        return "segments are strings without control characters or lone surrogates"
    return None


@attrs.frozen
class Listing:
    """One level under a prefix: the table, the fixed columns and the segment column."""

    table: sa.Table
    where: Mapping[str, Any]
    segment: str


def listing(prefix: Key) -> Listing | None:
    """Where the documents one level under a non-empty ``prefix`` live (None: nowhere)."""
    if not storable_key(prefix):
        return None
    route = ROUTES.get((prefix[0], len(prefix) + 1))
    if route is not None:
        if any(
            _nbytes(seg) > limit for seg, limit in zip(prefix[1:], route.limits[:-1], strict=True)
        ):
            return None
        where = {**route.fixed, **dict(zip(route.columns[:-1], prefix[1:], strict=True))}
        return Listing(route.table, where, route.columns[-1])
    parent = joined(prefix)
    if _nbytes(parent) > s.PARENT_BYTES:
        return None
    return Listing(s.documents, {"parent": parent}, "name")


def _successor(text: str) -> str | None:
    """The least string above every string that starts with ``text`` (None: none)."""
    text = text.rstrip("\U0010ffff")
    if not text:
        return None
    code = ord(text[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    return text[:-1] + chr(code)


def _storable_bound(bound: str) -> tuple[str, bool]:
    """(equivalent bound, whether it is now inclusive) for a bound no key can equal."""
    found = _UNSTORABLE.search(bound)
    if found is None:
        return bound, False
    char = found.group()
    following = "\x01" if char == "\x00" else "\ue000"
    return bound[: found.start()] + following, True


@attrs.frozen
class Bounds:
    """`list_page`'s bounds as the shape of a range on the segment column, and its values.

    ``after`` is ``">"`` or ``">="`` (or None), ``before`` whether there is an upper bound,
    ``starts`` ``"range"`` or ``"from"`` for a "starts with" (or None); ``params`` holds
    ``p_after``, ``p_before``, ``p_low``, ``p_high`` as needed.
    """

    after: str | None
    before: bool
    starts: str | None
    params: dict[str, str]


def bounds(after: str | None, before: str | None, starts_with: str | None) -> Bounds | None:
    """``after < segment < before``, starting with ``starts_with``; None if none can match.

    Stored segments never hold NUL or a lone surrogate, so a bound holding one is moved
    to the nearest storable string without changing which segments it admits.
    """
    params: dict[str, str] = {}
    after_op = None
    if after is not None:
        params["p_after"], inclusive = _storable_bound(after)
        after_op = ">=" if inclusive else ">"
    if before is not None:
        params["p_before"] = _storable_bound(before)[0]
    starts = None
    if starts_with:
        if _UNSTORABLE.search(starts_with) is not None:
            return None
        params["p_low"] = starts_with
        high = _successor(starts_with)
        starts = "from" if high is None else "range"
        if high is not None:
            params["p_high"] = high
    return Bounds(after_op, before is not None, starts, params)
