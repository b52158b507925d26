"""Schema revisions: create a new registry at `HEAD`, refuse or upgrade an older one.

A new database gets the live tables (``create_all``) and is stamped with `HEAD` in
Alembic's version table, without importing Alembic. Opening a registry reads that stamp:
`HEAD` opens; an older known revision refuses with `SchemaError` (run ``modelreg db
upgrade URL``, or open with ``upgrade=True``); an unknown one was written by a newer
modelreg and refuses too. A database with other tables and no stamp is not a registry
and is left untouched. `upgrade` runs the Alembic scripts shipped in
``registry_backends/sql/migrations``, configured in code (no ``alembic.ini``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

from registry_backends.sql import schema as s
from registry_backends.sql._engine import WRITE_OPTION, Target, make_engine, parse_url
from registry_backends.sql._errors import db_errors, translate
from registry_core.errors import InvalidInput, SchemaError

__all__ = ["MIGRATIONS", "current_revision", "prepare", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")

_stamp_metadata = sa.MetaData()
version_table = sa.Table(
    s.VERSION_TABLE,
    _stamp_metadata,
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name=f"{s.VERSION_TABLE}_pkc"),
)
_OURS = frozenset(s.metadata.tables) | {s.VERSION_TABLE}


@contextlib.contextmanager
def _not_sqlite_is_invalid(target: Target) -> Iterator[None]:
    """A file SQLite cannot read is the caller's mistake: `InvalidInput`, not a failure."""
    try:
        yield
    except exc.DatabaseError as error:
        if target.backend == "sqlite" and "not a database" in str(error.orig):
            raise InvalidInput(
                f"{target.url.database!r} is not a SQLite database (nor a modelreg registry)"
            ) from error
        raise


def _read(conn: sa.Connection, target: Target) -> tuple[str | None, list[str]]:
    """(stamped revision or None, every table name) of the connected database."""
    with _not_sqlite_is_invalid(target):
        tables = sa.inspect(conn).get_table_names()
    if s.VERSION_TABLE not in tables:
        return None, tables
    stamps = conn.execute(sa.select(version_table.c.version_num)).scalars().all()
    if len(stamps) > 1:
        raise SchemaError(f"{target.display} has several schema revisions: {sorted(stamps)}")
    return (stamps[0] if stamps else None), tables


def _inspect(engine: sa.Engine, target: Target) -> tuple[str | None, list[str]]:
    opening = db_errors(f"opening {target.display}", target.secrets)
    with opening, _not_sqlite_is_invalid(target), engine.connect() as conn:
        return _read(conn, target)


def _refuse_foreign(tables: list[str], target: Target) -> None:
    foreign = sorted(set(tables) - _OURS)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise InvalidInput(
            f"{target.display} is not a modelreg registry and not empty (tables: {shown}); "
            "give an empty database or schema"
        )


def _check_known(revision: str, target: Target) -> None:
    if revision not in s.REVISIONS:
        raise SchemaError(
            f"{target.display} has schema revision {revision!r}, which this modelreg does "
            f"not know (its newest is {s.HEAD!r}): it was written by a newer modelreg; "
            "upgrade modelreg"
        )


def prepare(engine: sa.Engine, target: Target, *, upgrade: bool = False) -> None:
    """Make ``engine``'s database ready for this code, or refuse (see the module doc)."""
    revision, tables = _inspect(engine, target)
    if revision == s.HEAD:
        return
    if revision is None:
        _refuse_foreign(tables, target)
        _create(engine, target)
        return
    _check_known(revision, target)
    if not upgrade:
        raise SchemaError(
            f"{target.display} has schema revision {revision!r}, this modelreg needs "
            f"{s.HEAD!r}: run `modelreg db upgrade URL` (or open it with upgrade=True)"
        )
    _run_alembic(engine, target, "head")


def _lock_name(target: Target) -> str:
    digest = hashlib.sha256(str(target.url.database).encode()).hexdigest()[:32]
    return f"modelreg-create-{digest}"


def _create(engine: sa.Engine, target: Target) -> None:
    """Create the tables and stamp `HEAD`, once, however many openers race."""
    with db_errors(f"creating the registry in {target.display}", target.secrets):
        with engine.connect() as conn:
            if target.backend == "sqlite":
                conn.execution_options(**{WRITE_OPTION: True})  # BEGIN IMMEDIATE: one at a time
            if target.backend == "mysql":  # DDL commits at once there: a named lock instead
                conn.execute(sa.text("SELECT GET_LOCK(:name, 60)"), {"name": _lock_name(target)})
            try:
                if target.backend == "postgresql":
                    conn.execute(sa.text(_PG_LOCK))
                revision = _create_tables(conn, target)
            finally:
                if target.backend == "mysql":
                    conn.rollback()
                    conn.execute(
                        sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _lock_name(target)}
                    )
                    conn.commit()
        if target.backend == "sqlite":
            _use_wal(engine)
    if revision is not None:
        _check_known(revision, target)


_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('modelreg:' || current_schema()))"


def _create_tables(conn: sa.Connection, target: Target) -> str | None:
    """Under the creation lock: create and stamp unless another opener did; commit."""
    revision, tables = _read(conn, target)
    if revision is None:
        _refuse_foreign(tables, target)
        s.metadata.create_all(conn)
        version_table.create(conn, checkfirst=True)
        conn.execute(version_table.insert().values(version_num=s.HEAD))
    conn.commit()
    return revision


#: How long openers of a new SQLite file keep retrying the switch to WAL.
WAL_SWITCH_SECONDS = 30.0


def _use_wal(engine: sa.Engine) -> None:
    """Switch SQLite to WAL (persistent in the file), outside any transaction.

    The switch needs the file to itself, and SQLite answers "database is locked" at once
    (no busy handler) while another opener is reading it: retried with a growing pause.
    """
    busy = engine.dialect.loaded_dbapi.OperationalError
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    pause = 0.002
    while True:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute("PRAGMA journal_mode")
                if str((cursor.fetchone() or ("",))[0]).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
                return
            except busy as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise translate(error, "switching the database to WAL") from error
            finally:
                cursor.close()
        finally:
            raw.close()
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.2)


def _run_alembic(engine: sa.Engine, target: Target, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", os.fspath(MIGRATIONS))
    with db_errors(f"upgrading {target.display}", target.secrets), engine.connect() as conn:
        if target.backend == "sqlite":
            conn.execution_options(**{WRITE_OPTION: True})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()
    if target.backend == "sqlite":
        _use_wal(engine)


def upgrade(url: str, revision: str = "head") -> str | None:
    """Bring the database at ``url`` to ``revision`` (default the newest); return the
    revision it is at now. An empty database is built by running every migration."""
    target = parse_url(url, need_artifacts=False)
    engine = make_engine(target)
    try:
        found, tables = _inspect(engine, target)
        if found is None:
            _refuse_foreign(tables, target)
        else:
            _check_known(found, target)
        _run_alembic(engine, target, revision)
        return _inspect(engine, target)[0]
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The schema revision stamped in the database at ``url`` (None: not a registry yet)."""
    target = parse_url(url, need_artifacts=False)
    engine = make_engine(target)
    try:
        return _inspect(engine, target)[0]
    finally:
        engine.dispose()
