"""SemVer parsing and precedence, the precedence key, npm ranges and bumps."""

from __future__ import annotations

import ast
import random
import re
import string
from itertools import pairwise
from pathlib import Path

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st

from registry_core.errors import InvalidVersion
from registry_core.versions import Range, Version

V = Version.parse


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


def key_cmp(a: Version, b: Version) -> int:
    return (a.precedence_key > b.precedence_key) - (a.precedence_key < b.precedence_key)


def version_cmp(a: Version, b: Version) -> int:
    return (a > b) - (a < b)


def test_semver_package_is_only_the_tests_oracle() -> None:
    """pyproject.toml declares `semver` in the test extra only: no shipped module imports it."""
    src = Path(__file__).parents[2] / "src"
    importers = []
    for module in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n == "semver" or n.startswith("semver.") for n in names):
                importers.append(str(module.relative_to(src)))
    assert importers == []


# ------------------------------------------------------------------ precedence tables

SEMVER_ORG_CHAIN = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]

# Each row: lower, higher. These are the corners of the key encoding.
ORDERED_PAIRS = [
    ("1.0.0-A", "1.0.0-Z"),  # ASCII order: uppercase...
    ("1.0.0-Z", "1.0.0-a"),  # ...before lowercase
    ("1.0.0-AB", "1.0.0-Aa"),
    ("1.0.0--", "1.0.0-0a"),  # "-" sorts before digits
    ("1.0.0-0", "1.0.0--"),  # numeric before alphanumeric
    ("1.0.0-999", "1.0.0-0a"),
    ("1.0.0-9", "1.0.0-10"),  # numeric identifiers compare as numbers
    ("1.0.0-99999999", "1.0.0-100000000"),  # 8 to 9 digits: the length prefix escalates
    ("1.0.0-999999999", "1.0.0-1000000000"),  # 9 to 10 digits
    ("1.0.0-a", "1.0.0-a-"),  # a prefix sorts first
    ("1.0.0-a", "1.0.0-a.0"),  # a shorter list sorts first
    ("1.0.0-a.b", "1.0.0-a-b"),
    ("1.0.0-a.9", "1.0.0-a.a"),
    ("1.0.0-zzz", "1.0.0"),  # a release after all its prereleases
    ("1.0.0", "1.0.1-0"),
    ("9.0.0", "10.0.0"),
    ("0.9.0", "0.10.0"),
    ("1.0.0-" + "9" * 99, "1.0.0-1" + "0" * 99),  # 99 to 100 digits
    ("9" * 99 + ".0.0", "1" + "0" * 99 + ".0.0"),
]


@pytest.mark.parametrize(("lower", "higher"), list(pairwise(SEMVER_ORG_CHAIN)))
def test_semver_org_precedence_chain(lower: str, higher: str) -> None:
    low, high = V(lower), V(higher)
    assert low < high and low <= high and high > low and high >= low and low != high
    assert low.precedence_key < high.precedence_key


@pytest.mark.parametrize(("lower", "higher"), ORDERED_PAIRS)
def test_precedence_corner_cases(lower: str, higher: str) -> None:
    low, high = V(lower), V(higher)
    assert low < high
    assert low.precedence_key < high.precedence_key


def test_sorting_by_key_equals_sorting_by_version() -> None:
    texts = SEMVER_ORG_CHAIN + [t for pair in ORDERED_PAIRS for t in pair]
    versions = [V(t) for t in texts]
    random.Random(7).shuffle(versions)
    assert sorted(versions) == sorted(versions, key=lambda v: v.precedence_key)
    in_chain = [str(v) for v in sorted(versions) if str(v) in SEMVER_ORG_CHAIN]
    assert list(dict.fromkeys(in_chain)) == SEMVER_ORG_CHAIN


def test_build_metadata_is_ignored_by_eq_hash_and_order() -> None:
    a, b = V("1.0.0+a"), V("1.0.0+b")
    assert a == b and hash(a) == hash(b) and not a < b and a <= b
    assert a.precedence_key == b.precedence_key == V("1.0.0").precedence_key
    assert len({a, b, V("1.0.0")}) == 1
    assert str(a) == "1.0.0+a"  # but it is kept


def test_case_differences_keep_distinct_keys_even_case_folded() -> None:
    upper, lower = V("1.0.0-A"), V("1.0.0-a")
    assert upper != lower
    assert upper.precedence_key.lower() != lower.precedence_key.lower()


def test_precedence_key_documented_example() -> None:
    assert V("1.0.0-Alpha-1.12").precedence_key == "11.10.10._alpha.1--212"
    assert V("1.0.0").precedence_key == "11.10.10_"


