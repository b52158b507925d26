"""Durable by default: every commit of the SQL backend is on disk when the call returns.

SQLite runs WAL with ``synchronous=FULL`` on every connection it opens (pooled writers and
the per-thread readers alike), and syncs at each commit, as `strace` counts; PostgreSQL
keeps ``synchronous_commit=on``. ``?synchronous=normal`` relaxes both, and nothing else is
accepted.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sql_support import fresh_repository, new_database

from needs import need
from registry_backends.sql import open_sql
from registry_backends.sql._engine import make_engine, parse_url
from registry_core import Registry
from registry_core.errors import InvalidInput

SQLITE_LEVELS = {"full": 2, "normal": 1}  # what PRAGMA synchronous reads back


@pytest.mark.parametrize(("option", "level"), [("", "full"), ("?synchronous=normal", "normal")])
def test_every_sqlite_connection_has_the_synchronous_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, level: str
) -> None:
    opened: list[sqlite3.Connection] = []
    connect = sqlite3.dbapi2.connect

    def recording(*args: object, **kwargs: object) -> sqlite3.Connection:
        opened.append(connect(*args, **kwargs))  # type: ignore[arg-type]
        return opened[-1]

    monkeypatch.setattr(sqlite3.dbapi2, "connect", recording)
    repo = open_sql(f"sqlite:///{tmp_path}/r.db{option}")
    registry = Registry(repo)
    registry.create_model("m")
    done, checked = threading.Barrier(5), threading.Event()

    def work(i: int) -> None:  # each thread writes (pool) and reads (its own reader)
        registry.create_version("m", f"1.0.{i}", publish=True)
        registry.get_version("m", f"1.0.{i}")
        done.wait()
        checked.wait()  # keep the thread, and so its reader, alive until checked

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        done.wait(timeout=30)
        levels = [c.execute("PRAGMA synchronous").fetchone()[0] for c in opened]
    finally:
        checked.set()
        for thread in threads:
            thread.join()
        repo.close()
    assert len(opened) >= 5  # the pool's connection(s) and four threads' readers
    assert set(levels) == {SQLITE_LEVELS[level]}


_COMMITS = textwrap.dedent(
    """
    import os, sys
    from registry_backends.sql import open_sql
    from registry_core import Registry
    registry = Registry(open_sql(sys.argv[1]))
    registry.create_model("m")
    os.write(1, b"<start>")
    for i in range(int(sys.argv[2])):
        registry.create_version("m", f"1.0.{i}", tags={"a": "b"}, publish=True)
    os.write(1, b"<end>")
    """
)


def _syncs(url: str, commits: int) -> int:
    """fsync and fdatasync calls of a process while it makes ``commits`` versions."""
    strace = shutil.which("strace")
    if strace is None:
        need("strace", "apt-get install strace; .ci/run installs it")
    tracing = [strace, "-f", "-e", "trace=fsync,fdatasync,write", "-e", "signal=none", "-qq"]
    run = subprocess.run(
        [*tracing, sys.executable, "-c", _COMMITS, url, str(commits)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    trace = run.stderr
    start = trace.index("<start>")  # the syncs of creating the tables do not count
    end = trace.index("<end>")
    return len(re.findall(r"\b(?:fsync|fdatasync)\(", trace[start:end]))


def test_sqlite_syncs_at_every_commit_by_default_and_not_when_relaxed(tmp_path: Path) -> None:
    commits = 30
    durable = _syncs(f"sqlite:///{tmp_path}/full.db", commits)
    relaxed = _syncs(f"sqlite:///{tmp_path}/normal.db?synchronous=normal", commits)
    assert durable >= commits
    assert relaxed < commits // 3


def test_postgresql_commits_synchronously_unless_relaxed() -> None:
    with fresh_repository("postgresql") as (repo, url):
        relaxed = open_sql(f"{url}&synchronous=normal")
        try:
            for where, want in ((repo, "on"), (relaxed, "off")):
                registry = Registry(where)
                registry.create_model(f"m-{want}")  # the URL's own options still apply
                with where.engine.connect() as conn:
                    assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == want
                    path = conn.exec_driver_sql("SHOW search_path").scalar()
                assert str(path) in url
            assert [m.name.value for m in Registry(relaxed).list_models().items] == [
                "m-off",
                "m-on",
            ]
        finally:
            relaxed.close()


def test_postgresql_relaxed_without_other_options() -> None:
    url, drop = new_database("postgresql")
    try:  # an engine only: no tables are made outside the test's schema
        plain = sa.make_url(url).difference_update_query(["options"])
        relaxed = plain.update_query_dict({"synchronous": "normal"})
        engine = make_engine(parse_url(relaxed.render_as_string(hide_password=False)))
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
        engine.dispose()
    finally:
        drop()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///{tmp}/r.db?synchronous=off", "full, normal"),
        ("sqlite:///{tmp}/r.db?synchronous=full&synchronous=normal", "full, normal"),
        ("mysql+pymysql://root@127.0.0.1/test?artifacts=/x&synchronous=normal", "server"),
    ],
)
def test_other_synchronous_values_are_refused(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_url(url.format(tmp=tmp_path))
    assert os.listdir(tmp_path) == []


def test_the_option_is_not_part_of_the_database_url(tmp_path: Path) -> None:
    target = parse_url(f"sqlite:///{tmp_path}/r.db?synchronous=NORMAL")
    assert (target.synchronous, target.url.query) == ("normal", {})
    assert parse_url(f"sqlite:///{tmp_path}/r.db").synchronous == "full"
    mysql = parse_url("mysql://root@h/db?artifacts=/x&synchronous=full")
    assert "synchronous" not in mysql.url.query
