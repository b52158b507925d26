"""Shared fixtures of the SQL backend tests: one fresh, isolated database per repository.

SQLite gets a new file; PostgreSQL a new schema (``?options=-csearch_path=...``) in the
database of ``MODELREG_TEST_POSTGRES_URL``; MySQL/MariaDB a new database on the server of
``MODELREG_TEST_MYSQL_URL``. Each is dropped when the repository closes. Without the
variable the server tests skip, saying how to enable them; with ``CI`` set, a server that
cannot be reached fails them instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from registry_backends.sql import SqlRepository, open_sql
from registry_core import Registry
from registry_core.errors import AlreadyExists, BackendError, Conflict
from registry_core.protocol import Repository, reads_are_quick
from registry_core.testing import ConformanceTests

__all__ = [
    "ENV",
    "SERVER_EXAMPLES",
    "SqlConformance",
    "Server",
    "ServerChecks",
    "fresh_repository",
    "recording_reads",
    "server_machine_settings",
    "new_database",
    "server",
    "tables_of",
]

ENV = {"postgresql": "MODELREG_TEST_POSTGRES_URL", "mysql": "MODELREG_TEST_MYSQL_URL"}
EXAMPLE = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test",
}


class Server:
    """A database server the tests may use: makes and drops isolated databases."""

    def __init__(self, kind: str, base: str) -> None:
        self.kind = kind
        self.base = sa.make_url(base)
        self.admin = sa.create_engine(self.base, isolation_level="AUTOCOMMIT")

    def create(self) -> tuple[str, str]:
        """(URL of a new empty database without ``artifacts``, its name to drop)."""
        name = f"mr_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as conn:
            if self.kind == "postgresql":
                conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
                url = self.base.update_query_dict({"options": f"-csearch_path={name}"})
            else:
                conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
                url = self.base.set(database=name)
        return url.render_as_string(hide_password=False), name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            if self.kind == "postgresql":
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")


@functools.cache
def _probe(kind: str) -> Server | str:
    """The server for ``kind``, or why it cannot be used (cached for the session)."""
    base = os.environ.get(ENV[kind])
    if not base:
        return (
            f"{kind} tests are off: set {ENV[kind]}={EXAMPLE[kind]} (a server where the "
            "user may create schemas/databases) to run them"
        )
    try:
        found = Server(kind, base)
        with found.admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as error:
        return f"{kind} server of ${ENV[kind]} is unreachable: {type(error).__name__}: {error}"
    return found


def server(kind: str) -> Server:
    """The server for ``kind``: skips without it, fails when ``CI`` is set."""
    found = _probe(kind)
    if isinstance(found, Server):
        return found
    if os.environ.get("CI") and os.environ.get(ENV[kind]):
        pytest.fail(found)
    pytest.skip(found)


def new_database(kind: str) -> tuple[str, Callable[[], None]]:
    """(URL with ``?artifacts=`` of a new empty registry database, a function to drop it)."""
    artifacts = tempfile.mkdtemp(prefix="modelreg-sql-")
    if kind == "sqlite":
        url = f"sqlite:///{artifacts}/registry.db"
        return url, functools.partial(shutil.rmtree, artifacts, True)
    where = server(kind)
    url, name = where.create()
    url = sa.make_url(url).update_query_dict({"artifacts": artifacts})

    def drop() -> None:
        where.drop(name)
        shutil.rmtree(artifacts, ignore_errors=True)

    return url.render_as_string(hide_password=False), drop


#: State-machine examples on a database server: a third of the ``ci`` profile's 150. Each
#: example makes and drops a schema or database and every step is a few round trips, so
#: an example costs several times one on SQLite or a folder, which keep the full count.
SERVER_EXAMPLES = 50


def server_machine_settings() -> settings:
    """The active profile's state-machine settings (its step count too), at most
    `SERVER_EXAMPLES` examples."""
    active = settings()
    return settings(
        active,
        max_examples=min(active.max_examples, SERVER_EXAMPLES),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


class SqlConformance(ConformanceTests):
    """The whole conformance suite on one kind of database (set ``kind``)."""

    kind: ClassVar[str] = "sqlite"
    supports_processes = True

    @pytest.fixture(autouse=True)
    def _server(self) -> None:
        if self.kind != "sqlite":
            server(self.kind)

    def make_repository(self) -> SqlRepository:
        url, drop = new_database(self.kind)
        repository = open_sql(url)
        self.__dict__.setdefault("_made", {})[id(repository)] = (url, drop)
        return repository

    def repository_opener(self, repository: Repository) -> Callable[[], Repository]:
        url, _ = self.__dict__["_made"][id(repository)]
        return functools.partial(open_sql, url)

    def close_repository(self, repository: Repository) -> None:
        assert isinstance(repository, SqlRepository)
        repository.close()
        _, drop = self.__dict__["_made"].pop(id(repository))
        drop()


#: What `tables_of` reads from each table: the projected columns, not ids or documents.
_SHOWN = {
    "models": ("model_key", "name", "deleting"),
    "model_tags": ("key", "value"),
    "aliases": ("alias", "version"),
    "versions": ("model_key", "version", "state"),
    "version_tags": ("key", "value"),
    "params": ("key", "value"),
    "artifacts": ("path", "size", "sha256"),
    "ci_links": ("provider", "job_id", "pipeline_id", "commit_sha", "ref"),
    "settings": ("singleton",),
    "memberships": ("user", "role"),
    "metric_batches": ("model_key", "precedence_key"),
    "metric_points": ("key", "value", "special", "step"),
    "documents": ("parent", "name"),
}


def tables_of(repository: SqlRepository) -> dict[str, list[tuple[object, ...]]]:
    """Every table's projected rows (sorted), read through SQLAlchemy's types."""
    from registry_backends.sql import schema

    found = {}
    with repository.engine.connect() as conn:
        for name, columns in _SHOWN.items():
            table = schema.metadata.tables[name]
            query = sa.select(*(table.c[c] for c in columns))
            found[name] = sorted((tuple(row) for row in conn.execute(query)), key=lambda r: repr(r))
    return found


@contextlib.contextmanager
def fresh_repository(kind: str) -> Iterator[tuple[SqlRepository, str]]:
    """A new registry database of ``kind`` and its URL; dropped afterwards."""
    url, drop = new_database(kind)
    repository = open_sql(url)
    try:
        yield repository, url
    finally:
        repository.close()
        drop()


class ServerChecks:
    """What a database server must show beyond the conformance suite, for one ``kind``:
    a subclass names it, the query of a session's isolation level and what it answers
    for READ COMMITTED, the query of a session's id, and how an admin ends a session."""

    kind: str
    isolation_query: str
    read_committed: str
    session_id_query: str
    end_session_sql: str  # with a ``:session`` parameter

    @pytest.fixture
    def server_repo(self) -> Iterator[SqlRepository]:
        with fresh_repository(self.kind) as (repository, _):
            yield repository

    def test_reads_over_the_network_are_not_quick(self, server_repo: SqlRepository) -> None:
        assert not reads_are_quick(server_repo)

    def test_transactions_are_read_committed(self, server_repo: SqlRepository) -> None:
        with server_repo.transaction():
            conn = server_repo._sessions._local.conn
            assert conn is not None
            level = conn.exec_driver_sql(self.isolation_query).scalar()
        assert level == self.read_committed

    def test_a_lost_compare_and_swap_retried_in_one_transaction_converges(
        self, server_repo: SqlRepository
    ) -> None:
        """READ COMMITTED: after losing to a committed writer, a re-read inside the same
        transaction sees that write, so the Registry's retry loop converges. (Under MySQL's
        default REPEATABLE READ the re-read would return the stale row forever.)"""
        repo = server_repo
        key = ("models", "m")
        repo.put_if_absent(key, {"n": 0})
        with repo.transaction():
            first = repo.get(key)  # the transaction's first read: a snapshot under RR
            assert first is not None
            other = threading.Thread(target=repo.compare_and_swap, args=(key, {"n": 1}, first.etag))
            other.start()
            other.join(30)
            with pytest.raises(Conflict):
                repo.compare_and_swap(key, {"n": 2}, first.etag)
            again = repo.get(key)
            assert again is not None and again.data == {"n": 1}
            repo.compare_and_swap(key, {"n": 2}, again.etag)
        final = repo.get(key)
        assert final is not None and final.data == {"n": 2}

    def test_a_duplicate_create_leaves_the_transaction_usable(
        self, server_repo: SqlRepository
    ) -> None:
        repo = server_repo
        with repo.transaction():
            repo.put_if_absent(("models", "a"), {"v": 1})
            with pytest.raises(AlreadyExists):
                repo.put_if_absent(("models", "a"), {"v": 2})
            repo.put_if_absent(("models", "b"), {"v": 1})  # no "transaction is aborted"
        assert [s for s, _ in repo.list_page(("models",))] == ["a", "b"]

    def test_a_dropped_connection_rolls_back_and_a_retry_succeeds(
        self, server_repo: SqlRepository
    ) -> None:
        """Kill the transaction's server session from another connection halfway through
        ``create_version`` (after the model was read and, where the version row and its
        tags are two statements, after the version row): the version is not there
        afterwards, and creating it again works."""
        repo = server_repo
        admin = server(self.kind).admin
        registry = Registry(repo)
        registry.create_model("m")
        # PostgreSQL writes the row and its tags in one statement (`RowWriter.create`)
        step = "create" if self.kind == "postgresql" else "write_children"
        real = getattr(repo._rows, step)

        def killed_first(conn: sa.Connection, *args: object, **kwargs: object) -> object:
            session = conn.exec_driver_sql(self.session_id_query).scalar()
            with admin.connect() as other:
                other.execute(sa.text(self.end_session_sql), {"session": session})
            return real(conn, *args, **kwargs)

        setattr(repo._rows, step, killed_first)
        try:
            with pytest.raises(BackendError) as caught:
                registry.create_version("m", "1.0.0", tags={"k": "v"})
        finally:
            delattr(repo._rows, step)
        driver_error = repo.engine.dialect.loaded_dbapi.Error  # hot writes skip SQLAlchemy
        assert isinstance(caught.value.__cause__, (sa.exc.DBAPIError, driver_error))
        assert repo.get(("versions", "m", "11.10.10_")) is None
        assert registry.create_version("m", "1.0.0", tags={"k": "v"}).tags == {"k": "v"}
        assert tables_of(repo)["version_tags"] == [("k", "v")]


def recording_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Record every (SQL, parameters) the read fast path sends to the driver."""
    from registry_backends.sql import _session

    seen: list[tuple[str, object]] = []
    real = _session._fetch

    def recording(connection: object, sql: str, args: object) -> list[tuple[object, ...]]:
        seen.append((sql, args))
        return real(connection, sql, args)

    monkeypatch.setattr(_session, "_fetch", recording)
    return seen
