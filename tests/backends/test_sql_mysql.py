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
    SqlConformance,
    check_a_dropped_connection_rolls_back_and_a_retry_succeeds,
    check_a_lost_compare_and_swap_retried_in_one_transaction_converges,
    fresh_repository,
    server,
    server_machine_settings,
)

from registry_backends.sql import SqlRepository, open_sql
from registry_core.errors import AlreadyExists, BackendError

KIND = "mysql"


class TestMysql(SqlConformance):
    kind = KIND
    state_machine_settings = server_machine_settings()


@pytest.fixture
def fresh() -> Iterator[tuple[SqlRepository, str]]:
    with fresh_repository(KIND) as made:
        yield made


@pytest.fixture
def my(fresh: tuple[SqlRepository, str]) -> SqlRepository:
    return fresh[0]


def test_transactions_are_read_committed(my: SqlRepository) -> None:
    with my.transaction():
        conn = my._sessions._local.conn
        assert conn is not None
        level = conn.exec_driver_sql("SELECT @@SESSION.tx_isolation").scalar()
    assert level == "READ-COMMITTED"


def test_a_lost_compare_and_swap_retried_in_one_transaction_converges(my: SqlRepository) -> None:
    check_a_lost_compare_and_swap_retried_in_one_transaction_converges(my)


def test_a_duplicate_create_leaves_the_transaction_usable(my: SqlRepository) -> None:
    with my.transaction():
        my.put_if_absent(("models", "a"), {"v": 1})
        with pytest.raises(AlreadyExists):
            my.put_if_absent(("models", "a"), {"v": 2})
        my.put_if_absent(("models", "b"), {"v": 1})
    assert [s for s, _ in my.list_page(("models",))] == ["a", "b"]


def test_a_dropped_connection_rolls_back_and_a_retry_succeeds(my: SqlRepository) -> None:
    admin = server(KIND).admin

    def kill(connection_id: object) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"KILL {int(str(connection_id))}")

    check_a_dropped_connection_rolls_back_and_a_retry_succeeds(my, "SELECT CONNECTION_ID()", kill)


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
