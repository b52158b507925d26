"""Connections and transactions of a SQL repository, one per thread.

`Sessions.transaction` begins a transaction on a connection bound to the calling thread;
nested calls join it, and `Sessions.use` hands that connection to every protocol call the
thread makes meanwhile. Outside a transaction, `use` opens a short one per call (reads on
a server run in autocommit: one statement needs no BEGIN/COMMIT round trips). `read`
runs one cached SELECT straight on the driver's cursor: the hot reads (`get`,
`list_page`) skip SQLAlchemy's per-execution work, which costs more than the query. A database
error inside a transaction poisons it: later calls fail fast, and it rolls back at the end,
so a PostgreSQL transaction aborted by an error is never used again.

SQLite lets one writer in at a time, and a writer that finds the file locked sleeps in
SQLite's busy handler and polls, in ever longer naps: under eight busy threads a write
waited up to a third of a second for a lock that was free after a millisecond. So the
writers of one process queue on a Python lock per database file first, which wakes the
next one as soon as the lock is free; SQLite's lock still keeps other processes out.

On SQLite, `read` outside a transaction uses a connection of the calling thread's own,
kept for the thread's life (closed when the thread ends, or by `Sessions.close`): a pool
checkout and return cost more than the SELECT. In WAL, a SELECT on it sees the last
commit, as on any connection.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy import exc

from registry_backends.sql._engine import (
    BUSY_TIMEOUT_SECONDS,
    NO_WAIT_OPTION,
    READ_OPTION,
    WRITE_OPTION,
    sqlite_reader,
)
from registry_backends.sql._errors import db_errors, reason, translate
from registry_core.errors import BackendError
from registry_core.protocol import WouldWait

__all__ = ["Executed", "Sessions"]


_FILE_WRITERS: dict[str, threading.RLock] = {}
_FILE_WRITERS_GUARD = threading.Lock()


def _file_writer_lock(database: str) -> threading.RLock:
    """The lock the writers of this process take before writing to one SQLite file."""
    with _FILE_WRITERS_GUARD:
        return _FILE_WRITERS.setdefault(database, threading.RLock())


@contextlib.contextmanager
def _queued(lock: threading.RLock | None, doing: str, *, wait: bool = True) -> Iterator[None]:
    """Hold ``lock`` (when there is one) for the block; give up after the busy timeout,
    or at once with `WouldWait` when not to ``wait``."""
    if lock is None:
        yield
        return
    if not wait:
        if not lock.acquire(blocking=False):
            raise WouldWait(f"{doing}: another writer in this process holds the database")
    elif not lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
        raise BackendError(
            f"{doing}: another writer in this process held the database for "
            f"{BUSY_TIMEOUT_SECONDS} s"
        )
    try:
        yield
    finally:
        lock.release()


class Executed(NamedTuple):
    """What `Sessions.execute` reports: rows changed, the new row's id (MySQL), the first
    row of a result (``RETURNING``, ``SELECT``) or None."""

    rowcount: int
    lastrowid: int | None
    row: tuple[Any, ...] | None


class _Reader:
    """One thread's SQLite connection for reads; closed when it is dropped."""

    __slots__ = ("__weakref__", "dbapi_connection", "pid")

    def __init__(self, dbapi_connection: Any) -> None:
        self.dbapi_connection: Any = dbapi_connection
        self.pid = os.getpid()  # a connection must not cross a fork
        weakref.finalize(self, dbapi_connection.close)

    def close(self) -> None:
        connection, self.dbapi_connection = self.dbapi_connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


class _ThreadState(threading.local):
    conn: sa.Connection | None = None
    broken: str | None = None
    reader: _Reader | None = None
    no_wait: bool = False  # inside `writes_unless_busy`, until a write has begun


