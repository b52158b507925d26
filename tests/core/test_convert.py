"""The converter round-trips every entity, and refuses documents from a newer schema."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_core import (
    Artifact,
    ArtifactPath,
    CIJob,
    Metric,
    Model,
    ModelName,
    ModelVersion,
    Role,
    SchemaError,
    Settings,
    Version,
    VersionState,
    Visibility,
)
from registry_core.convert import from_document, to_document

times = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.just(dt.timezone.utc),
)
texts = st.text(max_size=20)
model_names = st.from_regex(
    r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,10}(/[A-Za-z_][A-Za-z0-9_-]{0,8})?", fullmatch=True
)
versions = st.builds(
    lambda a, b, c, pre, build: Version.parse(f"{a}.{b}.{c}{pre}{build}"),
    st.integers(0, 10**30),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(["", "-rc.1", "-alpha.beta.7", "-0A-z"]),
    st.sampled_from(["", "+b.01"]),
)
paths = st.from_regex(r"[a-zA-Z0-9_é][a-zA-Z0-9_. é-]{0,8}(/[a-z0-9_]{1,8}){0,3}", fullmatch=True)
artifacts = st.builds(
    Artifact,
    st.builds(ArtifactPath.parse, paths),
    st.integers(0, 2**53),
    st.text("0123456789abcdef", min_size=64, max_size=64),
)
ci_jobs = st.builds(
    CIJob,
    provider=st.sampled_from(["gitlab", "github"]),
    job_id=st.from_regex(r"[0-9]{1,9}", fullmatch=True),
    pipeline_id=st.none() | st.just("77"),
    project_url=st.none() | st.just("https://gitlab.example.com/a/b"),
    commit=st.none() | st.just("abc"),
    ref=st.none() | texts.filter(str.isprintable),
    merge_request=st.none() | st.just("3"),
)
tag_maps = st.dictionaries(texts, texts, max_size=3)
models = st.builds(
    Model,
    name=st.builds(ModelName.parse, model_names),
    description=texts,
    tags=tag_maps,
    aliases=st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), versions, max_size=2),
    created_at=times,
    updated_at=times,
    created_by=st.none() | texts,
    updated_by=st.none() | texts,
)
model_versions = st.builds(
    ModelVersion,
    model=st.builds(ModelName.parse, model_names),
    version=versions,
    state=st.sampled_from(VersionState),
    description=texts,
    tags=tag_maps,
    params=tag_maps,
    artifacts=st.lists(artifacts, max_size=3).map(tuple),
    ci_job=st.none() | ci_jobs,
    manifest_sha256=st.none() | st.just("a" * 64),
    published_at=st.none() | times,
    created_at=times,
    updated_at=times,
    created_by=st.none() | texts,
)
metrics = st.builds(
    Metric, texts, st.floats(allow_nan=False), st.integers(-(2**63), 2**63 - 1), times
)
settings_values = st.builds(
    Settings,
    enabled=st.booleans(),
    visibility=st.sampled_from(Visibility),
    members=st.dictionaries(texts, st.sampled_from(Role), max_size=3),
)


@pytest.mark.parametrize(
    ("strategy", "cls"),
    [
        (models, Model),
        (model_versions, ModelVersion),
        (artifacts, Artifact),
        (metrics, Metric),
        (ci_jobs, CIJob),
        (settings_values, Settings),
    ],
    ids=["Model", "ModelVersion", "Artifact", "Metric", "CIJob", "Settings"],
)
def test_every_entity_round_trips_through_its_document(
    strategy: st.SearchStrategy, cls: type
) -> None:
    @given(strategy)
    def round_trip(entity: object) -> None:
        document = to_document(entity)
        assert document["schema"] == 1
        back = from_document(document, cls)
        assert back == entity
        if isinstance(entity, ModelVersion):
            assert [str(a.path) for a in back.artifacts] == [str(a.path) for a in entity.artifacts]
            assert str(back.version) == str(entity.version)  # build metadata kept

    round_trip()


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_metric_values_survive_json(value: float) -> None:
    metric = Metric("loss", value, 0, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    document = to_document(metric)
    assert isinstance(document["value"], str)
    back = from_document(document, Metric)
    assert (math.isnan(back.value) and math.isnan(value)) or back.value == value


def test_a_document_from_a_newer_schema_is_refused() -> None:
    with pytest.raises(SchemaError, match="upgrade modelreg"):
        from_document({"schema": 99, "key": "k"}, Metric)