def test_comparing_with_other_types() -> None:
    v = V("1.0.0")
    assert v != "1.0.0"
    assert v.__lt__("1.0.0") is NotImplemented
    assert v.__eq__(1) is NotImplemented
    with pytest.raises(TypeError):
        assert v < "2.0.0"


# ------------------------------------------------------------------ parsing tables

INVALID_VERSIONS = [
    "v1.2.3",
    "=1.2.3",
    "01.2.3",
    "1.02.3",
    "1.2.03",
    "1.2",
    "1.2.3.4",
    "1.2.3-01",
    "1.2.3-",
    "1.2.3+",
    "1.2.3-a..b",
    "1.2.3+a..b",
    "1.2.3 ",
    " 1.2.3",
    "1.2.3\n",
    "",
    "1.2.3-é",
    "1.2.3-a_b",
    "1.2.3+a+b",
    "1.2.x",
    "-1.2.3",
    "1.2.3-" + "a" * 250,  # 256 characters, valid otherwise
]

VALID_VERSIONS = [
    "0.0.0",
    "1.2.3-0A.is.legal",
    "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
    "1.2.3+001",  # build identifiers may have leading zeros
    "1.2.3-0a.00a",  # so may alphanumeric prerelease identifiers
    "99999999999999999999999.999999999999999999.99999999999999999",
    "1.2.3-" + "a" * 249,  # exactly 255 characters
    "1" * 100 + ".0.0-" + "9" * 100,
]


@pytest.mark.parametrize("text", INVALID_VERSIONS)
def test_invalid_versions_are_refused(text: str) -> None:
    assert len(INVALID_VERSIONS[-1]) == 256
    with pytest.raises(InvalidVersion):
        V(text)


@pytest.mark.parametrize("value", [None, 123, b"1.2.3", 1.5, ["1.2.3"]])
def test_non_str_input_is_refused(value: object) -> None:
    with pytest.raises(InvalidVersion, match="not a str"):
        V(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", VALID_VERSIONS)
def test_valid_tricky_versions_round_trip(text: str) -> None:
    assert len(VALID_VERSIONS[-2]) == 255
    version = V(text)
    assert str(version) == text
    assert repr(version) == f"Version({text!r})"
    assert semver.Version.is_valid(text)


def test_fields_and_release() -> None:
    v = V("1.2.0-rc.1+sha.5")
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == (1, 2, 0, "rc.1", "sha.5")
    assert v.is_prerelease and not v.release.is_prerelease
    assert str(v.release) == "1.2.0" and v.release.build is None
    huge = V("123456789012345678901234567890.0.1")
    assert huge.major == 123456789012345678901234567890


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("01.2.3", "numeric identifiers may not have leading zeros"),
        ("v1.2.3", "a leading 'v' or '=' is not allowed"),
        ("1.2", "MAJOR.MINOR.PATCH"),
        ("1.2.3-a..b", "identifiers may not be empty"),
        ("1.2.3-é", "identifiers may only contain [0-9A-Za-z-]"),
        ("1.2.3 ", "whitespace"),
        ("1" * 256, "longer than 255"),
    ],
)
def test_error_message_names_input_and_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidVersion) as caught:
        V(text)
    message = str(caught.value)
    assert message.startswith(repr(text)[:20]) and "is not a SemVer 2.0.0 version" in message
    assert rule in message


@pytest.mark.parametrize(
    "fields",
    [(-1, 0, 0), (True, 0, 0), ("1", 0, 0), (1, 2, 3, "01"), (1, 2, 3, ""), (1, 2, 3, None, "")],
)
def test_constructor_checks_fields(fields: tuple[object, ...]) -> None:
    with pytest.raises(InvalidVersion):
        Version(*fields)  # type: ignore[arg-type]


def test_version_is_frozen() -> None:
    with pytest.raises(AttributeError):
        V("1.0.0").major = 2  # type: ignore[misc]


# ------------------------------------------------------------------ strategies

ID_CHARS = string.ascii_letters + string.digits + "-"
wide_numbers = st.one_of(
    st.integers(0, 12),
    st.integers(1, 45).flatmap(lambda digits: st.integers(10 ** (digits - 1), 10**digits - 1)),
).map(str)
alnum_ids = st.builds(
    lambda head, mid, tail: head + mid + tail,
    st.text("0123456789", max_size=3),
    st.sampled_from(string.ascii_letters + "-"),
    st.text(ID_CHARS, max_size=6),
)
wide_ids = st.one_of(wide_numbers, alnum_ids)
build_texts = st.lists(st.text(ID_CHARS, min_size=1, max_size=5), min_size=1, max_size=3)
SMALL_IDS = ["0", "1", "2", "10", "11", "a", "A", "Z", "b", "-", "a-", "-a", "--", "0a", "1a"]
SMALL_IDS += ["alpha", "Alpha", "ALPHA", "beta", "rc", "9" * 30, "1" + "0" * 30]


