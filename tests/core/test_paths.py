"""Behaviour of artifact paths: they never leave the folder they are joined to."""

from __future__ import annotations

import ntpath
import posixpath
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from registry_core.errors import InvalidPath
from registry_core.paths import ArtifactPath

POSIX_ROOT = "/root/v"
WINDOWS_ROOT = "C:\\root\\v"

CONTROL_CHARACTERS = [chr(code) for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]]


def assert_stays_inside_roots(path: ArtifactPath) -> None:
    """Joined to a POSIX or a Windows root, `path` resolves strictly inside it."""
    posix = posixpath.normpath(posixpath.join(POSIX_ROOT, path.value))
    assert posix.startswith(POSIX_ROOT + "/"), posix
    windows = ntpath.normpath(ntpath.join(WINDOWS_ROOT, path.value))
    assert windows.startswith(WINDOWS_ROOT + "\\"), windows


def refused(text: object) -> str:
    """Parse `text`, expecting `InvalidPath`, and return the message."""
    with pytest.raises(InvalidPath) as caught:
        ArtifactPath.parse(text)  # type: ignore[arg-type]
    return str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "model.bin",
        "weights/model.safetensors",
        "a/b/c/d.json",
        "...",
        "a/.../b",
        ".hidden",
        "a/.b",
        "x y/z",
        "~",
        "\u00e9t\u00e9/r\u00e9sum\u00e9.txt",
        "日本語/ファイル",
    ],
)
def test_valid_path_parses_and_keeps_its_text(text: str) -> None:
    path = ArtifactPath.parse(text)
    assert path.value == text
    assert str(path) == text
    assert path.segments == tuple(text.split("/"))
    assert_stays_inside_roots(path)


@pytest.mark.parametrize("text", ["..", "a/../..", "../x", "a/..", "a/../b", "../../etc/passwd"])
def test_parent_traversal_is_refused(text: str) -> None:
    assert "segment '..' is not allowed" in refused(text)


@pytest.mark.parametrize("text", [".", "./a", "a/./b", "a/."])
def test_dot_segment_is_refused(text: str) -> None:
    assert "segment '.' is not allowed" in refused(text)


@pytest.mark.parametrize("text", ["/etc/passwd", "/", "//server/share/x", "/a"])
def test_absolute_path_is_refused(text: str) -> None:
    assert "absolute" in refused(text)


@pytest.mark.parametrize("text", ["C:/x", "c:x", "C:", "D:foo/bar", "file.bin:stream", "a:b/c"])
def test_colon_in_first_segment_is_refused(text: str) -> None:
    assert "first segment contains ':'" in refused(text)


@pytest.mark.parametrize("text", ["a\\b", "C:\\x", "\\x", "a/b\\..\\..\\c", "\\\\server\\share"])
def test_backslash_is_refused(text: str) -> None:
    assert "backslash" in refused(text)


@pytest.mark.parametrize("text", ["a//b", "a/", "a/b/", "a///b"])
def test_empty_segment_or_trailing_slash_is_refused(text: str) -> None:
    message = refused(text)
    assert "empty segment" in message or "ends with /" in message


def test_empty_path_is_refused() -> None:
    assert "is invalid: empty" in refused("")


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("template", ["{}", "a{}b", "a/{}", "{}/a", "a/b{}"])
def test_control_character_is_refused(char: str, template: str) -> None:
    assert f"control character U+{ord(char):04X}" in refused(template.format(char))


@pytest.mark.parametrize("text", ["a\nb", "a\r\nb", "a/b\n", "\n", "a\u0085b"])
def test_newline_is_refused(text: str) -> None:
    assert "control character" in refused(text)


def test_nul_is_refused() -> None:
    assert "control character U+0000" in refused("model.bin\x00.txt")


@pytest.mark.parametrize("text", ["\ud800", "a/\udfff", "x\udc80y"])
def test_unpaired_surrogate_is_refused(text: str) -> None:
    assert "surrogate" in refused(text)


