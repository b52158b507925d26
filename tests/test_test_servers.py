"""scripts/test-servers: throwaway PostgreSQL and MariaDB servers for the SQL tests.

Starts a real pair (a few seconds) with its state in ``tmp_path``. Without PostgreSQL or
MariaDB installed the test skips; with ``CI`` set it fails instead.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "test-servers"
EXPORTS = re.compile(
    r"export MODELREG_TEST_POSTGRES_URL=(postgresql\+psycopg://postgres@127\.0\.0\.1:(\d+)/test)\n"
    r"export MODELREG_TEST_MYSQL_URL=(mysql\+pymysql://root@127\.0\.0\.1:(\d+)/test)\n"
)


def run(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELREG_TEST_SERVERS_DIR": str(state)}
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """The script's state folder; whatever it still runs is stopped afterwards."""
    state = tmp_path / "servers"
    yield state
    if state.exists():
        run(state, "stop")


def pids(state: Path) -> tuple[str, str]:
    postgres = (state / "pg" / "data" / "postmaster.pid").read_text().split()[0]
    return postgres, (state / "my.pid").read_text().split()[0]


def select_1(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("select 1").scalar_one()
    finally:
        engine.dispose()


def test_start_env_start_again_stop(state: Path) -> None:
    started = run(state, "start")
    if started.returncode == 1 and "not installed:" in started.stderr:
        reason = started.stderr.strip()  # test-servers: not installed: initdb ... (how to)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert started.returncode == 0, started.stderr
    found = EXPORTS.fullmatch(started.stdout)
    assert found, f"stdout must be just the two export lines: {started.stdout!r}"
    postgres, pg_port, mysql, my_port = found.groups()
    assert pg_port not in {"5432", my_port} and my_port != "3306"
    assert select_1(postgres) == 1
    assert select_1(mysql) == 1
    servers = pids(state)
    pg_folder = (state / "pg").resolve()  # elsewhere when run as root

    again = run(state, "env")
    assert (again.returncode, again.stdout) == (0, started.stdout), again.stderr
    again = run(state, "start")
    assert (again.returncode, again.stdout) == (0, started.stdout), again.stderr
    assert "already running" in again.stderr
    assert pids(state) == servers

    stopped = run(state, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not state.exists() and not pg_folder.exists()
    for port in (pg_port, my_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
    after = run(state, "env")
    assert (after.returncode, after.stdout) == (1, "")


def test_help_and_a_wrong_command(tmp_path: Path) -> None:
    shown = run(tmp_path, "--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: scripts/test-servers")
    wrong = run(tmp_path, "restart")
    assert wrong.returncode == 2 and wrong.stdout == "" and "usage:" in wrong.stderr
