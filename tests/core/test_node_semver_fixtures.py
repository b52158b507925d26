"""node-semver's own range fixtures, run against `Range.contains`.

The rows are transcribed (data only) from npm/node-semver:

* ``test/fixtures/range-include.js`` at commit 4dd65430d96b251f321297a1ee25c1e139fc4926
* ``test/fixtures/range-exclude.js`` at commit fcafb61ed566ff8ccf24818dd94b76738f037aa4

Each row is ``(range, version)`` or ``(range, version, options)`` with node's options
written in Python: ``True`` for node's bare ``true`` (loose), a dict for an options
object, ``re.compile`` for the one row that passes a RegExp. Rows that need loose mode,
or a version that strict SemVer 2.0.0 refuses, are skipped with their category's reason;
`test_fixture_counts` pins how many there are of each, so the number that applies stays
visible. Every row that applies to strict mode must pass.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import pytest

from registry_core.errors import InvalidVersion
from registry_core.versions import Range, Version

Row = tuple[Any, ...]  # (range, version[, options])

# npm/node-semver test/fixtures/range-include.js: the version is included by the range.
RANGE_INCLUDE: list[Row] = [
    ("1.0.0 - 2.0.0", "1.2.3"),
    ("^1.2.3+build", "1.2.3"),
    ("^1.2.3+build", "1.3.0"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3"),
    ("1.2.3pre+asdf - 2.4.3-pre+asdf", "1.2.3", True),
    ("1.2.3-pre+asdf - 2.4.3pre+asdf", "1.2.3", True),
    ("1.2.3pre+asdf - 2.4.3pre+asdf", "1.2.3", True),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3-pre.2"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha"),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3"),
    ("1.0.0", "1.0.0"),
    (">=*", "0.2.4"),
    ("", "1.0.0"),
    ("*", "1.2.3", {}),
    ("*", "v1.2.3", {"loose": 123}),
    (">=1.0.0", "1.0.0", re.compile("asdf")),
    (">=1.0.0", "1.0.1", {"loose": None}),
    (">=1.0.0", "1.1.0", {"loose": 0}),
    (">1.0.0", "1.0.1", {"loose": None}),  # node: { loose: undefined }
    (">1.0.0", "1.1.0"),
    ("<=2.0.0", "2.0.0"),
    ("<=2.0.0", "1.9999.9999"),
    ("<=2.0.0", "0.2.9"),
    ("<2.0.0", "1.9999.9999"),
    ("<2.0.0", "0.2.9"),
    (">= 1.0.0", "1.0.0"),
    (">=  1.0.0", "1.0.1"),
    (">=   1.0.0", "1.1.0"),
    ("> 1.0.0", "1.0.1"),
    (">  1.0.0", "1.1.0"),
    ("<=   2.0.0", "2.0.0"),
    ("<= 2.0.0", "1.9999.9999"),
    ("<=  2.0.0", "0.2.9"),
    ("<    2.0.0", "1.9999.9999"),
    ("<\t2.0.0", "0.2.9"),
    (">=0.1.97", "v0.1.97", True),
    (">=0.1.97", "0.1.97"),
    ("0.1.20 || 1.2.4", "1.2.4"),
    (">=0.2.3 || <0.0.1", "0.0.0"),
    (">=0.2.3 || <0.0.1", "0.2.3"),
    (">=0.2.3 || <0.0.1", "0.2.4"),
    ("||", "1.3.4"),
    ("2.x.x", "2.1.3"),
    ("1.2.x", "1.2.3"),
    ("1.2.x || 2.x", "2.1.3"),
    ("1.2.x || 2.x", "1.2.3"),
    ("x", "1.2.3"),
    ("2.*.*", "2.1.3"),
    ("1.2.*", "1.2.3"),
    ("1.2.* || 2.*", "2.1.3"),
    ("1.2.* || 2.*", "1.2.3"),
    ("*", "1.2.3"),
    ("2", "2.1.2"),
    ("2.3", "2.3.1"),
    ("~0.0.1", "0.0.1"),
    ("~0.0.1", "0.0.2"),
    ("~x", "0.0.9"),
    ("~2", "2.0.9"),
    ("~2.4", "2.4.0"),
    ("~2.4", "2.4.5"),
    ("~>3.2.1", "3.2.2"),
    ("~1", "1.2.3"),
    ("~>1", "1.2.3"),
    ("~> 1", "1.2.3"),
    ("~1.0", "1.0.2"),
    ("~ 1.0", "1.0.2"),
    ("~ 1.0.3", "1.0.12"),
    ("~ 1.0.3alpha", "1.0.12", {"loose": True}),
    (">=1", "1.0.0"),
    (">= 1", "1.0.0"),
    ("<1.2", "1.1.1"),
    ("< 1.2", "1.1.1"),
    ("~v0.5.4-pre", "0.5.5"),
    ("~v0.5.4-pre", "0.5.4"),
    ("=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.7.2"),
    (">=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.6.2"),
    ("~1.2.1 >=1.2.3", "1.2.3"),
    ("~1.2.1 =1.2.3", "1.2.3"),
    ("~1.2.1 1.2.3", "1.2.3"),
    ("~1.2.1 >=1.2.3 1.2.3", "1.2.3"),
    ("~1.2.1 1.2.3 >=1.2.3", "1.2.3"),
    (">=1.2.1 1.2.3", "1.2.3"),
    ("1.2.3 >=1.2.1", "1.2.3"),
    (">=1.2.3 >=1.2.1", "1.2.3"),
    (">=1.2.1 >=1.2.3", "1.2.3"),
    (">=1.2", "1.2.8"),
    ("^1.2.3", "1.8.1"),
    ("^0.1.2", "0.1.2"),
    ("^0.1", "0.1.2"),
    ("^0.0.1", "0.0.1"),
    ("^1.2", "1.4.2"),
    ("^1.2 ^1", "1.4.2"),
    ("^1.2.3-alpha", "1.2.3-pre"),
    ("^1.2.0-alpha", "1.2.0-pre"),
    ("^0.0.1-alpha", "0.0.1-beta"),
    ("^0.0.1-alpha", "0.0.1"),
    ("^0.1.1-alpha", "0.1.1-beta"),
    ("^x", "1.2.3"),
    ("x - 1.0.0", "0.9.7"),
    ("x - 1.x", "0.9.7"),
    ("1.0.0 - x", "1.9.7"),
    ("1.x - x", "1.9.7"),
    ("<=7.x", "7.9.9"),
    ("2.x", "2.0.0-pre.0", {"includePrerelease": True}),
    ("2.x", "2.1.0-pre.0", {"includePrerelease": True}),
    ("1.1.x", "1.1.0-a", {"includePrerelease": True}),
    ("1.1.x", "1.1.1-a", {"includePrerelease": True}),
    ("*", "1.0.0-rc1", {"includePrerelease": True}),
    ("^1.0.0-0", "1.0.1-rc1", {"includePrerelease": True}),
    ("^1.0.0-rc2", "1.0.1-rc1", {"includePrerelease": True}),
    ("^1.0.0", "1.0.1-rc1", {"includePrerelease": True}),
    ("^1.0.0", "1.1.0-rc1", {"includePrerelease": True}),
    ("1 - 2", "2.0.0-pre", {"includePrerelease": True}),
    ("1 - 2", "1.0.0-pre", {"includePrerelease": True}),
    ("1.0 - 2", "1.0.0-pre", {"includePrerelease": True}),
    ("=0.7.x", "0.7.0-asdf", {"includePrerelease": True}),
    (">=0.7.x", "0.7.0-asdf", {"includePrerelease": True}),
    ("<=0.7.x", "0.7.0-asdf", {"includePrerelease": True}),
    (">=1.0.0 <=1.1.0", "1.1.0-pre", {"includePrerelease": True}),
]

# npm/node-semver test/fixtures/range-exclude.js: the version is not included by the range.
RANGE_EXCLUDE: list[Row] = [
    ("1.0.0 - 2.0.0", "2.2.3"),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2"),
    ("1.2.3+asdf - 2.4.3+asdf", "2.4.3-alpha"),
    ("^1.2.3+build", "2.0.0"),
    ("^1.2.3+build", "1.2.0"),
    ("^1.2.3", "1.2.3-pre"),
    ("^1.2", "1.2.0-pre"),
    (">1.2", "1.3.0-beta"),
    ("<=1.2.3", "1.2.3-beta"),
    ("^1.2.3", "1.2.3-beta"),
    ("=0.7.x", "0.7.0-asdf"),
    (">=0.7.x", "0.7.0-asdf"),
    ("<=0.7.x", "0.7.0-asdf"),
    ("1", "1.0.0beta", {"loose": 420}),
    ("<1", "1.0.0beta", True),
    ("< 1", "1.0.0beta", True),
    ("1.0.0", "1.0.1"),
    (">=1.0.0", "0.0.0"),
    (">=1.0.0", "0.0.1"),
    (">=1.0.0", "0.1.0"),
    (">1.0.0", "0.0.1"),
    (">1.0.0", "0.1.0"),
    ("<=2.0.0", "3.0.0"),
    ("<=2.0.0", "2.9999.9999"),
    ("<=2.0.0", "2.2.9"),
    ("<2.0.0", "2.9999.9999"),
    ("<2.0.0", "2.2.9"),
    (">=0.1.97", "v0.1.93", True),
    (">=0.1.97", "0.1.93"),
    ("0.1.20 || 1.2.4", "1.2.3"),
    (">=0.2.3 || <0.0.1", "0.0.3"),
    (">=0.2.3 || <0.0.1", "0.2.2"),
    ("2.x.x", "1.1.3", {"loose": math.nan}),
    ("2.x.x", "3.1.3"),
    ("1.2.x", "1.3.3"),
    ("1.2.x || 2.x", "3.1.3"),
    ("1.2.x || 2.x", "1.1.3"),
    ("2.*.*", "1.1.3"),
    ("2.*.*", "3.1.3"),
    ("1.2.*", "1.3.3"),
    ("1.2.* || 2.*", "3.1.3"),
    ("1.2.* || 2.*", "1.1.3"),
    ("2", "1.1.2"),
    ("2.3", "2.4.1"),
    ("~0.0.1", "0.1.0-alpha"),
    ("~0.0.1", "0.1.0"),
    ("~2.4", "2.5.0"),
    ("~2.4", "2.3.9"),
    ("~>3.2.1", "3.3.2"),
    ("~>3.2.1", "3.2.0"),
    ("~1", "0.2.3"),
    ("~>1", "2.2.3"),
    ("~1.0", "1.1.0"),
    ("<1", "1.0.0"),
    (">=1.2", "1.1.1"),
    ("1", "2.0.0beta", True),
    ("~v0.5.4-beta", "0.5.4-alpha"),
    ("=0.7.x", "0.8.2"),
    (">=0.7.x", "0.6.2"),
    ("<0.7.x", "0.7.2"),
    ("<1.2.3", "1.2.3-beta"),
    ("=1.2.3", "1.2.3-beta"),
    (">1.2", "1.2.8"),
    ("^0.0.1", "0.0.2-alpha"),
    ("^0.0.1", "0.0.2"),
    ("^1.2.3", "2.0.0-alpha"),
    ("^1.2.3", "1.2.2"),
    ("^1.2", "1.1.9"),
    ("*", "v1.2.3-foo", True),
    # invalid versions never satisfy, but shouldn't throw
    ("*", "not a version"),
    (">=2", "glorp"),
    (">=2", False),
    ("2.x", "3.0.0-pre.0", {"includePrerelease": True}),
    ("^1.0.0", "1.0.0-rc1", {"includePrerelease": True}),
    ("^1.0.0", "2.0.0-rc1", {"includePrerelease": True}),
    ("^1.2.3-rc2", "2.0.0", {"includePrerelease": True}),
    ("^1.0.0", "2.0.0-rc1"),
    ("1 - 2", "3.0.0-pre", {"includePrerelease": True}),
    ("1 - 2", "2.0.0-pre"),
    ("1 - 2", "1.0.0-pre"),
    ("1.0 - 2", "1.0.0-pre"),
    ("1.1.x", "1.0.0-a"),
    ("1.1.x", "1.1.0-a"),
    ("1.1.x", "1.2.0-a"),
    ("1.1.x", "1.2.0-a", {"includePrerelease": True}),
    ("1.1.x", "1.0.0-a", {"includePrerelease": True}),
    ("1.x", "1.0.0-a"),
    ("1.x", "1.1.0-a"),
    ("1.x", "1.2.0-a"),
    ("1.x", "0.0.0-a", {"includePrerelease": True}),
    ("1.x", "2.0.0-a", {"includePrerelease": True}),
    (">=1.0.0 <1.1.0", "1.1.0"),
    (">=1.0.0 <1.1.0", "1.1.0", {"includePrerelease": True}),
    (">=1.0.0 <1.1.0", "1.1.0-pre"),
    (">=1.0.0 <1.1.0-pre", "1.1.0-pre"),
    ("== 1.0.0 || foo", "2.0.0", {"loose": True}),
]

# Newer than the commits above: npm/node-semver PR #872 ("align caret includePrerelease
# lower bounds", fixes #557) and PR #878 ("include prereleases in tilde range lower bound
# with includePrerelease", closes #512), both merged in June 2026. Their fixture rows are
# not in the copies read here; these rows restate the cases their descriptions give, as
# (range, version, options, included).
PR_CASES: list[tuple[str, str, dict[str, bool], bool]] = [
    ("^0.0.3", "0.0.3-alpha", {"includePrerelease": True}, False),  # #872
    ("^0.2.3", "0.2.3-alpha", {"includePrerelease": True}, False),  # #872
    ("^1.2.3", "1.2.3-alpha", {"includePrerelease": True}, False),  # #872
    ("~1.2.*", "1.2.0-rc", {"includePrerelease": True}, True),  # #878
    ("~1.2", "1.2.0-rc", {"includePrerelease": True}, True),  # #878, #512
    ("1.2.*", "1.2.0-rc", {"includePrerelease": True}, True),  # #878: the x-range it equals
    ("^1.2.*", "1.2.0-rc", {"includePrerelease": True}, True),  # #878
]

LOOSE = "node-semver fixture needs loose mode; modelreg parses ranges and versions strictly"
INVALID_VERSION = (
    "node-semver fixture tests a version strict SemVer 2.0.0 refuses "
    "(node: never satisfies; modelreg: Version.parse raises InvalidVersion)"
)


def _js_truthy(value: object) -> bool:
    """JavaScript truthiness for the values the fixtures use (NaN is falsy there)."""
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _node_options(row: Row) -> tuple[bool, bool]:
    """``(loose, includePrerelease)`` as node-semver reads a fixture's options argument."""
    options = row[2] if len(row) > 2 else None
    if isinstance(options, re.Pattern):  # an object without the two keys
        return False, False
    if not isinstance(options, dict):  # node: a non-object is the loose flag itself
        return _js_truthy(options), False
    return _js_truthy(options.get("loose")), _js_truthy(options.get("includePrerelease"))


