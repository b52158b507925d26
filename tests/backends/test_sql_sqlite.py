"""The SQL backend on SQLite: the conformance suite, then what only SQLite shows."""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import math
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sql_support import SqlConformance, recording_reads, tables_of

from registry_backends import known_schemes, open_registry
from registry_backends.sql import SqlRepository, _session, open_sql
from registry_backends.sql._errors import db_errors, translate
from registry_core import CIJob, MemoryRepository, Registry
from registry_core.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidInput,
)
from registry_core.protocol import Repository, WouldWait, quick_writes
from registry_core.testing import RepositoryContractTests


class TestSqlite(SqlConformance):
    kind = "sqlite"


class TestSqliteWithFsspecArtifacts(RepositoryContractTests):
    """Blobs in an fsspec store (``memory://`` here), the way S3 or GCS would hold them."""

    def make_repository(self) -> SqlRepository:
        folder = tempfile.mkdtemp(prefix="modelreg-sql-")
        store = f"mr-{uuid.uuid4().hex}"
        self.__dict__["made"] = (folder, store)
        return open_sql(f"sqlite:///{folder}/r.db?artifacts=memory://{store}")

    def close_repository(self, repository: Repository) -> None:
        assert isinstance(repository, SqlRepository)
        repository.close()
        folder, store = self.__dict__["made"]
        shutil.rmtree(folder, ignore_errors=True)
        memory = fsspec.filesystem("memory")
        if memory.exists(f"/{store}"):
            memory.rm(f"/{store}", recursive=True)


# -- helpers --------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqlRepository]:
    repository = open_sql(f"sqlite:///{tmp_path}/registry.db")
    yield repository
    repository.close()


def _sqlite(repo: SqlRepository, query: str) -> list[tuple[object, ...]]:
    with repo.engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(query)]


# -- opening --------------------------------------------------------------------------------


def test_sqlite_runs_in_wal_with_a_busy_timeout_and_foreign_keys(db: SqlRepository) -> None:
    assert _sqlite(db, "PRAGMA journal_mode") == [("wal",)]
    assert _sqlite(db, "PRAGMA busy_timeout") == [(30000,)]
    assert _sqlite(db, "PRAGMA foreign_keys") == [(1,)]
    assert _sqlite(db, "PRAGMA synchronous") == [(2,)]  # FULL: durable by default


def test_artifacts_default_to_a_folder_beside_a_relative_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = open_sql("sqlite:///rel.db")
    registry = Registry(repo)
    registry.create_model("team/m")
    registry.create_version("team/m", "1.0.0")
    registry.upload("team/m", "1.0.0", io.BytesIO(b"w"), name="model/w.bin")
    repo.close()
    assert (tmp_path / "rel.db").is_file()
    assert (tmp_path / "rel.db.artifacts/team/m/1.0.0/model/w.bin").read_bytes() == b"w"
    assert repr(repo) == (
        f"SqlRepository('sqlite:///{tmp_path}/rel.db', artifacts='{tmp_path}/rel.db.artifacts')"
    )


def test_artifacts_may_be_elsewhere(tmp_path: Path) -> None:
    repo = open_sql(f"sqlite:///{tmp_path}/a.db?artifacts={tmp_path}/blobs")
    other = open_sql(f"sqlite:///{tmp_path}/b.db", artifacts=f"file://{tmp_path}/more")
    for where in (repo, other):
        writer = where.open_blob_writer("m/1.0.0/w.bin")
        writer.write(b"x")
        writer.commit()
        where.close()
    assert (tmp_path / "blobs/m/1.0.0/w.bin").exists()
    assert (tmp_path / "more/m/1.0.0/w.bin").exists()
    assert not (tmp_path / "a.db.artifacts").exists()