@st.composite
def version_texts(
    draw: st.DrawFn,
    numbers: st.SearchStrategy[str] = wide_numbers,
    ids: st.SearchStrategy[str] = wide_ids,
    max_ids: int = 8,
) -> str:
    text = ".".join(draw(numbers) for _ in range(3))
    if draw(st.booleans()):
        text += "-" + ".".join(draw(st.lists(ids, min_size=1, max_size=max_ids)))
    if draw(st.integers(0, 3)) == 0:
        text += "+" + ".".join(draw(build_texts))
    return text


close_versions = version_texts(
    numbers=st.sampled_from(["0", "1", "2", "10", "9" * 20]),
    ids=st.sampled_from(SMALL_IDS),
    max_ids=3,
)
semver_texts = st.one_of(version_texts(), close_versions).filter(lambda t: len(t) <= 255)

ALPHABET = "0123456789.-+aZxv= \n\u00e9\u0661"  # with a non-ASCII letter and digit


@st.composite
def near_versions(draw: st.DrawFn) -> str:
    """Arbitrary text over the SemVer alphabet, often one edit away from a valid version."""
    if draw(st.booleans()):
        return draw(st.text(ALPHABET, max_size=16))
    text = draw(close_versions)
    at = draw(st.integers(0, len(text)))
    char = draw(st.sampled_from(ALPHABET))
    edit = draw(st.sampled_from(["insert", "delete", "replace"]))
    if edit == "insert":
        return text[:at] + char + text[at:]
    if edit == "delete":
        return text[:at] + text[at + 1 :]
    return text[:at] + char + text[at + 1 :]


# ------------------------------------------------------------------ properties


@given(semver_texts)
def test_parse_round_trips(text: str) -> None:
    assert str(V(text)) == text


@given(semver_texts, semver_texts)
def test_precedence_agrees_with_semver_package_and_key(a: str, b: str) -> None:
    # semver 3.1.2 compares prereleases per semver.org section 11; no disagreement found.
    expected = sign(semver.Version.parse(a).compare(b))
    va, vb = V(a), V(b)
    assert version_cmp(va, vb) == expected
    assert key_cmp(va, vb) == expected
    assert (va == vb) == (expected == 0)


@given(semver_texts)
def test_key_uses_only_name_safe_characters(text: str) -> None:
    key = V(text).precedence_key
    assert re.fullmatch(r"[0-9][0-9a-z._-]*", key)
    assert not key.endswith(".")
    assert len(key) <= 2 * len(text.split("+")[0])


@given(semver_texts, semver_texts)
def test_eq_and_hash_are_consistent(a: str, b: str) -> None:
    va, vb = V(a), V(b)
    if va == vb:
        assert hash(va) == hash(vb)
    bare = a.split("+")[0]
    assert V(bare) == va and hash(V(bare)) == hash(va)
    assert V(bare + "+other.build") == va


@given(near_versions())
def test_validity_agrees_with_semver_package(text: str) -> None:
    try:
        V(text)
        ours = True
    except InvalidVersion:
        ours = False
    assert ours == semver.Version.is_valid(text)


def test_worst_case_key_length() -> None:
    text = "1.0.0-" + "A" * 249
    assert len(V(text).precedence_key) <= 2 * len(text)


# ------------------------------------------------------------------ bump