def _skip_reason(row: Row) -> str | None:
    if _node_options(row)[0]:
        return LOOSE
    try:
        Version.parse(row[1])
    except InvalidVersion:
        return INVALID_VERSION
    return None


def _cases(rows: list[Row], included: bool) -> list[Any]:
    cases = []
    for row in rows:
        reason = _skip_reason(row)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        cases.append(pytest.param(row, included, marks=marks, id=f"{row[0]!r}-{row[1]!r}"))
    return cases


ALL_ROWS = [(row, True) for row in RANGE_INCLUDE] + [(row, False) for row in RANGE_EXCLUDE]


def test_fixture_counts() -> None:
    """The number of fixtures, and how many apply to strict mode; a change shows here."""
    assert (len(RANGE_INCLUDE), len(RANGE_EXCLUDE)) == (121, 96)
    reasons = Counter(_skip_reason(row) for row, _ in ALL_ROWS)
    assert reasons == {None: 201, LOOSE: 13, INVALID_VERSION: 3}


def test_skipped_fixtures_are_refused_for_their_reason() -> None:
    """A skip is honest: the loose rows name loose mode, the others' versions do not parse."""
    for row, _ in ALL_ROWS:
        if _skip_reason(row) == INVALID_VERSION:
            assert not _node_options(row)[0]
            with pytest.raises(InvalidVersion):
                Version.parse(row[1])


@pytest.mark.parametrize(
    ("row", "included"),
    _cases(RANGE_INCLUDE, included=True) + _cases(RANGE_EXCLUDE, included=False),
)
def test_node_semver_range_fixture(row: Row, included: bool) -> None:
    _, include_prerelease = _node_options(row)
    version = Version.parse(row[1])
    assert Range.parse(row[0]).contains(version, include_prerelease) is included


@pytest.mark.parametrize(("text", "version", "options", "included"), PR_CASES)
def test_node_semver_newer_prerelease_bounds(
    text: str, version: str, options: dict[str, bool], included: bool
) -> None:
    include_prerelease = options["includePrerelease"]
    assert Range.parse(text).contains(Version.parse(version), include_prerelease) is included