def test_open_registry_knows_the_sql_schemes(tmp_path: Path) -> None:
    schemes = set(known_schemes())
    assert {"sqlite", "postgresql", "postgresql+psycopg", "mysql", "mysql+pymysql"} <= schemes
    assert {"mariadb", "mariadb+pymysql"} <= schemes
    registry = open_registry(f"sqlite:///{tmp_path}/reg.db")
    assert isinstance(registry.repository, SqlRepository)
    registry.create_model("m")
    assert [m.name.value for m in open_registry(f"sqlite:///{tmp_path}/reg.db").list_models()] == [
        "m"
    ]


def test_threads_opening_one_new_database_all_get_the_registry(tmp_path: Path) -> None:
    from registry_core.testing import run_threads

    opened = run_threads(8, lambda _: open_sql(f"sqlite:///{tmp_path}/new.db"))
    assert all(isinstance(repo, SqlRepository) for repo in opened), opened
    for repo in opened:
        assert isinstance(repo, SqlRepository)
        repo.close()


def test_open_sql_takes_no_other_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="colour"):
        open_sql(f"sqlite:///{tmp_path}/r.db", colour="blue")


# -- the tables -----------------------------------------------------------------------------


def test_documents_are_projected_into_queryable_rows(db: SqlRepository) -> None:
    registry = Registry(db)
    job = CIJob(provider="gitlab", job_id="77", pipeline_id="9", commit="abc", ref="main")
    registry.create_model("m", tags={"team": "fraud"})
    registry.create_version("m", "1.0.0", tags={"k": "v"}, ci_job=job)
    registry.upload("m", "1.0.0", io.BytesIO(b"abc"), name="w.bin")
    registry.log_params("m", "1.0.0", {"lr": 0.1})
    registry.log_metrics("m", "1.0.0", {"loss": 0.5, "big": math.inf, "odd": math.nan}, step=3)
    registry.publish("m", "1.0.0")
    registry.set_alias("m", "prod", "1.0.0")
    registry.grant("ana", "maintainer")
    rows = tables_of(db)
    assert rows["models"] == [("m", "m", False)]
    assert rows["model_tags"] == [("team", "fraud")]
    assert rows["aliases"] == [("prod", "1.0.0")]
    assert rows["versions"] == [("m", "1.0.0", "ready")]
    assert rows["version_tags"] == [("k", "v")]
    assert rows["params"] == [("lr", "0.1")]
    assert [r[:2] for r in rows["artifacts"]] == [("w.bin", 3)]
    assert rows["ci_links"] == [("gitlab", "77", "9", "abc", "main")]
    assert rows["memberships"] == [("ana", "maintainer")]
    assert sorted(rows["metric_points"]) == [
        ("big", None, "inf", 3),
        ("loss", 0.5, None, 3),
        ("odd", None, "nan", 3),
    ]
    registry.set_tag("m", "1.0.0", "k", "changed")
    registry.delete_alias("m", "prod")
    registry.revoke("ana")
    rows = tables_of(db)
    assert rows["version_tags"] == [("k", "changed")]
    assert rows["aliases"] == [] and rows["memberships"] == []
    registry.delete_model("m")
    assert all(rows == [] for name, rows in tables_of(db).items() if name != "settings")


def test_a_rewrite_with_identical_data_changes_the_etag(db: SqlRepository) -> None:
    first = db.put_if_absent(("models", "m"), {"v": 1})
    second = db.compare_and_swap(("models", "m"), {"v": 1}, first)
    assert second != first
    with pytest.raises(Conflict):
        db.compare_and_swap(("models", "m"), {"v": 1}, first)


def test_an_etag_of_a_deleted_document_never_matches_its_successor(db: SqlRepository) -> None:
    old = db.put_if_absent(("models", "m"), {"v": 1})
    db.delete(("models", "m"))
    db.put_if_absent(("models", "m"), {"v": 2})
    for stale in (old, "not-an-etag", "1", ""):
        with pytest.raises(Conflict):
            db.compare_and_swap(("models", "m"), {"v": 3}, stale)
        with pytest.raises(Conflict):
            db.delete(("models", "m"), etag=stale)