BUMPS = [
    ("1.2.3", "major", None, "2.0.0"),
    ("1.2.3", "minor", None, "1.3.0"),
    ("1.2.3", "patch", None, "1.2.4"),
    ("1.2.3+build.7", "patch", None, "1.2.4"),
    ("1.3.0-rc.0", "minor", None, "1.3.0"),
    ("2.0.0-rc.1", "major", None, "2.0.0"),
    ("1.2.3-rc", "patch", None, "1.2.3"),
    ("1.2.3-rc", "minor", None, "1.3.0"),
    ("1.2.3-rc", "major", None, "2.0.0"),
    ("1.2.0-rc", "major", None, "2.0.0"),
    ("1.0.0-rc", "minor", None, "1.0.0"),
    ("1.2.0-rc", "minor", None, "1.2.0"),
    ("1.2.3", "minor", "rc", "1.3.0-rc.0"),
    ("1.3.0-rc.0", "minor", "rc", "1.3.0-rc.1"),
    ("1.3.0-rc.9", "minor", "rc", "1.3.0-rc.10"),
    ("1.3.0-rc.1", "minor", "beta", "1.3.0-beta.0"),  # sorts lower than 1.3.0-rc.1
    ("1.3.0-rc.1", "major", "rc", "2.0.0-rc.0"),
    ("1.3.0-rc.1", "patch", "rc", "1.3.0-rc.2"),
    ("1.3.0-rc", "minor", "rc", "1.3.0-rc.0"),
    ("1.3.0-rc.x", "minor", "rc", "1.3.0-rc.0"),
    ("1.3.0-rc.1.2", "minor", "rc", "1.3.0-rc.0"),
    ("1.2.3-alpha.beta.7", "patch", "alpha.beta", "1.2.3-alpha.beta.8"),
    ("0.0.0", "patch", "Pre-1", "0.0.1-Pre-1.0"),
    ("1.2.4-rc.3+b", "patch", "rc", "1.2.4-rc.4"),
]


@pytest.mark.parametrize(("start", "part", "label", "expected"), BUMPS)
def test_bump(start: str, part: str, label: str | None, expected: str) -> None:
    bumped = V(start).bump(part, label)  # type: ignore[arg-type]
    assert str(bumped) == expected


def test_bump_with_new_label_can_sort_lower() -> None:
    rc = V("1.3.0-rc.1")
    assert rc.bump("minor", "beta") < rc


@pytest.mark.parametrize("part", ["prerelease", "Major", "", None, 1])
def test_bump_refuses_bad_part(part: object) -> None:
    with pytest.raises(InvalidVersion, match="bump part"):
        V("1.2.3").bump(part)  # type: ignore[arg-type]


@pytest.mark.parametrize("label", ["", "01", "a..b", "é", "rc.", 1])
def test_bump_refuses_bad_label(label: object) -> None:
    with pytest.raises(InvalidVersion, match="prerelease label"):
        V("1.2.3").bump("minor", label)  # type: ignore[arg-type]


def test_bump_past_length_limit_is_refused() -> None:
    longest = V("9" * 251 + ".0.0")
    with pytest.raises(InvalidVersion, match="longer than 255"):
        longest.bump("major")


# ------------------------------------------------------------------ npm ranges

T, F = True, False