@pytest.mark.parametrize(
    ("ok", "too_long"),
    [
        ("a" * 255, "a" * 256),
        ("\u00e9" * 127, "\u00e9" * 128),  # 2 bytes each: 254 ok, 256 refused
        ("\u20ac" * 85, "\u20ac" * 86),  # 3 bytes each: 255 ok, 258 refused
        ("dir/" + "a" * 255, "dir/" + "a" * 256),
    ],
)
def test_segment_over_255_utf8_bytes_is_refused(ok: str, too_long: str) -> None:
    assert ArtifactPath.parse(ok).value == ok
    assert "more than 255" in refused(too_long)


def test_path_over_1024_utf8_bytes_is_refused() -> None:
    base = "/".join(["a" * 200] * 5)  # 1,004 bytes
    ok = base + "/" + "b" * 19
    assert len(ok.encode()) == 1024
    assert ArtifactPath.parse(ok).value == ok
    assert "1025 bytes in UTF-8, more than 1024" in refused(ok + "b")


def test_path_limit_counts_bytes_not_characters() -> None:
    text = "/".join(["\u00e9" * 100] * 5) + "/" + "\u00e9" * 10  # 515 chars, 1,025 bytes
    assert len(text.encode()) == 1025
    assert "more than 1024" in refused(text)


@pytest.mark.parametrize("text", ["e\u0301", "a/e\u0301.txt", "\u1100\u1161"])
def test_non_nfc_input_is_refused_not_normalised(text: str) -> None:
    assert "normalise it to NFC" in refused(text)


def test_nfc_input_is_accepted() -> None:
    assert ArtifactPath.parse("\u00e9").value == "\u00e9"


@pytest.mark.parametrize("value", [None, 1, b"a/b", PurePosixPath("a/b"), ["a"]])
def test_non_str_input_is_refused(value: Any) -> None:
    assert "must be a str" in refused(value)


def test_message_names_input_truncated() -> None:
    message = refused("../" + "x" * 5000)
    assert message.startswith("artifact path '../xxx")
    assert len(message) < 200


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(InvalidPath):
        ArtifactPath("../x")


def test_keys_fold_case() -> None:
    assert ArtifactPath.parse("Config/A.json").key == ArtifactPath.parse("config/a.json").key
    assert ArtifactPath.parse("Stra\u00dfe").key == ArtifactPath.parse("STRASSE").key


def test_equality_is_by_exact_text() -> None:
    assert ArtifactPath.parse("a/B") == ArtifactPath.parse("a/B")
    assert ArtifactPath.parse("a/B") != ArtifactPath.parse("a/b")
    assert len({ArtifactPath.parse("a"), ArtifactPath.parse("a")}) == 1


def test_sorting_is_by_key_then_exact_text() -> None:
    texts = ["b", "B", "a/c", "A/b", "a"]
    ordered = [path.value for path in sorted(ArtifactPath.parse(text) for text in texts)]
    assert ordered == ["a", "A/b", "a/c", "B", "b"]
    assert ArtifactPath.parse("B") < ArtifactPath.parse("b")
    assert ArtifactPath.parse("b") >= ArtifactPath.parse("B")


def test_name_parent_and_segments() -> None:
    path = ArtifactPath.parse("a/b/c.bin")
    assert path.name == "c.bin"
    assert path.segments == ("a", "b", "c.bin")
    assert path.parent == ArtifactPath.parse("a/b")
    assert path.parent is not None and path.parent.parent == ArtifactPath.parse("a")
    assert ArtifactPath.parse("c.bin").parent is None
    assert ArtifactPath.parse("c.bin").name == "c.bin"


@pytest.mark.parametrize(
    ("subfolder", "name", "expected"),
    [
        (None, "model.bin", "model.bin"),
        ("", "model.bin", "model.bin"),
        ("weights", "model.bin", "weights/model.bin"),
        ("a/b", "c.json", "a/b/c.json"),
        ("a", "b/c.json", "a/b/c.json"),
        (ArtifactPath.parse("a/b"), "c", "a/b/c"),
    ],
)
def test_join_puts_name_under_subfolder(
    subfolder: str | ArtifactPath | None, name: str, expected: str
) -> None:
    assert ArtifactPath.join(subfolder, name) == ArtifactPath.parse(expected)