def test_metric_points_go_with_their_batch(db: SqlRepository) -> None:
    key = ("metrics", "m", "k", "b1")
    point = ["loss", 1.0, 0, "2026-01-01T00:00:00.000000+00:00"]
    etag = db.put_if_absent(key, {"schema": 1, "points": [point] * 40})
    db.compare_and_swap(key, {"schema": 1, "points": [point] * 3}, etag)
    assert len(tables_of(db)["metric_points"]) == 3
    db.put_if_absent(("metrics", "m", "k", "b2"), {"schema": 1, "points": [point] * 2})
    db.delete(key)
    assert len(tables_of(db)["metric_points"]) == 2
    db.delete_tree(("metrics", "m"))
    assert tables_of(db)["metric_points"] == []


SEGMENTS = st.text(
    alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), min_size=0, max_size=12
)


@settings(max_examples=40, deadline=None)
@given(segments=st.lists(SEGMENTS, min_size=1, max_size=6, unique=True), depth=st.integers(2, 5))
def test_any_key_shape_round_trips_like_the_reference(segments: list[str], depth: int) -> None:
    folder = tempfile.mkdtemp(prefix="modelreg-sql-")
    repo, reference = open_sql(f"sqlite:///{folder}/r.db"), MemoryRepository()
    try:
        for i, segment in enumerate(segments):
            key = ("x",) * (depth - 1) + (segment,)
            for store in (repo, reference):
                store.put_if_absent(key, {"i": i})
                store.put_if_absent(("models", segment), {"i": i})
                store.put_if_absent((segment,), {"i": i})
        bounds = [None, *segments[:2], "\x00", "\ud800x"]
        for prefix in [("x",) * (depth - 1), ("models",), ()]:
            for after in bounds:
                for reverse in (False, True):
                    got = repo.list_page(prefix, after=after, limit=4, reverse=reverse)
                    want = reference.list_page(prefix, after=after, limit=4, reverse=reverse)
                    assert [(s, d.data) for s, d in got] == [(s, d.data) for s, d in want]
            starts = segments[0][:1]
            got = repo.list_page(prefix, starts_with=starts, before=segments[-1])
            want = reference.list_page(prefix, starts_with=starts, before=segments[-1])
            assert [s for s, _ in got] == [s for s, _ in want]
        for store in (repo, reference):
            store.delete_tree(("x",))
        assert [s for s, _ in repo.list_page(())] == [s for s, _ in reference.list_page(())]
    finally:
        repo.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    "key", [("models", "a\x00b"), ("models", "a\nb"), ("odd", "\ud800"), (), ("models", 1)]
)
def test_keys_no_row_can_hold_are_refused_on_write_and_absent_on_read(
    db: SqlRepository, key: tuple[object, ...]
) -> None:
    with pytest.raises(InvalidInput):
        db.put_if_absent(key, {"v": 1})  # type: ignore[arg-type]
    assert db.get(key) is None  # type: ignore[arg-type]
    db.delete(key)  # type: ignore[arg-type]


def test_a_key_segment_longer_than_its_column_is_refused(db: SqlRepository) -> None:
    with pytest.raises(InvalidInput, match="too long"):
        db.put_if_absent(("versions", "m", "9" * 2000), {})
    with pytest.raises(InvalidInput, match="too long"):
        db.put_if_absent(("other", "x" * 2000), {})
    assert db.get(("versions", "m", "9" * 2000)) is None
    assert db.list_page(("versions", "x" * 2000)) == []


# -- transactions ---------------------------------------------------------------------------