# (range, version, include_prerelease, expected), from node-semver's README sections.
NPM_ROWS = [
    # Hyphen ranges
    ("1.2.3 - 2.3.4", "1.2.3", F, T),
    ("1.2.3 - 2.3.4", "2.3.4", F, T),
    ("1.2.3 - 2.3.4", "1.2.2", F, F),
    ("1.2.3 - 2.3.4", "2.3.5", F, F),
    ("1.2.3 - 2.3.4", "2.3.4-beta", F, F),
    ("1.2.3 - 2.3.4", "2.3.4-beta", T, T),
    ("1.2.3 - 2.3.4", "1.2.3-beta", T, T),  # node: >=1.2.3-0 under includePrerelease
    ("1.2 - 2.3.4", "1.2.0", F, T),
    ("1.2 - 2.3.4", "1.1.99", F, F),
    ("1.2.3 - 2.3", "2.3.99", F, T),
    ("1.2.3 - 2.3", "2.4.0", F, F),
    ("1.2.3 - 2.3", "2.4.0-alpha", T, F),
    ("1.2.3 - 2", "2.99.99", F, T),
    ("1.2.3 - 2", "3.0.0", F, F),
    ("1.2.3-pre - 2.4.3-pre", "1.2.3-pre.2", F, T),
    ("1.2.3-pre - 2.4.3-pre", "2.4.3-alpha", F, T),
    ("1.2.3-pre - 2.4.3-pre", "2.0.0-alpha", F, F),
    ("v1.2.3 - =v2", "2.5.0", F, T),
    # X-ranges
    ("*", "0.0.0", F, T),
    ("*", "1.2.3-beta", F, F),
    ("*", "1.2.3-beta", T, T),
    ("", "1.0.0", F, T),
    ("x", "1.2.3", F, T),
    ("1.x", "1.0.0", F, T),
    ("1.x", "1.99.99", F, T),
    ("1.x", "2.0.0", F, F),
    ("1.x", "0.99.99", F, F),
    ("1.X", "1.5.0", F, T),
    ("1.2.x", "1.2.0", F, T),
    ("1.2.*", "1.2.99", F, T),
    ("1.2.x", "1.3.0", F, F),
    ("1", "1.9.9", F, T),
    ("1", "2.0.0", F, F),
    ("1.2", "1.2.3", F, T),
    ("1.2", "1.3.0", F, F),
    ("2.x", "2.0.0-pre.0", F, F),
    ("2.x", "2.0.0-pre.0", T, T),
    ("2.x", "2.1.0-pre.0", T, T),
    ("2.x", "3.0.0-pre.0", T, F),
    # Tilde ranges
    ("~1.2.3", "1.2.3", F, T),
    ("~1.2.3", "1.2.99", F, T),
    ("~1.2.3", "1.3.0", F, F),
    ("~1.2.3", "1.2.2", F, F),
    ("~1.2.3", "1.2.3-beta", T, F),  # tilde never lowers its floor to -0
    ("~1.2", "1.2.0", F, T),
    ("~1.2", "1.2.0-rc", F, F),
    ("~1.2", "1.2.0-rc", T, T),  # an open tilde starts at -0 (node-semver PR #878)
    ("~1.1", "1.1.0-a", T, T),
    ("~2", "2.0.0-a", T, T),
    ("~2", "1.9.9-a", T, F),
    ("~1.2", "1.3.0", F, F),
    ("~1", "1.99.0", F, T),
    ("~1", "2.0.0", F, F),
    ("~0.2.3", "0.2.3", F, T),
    ("~0.2.3", "0.3.0", F, F),
    ("~0.2", "0.2.9", F, T),
    ("~0", "0.99.0", F, T),
    ("~0", "1.0.0", F, F),
    ("~1.2.3-beta.2", "1.2.3-beta.4", F, T),
    ("~1.2.3-beta.2", "1.2.3-beta.1", F, F),
    ("~1.2.3-beta.2", "1.2.4-beta.2", F, F),
    ("~1.2.3-beta.2", "1.2.4-beta.2", T, T),
    ("~1.2.3-beta.2", "1.2.3", F, T),
    ("~>3.2.1", "3.2.9", F, T),
    ("~ 1.0", "1.0.2", F, T),
    # Caret ranges
    ("^1.2.3", "1.2.3", F, T),
    ("^1.2.3", "1.99.99", F, T),
    ("^1.2.3", "2.0.0", F, F),
    ("^1.2.3", "1.2.2", F, F),
    ("^1.2.3", "2.0.0-rc.1", F, F),
    ("^1.2.3", "1.3.0-rc.1", F, F),
    ("^1.2.3", "1.3.0-rc.1", T, T),
    ("^1.2.3", "2.0.0-rc.1", T, F),
    ("^1.2.3", "1.2.3-rc.1", T, F),  # node: no -0 floor for ^M.m.p when M > 0
    ("^0.2.3", "0.2.3", F, T),
    ("^0.2.3", "0.2.99", F, T),
    ("^0.2.3", "0.3.0", F, F),
    ("^0.2.3", "0.2.3-rc.1", T, F),  # nor when M is 0 (node-semver PR #872)
    ("^0.0.3", "0.0.3-rc.1", T, F),
    ("^1.2", "1.2.0-rc.1", T, T),  # an open caret starts at -0
    ("^0.2", "0.2.0-rc.1", T, T),
    ("^0.0.3", "0.0.3", F, T),
    ("^0.0.3", "0.0.4", F, F),
    ("^1.2.3-beta.2", "1.2.3-beta.4", F, T),
    ("^1.2.3-beta.2", "1.2.4-beta.2", F, F),
    ("^1.2.3-beta.2", "1.2.4-beta.1", F, F),
    ("^1.2.3-beta.2", "1.99.0", F, T),
    ("^0.0.3-beta", "0.0.3-pr.2", F, T),
    ("^0.0.3-beta", "0.0.3", F, T),
    ("^0.0.3-beta", "0.0.3-alpha", F, F),
    ("^0.0.3-beta", "0.0.4", F, F),
    ("^1.2.x", "1.2.0", F, T),
    ("^1.2.x", "1.99.0", F, T),
    ("^1.2.x", "2.0.0", F, F),
    ("^0.0.x", "0.0.99", F, T),
    ("^0.0.x", "0.1.0", F, F),
    ("^0.0", "0.0.5", F, T),
    ("^0.0", "0.1.0", F, F),
    ("^1.x", "1.0.0", F, T),
    ("^1.x", "2.0.0", F, F),
    ("^0.x", "0.99.0", F, T),
    ("^0.x", "1.0.0", F, F),
    ("^1.0.0", "1.0.1-rc1", T, T),
    ("^1.2.3+build", "1.3.0", F, T),
    # Prerelease tags
    (">1.2.3-alpha.3", "1.2.3-alpha.7", F, T),
    (">1.2.3-alpha.3", "3.4.5-alpha.9", F, F),
    (">1.2.3-alpha.3", "3.4.5", F, T),
    (">1.2.3-alpha.3", "3.4.5-alpha.9", T, T),
    ("1.2.3", "1.2.3-beta", F, F),
    ("<=1.2.3", "1.2.3-beta", F, F),
    ("<=1.2.3", "1.2.3-beta", T, T),
    # Primitives and their x-range desugaring
    (">=1.2.7", "1.2.8", F, T),
    (">=1.2.7", "1.2.6", F, F),
    (">=1.2.7 <1.3.0", "1.2.99", F, T),
    (">=1.2.7 <1.3.0", "1.3.0", F, F),
    ("1.2.7 || >=1.2.9 <2.0.0", "1.2.7", F, T),
    ("1.2.7 || >=1.2.9 <2.0.0", "1.2.8", F, F),
    ("1.2.7 || >=1.2.9 <2.0.0", "1.4.6", F, T),
    ("1.2.7 || >=1.2.9 <2.0.0", "2.0.0", F, F),
    ("1.x || >=2.5.0 || 5.0.0 - 7.2.3", "1.2.3", F, T),
    (">1.2", "1.2.99", F, F),
    (">1.2", "1.3.0", F, T),
    ("<=1.2", "1.2.99", F, T),
    ("<=1.2", "1.3.0", F, F),
    (">1", "1.99.99", F, F),
    (">1", "2.0.0", F, T),
    ("<1.2", "1.1.99", F, T),
    ("<1.2", "1.2.0", F, F),
    ("<1.2", "1.2.0-0", T, F),
    (">= 1.2.3", "1.2.3", F, T),
    ("=v1.2.3", "1.2.3+build", F, T),
    (">X", "0.0.0", T, F),
    ("<x", "0.0.0-0", T, F),
    # node-semver quirks kept on purpose
    ("* || 1.2.3-beta", "1.2.3-beta", F, F),  # a "*" set makes the whole range "*"
    ("* || 1.2.3-beta", "1.2.3-beta", T, T),
    (">=0.0.0 <=0.0.0-beta", "0.0.0-alpha", F, T),  # node drops ">=0.0.0"
    (">=0.0.0 <=0.0.0-beta", "0.0.0-alpha", T, F),
]