class Sessions:
    """Per-thread transactions over one engine; see the module docstring."""

    def __init__(
        self, engine: sa.Engine, secrets: tuple[str, ...], *, synchronous: str = "full"
    ) -> None:
        self._engine = engine
        self._secrets = secrets
        self._synchronous = synchronous
        self._sqlite = engine.dialect.name == "sqlite"
        self._writer_lock = _file_writer_lock(str(engine.url.database)) if self._sqlite else None
        self._local = _ThreadState()
        self._read_options = (
            {READ_OPTION: True} if self._sqlite else {"isolation_level": "AUTOCOMMIT"}
        )
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._psycopg = engine.dialect.driver == "psycopg"
        self._compiled: dict[int, tuple[str, list[str] | None, dict[str, Any]]] = {}
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._readers_guard = threading.Lock()

    def close(self) -> None:
        """Close the threads' SQLite read connections (a later read opens a new one)."""
        with self._readers_guard:
            readers, self._readers = list(self._readers), weakref.WeakSet()
        for reader in readers:
            reader.close()

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside `transaction`."""
        return self._local.conn is not None

    @contextlib.contextmanager
    def writes_unless_busy(self) -> Iterator[None]:
        """On SQLite, the calling thread's first write in the block raises `WouldWait`
        instead of waiting for another writer (of this process or another); once one
        has begun, later writes wait as usual. Elsewhere, nothing changes."""
        state = self._local
        before, state.no_wait = state.no_wait, self._sqlite
        try:
            yield
        finally:
            state.no_wait = before

    def _write_options(self, state: _ThreadState) -> dict[str, bool]:
        """SQLite's BEGIN IMMEDIATE (writers queue, never deadlock), and no waiting for
        the lock under `writes_unless_busy`."""
        if not self._sqlite:
            return {}
        return {WRITE_OPTION: True, NO_WAIT_OPTION: state.no_wait}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction for this thread's calls; nested calls join it.

        Commits when the outermost block ends normally, rolls back when it raises.
        """
        state = self._local
        if state.conn is not None:
            yield
            return
        with _queued(self._writer_lock, "starting a transaction", wait=not state.no_wait):
            yield from self._transaction(state)

    def _transaction(self, state: _ThreadState) -> Iterator[None]:
        with db_errors("starting a transaction", self._secrets):
            conn = self._engine.connect()
            try:
                conn.execution_options(**self._write_options(state))
                conn.begin()
            except BaseException:
                conn.close()
                raise
        state.conn, state.broken, state.no_wait = conn, None, False
        try:
            yield
            if state.broken is not None:
                raise BackendError(f"the transaction was rolled back: {state.broken}")
            with db_errors("committing", self._secrets):
                conn.commit()
        finally:
            state.conn, state.broken = None, None
            with contextlib.suppress(exc.SQLAlchemyError):
                conn.close()  # rolls back whatever was not committed

    @contextlib.contextmanager
    def use(self, doing: str, *, write: bool) -> Iterator[sa.Connection]:
        """The thread's transaction connection, or a short transaction of its own.

        Database errors come out as registry errors (``doing`` names the operation).
        """
        state = self._local
        conn = state.conn
        if conn is not None:
            if state.broken is not None:
                raise BackendError(f"{doing}: the transaction already failed ({state.broken})")
            try:
                yield conn
            except exc.SQLAlchemyError as error:
                state.broken = reason(error, self._secrets)
                with db_errors(doing, self._secrets):
                    raise
            except self._dbapi_error as error:  # from `execute`, straight on the driver
                state.broken = reason(error, self._secrets)
                self._drop_if_disconnected(conn, error)
                raise translate(error, doing, self._secrets) from error
            return
        with (
            _queued(self._writer_lock if write else None, doing, wait=not state.no_wait),
            db_errors(doing, self._secrets),
            self._engine.connect() as conn,
        ):
            if not write:  # one statement: no BEGIN/COMMIT round trips
                conn.execution_options(**self._read_options)
            else:
                conn.execution_options(**self._write_options(state))
            try:
                with conn.begin():
                    if write:
                        state.no_wait = False
                    yield conn
            except self._dbapi_error as error:
                self._drop_if_disconnected(conn, error)
                raise translate(error, doing, self._secrets) from error

    def _drop_if_disconnected(self, conn: sa.Connection, error: Exception) -> None:
        """Keep a connection the server dropped out of the pool (SQLAlchemy does this for
        its own executions; `execute` goes round it)."""
        dbapi_connection = conn.connection.dbapi_connection
        if self._engine.dialect.is_disconnect(cast(Any, error), dbapi_connection, None):
            conn.invalidate(error)

    def execute(self, conn: sa.Connection, statement: sa.Executable | str, params: Any) -> Executed:
        """Run one write statement straight on ``conn``'s driver connection: a statement
        kept for the life of the process, or SQL text in the driver's parameter style.
        SQLAlchemy's per-execution work costs more than a small write on SQLite. A list of
        parameter tuples runs ``executemany``. Driver errors come out of `use` as registry
        errors."""
        if isinstance(statement, str):
            sql, args = statement, params
        else:
            sql, names, defaults = self._compile(statement)
            merged = {**defaults, **params}
            args = merged if names is None else tuple(merged[n] for n in names)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if isinstance(args, list):  # many rows of one INSERT
                cursor.executemany(sql, args)
                return Executed(cursor.rowcount, None, None)
            cursor.execute(sql, args)
            row = cursor.fetchone() if cursor.description is not None else None
            return Executed(cursor.rowcount, getattr(cursor, "lastrowid", None), row)
        finally:
            cursor.close()

    # -- the read fast path ------------------------------------------------------------------

    def _compile(self, statement: sa.Executable) -> tuple[str, list[str] | None, dict[str, Any]]:
        """(SQL text, positional parameter names or None, default values) of a cached
        statement, compiled once for this engine's dialect."""
        found = self._compiled.get(id(statement))
        if found is None:
            compiled = statement.compile(dialect=self._engine.dialect)  # type: ignore[attr-defined]
            names = list(compiled.positiontup) if compiled.positiontup is not None else None
            found = (compiled.string, names, dict(compiled.params))
            self._compiled[id(statement)] = found
        return found

    def read(
        self, doing: str, statement: sa.Executable, params: Mapping[str, object]
    ) -> list[tuple[Any, ...]]:
        """Every row of one SELECT (a statement kept for the life of the process)."""
        sql, names, defaults = self._compile(statement)
        merged = {**defaults, **params}
        args: Any = merged if names is None else tuple(merged[n] for n in names)
        state = self._local
        if state.conn is not None:
            if state.broken is not None:
                raise BackendError(f"{doing}: the transaction already failed ({state.broken})")
            try:
                return _fetch(state.conn.connection.dbapi_connection, sql, args)
            except self._dbapi_error as error:
                state.broken = reason(error, self._secrets)
                raise translate(error, doing, self._secrets) from error
        if self._sqlite:
            return self._read_sqlite(doing, sql, args)
        with db_errors(doing, self._secrets):
            raw = self._engine.raw_connection()
        usable = True
        try:
            if self._psycopg:  # one statement: no BEGIN/ROLLBACK round trips
                raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            return _fetch(raw.dbapi_connection, sql, args)
        except self._dbapi_error as error:
            if self._engine.dialect.is_disconnect(cast(Any, error), raw.dbapi_connection, None):
                raw.invalidate(error)
                usable = False
            raise translate(error, doing, self._secrets) from error
        finally:
            if self._psycopg and usable:
                try:
                    raw.driver_connection.autocommit = False  # type: ignore[union-attr]
                except self._dbapi_error:
                    raw.invalidate()
            raw.close()

    def _read_sqlite(self, doing: str, sql: str, args: Any) -> list[tuple[Any, ...]]:
        state = self._local
        reader = state.reader
        if reader is None or reader.dbapi_connection is None or reader.pid != os.getpid():
            try:  # the driver's own connect: its errors are not SQLAlchemy's
                with db_errors(doing, self._secrets):
                    reader = _Reader(sqlite_reader(self._engine, self._synchronous))
            except self._dbapi_error as error:
                raise translate(error, doing, self._secrets) from error
            with self._readers_guard:
                self._readers.add(reader)
            state.reader = reader
        try:
            return _fetch(reader.dbapi_connection, sql, args)
        except self._dbapi_error as error:
            state.reader = None  # a fresh connection for the next read
            reader.close()
            raise translate(error, doing, self._secrets) from error


def _fetch(dbapi_connection: Any, sql: str, args: Any) -> list[tuple[Any, ...]]:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()
