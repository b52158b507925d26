"""The SQL backend on MySQL/MariaDB: the conformance suite, then what only a server shows.

Runs against ``$MODELREG_TEST_MYSQL_URL`` (skipped when unset, failed under ``CI`` when
unreachable), each repository in a database of its own.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sql_support import (
    ServerChecks,
    SqlConformance,
    fresh_repository,
    server_machine_settings,
)

from registry_backends.sql import SqlRepository, open_sql
from registry_core.errors import BackendError
from registry_core.protocol import quick_writes, reads_are_quick

KIND = "mysql"


class TestMysql(SqlConformance):
    kind = KIND
    state_machine_settings = server_machine_settings()


class TestMysqlServer(ServerChecks):
    kind = KIND
    isolation_query = "SELECT @@SESSION.tx_isolation"
    read_committed = "READ-COMMITTED"
    session_id_query = "SELECT CONNECTION_ID()"
    end_session_sql = "KILL :session"


@pytest.fixture
def fresh() -> Iterator[tuple[SqlRepository, str]]:
    with fresh_repository(KIND) as made:
        yield made


@pytest.fixture
def my(fresh: tuple[SqlRepository, str]) -> SqlRepository:
    return fresh[0]


def test_a_server_database_promises_no_quick_reads_or_writes(my: SqlRepository) -> None:
    """Each statement is a round trip to the server: a modelreg server keeps them off its
    event loop (registry_core.protocol)."""
    assert not reads_are_quick(my)
    assert quick_writes(my) is None


def test_keys_compare_as_bytes_without_padding_or_case_folding(my: SqlRepository) -> None:
    names = ["a", "a ", "A", "á", "a\u0301", "ä", "b", "😀", "\ufb01", "ss", "ß"]
    for name in names:
        my.put_if_absent(("other", name), {"n": name})  # no duplicate-key error anywhere
    assert [s for s, _ in my.list_page(("other",), limit=100)] == sorted(names)
    doc = my.get(("other", "a "))
    assert doc is not None and doc.data == {"n": "a "}


def test_a_wrong_password_is_refused_without_showing_it(fresh: tuple[SqlRepository, str]) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    url = sa.make_url(fresh[1]).set(password=secret).render_as_string(hide_password=False)
    with pytest.raises(BackendError, match="Access denied") as caught:
        open_sql(url)
    said = "".join(traceback.format_exception(caught.value))
    assert secret not in said and "***" in str(caught.value)
