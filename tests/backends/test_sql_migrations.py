"""Schema revisions: new databases at the head, older ones refused until upgraded, and an
upgrade from the first revision that keeps every row findable through the Registry."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sql_support import new_database, tables_of

from registry_backends.cli import commands_db, main
from registry_backends.cli.common import Context
from registry_backends.sql import HEAD, REVISIONS, current_revision, open_sql, upgrade
from registry_backends.sql import schema as s
from registry_backends.sql._migrate import MIGRATIONS
from registry_core import CIJob, MemoryRepository, Registry, Version
from registry_core.errors import SchemaError

KINDS = ["sqlite", "postgresql", "mysql"]
FIRST = REVISIONS[0]


@pytest.fixture(params=KINDS)
def empty(request: pytest.FixtureRequest) -> Iterator[str]:
    url, drop = new_database(request.param)
    try:
        yield url
    finally:
        drop()


def _engine(url: str) -> sa.Engine:
    from registry_backends.sql._engine import make_engine, parse_url

    return make_engine(parse_url(url))


def test_the_revisions_are_the_migration_scripts_in_order() -> None:
    assert REVISIONS == ("0001_core_tables", "0002_ci_links")
    assert REVISIONS[-1] == HEAD
    scripts = sorted(p.name for p in (MIGRATIONS / "versions").glob("r*.py"))
    assert scripts == ["r0001_core_tables.py", "r0002_ci_links.py"]
    assert (MIGRATIONS / "env.py").is_file()


def test_a_new_database_is_created_at_the_head(empty: str) -> None:
    assert current_revision(empty) is None
    open_sql(empty).close()
    assert current_revision(empty) == HEAD


def test_the_migrations_build_exactly_the_live_schema(empty: str) -> None:
    assert upgrade(empty) == HEAD
    engine = _engine(empty)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": s.VERSION_TABLE}
            )
            assert compare_metadata(context, s.metadata) == []
    finally:
        engine.dispose()
    open_sql(empty).close()  # and the code opens what the migrations built


# -- a registry written at the first revision -------------------------------------------------


def _reference() -> Registry:
    """A small registry with one of everything, kept in memory to copy from."""
    registry = Registry(MemoryRepository())
    job = CIJob(provider="github", job_id="42", pipeline_id="7", commit="f00d", ref="main")
    registry.create_model("fraud/detector", "finds fraud", tags={"team": "risk"})
    for version in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
        registry.create_version("fraud/detector", version, tags={"v": version}, ci_job=job)
        registry.log_params("fraud/detector", version, {"lr": 0.1})
        registry.log_metrics("fraud/detector", version, {"auc": 0.9, "loss": float("inf")})
        registry.publish("fraud/detector", version)
    registry.set_alias("fraud/detector", "prod", "1.1.0")
    registry.create_model("other")
    registry.grant("ana", "maintainer")
    return registry


def _fill_first_revision(url: str, reference: Registry) -> None:
    """Write the reference's documents as rows of the first revision's tables, by raw
    inserts (today's repository code would write ``ci_links``, which revision 1 lacks).
    These tables are the same at both revisions, so the live ``Table`` objects serve."""
    memory = reference.repository
    engine = _engine(url)
    assert not sa.inspect(engine).has_table("ci_links")

    def insert(conn: sa.Connection, table: sa.Table, **values: Any) -> int:
        return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])

    try:
        with engine.begin() as conn:
            for model_key, model in memory.list_page(("models",)):
                model_id = insert(
                    conn,
                    s.models,
                    model_key=model_key,
                    name=model.data["name"],
                    deleting=False,
                    rev=1,
                    doc=json.dumps(dict(model.data)),
                )
                for alias, target in model.data["aliases"].items():
                    conn.execute(
                        s.aliases.insert().values(model_id=model_id, alias=alias, version=target)
                    )
                for prec, version in memory.list_page(("versions", model_key)):
                    version_id = insert(
                        conn,
                        s.versions,
                        model_key=model_key,
                        precedence_key=prec,
                        version=version.data["version"],
                        state=version.data["state"],
                        deleting=False,
                        rev=1,
                        doc=json.dumps(dict(version.data)),
                    )
                    for k, v in version.data["tags"].items():
                        conn.execute(
                            s.version_tags.insert().values(version_id=version_id, key=k, value=v)
                        )
                    for batch, points in memory.list_page(("metrics", model_key, prec)):
                        insert(
                            conn,
                            s.metric_batches,
                            model_key=model_key,
                            precedence_key=prec,
                            batch_key=batch,
                            rev=1,
                            doc=json.dumps(dict(points.data)),
                        )
            settings = memory.get(("settings",))
            assert settings is not None
            insert(conn, s.settings, singleton=1, rev=1, doc=json.dumps(dict(settings.data)))
    finally:
        engine.dispose()


def test_a_registry_at_the_first_revision_upgrades_and_keeps_every_row(empty: str) -> None:
    assert upgrade(empty, FIRST) == FIRST
    reference = _reference()
    _fill_first_revision(empty, reference)
    with pytest.raises(SchemaError, match=rf"'{FIRST}'.*'{HEAD}'.*modelreg db upgrade URL"):
        open_sql(empty)
    assert upgrade(empty) == HEAD
    repo = open_sql(empty)
    try:
        registry = Registry(repo)
        assert registry.list_models(page_size=10) == reference.list_models(page_size=10)
        for name in ("fraud/detector", "other"):
            assert registry.get_model(name) == reference.get_model(name)
            assert registry.list_versions(name) == reference.list_versions(name)
        for version in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
            got = registry.get_metrics("fraud/detector", version)
            assert got == reference.get_metrics("fraud/detector", version)
        assert registry.get_settings() == reference.get_settings()
        assert str(registry.resolve("fraud/detector", "prod").version) == "1.1.0"
        assert str(registry.latest("fraud/detector").version) == "1.1.0"
        # The new revision's table was filled from the version documents.
        assert tables_of(repo)["ci_links"] == [("github", "42", "7", "f00d", "main")] * 3
        registry.create_version("fraud/detector", "3.0.0", ci_job=CIJob(provider="x", job_id="1"))
        assert len(tables_of(repo)["ci_links"]) == 4
        registry.delete_model("fraud/detector", force=True)
        assert tables_of(repo)["ci_links"] == [] and tables_of(repo)["metric_points"] == []
    finally:
        repo.close()


def test_open_with_upgrade_true_migrates_first(empty: str) -> None:
    upgrade(empty, FIRST)
    open_sql(empty, upgrade=True).close()
    assert current_revision(empty) == HEAD


def test_upgrading_twice_changes_nothing(empty: str) -> None:
    open_sql(empty).close()
    assert upgrade(empty) == HEAD == current_revision(empty)


# -- modelreg db ------------------------------------------------------------------------------


def _db_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    parser = argparse.ArgumentParser(prog="modelreg")
    commands_db.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv[:2], "--json", *argv[2:]])
    code = args.func(Context(args))
    return code, json.loads(capsys.readouterr().out)


def test_modelreg_db_upgrade_and_current(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/reg.db"
    upgrade(url, FIRST)
    code, shown = _db_command(["db", "current", url], capsys)
    assert code == 0 and shown["revision"] == FIRST and "older" in shown["state"]
    code, shown = _db_command(["db", "upgrade", url], capsys)
    assert code == 0 and (shown["from"], shown["to"]) == (FIRST, HEAD)
    code, shown = _db_command(["db", "current", url], capsys)
    assert shown["revision"] == HEAD and shown["state"] == "up to date"
    registry = Registry(open_sql(url))
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    registry.upload("m", "1.0.0", io.BytesIO(b"w"), name="w.bin")
    assert Version.parse("1.0.0") == registry.get_version("m", "1.0.0").version


def test_modelreg_db_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="modelreg")
    commands_db.register(parser.add_subparsers(dest="command", required=True))
    for leaf in ("upgrade", "current"):
        with pytest.raises(SystemExit):
            parser.parse_args(["db", leaf, "--help"])
        assert f"modelreg db {leaf}" in capsys.readouterr().out.split("Example")[1]


def test_modelreg_db_takes_the_registry_option_or_modelreg_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/reg.db"
    assert main(["--registry", url, "--json", "db", "upgrade"]) == 0
    assert json.loads(capsys.readouterr().out)["to"] == HEAD
    monkeypatch.setenv("MODELREG_URL", url)
    assert main(["--json", "db", "current"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "up to date"


def test_modelreg_db_on_a_folder_registry_says_it_has_no_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELREG_URL", raising=False)
    assert main(["db", "current", str(tmp_path / "registry")]) == 2
    assert "is not a SQL registry" in capsys.readouterr().err
    assert main(["db", "current"]) == 2
    assert "give the database URL" in capsys.readouterr().err
    assert not (tmp_path / "registry").exists()