@pytest.mark.parametrize(
    ("subfolder", "name", "blamed"),
    [
        ("../x", "a", "subfolder"),
        ("a/", "b", "subfolder"),
        ("/abs", "b", "subfolder"),
        ("C:", "x", "subfolder"),
        ("a\\b", "c", "subfolder"),
        ("a", "", "artifact name"),
        ("a", "..", "artifact name"),
        ("a", "../b", "artifact name"),
        ("a", "/etc/passwd", "artifact name"),
        ("a", "C:x", "artifact name"),
        ("a", "b/", "artifact name"),
        ("a", "e\u0301", "artifact name"),
        ("/".join(["a" * 255] * 4), "d", "joined artifact path"),  # 1,023 + 2 bytes
    ],
)
def test_join_refuses_bad_parts_and_overlong_result(subfolder: str, name: str, blamed: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        ArtifactPath.join(subfolder, name)
    assert str(caught.value).startswith(blamed + " ")


@pytest.mark.parametrize(("subfolder", "name"), [(5, "a"), ("a", None), (None, b"a")])
def test_join_refuses_non_str_parts(subfolder: Any, name: Any) -> None:
    with pytest.raises(InvalidPath, match="must be a str"):
        ArtifactPath.join(subfolder, name)


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("a/b/c", "a/b", True),
        ("a/b/c", "a", True),
        ("a/b", "a/b", True),
        ("A/B/c", "a/b", True),
        ("Stra\u00dfe/x", "STRASSE", True),
        ("a/bc", "a/b", False),
        ("a", "a/b", False),
        ("b/a", "a", False),
    ],
)
def test_is_within_compares_whole_segments_case_insensitively(
    path: str, prefix: str, expected: bool
) -> None:
    assert ArtifactPath.parse(path).is_within(ArtifactPath.parse(prefix)) is expected


# Path-shaped text: components joined by separators, drawn mostly from the pieces that build
# traversal, drive and separator tricks; and loose pieces of odd characters.
COMPONENTS = ["..", ".", "a", "C:", "D:", ""]
SEPARATORS = ["/", "\\", ""]
component = st.sampled_from(COMPONENTS) | st.text(max_size=3)
separator = st.sampled_from(SEPARATORS) | st.text(max_size=1)
path_like = st.lists(st.tuples(component, separator), max_size=6).map(
    lambda parts: "".join(c + s for c, s in parts)
)
PIECES = ["/", "\\", ".", "..", ":", "C:", "a", " ", "~", "\x00", "\n", "\ud800", "\u2028"]
PIECES += ["//", "...", "e\u0301", "\u0301", "\u00df", "\uff0f", "\u2215", "\u2024\u2024"]
loose_pieces = st.lists(st.sampled_from(PIECES) | st.text(max_size=2), max_size=12).map("".join)
any_text = st.text() | path_like | loose_pieces
valid_paths = st.lists(
    st.sampled_from(["a", "B", "\u00e9", "x y", "..."]), min_size=1, max_size=4
).map(lambda segments: ArtifactPath.parse("/".join(segments)))


def check_parse_stays_inside_roots(text: str) -> None:
    """Either `text` is refused with `InvalidPath`, or it stays inside both roots."""
    try:
        path = ArtifactPath.parse(text)
    except InvalidPath:
        return
    assert path.value == text
    assert_stays_inside_roots(path)


@given(any_text)
def test_parsed_path_never_resolves_outside_root(text: str) -> None:
    check_parse_stays_inside_roots(text)


@given(path_like)
@example("..")  # known tricks, tried on every run before the generated text
@example(".")
@example("a/../..")
@example("..\\x")
@example("a\\..\\..\\x")
@example("D:x")
@example("D:/x")
@example("C:..\\x")
@example("/x")
@example("\\\\server\\share\\x")
def test_parsed_path_shaped_text_never_resolves_outside_root(text: str) -> None:
    check_parse_stays_inside_roots(text)


@given(st.none() | st.just("") | any_text | valid_paths, any_text)
def test_joined_path_never_resolves_outside_root(
    subfolder: str | ArtifactPath | None, name: str
) -> None:
    try:
        path = ArtifactPath.join(subfolder, name)
    except InvalidPath:
        return
    assert_stays_inside_roots(path)
    if isinstance(subfolder, str) and subfolder:
        subfolder = ArtifactPath.parse(subfolder)
    if isinstance(subfolder, ArtifactPath):
        assert path.is_within(subfolder)
        assert path.value == f"{subfolder.value}/{name}"
    else:
        assert path.value == name