def test_a_transaction_commits_everything_or_nothing(db: SqlRepository) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        db.put_if_absent(("models", "a"), {"v": 1})
        with db.transaction():  # nested: joins the outer one
            db.put_if_absent(("models", "b"), {"v": 1})
        raise RuntimeError("changed my mind")
    assert db.get(("models", "a")) is None and db.get(("models", "b")) is None
    with db.transaction():
        db.put_if_absent(("models", "a"), {"v": 1})
        with db.transaction():
            db.put_if_absent(("models", "b"), {"v": 1})
        assert db.get(("models", "b")) is not None  # its own writes are visible inside
    assert db.get(("models", "a")) is not None and db.get(("models", "b")) is not None


def test_other_threads_see_a_transaction_only_once_it_commits(db: SqlRepository) -> None:
    seen: list[object] = []
    inside, checked = threading.Event(), threading.Event()

    def reader() -> None:
        inside.wait(10)
        seen.append(db.get(("models", "a")))
        checked.set()

    thread = threading.Thread(target=reader)
    thread.start()
    with db.transaction():
        db.put_if_absent(("models", "a"), {"v": 1})
        inside.set()
        assert checked.wait(10)
    thread.join()
    assert seen == [None]
    assert db.get(("models", "a")) is not None


@contextlib.contextmanager
def _held_by_another_thread(repo: SqlRepository) -> Iterator[None]:
    """A thread of this process inside a write transaction of ``repo`` for the block."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with repo.transaction():
            repo.put_if_absent(("models", "held"), {"v": 1})
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        done.set()
        thread.join()


def test_writers_of_one_process_queue_on_a_lock_per_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two repositories on one file share the queue (and give up after the busy timeout);
    a repository on another file does not wait for it."""
    monkeypatch.setattr(_session, "BUSY_TIMEOUT_SECONDS", 0.2)
    first = open_sql(f"sqlite:///{tmp_path}/one.db")
    second = open_sql(f"sqlite:///{tmp_path}/one.db")
    other = open_sql(f"sqlite:///{tmp_path}/other.db")
    with _held_by_another_thread(first):
        with pytest.raises(BackendError, match="another writer in this process"):
            second.put_if_absent(("models", "queued"), {"v": 1})
        other.put_if_absent(("models", "free"), {"v": 1})
    second.put_if_absent(("models", "queued"), {"v": 1})
    assert second.get(("models", "held")) is not None
    assert other.get(("models", "free")) is not None
    for repository in (first, second, other):
        repository.close()


