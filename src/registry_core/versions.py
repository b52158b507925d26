"""Strict SemVer 2.0.0 versions, a sortable key for them, and npm-style version ranges.

`Version` parses exactly the semver.org grammar and orders by SemVer precedence (build
metadata ignored). Its `precedence_key` is a plain string whose byte order is that
precedence, so stores can index it or use it as a file or object name. `Range` parses
node-semver ranges (``^1.2``, ``~1.2.3``, ``1.x || >=2.5.0``, ``1.2 - 2``...) and matches
versions with node-semver's ``satisfies`` rules, prerelease rule included.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from string import ascii_uppercase
from typing import Literal

import attrs

from registry_core.errors import InvalidVersion

__all__ = ["Range", "Version", "BumpPart"]

BumpPart = Literal["major", "minor", "patch"]


def check_bump(part: object, prerelease: object = None) -> None:
    """Raise InvalidVersion unless ``part`` is a bump part and ``prerelease`` a valid label."""
    if part not in ("major", "minor", "patch"):
        raise InvalidVersion(f"{part!r} is not a bump part: want 'major', 'minor' or 'patch'")
    if prerelease is not None and (
        not isinstance(prerelease, str) or not _PRE_RE.fullmatch(prerelease)
    ):
        raise InvalidVersion(f"{prerelease!r} is not a valid prerelease label")


_MAX_LENGTH = 255  # longest accepted version text, in characters
_NUM_LIMIT = 10**_MAX_LENGTH
_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_PRE = rf"{_PRE_ID}(?:\.{_PRE_ID})*"
_BUILD = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION_RE = re.compile(rf"({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE}))?(?:\+({_BUILD}))?")
_PRE_RE = re.compile(_PRE)
_BUILD_RE = re.compile(_BUILD)
_IDENT_CHARS_RE = re.compile(r"[0-9A-Za-z-]*")


def _show(text: str) -> str:
    """Quote `text` for an error message, cut short if it is long."""
    return repr(text) if len(text) <= 80 else repr(text[:77]) + "..."


def _diagnose(text: str) -> str:
    """Name the first SemVer 2.0.0 rule that `text` breaks."""
    if not text:
        return "it is empty"
    if text[0] in "vV=":
        return "a leading 'v' or '=' is not allowed"
    if any(ch.isspace() for ch in text):
        return "whitespace is not allowed"
    head, plus, build = text.partition("+")
    core, dash, pre = head.partition("-")
    numbers = core.split(".")
    if len(numbers) != 3:
        return "it must start with MAJOR.MINOR.PATCH"
    groups = [(numbers, True), (pre.split(".") if dash else [], True)]
    for idents, numeric_rule in [*groups, (build.split(".") if plus else [], False)]:
        for ident in idents:
            if not ident:
                return "identifiers may not be empty"
            if not _IDENT_CHARS_RE.fullmatch(ident):
                return "identifiers may only contain [0-9A-Za-z-]"
            if numeric_rule and ident.isdigit() and len(ident) > 1 and ident[0] == "0":
                return "numeric identifiers may not have leading zeros"
    if not all(n.isdigit() for n in numbers):
        return "MAJOR, MINOR and PATCH must be numbers"
    return "it does not match the SemVer 2.0.0 grammar"  # not reached: a defence


# precedence_key: uppercase X -> "_x" and "-" -> "." inside alphanumeric identifiers.
_ESCAPE = str.maketrans({"-": ".", **{c: "_" + c.lower() for c in ascii_uppercase}})


def _num_key(digits: str) -> str:
    """Length-prefixed digits: the count (escalated through "9" when >= 9), then the digits."""
    count = len(digits)
    return (str(count) if count < 9 else "9" + _num_key(str(count))) + digits


def _ident_key(ident: str) -> str:
    """One prerelease identifier: "-" + number, or "." + escaped text + "-"."""
    return "-" + _num_key(ident) if ident.isdigit() else "." + ident.translate(_ESCAPE) + "-"


def _key_of(major: str, minor: str, patch: str, pre: str | None) -> str:
    """`Version.precedence_key` from the digits of each number and the prerelease."""
    core = f"{_num_key(major)}.{_num_key(minor)}.{_num_key(patch)}"
    return core + ("".join(map(_ident_key, pre.split("."))) if pre else "_")


@attrs.frozen(eq=False, order=False, repr=False)
class Version:
    """A strict SemVer 2.0.0 version, compared and hashed by SemVer precedence.

    Build it with `Version.parse`; the constructor checks its fields the same way.
    Equality, hashing and ordering ignore build metadata, as semver.org section 11 says.
    """

    major: int
    minor: int
    patch: int
    prerelease: str | None = None
    build: str | None = None
    _key: str = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < _NUM_LIMIT:
                raise InvalidVersion(f"{name} {value!r} is not a SemVer number: want an int >= 0")
        for name, regex in (("prerelease", _PRE_RE), ("build", _BUILD_RE)):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and regex.fullmatch(value)):
                rule = "non-empty [0-9A-Za-z-] identifiers joined by '.'"
                if name == "prerelease":
                    rule += ", numeric ones without leading zeros"
                raise InvalidVersion(f"{name} {value!r} is not valid: want {rule}")
        text = str(self)
        if len(text) > _MAX_LENGTH:
            raise InvalidVersion(f"{_show(text)} is longer than {_MAX_LENGTH} characters")
        numbers = (str(self.major), str(self.minor), str(self.patch))
        object.__setattr__(self, "_key", _key_of(*numbers, self.prerelease))

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse strict SemVer 2.0.0 text (no leading ``v``, no spaces); raise InvalidVersion."""
        if not isinstance(text, str):
            raise InvalidVersion(f"{text!r} is not a SemVer 2.0.0 version: it is not a str")
        why = f"longer than {_MAX_LENGTH} characters" if len(text) > _MAX_LENGTH else None
        match = None if why else _VERSION_RE.fullmatch(text)
        if match is None:
            raise InvalidVersion(
                f"{_show(text)} is not a SemVer 2.0.0 version: {why or _diagnose(text)}"
            )
        major, minor, patch, prerelease, build = match.groups()
        # The grammar and the length limit have checked what the constructor would check
        # again; skipping that halves the cost of reading a version back from storage.
        version = object.__new__(cls)
        put = object.__setattr__
        put(version, "major", int(major))
        put(version, "minor", int(minor))
        put(version, "patch", int(patch))
        put(version, "prerelease", prerelease)
        put(version, "build", build)
        put(version, "_key", _key_of(major, minor, patch, prerelease))
        return version

    @property
    def precedence_key(self) -> str:
        """A string whose plain order (``<`` on str, byte order) is SemVer precedence.

        Equal keys mean equal precedence (build metadata is left out). Made for an indexed
        column (use a binary/``C`` collation) and for file and object names: only
        ``[0-9a-z]`` and ``- . _`` (the characters AWS calls safe in S3 keys), no uppercase
        (unique on case-insensitive disks), never starting with ``-`` or ``.`` nor ending
        with ``.``. It reads as:

        * each of MAJOR, MINOR, PATCH as its digit count then its digits, joined by ``.``:
          ``12`` -> ``212``; a count of 9 or more is itself written this way after a ``9``
          (``9`` + ``210`` + 10 digits), so numbers of any size sort right;
        * then ``_`` for a release, or one item per prerelease identifier: ``-`` + the
          number for a numeric one, ``.`` + the text + ``-`` for an alphanumeric one, where
          the text has each uppercase X as ``_x`` and each ``-`` as ``.``;
        * so ``1.0.0-Alpha-1.12`` -> ``11.10.10._alpha.1--212`` and ``1.0.0`` -> ``11.10.10_``.

        A prerelease list ends with the string, so a shorter list sorts first; ``-`` < ``.``
        < ``_`` puts numeric < alphanumeric < release. The key is at most twice as long
        as the version without its build (worst case: an all-uppercase prerelease), so a
        255-character version gives at most 510 characters.
        """
        return self._key

    @property
    def is_prerelease(self) -> bool:
        """Whether the version has a prerelease part (``1.2.0-rc.1``)."""
        return self.prerelease is not None

    @property
    def release(self) -> Version:
        """The same MAJOR.MINOR.PATCH without prerelease and build."""
        return Version(self.major, self.minor, self.patch)

    def bump(self, part: BumpPart, prerelease: str | None = None) -> Version:
        """The next version, as npm's ``inc`` makes it; build metadata is dropped.

        Without `prerelease`, ``part`` goes up by one and lower fields reset, except that a
        prerelease whose lower fields are already zero first reaches its own release
        (``1.3.0-rc.0`` minor -> ``1.3.0``). With a `prerelease` label, the result is
        ``<bumped>-<label>.0``, or ``.N+1`` when self already is ``<bumped>-<label>.N``.
        Switching labels starts again at 0 and may sort lower: ``1.3.0-rc.1`` minor
        ``beta`` -> ``1.3.0-beta.0``.
        """
        check_bump(part, prerelease)
        major, minor, patch, pre = self.major, self.minor, self.patch, self.is_prerelease
        if part == "major":
            target = (major if pre and minor == patch == 0 else major + 1, 0, 0)
        elif part == "minor":
            target = (major, minor if pre and patch == 0 else minor + 1, 0)
        else:
            target = (major, minor, patch if pre else patch + 1)
        if prerelease is None:
            return Version(*target)
        number = 0
        if self.prerelease and (major, minor, patch) == target:
            label, dot, last = self.prerelease.rpartition(".")
            if dot and label == prerelease and last.isdigit():
                number = int(last) + 1
        return Version(*target, f"{prerelease}.{number}")

    def __str__(self) -> str:
        pre = "" if self.prerelease is None else "-" + self.prerelease
        build = "" if self.build is None else "+" + self.build
        return f"{self.major}.{self.minor}.{self.patch}{pre}{build}"

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return self._key == other._key if isinstance(other, Version) else NotImplemented

    def __lt__(self, other: object) -> bool:
        return self._key < other._key if isinstance(other, Version) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self._key <= other._key if isinstance(other, Version) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self._key > other._key if isinstance(other, Version) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self._key >= other._key if isinstance(other, Version) else NotImplemented


