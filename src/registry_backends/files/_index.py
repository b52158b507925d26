"""The ordered index that lets an object store page through documents in O(1) requests.

S3 and GCS list object names only in ascending byte order, and the files layout escapes a
key segment into a name (``k1.json``, ``a%2fb.json``...) whose byte order is not the
segment's order. So a remote store keeps, beside each document, two **markers**: tiny
objects whose names encode the document's last key segment so that
listing them gives the segments in order::

    .modelreg/docs/versions/m/11.10.10_.json          the document
    .modelreg/docs/versions/m/~ASC/<ascending(seg)>   listed ascending  = segment order
    .modelreg/docs/versions/m/~DESC/<descending(seg)> listed ascending  = reverse order

A page is then one list request with ``StartAfter``/``MaxKeys``/``Prefix`` on a marker
folder. ``~ASC``/``~DESC`` can never be a part of an escaped key (those are lowercase), and
`registry_backends.files._keys` skips names starting with ``~`` outside a chain, so the
local store and older readers never see the markers.

**Encoding.** A prefix code over code points: each character of the common key alphabet
(``+ - . /``, digits, ``_``, lowercase letters) is one symbol, and every other code point is
an escape symbol for its gap between those characters plus four base-64 digits of its
offset in the gap. Ascending names end in a terminator below every symbol; descending
names mirror every symbol and end in a terminator above every symbol, so a segment sorts
before its own extensions in one folder and after them in the other. The symbols are
``[-0-9A-Z_a-z]``, safe in S3 and GCS names.

**Invariant and order of writes.** Markers are written after the document is created and
removed before it is deleted, so a marker always names a document that exists, except in
two races: a create whose markers land after a concurrent delete of the same key, and a
listing read while its documents are being deleted. That is what allows a page of the
descending folder to return its documents *lazily*: ``latest`` over any number of
versions is one list request plus one GET of the first document it looks at. A document
found gone on first use raises `Conflict` (list again) and removes the stale marker. A
crash between a create and its markers leaves a document that listings miss until the
next create of that key restores its markers (it fails with `AlreadyExists`, as it should).

Why lazy: the Registry's ``latest`` asks for a first page of 8, and an S3 or GCS listing
carries no content, so a page read eagerly costs 1 + 8 requests. Ascending pages (lists of
models, versions, metrics) are read eagerly, concurrently, and skip vanished documents.

**Which registries.** A remote store that creates a registry records
``"ordered_index": 1`` in its ``format.json``; one without it (a local folder copied into
a bucket) is listed folder by folder instead: correct, but a request per 1,000 names.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from registry_backends.files._keys import DOC_SUFFIX, document_parts, unescape
from registry_backends.files._store import META
from registry_core.errors import BackendError, Conflict
from registry_core.protocol import Document

__all__ = [
    "ASC",
    "DESC",
    "DOCS",
    "INDEX_FIELD",
    "Listed",
    "LazyDocument",
    "ascending",
    "descending",
    "document_name",
    "document_of_marker",
    "from_ascending",
    "from_descending",
    "is_marker",
    "markers",
    "split_document",
]

DOCS = f"{META}/docs"
ASC = "~ASC"
DESC = "~DESC"
#: The field of ``format.json`` that says this registry keeps the index (see `RemoteStore`).
INDEX_FIELD = "ordered_index"

_SYMBOLS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_RANK = {symbol: i for i, symbol in enumerate(_SYMBOLS)}
_DIRECT = "+-./0123456789_abcdefghijklmnopqrstuvwxyz"  # in code point order
_WIDTH = 4  # base-64 digits of an escaped code point's offset in its gap
_MAX_CODE = 0x10FFFF


def _runs() -> list[tuple[int, int]]:
    """Code point ranges in order: each direct character alone, and the gaps between."""
    runs: list[tuple[int, int]] = []
    low = 0
    for char in _DIRECT:
        code = ord(char)
        if code > low:
            runs.append((low, code - 1))
        runs.append((code, code))
        low = code + 1
    runs.append((low, _MAX_CODE))
    return runs


_RUNS = _runs()
_STARTS = [low for low, _ in _RUNS]
_COUNT = len(_RUNS)  # 46 runs: symbols 1..46, terminators 0 (ascending) and 47 (descending)
_DIRECT_SET = frozenset(_DIRECT)


def _symbols(segment: str, flip: bool) -> str:
    out = []
    for char in segment:
        code = ord(char)
        run = bisect.bisect_right(_STARTS, code) - 1
        out.append(_SYMBOLS[_COUNT - run if flip else 1 + run])
        if char not in _DIRECT_SET:
            offset = code - _RUNS[run][0]
            for shift in range(_WIDTH - 1, -1, -1):
                digit = (offset >> (6 * shift)) & 63
                out.append(_SYMBOLS[63 - digit if flip else digit])
    return "".join(out)


def ascending(segment: str, *, whole: bool = True) -> str:
    """The marker name of ``segment`` in ``~ASC`` (``whole=False``: the prefix of every
    name of a segment starting with ``segment``)."""
    return _symbols(segment, False) + (_SYMBOLS[0] if whole else "")


def descending(segment: str, *, whole: bool = True) -> str:
    """The marker name of ``segment`` in ``~DESC``: ascending name order is descending
    segment order."""
    return _symbols(segment, True) + (_SYMBOLS[_COUNT + 1] if whole else "")


def _decode(text: str, flip: bool) -> str | None:
    terminator = _SYMBOLS[_COUNT + 1] if flip else _SYMBOLS[0]
    if not text.endswith(terminator):
        return None
    chars, i, end = [], 0, len(text) - 1
    while i < end:
        rank = _RANK.get(text[i], -1)
        run = _COUNT - rank if flip else rank - 1
        if not 0 <= run < _COUNT:
            return None
        low, high = _RUNS[run]
        if low == high and chr(low) in _DIRECT_SET:
            chars.append(chr(low))
            i += 1
            continue
        digits = text[i + 1 : i + 1 + _WIDTH]
        if len(digits) < _WIDTH or i + 1 + _WIDTH > end or any(d not in _RANK for d in digits):
            return None
        offset = 0
        for digit in digits:
            offset = offset * 64 + (63 - _RANK[digit] if flip else _RANK[digit])
        if low + offset > high:
            return None
        chars.append(chr(low + offset))
        i += 1 + _WIDTH
    return "".join(chars)


def from_ascending(text: str) -> str | None:
    """The segment an ascending marker name stands for; None for a foreign name."""
    return _decode(text, False)


def from_descending(text: str) -> str | None:
    """The segment a descending marker name stands for; None for a foreign name."""
    return _decode(text, True)


# -- document names -------------------------------------------------------------------------


def split_document(name: str) -> tuple[str, str] | None:
    """``(folder, last segment)`` of a document name under ``.modelreg/docs``, else None.

    Undoes `registry_backends.files._keys`: the last segment may be a chain of parts
    (``abc~/~def~/~ghi.json``); the folder is everything before it.
    """
    if not name.startswith(DOCS + "/") or not name.endswith(DOC_SUFFIX):
        return None
    parts = name[len(DOCS) + 1 : -len(DOC_SUFFIX)].split("/")
    first = len(parts) - 1
    while first > 0 and parts[first].startswith("~") and parts[first - 1].endswith("~"):
        first -= 1
    chain = parts[first:]
    if len(chain) == 1:
        pieces = chain
    else:
        pieces = [chain[0][:-1], *(p[1:-1] for p in chain[1:-1]), chain[-1][1:]]
    segment = unescape("".join(pieces))
    if segment is None or any(p in (ASC, DESC) for p in parts):
        return None
    if document_name("/".join([DOCS, *parts[:first]]), segment) != name:
        return None
    return "/".join([DOCS, *parts[:first]]), segment


def document_name(folder: str, segment: str) -> str:
    """The name of the document ``segment`` directly in the documents folder ``folder``."""
    return "/".join([folder, *document_parts((segment,))])


def markers(folder: str, segment: str) -> tuple[str, str]:
    """The ascending and descending marker names of a document."""
    return f"{folder}/{ASC}/{ascending(segment)}", f"{folder}/{DESC}/{descending(segment)}"


def document_of_marker(name: str) -> str | None:
    """The name of the document a marker stands for; None for a name that is no marker."""
    for part, decode in ((f"/{ASC}/", from_ascending), (f"/{DESC}/", from_descending)):
        folder, found, encoded = name.rpartition(part)
        if found and (folder + "/").startswith(DOCS + "/") and "/" not in encoded:
            segment = decode(encoded)
            return None if segment is None else document_name(folder, segment)
    return None


def is_marker(name: str) -> bool:
    """Whether ``name`` is a marker (it has a ``~ASC``/``~DESC`` part under the docs)."""
    return name.startswith(DOCS + "/") and (f"/{ASC}/" in name or f"/{DESC}/" in name)


# -- lazy documents -------------------------------------------------------------------------


@attrs.frozen
class Listed:
    """One object of a listing: its name (relative to the store's root), size and etag."""

    name: str
    size: int
    etag: str


class LazyDocument(Document):
    """A `Document` whose data and etag are read on first use, once.

    `Document` is a frozen attrs class; this subclass overrides its two fields with
    properties and keeps what it read in its own slots.
    """

    __slots__ = ("_found", "_load", "_lock")
    _found: Document | None
    _load: tuple[Callable[[], Document | None], Callable[[], None]]
    _lock: threading.Lock

    def __init__(self, load: Callable[[], Document | None], on_gone: Callable[[], None]) -> None:
        object.__setattr__(self, "_load", (load, on_gone))
        object.__setattr__(self, "_found", None)
        object.__setattr__(self, "_lock", threading.Lock())

    def _document(self) -> Document:
        with self._lock:
            found = self._found
            if found is None:
                load, on_gone = self._load
                found = load()
                if found is None:
                    with contextlib.suppress(BackendError):
                        on_gone()
                    raise Conflict("a listed document was deleted before it was read; list again")
                object.__setattr__(self, "_found", found)
            return found

    @property
    def data(self) -> Mapping[str, Any]:
        return self._document().data

    @property
    def etag(self) -> str:
        return self._document().etag