@pytest.mark.parametrize(("text", "version", "include_prerelease", "expected"), NPM_ROWS)
def test_npm_range_examples(
    text: str, version: str, include_prerelease: bool, expected: bool
) -> None:
    assert Range.parse(text).contains(V(version), include_prerelease) is expected


def test_brief_prerelease_cases() -> None:
    caret = Range.parse("^1.2.3")
    assert not caret.contains(V("2.0.0-rc.1")) and not caret.contains(V("1.3.0-rc.1"))
    beta = Range.parse("^1.2.3-beta.2")
    assert beta.contains(V("1.2.3-beta.4")) and not beta.contains(V("1.2.4-beta.1"))


# (sugar, what node-semver desugars it to without includePrerelease)
DESUGARINGS = [
    ("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"),
    ("1.2 - 2.3.4", ">=1.2.0 <=2.3.4"),
    ("1.2.3 - 2.3", ">=1.2.3 <2.4.0-0"),
    ("1.2.3 - 2", ">=1.2.3 <3.0.0-0"),
    ("x - 1.0.0", "<=1.0.0"),
    ("1.0.0 - x", ">=1.0.0"),
    ("*", ">=0.0.0"),
    ("", "*"),
    ("1.x", ">=1.0.0 <2.0.0-0"),
    ("1.2.x", ">=1.2.0 <1.3.0-0"),
    ("1", ">=1.0.0 <2.0.0-0"),
    ("1.2", ">=1.2.0 <1.3.0-0"),
    ("~1.2.3", ">=1.2.3 <1.3.0-0"),
    ("~1.2", ">=1.2.0 <1.3.0-0"),
    ("~1", ">=1.0.0 <2.0.0-0"),
    ("~0.2.3", ">=0.2.3 <0.3.0-0"),
    ("~0.2", ">=0.2.0 <0.3.0-0"),
    ("~0", ">=0.0.0 <1.0.0-0"),
    ("~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0"),
    ("~>3.2.1", ">=3.2.1 <3.3.0-0"),
    ("^1.2.3", ">=1.2.3 <2.0.0-0"),
    ("^0.2.3", ">=0.2.3 <0.3.0-0"),
    ("^0.0.3", ">=0.0.3 <0.0.4-0"),
    ("^1.2.3-beta.2", ">=1.2.3-beta.2 <2.0.0-0"),
    ("^0.0.3-beta", ">=0.0.3-beta <0.0.4-0"),
    ("^1.2.x", ">=1.2.0 <2.0.0-0"),
    ("^0.0.x", ">=0.0.0 <0.1.0-0"),
    ("^0.0", ">=0.0.0 <0.1.0-0"),
    ("^1.x", ">=1.0.0 <2.0.0-0"),
    ("^0.x", ">=0.0.0 <1.0.0-0"),
    (">1.2", ">=1.3.0"),
    ("<=1.2", "<1.3.0-0"),
    (">1", ">=2.0.0"),
    ("<1.2", "<1.2.0-0"),
    (">=1.2", ">=1.2.0"),
    ("<=1", "<2.0.0-0"),
    ("> 1.0.0", ">1.0.0"),
    ("=1.2.3", "1.2.3"),
]

