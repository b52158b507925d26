"""The SQL backend on PostgreSQL: the conformance suite, then what only a server shows.

Runs against ``$MODELREG_TEST_POSTGRES_URL`` (skipped when unset, failed under ``CI`` when
unreachable), each repository in a schema of its own.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sql_support import (
    ENV,
    ServerChecks,
    SqlConformance,
    _probe,
    fresh_repository,
    recording_reads,
    server,
    server_machine_settings,
)

from registry_backends.sql import SqlRepository, open_sql
from registry_core import Registry
from registry_core.errors import BackendError, InvalidInput
from registry_core.protocol import quick_writes, reads_are_quick

KIND = "postgresql"


class TestPostgres(SqlConformance):
    kind = KIND
    state_machine_settings = server_machine_settings()


class TestPostgresServer(ServerChecks):
    kind = KIND
    isolation_query = "SHOW transaction_isolation"
    read_committed = "read committed"
    session_id_query = "SELECT pg_backend_pid()"
    end_session_sql = "SELECT pg_terminate_backend(:session)"


@pytest.fixture
def fresh() -> Iterator[tuple[SqlRepository, str]]:
    with fresh_repository(KIND) as made:
        yield made


@pytest.fixture
def pg(fresh: tuple[SqlRepository, str]) -> SqlRepository:
    return fresh[0]


def test_a_server_database_promises_no_quick_reads_or_writes(pg: SqlRepository) -> None:
    """Each statement is a round trip to the server: a modelreg server keeps them off its
    event loop (registry_core.protocol)."""
    assert not reads_are_quick(pg)
    assert quick_writes(pg) is None


def test_latest_walks_the_precedence_index(
    pg: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(pg)
    registry.create_model("m")
    with pg.transaction():
        for i in range(500):
            registry.create_version("m", f"1.{i}.0")
            registry.publish("m", f"1.{i}.0")
    statements = recording_reads(monkeypatch)
    assert str(registry.latest("m").version) == "1.499.0"
    (listing,) = [(s, p) for s, p in statements if "FROM versions" in s]
    with pg.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE versions")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {listing[0]}", listing[1]))
    assert "Index Scan Backward using uq_versions_model_key_precedence_key" in plan, plan
    assert "Sort" not in plan, plan


def test_key_columns_use_the_c_collation(pg: SqlRepository) -> None:
    names = ["b", "B", "a", "á", "a b", "a\u0301", "z", "ä", "😀", "\ufb01"]
    for name in names:
        pg.put_if_absent(("other", name), {"n": name})
    assert [s for s, _ in pg.list_page(("other",), limit=100)] == sorted(names)


# -- credentials ----------------------------------------------------------------------------


def _everything_said(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def test_a_password_never_appears_in_errors_reprs_or_logs(
    fresh: tuple[SqlRepository, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"pw-{uuid.uuid4().hex}"
    url = sa.make_url(fresh[1]).set(password=secret)
    repo = open_sql(url.render_as_string(hide_password=False))  # trust auth: accepted
    try:
        assert secret not in repr(repo) and secret not in repo.url and "***" in repo.url
        assert secret not in repr(Registry(repo))
    finally:
        repo.close()
    broken = [
        url.set(database=f"no_such_db_{uuid.uuid4().hex[:8]}"),  # the server refuses
        url.set(port=9),  # nobody listens
    ]
    for bad in broken:
        with pytest.raises(BackendError) as caught:
            open_sql(bad.render_as_string(hide_password=False))
        assert secret not in _everything_said(caught.value)
    no_store = url.difference_update_query(["artifacts"]).render_as_string(hide_password=False)
    with pytest.raises(InvalidInput) as refused:
        open_sql(no_store)
    assert secret not in _everything_said(refused.value) and "***" in str(refused.value)
    garbled = f"postgresql+psycopg://postgres:{secret}@127.0.0.1:notaport/test"
    with pytest.raises(InvalidInput) as unparsable:
        open_sql(garbled)
    assert secret not in _everything_said(unparsable.value)
    assert secret not in caplog.text


# -- the test fixtures themselves -----------------------------------------------------------


def test_an_unreachable_server_fails_under_ci_and_skips_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _probe.cache_clear()
    try:
        monkeypatch.setenv(ENV[KIND], "postgresql+psycopg://postgres@127.0.0.1:9/test")
        monkeypatch.setenv("CI", "1")
        with pytest.raises(pytest.fail.Exception, match="unreachable"):
            server(KIND)
        monkeypatch.delenv("CI")
        with pytest.raises(pytest.skip.Exception, match="unreachable"):
            server(KIND)
        monkeypatch.delenv(ENV[KIND])
        _probe.cache_clear()
        with pytest.raises(pytest.skip.Exception, match=f"set {ENV[KIND]}="):
            server(KIND)
    finally:
        monkeypatch.undo()
        _probe.cache_clear()
