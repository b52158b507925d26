"""The pure parts: run ids, version choice from tags, filters and entity JSON."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("starlette")

from registry_core import InvalidInput, ModelName, ModelVersion, Version
from registry_server.errors import ApiError
from registry_server.mapping import (
    parse_run_id,
    planned_version,
    run_id_for,
    version_json,
)
from registry_server.search import parse_filter

RUN_ID = r"^[a-zA-Z0-9][\w\-]{0,255}$"  # what the MLflow client accepts

segments = st.from_regex(r"[A-Za-z_+-][A-Za-z0-9_.+-]{0,12}", fullmatch=True).filter(
    lambda s: s not in (".", "..") and s.lower() != ".modelreg"
)
names = st.lists(segments, min_size=1, max_size=3).map("/".join)
versions = st.builds(
    lambda a, b, c, pre, build: (
        f"{a}.{b}.{c}" + (f"-{pre}" if pre else "") + (f"+{build}" if build else "")
    ),
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(["", "rc.1", "alpha-beta", "0.3.7"]),
    st.sampled_from(["", "build.7", "x-y"]),
)


@given(names, versions)
def test_run_ids_name_their_version_and_pass_the_clients_check(name: str, version: str) -> None:
    ModelName.parse(name)
    Version.parse(version)
    run_id = run_id_for(name, version)
    assert parse_run_id(run_id) == (name, version)
    if len(run_id) <= 256:
        assert re.match(RUN_ID, run_id)


@pytest.mark.parametrize("bogus", ["", "x", "_mx", "1_q_mx", "1_mx_my", "a b", "1_d0_d0", "-1_mx"])
def test_other_strings_are_not_run_ids(bogus: str) -> None:
    assert parse_run_id(bogus) is None


def test_the_run_id_reads_well_for_common_names() -> None:
    assert run_id_for("fraud", "1.2.0") == "1_d2_d0_mfraud"
    assert run_id_for("team/fraud_v2", "2.0.0-rc.1") == "2_d0_d0-rc_d1_mteam_sfraud_uv2"


@pytest.mark.parametrize(
    ("tags", "plan"),
    [
        ({}, (None, "major")),
        ({"gitlab.version": "1.2.3"}, ("1.2.3", None)),
        ({"modelreg.version": "1.2.3", "gitlab.version": "1.2.3"}, ("1.2.3", None)),
        ({"modelreg.bump": "patch"}, (None, "patch")),
    ],
)
def test_the_version_a_create_asks_for(tags: dict[str, str], plan: tuple[str, str]) -> None:
    assert planned_version(tags) == plan


@pytest.mark.parametrize(
    "tags",
    [
        {"modelreg.version": "1.0.0", "gitlab.version": "2.0.0"},
        {"modelreg.version": "1.0.0", "modelreg.bump": "minor"},
        {"modelreg.bump": "huge"},
    ],
)
def test_contradictory_version_tags_are_refused(tags: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        planned_version(tags)


def test_filters_the_client_sends() -> None:
    flt = parse_filter("name LIKE 'fr%' AND tag.`mlflow.prompt.is_prompt` != 'true'")
    assert flt.name_prefix() == "fr"
    assert flt.matches({"name": "fraud"}, {})
    assert not flt.matches({"name": "fraud"}, {"mlflow.prompt.is_prompt": "true"})
    assert not flt.matches({"name": "Fraud"}, {})  # LIKE is case-sensitive, ILIKE is not
    assert parse_filter("name ILIKE 'FR%'").matches({"name": "fraud"}, {})
    assert parse_filter('tags.team = "a b"').matches({}, {"team": "a b"})
    assert parse_filter("name = 'x' and run_id = 'y'").equal("run_id") == "y"


@pytest.mark.parametrize(
    "bad",
    ["name", "name = ", "name = 'x' AND", "name > 'x'", "foo = 'x'", "name = 'x' OR name = 'y'"],
)
def test_filters_it_cannot_read_are_400(bad: str) -> None:
    with pytest.raises(ApiError) as error:
        parse_filter(bad)
    assert error.value.status == 400


def test_version_json_shapes() -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    entity = ModelVersion(
        model=ModelName.parse("fraud"),
        version=Version.parse("1.0.0"),
        tags={"k": "v"},
        created_at=when,
        updated_at=when,
    )
    doc = version_json(entity, ["champion"])
    assert doc["version"] == "1.0.0" and doc["status"] == "READY"
    assert doc["creation_timestamp"] == 1704067200000
    assert doc["tags"] == [{"key": "k", "value": "v"}, {"key": "modelreg.state", "value": "draft"}]
    assert doc["aliases"] == ["champion"]