# The same, with includePrerelease.
DESUGARINGS_WITH_PRERELEASE = [
    ("1.2.3 - 2.3.4", ">=1.2.3-0 <2.3.5-0"),
    ("1.x", ">=1.0.0-0 <2.0.0-0"),
    ("1.2", ">=1.2.0-0 <1.3.0-0"),
    ("^0.2.3", ">=0.2.3 <0.3.0-0"),
    ("^0.0.3", ">=0.0.3 <0.0.4-0"),
    ("^1.2.3", ">=1.2.3 <2.0.0-0"),
    ("^1.2", ">=1.2.0-0 <2.0.0-0"),
    ("^0.2", ">=0.2.0-0 <0.3.0-0"),
    ("~1.2", ">=1.2.0-0 <1.3.0-0"),
    ("~1", ">=1.0.0-0 <2.0.0-0"),
    ("~1.2.3", ">=1.2.3 <1.3.0-0"),
    ("1.2 - 2", ">=1.2.0-0 <3.0.0-0"),
    (">=1.2", ">=1.2.0-0"),
    (">1.2", ">=1.3.0-0"),
    ("*", ">=0.0.0-0"),
]

PRERELEASE_TAILS = ["", "-0", "-alpha", "-beta", "-beta.2", "-beta.4", "-pr.2"]
GRID = [
    V(f"{a}.{b}.{c}{tail}")
    for a in range(4)
    for b in range(4)
    for c in range(5)
    for tail in PRERELEASE_TAILS
]


@pytest.mark.parametrize(("sugar", "primitive"), DESUGARINGS)
def test_desugaring_matches_node_semver(sugar: str, primitive: str) -> None:
    ours, theirs = Range.parse(sugar), Range.parse(primitive)
    assert [v for v in GRID if ours.contains(v)] == [v for v in GRID if theirs.contains(v)]


@pytest.mark.parametrize(("sugar", "primitive"), DESUGARINGS_WITH_PRERELEASE)
def test_desugaring_with_include_prerelease(sugar: str, primitive: str) -> None:
    ours, theirs = Range.parse(sugar), Range.parse(primitive)
    assert [v for v in GRID if ours.contains(v, True)] == [
        v for v in GRID if theirs.contains(v, True)
    ]


def test_equal_desugarings_make_equal_ranges() -> None:
    assert Range.parse("^1.2.3") == Range.parse(">=1.2.3 <2.0.0-0")
    assert hash(Range.parse("~1.2.3")) == hash(Range.parse("<1.3.0-0  >=1.2.3"))
    assert Range.parse("~1.2") == Range.parse("1.2.x")  # with include_prerelease too
    assert Range.parse("~1.2") != Range.parse(">=1.2.0 <1.3.0-0")  # which lacks the -0 floor
    assert Range.parse("^1.2.3") != Range.parse("~1.2.3")


INVALID_RANGES = [
    ">=abc",
    "1.2.3 -",
    "- 1.2.3",
    "^^1",
    "~",
    ">=",
    "1.2.3.4",
    "01.2.3",
    "1.2.3-01",
    "a || b",
    "1.2.3 | 2",
    "1.2.3 - 2 - 3",
    ">=1.2.3 - 2",
    ">=1.2.3-",
    "1.2.3+",
    "~=1.2",
    ">>1",
    "vv1.2.3",
    "1.2.3a",
    "1" * 5000,  # longer than any version
    "<=" + "9" * 251 + ".x",  # its bound 10**251.0.0-0 would be longer than 255 characters
]


@pytest.mark.parametrize("text", INVALID_RANGES)
def test_invalid_ranges_are_refused(text: str) -> None:
    with pytest.raises(InvalidVersion, match="is not an npm version range"):
        Range.parse(text)


