"""Bad input at the database layer, on SQLite, PostgreSQL and MySQL/MariaDB alike.

The largest values the core accepts round-trip and land in the projected tables; odd
Unicode (emoji, right-to-left, combining marks, lone surrogates, NUL) is stored or refused
with a `RegistryError`, never a driver error; a file that is not a registry is refused and
left byte for byte as it was.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sql_support import fresh_repository, tables_of

from registry_backends.sql import SqlRepository, open_sql
from registry_core import CIJob, Metric, Registry
from registry_core.errors import InvalidInput, RegistryError, SchemaError

KINDS = ["sqlite", "postgresql", "mysql"]


@pytest.fixture(params=KINDS)
def repo(request: pytest.FixtureRequest) -> Iterator[SqlRepository]:
    with fresh_repository(request.param) as (repository, _):
        yield repository


# -- the largest values ---------------------------------------------------------------------

NAME = "/".join(["a" * 63] * 4)  # 255 characters
VERSION = "1.0.0-" + "A" * 249  # 255 characters; a precedence key of 508
KEY = "🔑" * 255  # 255 characters, 1,020 bytes of UTF-8
VALUE = "ü" * 5_000
DESCRIPTION = "d" * 9_999 + "😀"
PATH = "/".join(["é" * 127] * 4)  # segments of 254 bytes, 1,019 bytes in all


def test_the_largest_values_round_trip(repo: SqlRepository) -> None:
    assert len(NAME) == len(VERSION) == 255 and len(PATH.encode()) <= 1024
    registry = Registry(repo)
    registry.create_model(NAME, DESCRIPTION, tags={KEY: VALUE})
    job = CIJob(provider="gitlab", job_id="j" * 1024, project_url="https://x/" + "p" * 1014)
    created = registry.create_version(NAME, VERSION, description=DESCRIPTION, tags={KEY: VALUE})
    registry.link_ci_job(NAME, VERSION, job)
    registry.log_params(NAME, VERSION, {KEY: VALUE})
    registry.log_metric(NAME, VERSION, KEY, 1.5, step=2**63 - 1)
    registry.upload(NAME, VERSION, io.BytesIO(b"w"), name=PATH)
    registry.publish(NAME, VERSION)
    registry.set_alias(NAME, "a" * 255, VERSION)
    registry.grant("u" * 255, "owner")
    model = registry.get_model(NAME)
    assert model.description == DESCRIPTION and model.tags == {KEY: VALUE}
    version = registry.get_version(NAME, VERSION)
    assert str(version.version) == VERSION and version.created_at == created.created_at
    assert version.tags == {KEY: VALUE} and version.params == {KEY: VALUE}
    assert version.ci_job == job and version.description == DESCRIPTION
    assert [a.path.value for a in version.artifacts] == [PATH]
    with registry.open_artifact(NAME, VERSION, PATH) as stream:
        assert stream.read() == b"w"
    (metric,) = registry.get_metrics(NAME, VERSION)
    assert (metric.key, metric.value, metric.step) == (KEY, 1.5, 2**63 - 1)
    assert str(registry.resolve(NAME, "a" * 255).version) == VERSION
    assert str(registry.latest(NAME, include_prereleases=True).version) == VERSION
    rows = tables_of(repo)
    assert rows["version_tags"] == [(KEY, VALUE)] and rows["params"] == [(KEY, VALUE)]
    assert rows["model_tags"] == [(KEY, VALUE)]
    assert rows["artifacts"][0][0] == PATH
    assert rows["aliases"] == [("a" * 255, VERSION)]
    assert rows["memberships"] == [("u" * 255, "owner")]
    assert rows["metric_points"] == [(KEY, 1.5, None, 2**63 - 1)]
    assert rows["ci_links"] == [("gitlab", "j" * 1024, None, None, None)]
    assert rows["versions"] == [(NAME, VERSION, "ready")]


def test_a_large_batch_of_points_lands_whole_in_the_projection(repo: SqlRepository) -> None:
    registry = Registry(repo)
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    values = [0.1 * i for i in range(997)] + [math.inf, -math.inf, math.nan]
    points = [Metric(f"k{i % 3}-ü", v, i - 500, when) for i, v in enumerate(values)]
    registry.log_metrics("m", "1.0.0", points)  # COPY on PostgreSQL, executemany elsewhere
    got = registry.get_metrics("m", "1.0.0")
    assert [(m.key, m.step) for m in got] == [(p.key, p.step) for p in points]
    assert [m.value for m in got[:997]] == values[:997] and got[-1].value != got[-1].value
    rows = tables_of(repo)["metric_points"]
    assert len(rows) == 1000
    assert sorted(r[2] for r in rows if r[2] is not None) == ["-inf", "inf", "nan"]
    finite = sorted((r[3], r[1]) for r in rows if r[1] is not None)
    assert finite == sorted((i - 500, 0.1 * i) for i in range(997))


# -- odd text -------------------------------------------------------------------------------

ODD = {
    "emoji": "🧪🤖👩🏽‍🔬",
    "rtl": "שלום עולם مرحبا",
    "combining": "e\u0301 a\u0308 \u0915\u094d\u0937",
    "lone surrogate": "bad \ud800 half",
    "nul": "nul \x00 inside",
    "controls": "tab\tline\nbell\x07",
    "noncharacter": "\ufffe\uffff\U0010ffff",
}


@pytest.mark.parametrize("text", list(ODD.values()), ids=list(ODD))
def test_odd_text_is_stored_exactly_or_refused_cleanly(repo: SqlRepository, text: str) -> None:
    registry = Registry(repo)
    registry.create_model("m", text)
    registry.create_version("m", "1.0.0", description=text)
    outcomes = {}
    for what, call in {
        "tag": lambda: registry.set_tag("m", "1.0.0", "k", text),
        "tag key": lambda: registry.set_tag("m", "1.0.0", text, "v"),
        "param": lambda: registry.log_param("m", "1.0.0", "p", text),
        "model tag": lambda: registry.set_model_tag("m", "t", text),
        "metric": lambda: registry.log_metric("m", "1.0.0", text, 1.0),
    }.items():
        try:
            call()
            outcomes[what] = "stored"
        except RegistryError as error:
            outcomes[what] = type(error).__name__
    version = registry.get_version("m", "1.0.0")
    assert registry.get_model("m").description == text and version.description == text
    assert version.tags.get("k") == text and version.params.get("p") == text
    assert registry.get_model("m").tags == {"t": text}
    if outcomes["tag key"] == "stored":
        assert version.tags[text] == "v"
    if outcomes["metric"] == "stored":
        assert [m.key for m in registry.get_metrics("m", "1.0.0")] == [text]
    # What the core lets through is stored; what it refuses never reaches the database.
    assert set(outcomes.values()) <= {"stored", "InvalidInput"}, outcomes


def test_projections_escape_what_a_database_cannot_hold(repo: SqlRepository) -> None:
    registry = Registry(repo)
    registry.create_model("m")
    registry.create_version("m", "1.0.0", tags={"nul": "a\x00b", "half": "x\udc80y"})
    rows = dict(tables_of(repo)["version_tags"])
    assert rows == {"nul": "a\\u0000b", "half": "x\\udc80y"}
    assert registry.get_version("m", "1.0.0").tags == {"nul": "a\x00b", "half": "x\udc80y"}


def test_segments_sort_by_code_point_on_every_database(repo: SqlRepository) -> None:
    names = ["b", "B", "a", "á", "a b", "a\u0301", "z", "😀", "\ufb01", "~", "é"]
    for name in names:
        repo.put_if_absent(("other", name), {"n": name})
    assert [s for s, _ in repo.list_page(("other",), limit=100)] == sorted(names)
    page = repo.list_page(("other",), after="a", before="z", starts_with="a")
    assert [s for s, _ in page] == [n for n in sorted(names) if "a" < n < "z" and n[0] == "a"]


@pytest.mark.parametrize("data", [{"x": math.nan}, {"x": {1, 2}}, {"x": b"bytes"}, {"x": math.inf}])
def test_a_document_that_is_not_json_is_refused(repo: SqlRepository, data: dict) -> None:
    with pytest.raises(InvalidInput):
        repo.put_if_absent(("models", "m"), data)
    assert repo.get(("models", "m")) is None


def test_a_failure_inside_a_write_rolls_back_on_every_database(repo: SqlRepository) -> None:
    registry = Registry(repo)
    registry.create_model("m")
    with pytest.raises(RuntimeError), repo.transaction():
        registry.create_version("m", "1.0.0", tags={"k": "v"})
        raise RuntimeError("the process died here")
    assert registry.list_versions("m").items == ()
    assert tables_of(repo)["version_tags"] == []
    registry.create_version("m", "1.0.0", tags={"k": "v"})
    assert tables_of(repo)["version_tags"] == [("k", "v")]


# -- files and URLs that are not registries ---------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_text_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "notes.db"
    target.write_text("not a database, just notes\n" * 100)
    before = _snapshot(tmp_path)
    with pytest.raises(InvalidInput, match="not a SQLite database"):
        open_sql(f"sqlite:///{target}")
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_another_applications_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "app.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ana')")
    conn.close()
    before = _snapshot(tmp_path)
    with pytest.raises(InvalidInput, match=r"not a modelreg registry .*users"):
        open_sql(f"sqlite:///{target}")
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_an_empty_file_becomes_a_registry(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    repo = open_sql(f"sqlite:///{tmp_path}/empty.db")
    Registry(repo).create_model("m")
    repo.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "database file"),
        ("sqlite:///:memory:", "database file"),
        ("sqlite:///{tmp}", "is a folder"),
        ("postgresql+psycopg://u:hunter2@h/db", "artifact store"),
        ("mysql+pymysql://u@h/db", "artifact store"),
        ("postgresql+nosuchdriver://u@h/db?artifacts=/x", "unknown database driver"),
        ("oracle://u@h/db", "not a SQL backend"),
        ("postgresql://u:hunter2@h:port/db", "could not be parsed"),
        ("sqlite:///{tmp}/r.db?artifacts=/a&artifacts=/b", "once"),
        ("", "non-empty"),
    ],
)
def test_urls_that_cannot_work_are_refused_with_the_reason(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        open_sql(url.format(tmp=tmp_path))
    assert "hunter2" not in str(caught.value)


def test_artifacts_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="either"):
        open_sql(f"sqlite:///{tmp_path}/r.db?artifacts=/a", artifacts="/b")


def test_a_database_in_a_missing_folder_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist") as caught:
        open_sql(f"sqlite:///{tmp_path}/missing/r.db")
    assert str(tmp_path / "missing") in str(caught.value)
    assert "four slashes" not in str(caught.value)  # the path was absolute already
    assert not (tmp_path / "missing").exists()


def test_a_relative_path_in_a_missing_folder_shows_the_absolute_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput) as caught:
        open_sql("sqlite:///tmp/x.db")  # meant /tmp/x.db; SQLAlchemy reads ./tmp/x.db
    message = str(caught.value)
    assert f"the folder {str(tmp_path / 'tmp')!r} of the SQLite database does not exist" in message
    assert "write sqlite:////tmp/x.db (four slashes)" in message
    assert list(tmp_path.iterdir()) == []


def test_a_schema_with_other_tables_is_refused_and_left_alone() -> None:
    with fresh_repository("postgresql") as (repository, url):
        with repository.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE modelreg_alembic_version")
            conn.exec_driver_sql("CREATE TABLE mine (x int)")
            conn.exec_driver_sql("INSERT INTO mine VALUES (42)")
        with pytest.raises(InvalidInput, match="mine"):
            open_sql(url)
        with repository.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT x FROM mine").scalar() == 42
            tables = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            ).scalar()
        assert tables == 14  # our 13 and "mine"; nothing created, nothing dropped


def test_a_newer_schema_revision_is_refused_naming_both(tmp_path: Path) -> None:
    repo = open_sql(f"sqlite:///{tmp_path}/r.db")
    with repo.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE modelreg_alembic_version SET version_num = '0099_future'")
    repo.close()
    with pytest.raises(SchemaError, match=r"'0099_future'.*'0002_ci_links'.*upgrade modelreg"):
        open_sql(f"sqlite:///{tmp_path}/r.db")
