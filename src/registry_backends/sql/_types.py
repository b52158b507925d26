"""Column types shared by the live schema and the migration scripts.

Key columns must sort in plain string order (the protocol's `list_page` order) and compare
exactly: PostgreSQL gets ``COLLATE "C"``, MySQL/MariaDB ``VARBINARY`` (their ``utf8mb4_bin``
is PAD SPACE on MariaDB, so ``'a'`` would equal ``'a '``), SQLite its default BINARY
collation. UTF-8 byte order is code point order, which is Python's ``str`` order.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

__all__ = ["MYSQL_OPTIONS", "NAMING", "id_type", "key_type", "long_text"]

#: Table options for MySQL/MariaDB (ignored elsewhere).
MYSQL_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

#: Constraint and index names that are the same on every database (Alembic needs names).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Utf8Varbinary(sa.types.TypeDecorator[str]):
    """``VARBINARY(n)`` holding UTF-8 text: byte order, no padding, no case folding."""

    impl = mysql.VARBINARY
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else value.encode("utf-8")

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else bytes(value).decode("utf-8")


def key_type(length: int) -> sa.types.TypeEngine[str]:
    """A key column of at most ``length`` UTF-8 bytes that sorts by code point."""
    return (
        sa.String(length)
        .with_variant(sa.String(length, collation="C"), "postgresql")
        .with_variant(Utf8Varbinary(length), "mysql", "mariadb")
    )


def long_text() -> sa.types.TypeEngine[str]:
    """Text of any size (MySQL's ``TEXT`` stops at 64 KiB, so ``LONGTEXT`` there)."""
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def id_type() -> sa.types.TypeEngine[int]:
    """A 64-bit surrogate key; SQLite's ``INTEGER PRIMARY KEY`` is its rowid alias."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
