"""Model names and alias names, parsed once and trusted afterwards.

A `ModelName` or `AliasName` can only hold text that passed the name rules, so code that
receives one never checks the string again. Bad input raises `InvalidName` with a message
naming the input and the rule it broke.
"""

from __future__ import annotations

import functools
import re

import attrs

from registry_core.errors import InvalidName

__all__ = ["AliasName", "ModelName"]

_MAX_LENGTH = 255
_SHOWN_LENGTH = 80

_MODEL_SEGMENT = re.compile(r"[A-Za-z0-9_.+-]+")
_MODEL_SEGMENT_CHAR = re.compile(r"[A-Za-z0-9_.+-]")
_ALIAS = re.compile(r"[A-Za-z0-9_-]+")
_ALIAS_CHAR = re.compile(r"[A-Za-z0-9_-]")
# The semver.org regex for SemVer 2.0.0, split for length and used with fullmatch.
_SEMVER_NUMBER = r"(?:0|[1-9]\d*)"
_SEMVER_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER_BUILD_ID = r"[0-9a-zA-Z-]+"
_SEMVER = re.compile(
    rf"{_SEMVER_NUMBER}\.{_SEMVER_NUMBER}\.{_SEMVER_NUMBER}"
    rf"(?:-{_SEMVER_PRE_ID}(?:\.{_SEMVER_PRE_ID})*)?"
    rf"(?:\+{_SEMVER_BUILD_ID}(?:\.{_SEMVER_BUILD_ID})*)?",
    re.ASCII,
)
_RESERVED_ALIAS = "latest"


def _shown(text: object) -> str:
    """Return the repr of `text`, cut to about 80 characters for error messages."""
    shown = repr(text)
    return shown if len(shown) <= _SHOWN_LENGTH else shown[: _SHOWN_LENGTH - 3] + "..."


# Stores keep their own files under `<root>/.modelreg/`; a model there would mix with them.
_RESERVED_FIRST_SEGMENT = ".modelreg"


def _invalid(what: str, text: object, rule: str) -> InvalidName:
    """Build the error for `text` breaking `rule`."""
    return InvalidName(f"{what} {_shown(text)} is invalid: {rule}")


def _first_bad_char(text: str, allowed: re.Pattern[str]) -> str:
    """Return the first character of `text` that `allowed` does not match."""
    return next(char for char in text if not allowed.fullmatch(char))


def _check_length(what: str, text: object) -> str:
    """Check that `text` is a str of 1 to 255 characters and return it."""
    if not isinstance(text, str):
        raise _invalid(what, text, f"must be a str, not {type(text).__name__}")
    if not text:
        raise _invalid(what, text, "empty")
    if len(text) > _MAX_LENGTH:
        raise _invalid(what, text, f"{len(text)} characters, more than {_MAX_LENGTH}")
    return text


def _model_segment_error(segment: str, index: int) -> str | None:
    """Return the rule `segment` (at position `index`) of a model name breaks, if any."""
    if not segment:
        return "empty segment"
    if segment in (".", ".."):
        return f"segment {segment!r} is not allowed"
    if not _MODEL_SEGMENT.fullmatch(segment):
        bad = _first_bad_char(segment, _MODEL_SEGMENT_CHAR)
        return f"contains {bad!r} (segments allow only ASCII letters, digits and _ . - +)"
    if index > 0 and _SEMVER.fullmatch(segment):
        return f"segment {segment!r} after the first is a SemVer version"
    if index == 0 and segment.lower() == _RESERVED_FIRST_SEGMENT:
        return f"a first segment {segment!r} is reserved for the registry's own files"
    return None


def _check_model_name(text: object) -> None:
    """Raise `InvalidName` unless `text` is a valid model name."""
    name = _check_length("model name", text)
    for index, segment in enumerate(name.split("/")):
        rule = _model_segment_error(segment, index)
        if rule is not None:
            raise _invalid("model name", text, rule)


def _check_alias_name(text: object) -> None:
    """Raise `InvalidName` unless `text` is a valid alias name."""
    name = _check_length("alias name", text)
    if not _ALIAS.fullmatch(name):
        bad = _first_bad_char(name, _ALIAS_CHAR)
        rule = f"contains {bad!r} (aliases allow only ASCII letters, digits, _ and -)"
        raise _invalid("alias name", text, rule)
    if name.lower() == _RESERVED_ALIAS:
        rule = "'latest' is reserved: resolve('latest') means the latest ready version"
        raise _invalid("alias name", text, rule)


@attrs.frozen
class ModelName:
    """A model's name: 1-255 chars of `/`-separated segments of ASCII letters, digits, `_.-+`.

    No segment may be empty, `.` or `..`, and no segment after the first may be a SemVer
    version, so a package path `<model>/<version>/<file>` always splits one way. The first
    segment may not be `.modelreg` (any case): stores keep their own files there. Names are
    unique per registry compared case-insensitively: identity is `.key`, while `==` and
    `hash` compare the exact text.
    """

    value: str

    def __attrs_post_init__(self) -> None:
        _check_model_name(self.value)

    @classmethod
    def parse(cls, text: str) -> ModelName:
        """Parse `text` as a model name, raising `InvalidName` if it breaks a rule."""
        if type(text) is str and cls is ModelName:
            return _parse_model_name(text)
        return cls(text)

    @property
    def key(self) -> str:
        """The lower-cased name, which is what makes a model unique in a registry."""
        return self.value.lower()

    @property
    def segments(self) -> tuple[str, ...]:
        """The `/`-separated segments of the name, in order."""
        return tuple(self.value.split("/"))

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class AliasName:
    """An alias of a model version: 1-255 chars of ASCII letters, digits, `_` and `-`.

    Aliases are case-sensitive (`.key` is the exact text), and `latest` in any case is
    reserved because `resolve('latest')` means the latest ready version.
    """

    value: str

    def __attrs_post_init__(self) -> None:
        _check_alias_name(self.value)

    @classmethod
    def parse(cls, text: str) -> AliasName:
        """Parse `text` as an alias name, raising `InvalidName` if it breaks a rule."""
        return cls(text)

    @property
    def key(self) -> str:
        """The exact alias text: aliases are compared case-sensitively."""
        return self.value

    def __str__(self) -> str:
        return self.value


@functools.lru_cache(maxsize=4096)
def _parse_model_name(text: str) -> ModelName:
    """Names repeat in every document of a model: checked once, shared (they are frozen)."""
    return ModelName(text)
