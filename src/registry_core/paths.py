"""Artifact paths inside a model version, parsed once and trusted afterwards.

An `ArtifactPath` can only hold a relative POSIX path that cannot climb out of the folder it
is joined to, on POSIX or on Windows. Bad input raises `InvalidPath` with a message naming
the input and the rule it broke.
"""

from __future__ import annotations

import functools
import unicodedata

import attrs

from registry_core.errors import InvalidPath

__all__ = ["ArtifactPath"]

_MAX_SEGMENT_BYTES = 255
_MAX_PATH_BYTES = 1024
_SHOWN_LENGTH = 80


def _shown(text: object) -> str:
    """Return the repr of `text`, cut to about 80 characters for error messages."""
    shown = repr(text)
    return shown if len(shown) <= _SHOWN_LENGTH else shown[: _SHOWN_LENGTH - 3] + "..."


def _utf8_size(text: str) -> int:
    """Return the length of `text` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


#: How many texts `_fold` and `_path_rule` remember: a version's or a run's manifest is
#: parsed again each time it is read, its paths with it.
_REMEMBERED = 16384


@functools.lru_cache(maxsize=_REMEMBERED)
def _fold(text: str) -> str:
    """Return the case-insensitive form of `text`: casefolded, then NFC-normalised."""
    return unicodedata.normalize("NFC", text.casefold())


def _characters_error(text: str) -> str | None:
    """Return the rule the characters of `text` break, if any."""
    if not text:
        return "empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not encodable as UTF-8)"
    for char in text:
        if unicodedata.category(char) == "Cc":
            return f"contains control character U+{ord(char):04X}"
    if "\\" in text:
        return "contains a backslash (separate segments with /)"
    if not unicodedata.is_normalized("NFC", text):
        return "not NFC-normalised (normalise it to NFC before use)"
    return None


def _segment_error(segment: str) -> str | None:
    """Return the rule one `/`-separated segment breaks, if any."""
    if not segment:
        return "empty segment"
    if segment in (".", ".."):
        return f"segment {segment!r} is not allowed (no relative traversal)"
    size = _utf8_size(segment)
    if size > _MAX_SEGMENT_BYTES:
        return f"a segment is {size} bytes in UTF-8, more than {_MAX_SEGMENT_BYTES}"
    return None


def _shape_error(text: str) -> str | None:
    """Return the rule the `/`-structure or size of `text` breaks, if any."""
    if text.startswith("/"):
        return "absolute (starts with /)"
    if text.endswith("/"):
        return "ends with /"
    segments = text.split("/")
    # Any ':' in the first segment is refused: on Windows `C:x` is a drive letter (relative to
    # drive C's current folder, escaping the root), and `name:stream` opens an NTFS alternate
    # data stream of `name` rather than a file of its own.
    if ":" in segments[0]:
        return "first segment contains ':' (Windows drive letter or NTFS stream)"
    for segment in segments:
        rule = _segment_error(segment)
        if rule is not None:
            return rule
    size = _utf8_size(text)
    if size > _MAX_PATH_BYTES:
        return f"{size} bytes in UTF-8, more than {_MAX_PATH_BYTES}"
    return None


def _invalid(what: str, text: object, rule: str) -> InvalidPath:
    """Build the error for `text` breaking `rule`."""
    return InvalidPath(f"{what} {_shown(text)} is invalid: {rule}")


def _check_path(what: str, text: object) -> str:
    """Return `text` if it is a valid artifact path, else raise `InvalidPath` naming `what`."""
    if not isinstance(text, str):
        raise _invalid(what, text, f"must be a str, not {type(text).__name__}")
    rule = _path_rule(str(text))
    if rule is not None:
        raise _invalid(what, text, rule)
    return text


@functools.lru_cache(maxsize=_REMEMBERED)
def _path_rule(text: str) -> str | None:
    """The rule `text` breaks as an artifact path, if any (checked once per text)."""
    return _characters_error(text) or _shape_error(text)


@functools.total_ordering
@attrs.frozen(order=False)
class ArtifactPath:
    """A file's path inside a model version: relative POSIX, NFC, no `.`/`..`, no `\\`.

    Segments are at most 255 bytes and the path at most 1,024 bytes in UTF-8; no control
    characters, and no `:` in the first segment. Paths are unique within a version compared
    case-insensitively (identity is `.key`; `==` and `hash` compare the exact text), and sort
    by `.sort_key`, i.e. by key and then by exact text.
    """

    value: str

    def __attrs_post_init__(self) -> None:
        _check_path("artifact path", self.value)

    @classmethod
    def parse(cls, text: str) -> ArtifactPath:
        """Parse `text` as an artifact path, raising `InvalidPath` if it breaks a rule."""
        return cls(text)

    @classmethod
    def join(cls, subfolder: str | ArtifactPath | None, name: str) -> ArtifactPath:
        """Join an optional subfolder (`None` or `""` for none) and a file name or relative path.

        Both parts and the joined path are checked by the path rules.
        """
        leaf = cls(_check_path("artifact name", name))
        if subfolder is None or subfolder == "":
            return leaf
        if not isinstance(subfolder, ArtifactPath):
            subfolder = cls(_check_path("subfolder", subfolder))
        return cls(_check_path("joined artifact path", f"{subfolder.value}/{leaf.value}"))

    @classmethod
    def from_local(cls, subfolder: str | ArtifactPath | None, relative: str) -> ArtifactPath:
        """Join a subfolder and a relative path read from the local file system, in NFC.

        A file's name is whatever its disk wrote (macOS writes NFD), so it is normalised to
        NFC here; the stored path is NFC on every system. A name the caller types, and
        `subfolder`, keep the rule of `join`: not NFC is refused, not silently changed.
        """
        if not isinstance(relative, str):
            raise _invalid(
                "local file name", relative, f"must be a str, not {type(relative).__name__}"
            )
        return cls.join(subfolder, unicodedata.normalize("NFC", relative))

    @property
    def segments(self) -> tuple[str, ...]:
        """The `/`-separated segments of the path, in order."""
        return tuple(self.value.split("/"))

    @property
    def name(self) -> str:
        """The last segment: the file's own name."""
        return self.value.rpartition("/")[2]

    @property
    def parent(self) -> ArtifactPath | None:
        """The folder holding this path, or `None` for a path of one segment."""
        head, _, _ = self.value.rpartition("/")
        return ArtifactPath(head) if head else None

    @property
    def key(self) -> str:
        """The casefolded NFC path, which is what makes a path unique within a version."""
        return _fold(self.value)

    @property
    def sort_key(self) -> tuple[str, str]:
        """Key then exact text, the order of sorted listings (also used by `<`)."""
        return (self.key, self.value)

    def is_within(self, prefix: ArtifactPath) -> bool:
        """Whether `prefix`'s segments begin this path, compared by key; a path is within itself."""
        theirs = tuple(_fold(segment) for segment in prefix.segments)
        mine = tuple(_fold(segment) for segment in self.segments[: len(theirs)])
        return mine == theirs

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ArtifactPath):
            return NotImplemented
        return self.sort_key < other.sort_key

    def __str__(self) -> str:
        return self.value