# ---------------------------------------------------------------------------- ranges

_OPS: dict[str, Callable[[Version, Version], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
}


@attrs.frozen
class _Comparator:
    """One primitive comparator, e.g. ``<2.0.0-0``."""

    op: str
    version: Version

    def test(self, version: Version) -> bool:
        return _OPS[self.op](version, self.version)

    def grants_prerelease(self, version: Version) -> bool:
        """node-semver's rule: a prerelease of the same MAJOR.MINOR.PATCH is named here."""
        mine = self.version
        return mine.is_prerelease and mine.release == version.release


_Set = tuple[_Comparator, ...]  # an intersection; () matches any release
_Partial = tuple[int | None, int | None, int | None, str | None]  # None number = wildcard
_XR = r"0|[1-9][0-9]{0,254}|[xX*]"  # no number longer than a whole version
_PARTIAL = rf"v?({_XR})(?:\.({_XR})(?:\.({_XR})(?:-({_PRE}))?(?:\+{_BUILD})?)?)?"
_SIMPLE_RE = re.compile(rf"(~>?|\^|[<>]=?|=)?{_PARTIAL}")
_HYPHEN_END_RE = re.compile(rf"=?{_PARTIAL}")
_LONE_OPS = frozenset({"<", "<=", ">", ">=", "=", "~", "~>", "^"})
_NULL = _Comparator("<", Version(0, 0, 0, "0"))  # matches nothing


def _partial(groups: tuple[str | None, ...]) -> _Partial:
    """Numbers of a partial version, None from the first wildcard on; pre only when complete."""
    nums: list[int | None] = []
    for group in groups[:3]:
        wild = group is None or group in ("x", "X", "*") or None in nums
        nums.append(None if wild or group is None else int(group))
    return nums[0], nums[1], nums[2], groups[3] if nums[2] is not None else None


def _cmp(op: str, major: int, minor: int | None, patch: int | None, pre: str | None) -> _Comparator:
    return _Comparator(op, Version(major, minor or 0, patch or 0, pre))


def _below_next(major: int, minor: int | None) -> _Comparator:
    """``<`` the first version past ``major.x`` (minor None) or ``major.minor.x``."""
    return _cmp("<", *((major + 1, 0) if minor is None else (major, minor + 1)), 0, "0")


def _floor(part: _Partial, low_pre: str | None) -> _Partial:
    """The floor of ``^`` or ``~``: ``-0`` (under include_prerelease) when parts are missing.

    As node-semver does since its PRs #872 and #878, an open ``^1.2`` or ``~1.2`` starts
    at ``1.2.0-0``, like ``1.2.x``, so ``1.2.0-rc`` matches; a full ``^0.2.3`` or
    ``~1.2.3`` keeps its own floor.
    """
    major, minor, patch, _ = part
    return (major, minor, patch, low_pre) if patch is None else part


def _caret(part: _Partial, low_pre: str | None) -> list[_Comparator]:
    """``^``: keep the leftmost non-zero field (the given ones, for a partial version)."""
    major, minor, patch, pre = _floor(part, low_pre)
    if major is None:
        return []
    if minor is None or major:
        high = _below_next(major, None)
    elif patch is None or minor:
        high = _below_next(0, minor)
    else:
        high = _cmp("<", 0, 0, patch + 1, "0")
    return [_cmp(">=", major, minor, patch, pre), high]


def _tilde(part: _Partial, low_pre: str | None) -> list[_Comparator]:
    """``~``: patch-level changes, or minor-level ones when no minor is given."""
    major, minor, patch, pre = _floor(part, low_pre)
    return (
        [] if major is None else [_cmp(">=", major, minor, patch, pre), _below_next(major, minor)]
    )


def _primitive(op: str, part: _Partial, low_pre: str | None) -> list[_Comparator]:
    """An operator (or none) before a full version, or before an x-range."""
    major, minor, patch, pre = part
    if patch is not None:
        assert major is not None
        return [_cmp(op or "=", major, minor, patch, pre)]
    if major is None:
        return [_NULL] if op in ("<", ">") else []
    if op in ("", "="):
        return [_cmp(">=", major, minor, 0, low_pre), _below_next(major, minor)]
    if op in (">", "<="):  # step past the wildcard: >1.2 is >=1.3.0, <=1.2 is <1.3.0-0
        major, minor = (major + 1, 0) if minor is None else (major, minor + 1)
        op = ">=" if op == ">" else "<"
    return [_cmp(op, major, minor, 0, "0" if op == "<" else low_pre)]


def _hyphen(low: _Partial, high: _Partial, include_pre: bool) -> list[_Comparator]:
    """``low - high``: inclusive, a partial `high` takes all versions starting with it."""
    out: list[_Comparator] = []
    major, minor, patch, pre = low
    if major is not None:
        out.append(_cmp(">=", major, minor, patch, pre or ("0" if include_pre else None)))
    major, minor, patch, pre = high
    if major is None:
        return out
    if minor is None or patch is None:
        out.append(_below_next(major, minor))
    elif pre is None and include_pre:
        out.append(_cmp("<", major, minor, patch + 1, "0"))
    else:
        out.append(_cmp("<=", major, minor, patch, pre))
    return out


def _parse_set(text: str, include_pre: bool) -> _Set:
    """Desugar one ``||``-separated comparator set the way node-semver does."""
    low_pre = "0" if include_pre else None
    words = text.split()
    ends = [_HYPHEN_END_RE.fullmatch(w) for w in words[::2]] if len(words) == 3 else []
    comps: list[_Comparator] = []
    if words[1:2] == ["-"] and len(ends) == 2 and ends[0] and ends[1]:
        comps = _hyphen(_partial(ends[0].groups()), _partial(ends[1].groups()), include_pre)
        words = []
    while words:
        token = words.pop(0)
        if token in _LONE_OPS and words:  # ">= 1.2.3" is ">=1.2.3"
            token += words.pop(0)
        match = _SIMPLE_RE.fullmatch(token)
        if match is None:
            raise InvalidVersion(f"{_show(token)} is not a comparator, x-range, ~ or ^ range")
        op, part = match[1] or "", _partial(match.groups()[1:])
        if op == "^":
            comps += _caret(part, low_pre)
        elif op.startswith("~"):
            comps += _tilde(part, low_pre)
        else:
            comps += _primitive(op, part, low_pre)
    any_floor = _Comparator(">=", Version(0, 0, 0, low_pre))  # node drops it: same as "*"
    return tuple(sorted({c for c in comps if c != any_floor}, key=lambda c: (c.version, c.op)))


def _parse_range(text: str, include_pre: bool) -> tuple[_Set, ...]:
    sets = tuple(_parse_set(part, include_pre) for part in text.split("||"))
    return ((),) if () in sets else sets  # node-semver: a "*" set makes the whole range "*"


_Bound = tuple[Version, bool]  # (version, inclusive)


def _low_key(bound: _Bound) -> tuple[Version, bool]:
    return bound[0], not bound[1]  # at one version, an exclusive lower bound is tighter


def _set_hull(comps: _Set) -> tuple[_Bound | None, _Bound | None]:
    """The tightest interval that all comparators of one set allow."""
    lows = [(c.version, c.op != ">") for c in comps if c.op in (">", ">=", "=")]
    highs = [(c.version, c.op != "<") for c in comps if c.op in ("<", "<=", "=")]
    return max(lows, key=_low_key, default=None), min(highs, default=None)


def _is_empty(low: _Bound | None, high: _Bound | None) -> bool:
    """Whether no version lies between the two bounds (None: unbounded)."""
    low = low or (_NULL.version, True)  # 0.0.0-0 is the lowest version there is
    return high is not None and (
        low[0] > high[0] or (low[0] == high[0] and not (low[1] and high[1]))
    )


def _loosest(bounds: list[_Bound | None], pick: Callable[..., _Bound]) -> _Bound | None:
    known = [b for b in bounds if b is not None]
    return pick(known) if len(known) == len(bounds) else None


@attrs.frozen(repr=False)
class Range:
    """An npm (node-semver) version range such as ``^1.2.3 || >=2.5.0 <3``.

    `Range.parse(text)` or `Range(text)`; ``str()`` gives the text back. Equality compares
    the desugared comparator sets, so ``Range("^1.2.3") == Range(">=1.2.3 <2.0.0-0")``.
    node-semver's quirks are kept on purpose: a ``*`` set makes the whole range ``*``
    (so ``* || 1.2.3-beta`` refuses ``1.2.3-beta``), ``>=0.0.0`` counts as no comparator,
    and with include_prerelease a range whose floor is a full version keeps it (``^0.2.3``
    and ``~1.2.3`` refuse ``0.2.3-rc`` and ``1.2.3-rc``) while an open one starts at ``-0``
    (``~1.2``, ``^1.2``, ``1.2.x`` take ``1.2.0-rc``), except that a hyphen range lowers a
    full floor too (``1.2.3 - 2`` takes ``1.2.3-rc``), as node-semver does.
    """

    text: str = attrs.field(eq=False)
    _plain: tuple[_Set, ...] = attrs.field(init=False)
    _with_pre: tuple[_Set, ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidVersion(f"{self.text!r} is not a version range: it is not a str")
        try:
            sets = [_parse_range(self.text, include_pre) for include_pre in (False, True)]
        except InvalidVersion as exc:
            raise InvalidVersion(f"{_show(self.text)} is not an npm version range: {exc}") from None
        object.__setattr__(self, "_plain", sets[0])
        object.__setattr__(self, "_with_pre", sets[1])

    @classmethod
    def parse(cls, text: str) -> Range:
        """Parse node-semver range syntax; raise InvalidVersion when it is not one."""
        return cls(text)

    def contains(self, version: Version, include_prerelease: bool = False) -> bool:
        """node-semver's ``satisfies``: some set matches `version` with all its comparators.

        Unless `include_prerelease`, a prerelease only matches a set that names a
        prerelease of the same MAJOR.MINOR.PATCH (``^1.2.3-beta.2`` takes ``1.2.3-beta.4``
        but not ``1.2.4-beta.1``).
        """
        if not isinstance(version, Version):
            raise InvalidVersion(f"{version!r} is not a Version")
        for comps in self._with_pre if include_prerelease else self._plain:
            if all(c.test(version) for c in comps) and (
                include_prerelease
                or not version.is_prerelease
                or any(c.grants_prerelease(version) for c in comps)
            ):
                return True
        return False

    def max_satisfying(
        self, versions: Iterable[Version], include_prerelease: bool = False
    ) -> Version | None:
        """The highest of `versions` the range contains (the first one on ties), or None."""
        best: Version | None = None
        for version in versions:
            if (best is None or version > best) and self.contains(version, include_prerelease):
                best = version
        return best

    def hull(self) -> tuple[Version | None, bool, Version | None, bool]:
        """``(lower, lower_inclusive, upper, upper_inclusive)`` around every version contained.

        Sound with and without include_prerelease, so a store can scan down from `upper`
        and stop below `lower`. None means unbounded (its flag is then False). A range
        that can match nothing gives the empty interval ``(0.0.0-0, False, 0.0.0-0, False)``.
        """
        lows: list[_Bound | None] = []
        highs: list[_Bound | None] = []
        for low, high in map(_set_hull, (*self._plain, *self._with_pre)):
            if _is_empty(low, high):
                continue
            lows.append(low)
            highs.append(high)
        if not lows:
            return _NULL.version, False, _NULL.version, False
        low_v, low_in = _loosest(lows, lambda b: min(b, key=_low_key)) or (None, False)
        high_v, high_in = _loosest(highs, max) or (None, False)
        return low_v, low_in, high_v, high_in

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Range({self.text!r})"
