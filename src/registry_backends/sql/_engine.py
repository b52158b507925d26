"""From a registry URL to an engine and an artifact store.

``sqlite:///reg.db``, ``postgresql+psycopg://user@host/db``, ``mysql+pymysql://...``
(also ``postgresql://``, ``mysql://``, ``mariadb://``, given their default drivers). The
query parameter ``artifacts`` names where blobs go (a local folder or an fsspec URL) and is
removed before the engine sees the URL; SQLite defaults it to ``<database>.artifacts``
beside the file, server databases must give it.

Engines are set up for the Registry's access pattern: READ COMMITTED on PostgreSQL and
MySQL/MariaDB, so a compare-and-swap retried inside one transaction sees the other writer's
commit; on SQLite WAL, a 30 s busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for write
transactions, so two writers queue instead of deadlocking on a lock upgrade.

Durable by default: a commit has reached the disk when the call returns. SQLite runs WAL
with ``synchronous=FULL`` (the WAL is synced at every commit); PostgreSQL and MySQL/MariaDB
keep their durable defaults (``synchronous_commit=on``; ``innodb_flush_log_at_trx_commit=1``).
``?synchronous=normal`` relaxes SQLite to ``synchronous=NORMAL`` and PostgreSQL to
``synchronous_commit=off``: a commit returns before it is on disk, so a power loss or an OS
crash can take the last commits with it (SQLite: those since the last WAL checkpoint;
PostgreSQL: up to three ``wal_writer_delay``, 600 ms by default); the database stays
consistent, and a crash of the process alone loses nothing (see `SYNCHRONOUS`).
"""

from __future__ import annotations

import os
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy import event, exc

from registry_backends._install import install_command
from registry_core.errors import BackendNotInstalled, InvalidInput
from registry_core.protocol import WouldWait

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "SYNCHRONOUS",
    "Target",
    "make_engine",
    "parse_url",
    "sqlite_reader",
]