def test_range_input_types() -> None:
    with pytest.raises(InvalidVersion):
        Range.parse(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidVersion):
        Range.parse("^1").contains("1.2.3")  # type: ignore[arg-type]


def test_range_text_round_trips() -> None:
    text = ">= 1.2.3   <2 || ~v0.5.4-pre"
    r = Range.parse(text)
    assert str(r) == text and repr(r) == f"Range({text!r})"


def test_max_satisfying_examples() -> None:
    versions = [V(t) for t in ["1.2.3", "1.2.4", "1.3.0-rc.1", "1.9.9", "2.0.0", "2.0.0-rc.1"]]
    caret = Range.parse("^1.2.3")
    assert caret.max_satisfying(versions) == V("1.9.9")
    assert caret.max_satisfying(versions, include_prerelease=True) == V("1.9.9")
    assert Range.parse("1.3.0-rc.0 - 1.3").max_satisfying(versions) == V("1.3.0-rc.1")
    assert Range.parse(">=3").max_satisfying(versions) is None
    assert Range.parse("*").max_satisfying([]) is None


@pytest.mark.parametrize(
    ("text", "hull"),
    [
        ("^1.2.3", ("1.2.3", True, "2.0.0-0", False)),
        ("1.2.3 || 2.x", ("1.2.3", True, "3.0.0-0", False)),
        (">1.2.3", ("1.2.3", False, None, False)),
        ("<=2.0.0", (None, False, "2.0.0", True)),
        ("<2 <=1.5.0 >1.0.0 >=1.0.0", ("1.0.0", False, "1.5.0", True)),
        ("1.0.0 || 1.0.0 - 1.2.0 || 1.1", ("1.0.0-0", True, "1.2.1-0", False)),
        ("*", (None, False, None, False)),
        (">X", ("0.0.0-0", False, "0.0.0-0", False)),
        (">2 <1", ("0.0.0-0", False, "0.0.0-0", False)),
        ("1.2.3 - 2.3.4", ("1.2.3-0", True, "2.3.5-0", False)),
    ],
)
def test_hull_examples(text: str, hull: tuple[str | None, bool, str | None, bool]) -> None:
    low, low_in, high, high_in = hull
    expected = (low and V(low), low_in, high and V(high), high_in)
    assert Range.parse(text).hull() == expected


# ------------------------------------------------------------------ range properties

small_numbers = st.integers(0, 3).map(str)
xrs = st.one_of(small_numbers, st.sampled_from(["x", "X", "*"]))
small_pres = st.sampled_from(["0", "1", "alpha", "alpha.1", "beta", "rc.1"])
partials = st.one_of(
    xrs,
    st.tuples(xrs, xrs).map(".".join),
    st.tuples(xrs, xrs, xrs).map(".".join),
    st.tuples(small_numbers, small_numbers, small_numbers, small_pres).map(
        lambda t: f"{t[0]}.{t[1]}.{t[2]}-{t[3]}"
    ),
)
operators = st.sampled_from(["", "=", "<", "<=", ">", ">=", "~", "~>", "^", "v", ">= ", "^ "])
comparator_sets = st.one_of(
    st.lists(st.tuples(operators, partials).map("".join), min_size=1, max_size=3).map(" ".join),
    st.tuples(partials, partials).map(" - ".join),
)
ranges = st.lists(comparator_sets, min_size=1, max_size=3).map(" || ".join)
small_versions = st.builds(
    lambda a, b, c, pre: V(f"{a}.{b}.{c}" + (f"-{pre}" if pre else "")),
    st.integers(0, 4),
    st.integers(0, 4),
    st.integers(0, 4),
    st.one_of(st.none(), small_pres),
)


@given(ranges, st.lists(small_versions, max_size=25), st.booleans())
def test_max_satisfying_equals_brute_force(text: str, versions: list[Version], pre: bool) -> None:
    r = Range.parse(text)
    matching = [v for v in versions if r.contains(v, pre)]
    assert r.max_satisfying(versions, pre) == max(matching, default=None)


@given(ranges, st.lists(small_versions, max_size=25))
def test_hull_is_sound(text: str, versions: list[Version]) -> None:
    low, low_in, high, high_in = Range.parse(text).hull()
    r = Range.parse(text)
    for v in versions:
        if r.contains(v) or r.contains(v, include_prerelease=True):
            assert low is None or v > low or (low_in and v == low)
            assert high is None or v < high or (high_in and v == high)


@given(ranges)
def test_range_str_round_trips(text: str) -> None:
    assert str(Range.parse(text)) == text
    assert Range.parse(text) == Range.parse(text)
