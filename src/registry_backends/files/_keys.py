"""Document keys as object names: each key segment escaped into one or a few path parts.

A segment keeps ``[a-z0-9._-]`` as is (precedence keys and metric ids use only these, so
the hot paths need no escaping) and writes every other character as ``%xx`` per UTF-8 byte,
lower-case hex. That includes ``/``, ``%`` and uppercase letters, so every name is unique
on a case-insensitive disk. A few more positions are escaped so that the name is valid on
Linux, macOS and Windows: a leading ``.`` (no ``.``, ``..`` or hidden names), a trailing
``.`` (Windows drops it), the first letter of a Windows device name (``con``, ``nul``,
``com1``...), and the ``.`` of a trailing ``.json``. The empty segment is ``%``.

A document is the file ``<escaped>.json``; a folder of deeper keys is ``<escaped>``. Since
no escaped segment ends in ``.json``, the two never collide, and listing a folder tells
documents from folders by name alone, without a stat per entry.

An escaped segment longer than `MAX_PART` bytes (a 255-character all-uppercase prerelease
gives a 510-character precedence key) becomes a chain of folders: ``<part>~``, then
``~<part>~``..., ending in ``~<part>``. ``~`` never appears in an escaped segment, so a
trailing ``~`` marks a link of a chain and a leading ``~`` a continuation; joining the
parts back gives the segment, and every part is at most 205 bytes with ``.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import unquote_to_bytes

__all__ = [
    "DOC_SUFFIX",
    "MAX_PART",
    "document_parts",
    "documents_in",
    "escape",
    "folder_parts",
    "unescape",
]

DOC_SUFFIX = ".json"
MAX_PART = 200  # bytes of one escaped name part; Linux, macOS and Windows allow 255
_CHUNK = MAX_PART - 2  # room for the two chain markers
_LINK = "~"

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_PLAIN = re.compile(r"[a-z0-9_-][a-z0-9._-]*")
# A document whose name needs no unescaping and no chain: what `escape` leaves plain.
_PLAIN_DOC = re.compile(
    rf"(?!(?:con|prn|aux|nul|com[0-9]|lpt[0-9])\.)"
    rf"([a-z0-9_-](?:[a-z0-9._-]{{0,{MAX_PART - 2}}}[a-z0-9_-])?)(?<!\.json)\.json"
)
_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)


def _fits_plain(text: str) -> bool:
    """Whether ``text`` is its own escaped form: safe characters, no special position."""
    return (
        _PLAIN.fullmatch(text) is not None
        and not text.endswith(".")
        and not text.endswith(DOC_SUFFIX)
        and text.partition(".")[0] not in _DEVICES
    )


def _hex(char: str) -> str:
    return "".join(f"%{byte:02x}" for byte in char.encode("utf-8"))


def escape(segment: str) -> str:
    """The escaped form of one key segment (one file name, before chaining)."""
    if _fits_plain(segment):
        return segment
    if not segment:
        return "%"
    text = "".join(
        char if char in _SAFE and not (i == 0 and char == ".") else _hex(char)
        for i, char in enumerate(segment)
    )
    if text.endswith("."):
        text = text[:-1] + "%2e"
    if text.endswith(DOC_SUFFIX):
        text = text[: -len(DOC_SUFFIX)] + "%2e" + DOC_SUFFIX[1:]
    if text.partition(".")[0] in _DEVICES:
        text = _hex(text[0]) + text[1:]
    return text


def unescape(text: str) -> str | None:
    """The segment that ``text`` is the escaped form of, or None for a foreign name."""
    if _fits_plain(text):
        return text
    if text == "%":
        return ""
    try:
        segment = unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return segment if escape(segment) == text else None


def _chain(escaped: str) -> list[str]:
    """``escaped`` as one name part, or as a chain of parts when it is too long."""
    if len(escaped) <= MAX_PART:
        return [escaped]
    chunks = [escaped[i : i + _CHUNK] for i in range(0, len(escaped), _CHUNK)]
    middle = [_LINK + chunk + _LINK for chunk in chunks[1:-1]]
    return [chunks[0] + _LINK, *middle, _LINK + chunks[-1]]


def folder_parts(key: Sequence[str]) -> list[str]:
    """The path parts of the folder that holds the documents one level under ``key``."""
    return [part for segment in key for part in _chain(escape(segment))]


def document_parts(key: Sequence[str]) -> list[str]:
    """The path parts of the document at ``key`` (its last part ends in ``.json``)."""
    parts = folder_parts(key)
    parts[-1] += DOC_SUFFIX
    return parts


def _classify(name: str, in_chain: bool) -> tuple[str, str] | None:
    """``("doc" | "link", escaped piece)`` for one listed name, or None to skip it.

    Entries of a chain's link folder start with ``~``; entries elsewhere never do.
    """
    if in_chain != name.startswith(_LINK):
        return None
    if in_chain:
        name = name[1:]
    if name.endswith(_LINK):
        return "link", name[:-1]
    if name.endswith(DOC_SUFFIX):
        return "doc", name[: -len(DOC_SUFFIX)]
    return None


def documents_in(list_names: Callable[[str], list[str]], folder: str) -> list[tuple[str, str]]:
    """``(segment, name relative to folder)`` of every document directly in ``folder``.

    Any order. Follows chains of long segments and skips deeper folders and foreign
    names (any name that is not the exact escaped form of a segment, like ``.DS_Store``).
    """
    listed = list_names(folder)
    match = _PLAIN_DOC.fullmatch
    # The hot path (a folder of precedence keys or metric ids): nothing escaped, no chain.
    found = [(plain.group(1), name) for name in listed if (plain := match(name)) is not None]
    if len(found) < len(listed):
        found += _escaped_documents(list_names, folder, listed)
    return found


def _escaped_documents(
    list_names: Callable[[str], list[str]], folder: str, listed: list[str]
) -> Iterator[tuple[str, str]]:
    """The documents of ``folder`` that `documents_in`'s hot path leaves out."""
    stack: list[tuple[list[str], list[str], list[str]]] = [([], [], listed)]
    while stack:
        names, pieces, entries = stack.pop()
        for name in entries:
            found = _classify(name, bool(names))
            if found is None or (not names and _PLAIN_DOC.fullmatch(name)):
                continue
            kind, piece = found
            if kind == "link":
                below = "/".join([folder, *names, name])
                stack.append(([*names, name], [*pieces, piece], list_names(below)))
                continue
            escaped = "".join([*pieces, piece])
            segment = unescape(escaped)
            if segment is not None and _chain(escaped) == [*names, name[: -len(DOC_SUFFIX)]]:
                yield segment, "/".join([*names, name])