BUSY_TIMEOUT_SECONDS = 30
_DEFAULT_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql"}
_EXTRAS = {"sqlite": "sql", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
#: Execution option: this connection's transaction will write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "modelreg_write"
#: Execution option: this connection runs one read statement (SQLite: no BEGIN at all).
READ_OPTION = "modelreg_read"
#: Execution option, with `WRITE_OPTION` on SQLite: if the file is locked by another
#: writer, BEGIN raises `WouldWait` at once instead of waiting out the busy timeout.
NO_WAIT_OPTION = "modelreg_no_wait"
#: ``?synchronous=`` values: what SQLite's ``PRAGMA synchronous`` and PostgreSQL's
#: ``synchronous_commit`` are set to on every connection. ``full`` is the default.
SYNCHRONOUS = {
    "full": {"sqlite": "FULL", "postgresql": "on"},
    "normal": {"sqlite": "NORMAL", "postgresql": "off"},
}


@attrs.frozen(repr=False)
class Target:
    """A parsed registry URL: the engine's URL, the backend, and the artifact location."""

    url: sa.URL
    backend: str  # "sqlite", "postgresql", "mysql" (MariaDB included)
    artifacts: str
    synchronous: str = "full"  # a key of SYNCHRONOUS

    @property
    def display(self) -> str:
        """The URL for messages and repr: the password hidden."""
        return self.url.render_as_string(hide_password=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.url.password,) if isinstance(self.url.password, str) else ()

    def __repr__(self) -> str:
        return f"Target({self.display!r}, artifacts={_hide_userinfo(self.artifacts)!r})"


def _hide_userinfo(location: str) -> str:
    scheme, sep, rest = location.partition("://")
    if not sep or "@" not in rest.partition("/")[0]:
        return location
    return f"{scheme}://***@{rest.partition('@')[2]}"


def parse_url(url: str, artifacts: str | None = None, *, need_artifacts: bool = True) -> Target:
    """Check ``url`` and split off ``?artifacts=``; `InvalidInput` names what is wrong.

    ``need_artifacts=False`` lets a server URL go without an artifact store (schema
    maintenance touches no blobs).
    """
    if not isinstance(url, str) or not url:
        raise InvalidInput(f"a database URL must be a non-empty string, not {url!r}")
    try:
        parsed = sa.make_url(url)
    except (exc.ArgumentError, ValueError):
        raise InvalidInput(  # the text may hold a password: do not repeat it
            "the database URL could not be parsed; expected e.g. sqlite:///reg.db or "
            "postgresql+psycopg://user@host/db?artifacts=s3://bucket/prefix"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in _EXTRAS:
        raise InvalidInput(f"{backend!r} is not a SQL backend modelreg supports")
    if "+" not in parsed.drivername and backend in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{_DEFAULT_DRIVERS[backend]}")
    given = parsed.query.get("artifacts")
    if isinstance(given, tuple):
        raise InvalidInput("give ?artifacts= once")
    if given is not None and artifacts is not None:
        raise InvalidInput("give the artifact store either as ?artifacts= or as artifacts=")
    location = artifacts if artifacts is not None else given
    synchronous = _synchronous(parsed, backend)
    parsed = parsed.difference_update_query(["artifacts", "synchronous"])
    if backend == "sqlite":
        return _sqlite_target(parsed, location, synchronous)
    if not location and need_artifacts:
        kind = "PostgreSQL" if backend == "postgresql" else "MySQL/MariaDB"
        raise InvalidInput(
            f"a {kind} registry needs an artifact store: add ?artifacts=<folder or fsspec URL> "
            f"to {parsed.render_as_string(hide_password=True)}"
        )
    if backend in ("mysql", "mariadb"):
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        backend = "mysql"
    return Target(parsed, backend, location or "", synchronous)


def _synchronous(parsed: sa.URL, backend: str) -> str:
    """The ``?synchronous=`` of the URL (``full`` when absent), checked."""
    given = parsed.query.get("synchronous")
    if given is None:
        return "full"
    if isinstance(given, tuple) or given.lower() not in SYNCHRONOUS:
        raise InvalidInput(
            f"?synchronous= takes one of {', '.join(SYNCHRONOUS)} (full, the default, syncs "
            f"every commit to disk), not {given!r}"
        )
    if backend in ("mysql", "mariadb") and given.lower() != "full":
        raise InvalidInput(
            "MySQL/MariaDB set durability for the whole server "
            "(innodb_flush_log_at_trx_commit), not per connection: drop ?synchronous="
        )
    return given.lower()


def _sqlite_target(parsed: sa.URL, location: str | None, synchronous: str) -> Target:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise InvalidInput(
            "a SQLite registry needs a database file (sqlite:///reg.db); for a registry in "
            "memory use memory://"
        )
    path = os.path.abspath(os.path.expanduser(database))
    if os.path.isdir(path):
        raise InvalidInput(f"{path!r} is a folder, not a SQLite database file")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise InvalidInput(_missing_folder(database, folder))
    return Target(parsed.set(database=path), "sqlite", location or f"{path}.artifacts", synchronous)


def _missing_folder(database: str, folder: str) -> str:
    """Why a SQLite file cannot be made; a relative path may have been meant as absolute
    (``sqlite:///tmp/x.db`` is ``./tmp/x.db``, SQLAlchemy's convention)."""
    message = f"the folder {folder!r} of the SQLite database does not exist; create it first"
    if os.path.isabs(database) or database.startswith("~"):
        return message
    return (
        f"{message}. sqlite:///{database} names a path relative to the current folder; "
        f"for the absolute path /{database} write sqlite:////{database} (four slashes)"
    )


def make_engine(target: Target) -> sa.Engine:
    """An engine for ``target``; `BackendNotInstalled` names the extra for a missing driver."""
    options: dict[str, Any] = {"hide_parameters": True}
    if target.backend == "sqlite":
        options["connect_args"] = {"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    else:
        options["isolation_level"] = "READ COMMITTED"
        options["connect_args"] = {"connect_timeout": 10}
        commit_level = SYNCHRONOUS[target.synchronous]["postgresql"]
        if target.backend == "postgresql" and commit_level != "on":
            given = target.url.query.get("options")  # connect_args would replace it: join
            joined = " ".join([*([given] if isinstance(given, str) else given or ())])
            options["connect_args"]["options"] = (
                f"{joined} -c synchronous_commit={commit_level}".strip()
            )
        # The most recently used connection first: its prepared statements are warm, and
        # idle extra connections age out instead of being kept busy in turn.
        options["pool_use_lifo"] = True
    try:
        engine = sa.create_engine(target.url, **options)
    except ImportError as error:
        extra = _EXTRAS[target.backend]
        raise BackendNotInstalled(
            f"the {target.url.drivername!r} database driver is not installed "
            f"({error.name or error}); install it with {install_command(extra)}"
        ) from error
    except exc.NoSuchModuleError as error:
        raise InvalidInput(f"unknown database driver {target.url.drivername!r}") from error
    if target.backend == "sqlite":
        level = SYNCHRONOUS[target.synchronous]["sqlite"]

        def connect(dbapi_connection: Any, _record: object) -> None:
            _sqlite_connect(dbapi_connection, level)

        event.listen(engine, "connect", connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, synchronous: str) -> None:
    """Per connection: no pysqlite transaction handling (we BEGIN ourselves), and the
    settings that do not touch the file (WAL is set once, when the registry is made)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
    finally:
        cursor.close()


def sqlite_reader(engine: sa.Engine, synchronous: str) -> Any:
    """A new driver connection to the engine's SQLite file, outside its pool, for reads
    only (``query_only``), set up as the pool's connections are (``synchronous`` a key of
    `SYNCHRONOUS`: a reader commits nothing, but it may run a checkpoint when it closes)."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    cparams.update(timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    dbapi_connection = engine.dialect.connect(*cargs, **cparams)
    try:
        _sqlite_connect(dbapi_connection, SYNCHRONOUS[synchronous]["sqlite"])
        dbapi_connection.execute("PRAGMA query_only = ON")
    except BaseException:
        dbapi_connection.close()
        raise
    return dbapi_connection


def _sqlite_begin(connection: sa.Connection) -> None:
    options = connection.get_execution_options()
    if options.get(READ_OPTION):
        return  # a single SELECT is atomic on its own (and sees the last commit in WAL)
    driver: Any = connection.connection.dbapi_connection  # skips SQLAlchemy's execution
    if not options.get(WRITE_OPTION):
        driver.execute("BEGIN")
    elif options.get(NO_WAIT_OPTION):
        driver.execute("PRAGMA busy_timeout = 0")
        try:
            driver.execute("BEGIN IMMEDIATE")
        except connection.dialect.loaded_dbapi.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            raise WouldWait(str(error)) from error
        finally:
            driver.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    else:
        driver.execute("BEGIN IMMEDIATE")