def _locked_by_another_process(path: Path) -> sqlite3.Connection:
    """A connection of the test's own holding the file's write lock, as another process's
    writer would (it does not go through this process's queue)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_writes_unless_busy_give_way_at_once_to_a_writer_of_another_process(
    tmp_path: Path,
) -> None:
    db = open_sql(f"sqlite:///{tmp_path}/registry.db")
    unless_busy = quick_writes(db)
    assert unless_busy is not None
    holder = _locked_by_another_process(tmp_path / "registry.db")
    try:
        started = time.monotonic()
        with pytest.raises(WouldWait), unless_busy():
            db.put_if_absent(("models", "a"), {"v": 1})
        assert time.monotonic() - started < 1  # not the 30 s busy timeout
        with pytest.raises(WouldWait), unless_busy(), db.transaction():
            db.put_if_absent(("models", "a"), {"v": 1})
    finally:
        holder.execute("ROLLBACK")
    assert db.get(("models", "a")) is None
    # the busy timeout is back for the next writer: it waits for the lock to be free
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, holder.execute, ["ROLLBACK"]).start()
    started = time.monotonic()
    db.put_if_absent(("models", "a"), {"v": 1})
    assert time.monotonic() - started >= 0.25
    holder.close()
    db.close()


def test_writes_unless_busy_give_way_to_a_writer_of_this_process(db: SqlRepository) -> None:
    unless_busy = quick_writes(db)
    assert unless_busy is not None
    with (
        _held_by_another_thread(db),
        pytest.raises(WouldWait, match="another writer in this process"),
        unless_busy(),
    ):
        db.put_if_absent(("models", "b"), {"v": 1})
    assert db.get(("models", "b")) is None
    with unless_busy():  # free now: written on the spot
        db.put_if_absent(("models", "b"), {"v": 1})
    assert db.get(("models", "b")) is not None


def test_under_writes_unless_busy_only_the_first_write_gives_way(tmp_path: Path) -> None:
    """Once a write has begun, the operation has changed something: a later write waits,
    so a caller that runs an operation again after `WouldWait` never runs half of it twice."""
    db = open_sql(f"sqlite:///{tmp_path}/registry.db")
    unless_busy = quick_writes(db)
    assert unless_busy is not None
    holder = sqlite3.connect(
        tmp_path / "registry.db", isolation_level=None, check_same_thread=False
    )
    with unless_busy():
        db.put_if_absent(("models", "first"), {"v": 1})
        holder.execute("BEGIN IMMEDIATE")
        threading.Timer(0.3, holder.execute, ["ROLLBACK"]).start()
        db.put_if_absent(("models", "second"), {"v": 1})  # waits, does not raise
    assert db.get(("models", "second")) is not None
    holder.close()
    db.close()


def test_writes_unless_busy_is_sqlite_only(db: SqlRepository) -> None:
    """Only SQLite offers it (see the PostgreSQL and MySQL suites for theirs: None); it
    is the thread's setting, and ends with the block."""
    assert db.writes_unless_busy is not None
    assert quick_writes(MemoryRepository()) is None
    holder = _locked_by_another_process(Path(str(db.engine.url.database)))
    with db.writes_unless_busy():
        pass
    threading.Timer(0.3, holder.execute, ["ROLLBACK"]).start()
    db.put_if_absent(("models", "after"), {"v": 1})  # waits: the block has ended
    holder.close()


def _is_closed(dbapi_connection: sqlite3.Connection) -> bool:
    try:
        dbapi_connection.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_each_thread_reads_on_a_connection_of_its_own_closed_with_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[sqlite3.Connection] = []
    connect = _session.sqlite_reader

    def recording(engine: sa.Engine, synchronous: str) -> sqlite3.Connection:
        opened.append(connect(engine, synchronous))
        return opened[-1]

    monkeypatch.setattr(_session, "sqlite_reader", recording)
    repo = open_sql(f"sqlite:///{tmp_path}/r.db")
    writer = open_sql(f"sqlite:///{tmp_path}/r.db")
    assert repo.get(("models", "a")) is None
    writer.put_if_absent(("models", "a"), {"v": 1})
    assert repo.get(("models", "a")) is not None  # the kept connection sees later commits
    assert len(opened) == 1

    def read() -> None:
        assert repo.get(("models", "a")) is not None
        assert repo.get(("models", "a")) is not None

    for _ in range(5):
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    gc.collect()
    assert len(opened) == 6  # one per thread, kept for its reads
    assert [_is_closed(c) for c in opened] == [False] + [True] * 5
    repo.close()
    assert _is_closed(opened[0])
    assert repo.get(("models", "a")) is not None  # a closed repository reconnects
    assert len(opened) == 7
    for repository in (repo, writer):
        repository.close()
    assert _is_closed(opened[-1])


def _fail_once(monkeypatch: pytest.MonkeyPatch, repo: SqlRepository, call: int = 1) -> list[int]:
    """Make the ``call``-th next write of child rows fail as a lost connection would."""
    calls: list[int] = []
    real = repo._rows.write_children

    def flaky(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == call:
            raise sa.exc.OperationalError("INSERT ...", {}, sqlite3.OperationalError("disk I/O"))
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repo._rows, "write_children", flaky)
    return calls


