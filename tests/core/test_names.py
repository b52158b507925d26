"""Behaviour of model names and alias names."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from registry_core.errors import InvalidName
from registry_core.names import AliasName, ModelName

VALID_MODEL_NAMES = [
    "a",
    "fraud-detector",
    "Fraud/Detector",
    "team/vision/resnet_50",
    "a.b+c-d_e",
    "...",
    ".hidden",
    "1.0.0/a",  # a version-shaped first segment is fine: nothing precedes it
    "1.0.0",
    "a/1.0",  # not a full SemVer version
    "a/1.0.0.0",
    "a/v1.0.0",
    "a/01.0.0",  # leading zero: not SemVer
    "x" * 255,
    "/".join(["ab"] * 85),  # 254 chars, many segments
]

INVALID_MODEL_NAMES = [
    ("", "empty"),
    ("x" * 256, "more than 255"),
    ("a//b", "empty segment"),
    ("/a", "empty segment"),
    ("a/", "empty segment"),
    ("/", "empty segment"),
    ("a/./b", "segment '.'"),
    ("a/../b", "segment '..'"),
    ("..", "segment '..'"),
    (".", "segment '.'"),
    ("a b", "contains ' '"),
    (" a", "contains ' '"),
    ("a\tb", "contains '\\t'"),
    ("modèle", "contains 'è'"),
    ("модель", "contains"),
    ("a\\b", "contains '\\\\'"),
    ("a\x00b", "contains '\\x00'"),
    ("a\n", "contains '\\n'"),
    ("a:b", "contains ':'"),
    ("a/1.0.0", "SemVer"),
    ("a/b/0.1.0", "SemVer"),
    ("a/1.0.0-rc.1", "SemVer"),
    ("a/1.0.0+build.5", "SemVer"),
    ("a/1.0.0-alpha+001/b", "SemVer"),
    ("1.0.0/2.0.0", "SemVer"),
]


@pytest.mark.parametrize("text", VALID_MODEL_NAMES)
def test_valid_model_name_parses_and_keeps_its_text(text: str) -> None:
    name = ModelName.parse(text)
    assert name.value == text
    assert str(name) == text
    assert name.segments == tuple(text.split("/"))


@pytest.mark.parametrize(("text", "rule"), INVALID_MODEL_NAMES)
def test_invalid_model_name_is_refused_naming_input_and_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidName) as caught:
        ModelName.parse(text)
    message = str(caught.value)
    assert message.startswith("model name ")
    assert repr(text)[:40] in message
    assert rule in message


def test_invalid_name_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ModelName.parse("a//b")


def test_model_name_of_255_chars_is_accepted_and_256_refused() -> None:
    assert len(ModelName.parse("a" * 255).value) == 255
    with pytest.raises(InvalidName, match="256 characters"):
        ModelName.parse("a" * 256)


def test_long_input_is_truncated_in_the_message() -> None:
    with pytest.raises(InvalidName) as caught:
        ModelName.parse("x" * 10_000)
    assert len(str(caught.value)) < 200
    assert "..." in str(caught.value)


@pytest.mark.parametrize("value", [None, 1, b"model", ["a"], 1.5])
def test_non_str_model_name_is_refused(value: Any) -> None:
    with pytest.raises(InvalidName, match="must be a str"):
        ModelName.parse(value)


def test_model_names_differing_in_case_share_a_key() -> None:
    upper = ModelName.parse("Fraud/Detector")
    lower = ModelName.parse("fraud/detector")
    assert upper.key == lower.key == "fraud/detector"
    assert upper.value == "Fraud/Detector"


def test_model_name_equality_is_by_exact_text() -> None:
    assert ModelName.parse("a/b") == ModelName.parse("a/b")
    assert ModelName.parse("A/b") != ModelName.parse("a/b")
    assert hash(ModelName.parse("a/b")) == hash(ModelName.parse("a/b"))


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(InvalidName):
        ModelName("a//b")


def test_model_name_is_immutable() -> None:
    name = ModelName.parse("a")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        name.value = "a//b"  # type: ignore[misc]


VALID_ALIASES = ["prod", "Prod", "champion-v2", "a_b", "0", "latest2", "my-latest", "x" * 255]

INVALID_ALIASES = [
    ("", "empty"),
    ("x" * 256, "more than 255"),
    ("a.b", "contains '.'"),
    ("a/b", "contains '/'"),
    ("a+b", "contains '+'"),
    ("a b", "contains ' '"),
    ("prod\n", "contains '\\n'"),
    ("é", "contains 'é'"),
    ("a\x00", "contains '\\x00'"),
]


@pytest.mark.parametrize("text", VALID_ALIASES)
def test_valid_alias_parses_and_keeps_its_text(text: str) -> None:
    alias = AliasName.parse(text)
    assert alias.value == text
    assert str(alias) == text


@pytest.mark.parametrize(("text", "rule"), INVALID_ALIASES)
def test_invalid_alias_is_refused_naming_input_and_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidName) as caught:
        AliasName.parse(text)
    message = str(caught.value)
    assert message.startswith("alias name ")
    assert repr(text)[:40] in message
    assert rule in message


@pytest.mark.parametrize("text", ["latest", "LATEST", "Latest", "lAtEsT"])
def test_latest_is_reserved_in_any_case(text: str) -> None:
    with pytest.raises(InvalidName) as caught:
        AliasName.parse(text)
    assert "'latest' is reserved: resolve('latest') means the latest ready version" in str(
        caught.value
    )
    assert repr(text) in str(caught.value)


def test_alias_of_255_chars_is_accepted_and_256_refused() -> None:
    assert AliasName.parse("a" * 255).value == "a" * 255
    with pytest.raises(InvalidName):
        AliasName.parse("a" * 256)


@pytest.mark.parametrize("value", [None, 7, b"prod"])
def test_non_str_alias_is_refused(value: Any) -> None:
    with pytest.raises(InvalidName, match="must be a str"):
        AliasName.parse(value)


def test_alias_key_is_case_sensitive() -> None:
    assert AliasName.parse("Prod").key == "Prod"
    assert AliasName.parse("Prod").key != AliasName.parse("prod").key


def test_direct_alias_construction_is_checked_too() -> None:
    with pytest.raises(InvalidName):
        AliasName("latest")


@pytest.mark.parametrize("name", [".modelreg", ".MODELREG/docs", ".modelreg/tmp"])
def test_the_stores_own_folder_is_not_a_model_name(name: str) -> None:
    with pytest.raises(InvalidName, match="reserved"):
        ModelName.parse(name)


def test_modelreg_is_allowed_past_the_first_segment() -> None:
    assert ModelName.parse("team/.modelreg").key == "team/.modelreg"