def test_a_failure_inside_a_write_rolls_it_back_and_a_retry_succeeds(
    db: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(db)
    registry.create_model("m")
    _fail_once(monkeypatch, db)
    with pytest.raises(BackendError, match="disk I/O") as caught:
        registry.create_version("m", "1.0.0", tags={"k": "v"})
    assert isinstance(caught.value.__cause__, sa.exc.OperationalError)
    assert db.get(("versions", "m", "1.0.0_")) is None  # the root row went with the rollback
    assert registry.create_version("m", "1.0.0", tags={"k": "v"}).tags == {"k": "v"}
    assert tables_of(db)["version_tags"] == [("k", "v")]


def test_a_transaction_that_hit_a_database_error_is_never_committed(
    db: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_once(monkeypatch, db, call=2)
    with pytest.raises(BackendError, match="rolled back"), db.transaction():
        db.put_if_absent(("models", "a"), {"v": 1})
        with pytest.raises(BackendError):
            db.put_if_absent(("versions", "a", "1"), {"tags": {"k": "v"}})
        with pytest.raises(BackendError, match="already failed"):
            db.get(("models", "a"))
    assert db.get(("models", "a")) is None


# -- reading by index -----------------------------------------------------------------------


def test_latest_reads_one_short_page_of_the_precedence_index(
    db: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(db)
    registry.create_model("m")
    with db.transaction():
        for i in range(300):
            registry.create_version("m", f"1.{i}.0")
            registry.publish("m", f"1.{i}.0")
    statements = recording_reads(monkeypatch)
    assert str(registry.latest("m").version) == "1.299.0"
    (listing,) = [(s, p) for s, p in statements if "FROM versions" in s]
    assert "ORDER BY versions.precedence_key DESC" in listing[0] and "LIMIT" in listing[0]
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {listing[0]}", listing[1]).all()
    text = " ".join(str(row[-1]) for row in plan)
    # The unique (model_key, precedence_key) index, walked in order: no sort, no scan.
    assert "SEARCH versions USING INDEX sqlite_autoindex_versions_1 (model_key=?)" in text, text
    assert "TEMP B-TREE" not in text, text


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (sa.exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE failed")), Conflict),
        (sa.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("locked")), BackendError),
        (sa.exc.ProgrammingError("SELECT", {}, sqlite3.ProgrammingError("s3cret")), BackendError),
    ],
)
def test_driver_errors_map_to_the_error_tree_in_one_place(
    raised: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as caught, db_errors("writing 'm'", ("s3cret",)):
        raise raised
    assert caught.value.__cause__ is raised
    assert "writing 'm'" in str(caught.value) and "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (sqlite3.IntegrityError("UNIQUE constraint failed"), Conflict),
        (sqlite3.OperationalError("database is locked"), BackendError),
        (sqlite3.DatabaseError("s3cret: disk image is malformed"), BackendError),
    ],
)
def test_raw_driver_errors_of_the_read_path_map_the_same_way(
    raised: Exception, expected: type[Exception]
) -> None:
    mapped = translate(raised, "reading 'm'", ("s3cret",))
    assert type(mapped) is expected
    assert "reading 'm'" in str(mapped) and "s3cret" not in str(mapped)


def test_registry_errors_pass_through_unchanged() -> None:
    error = AlreadyExists("x")
    with pytest.raises(AlreadyExists) as caught, db_errors("x"):
        raise error
    assert caught.value is error


# -- hygiene --------------------------------------------------------------------------------


def test_a_sql_repository_is_a_repository(db: SqlRepository) -> None:
    assert isinstance(db, Repository)


@pytest.mark.parametrize(
    "module",
    [
        "",
        "._blobs",
        "._engine",
        "._errors",
        "._keys",
        "._migrate",
        "._project",
        "._rows",
        "._session",
        "._types",
        ".repository",
        ".schema",
    ],
)
def test_every_name_in_all_exists(module: str) -> None:
    imported = importlib.import_module("registry_backends.sql" + module)
    for public in imported.__all__:
        assert hasattr(imported, public), f"{module}.__all__ lists {public!r}, which is missing"
