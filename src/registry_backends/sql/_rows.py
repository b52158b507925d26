"""Row-level writes shared by the repository: create-if-absent, child rows, deletes.

Bulk child rows go straight to the driver (COPY on PostgreSQL with psycopg, one
``executemany`` elsewhere): a batch of 1,000 metric points is one statement, not 1,000
parameter sets processed by SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from registry_backends.sql._project import CHILD_COLUMNS, CHILDREN, Rows, project_children
from registry_backends.sql._session import Executed

#: `Sessions.execute`: one statement straight on the driver.
Execute = Callable[[sa.Connection, "sa.Executable | str", Any], Executed]

__all__ = ["RowWriter"]

#: Child rows above this many go in with COPY on PostgreSQL.
COPY_FROM = 16
_CHUNK = 500


def _pg_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type a binary COPY sends for ``column`` (child tables' types only)."""
    kind = column.type
    if isinstance(kind, sa.BigInteger):
        return "int8"
    if isinstance(kind, sa.Integer):
        return "int4"
    if isinstance(kind, sa.Double):
        return "float8"
    if isinstance(kind, sa.String):  # Text and VARCHAR share one binary format
        return "text"
    raise TypeError(f"no COPY type for {column.table.name}.{column.name}: {kind!r}")


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class RowWriter:
    """The dialect-specific statements of one engine (built once, reused)."""

    def __init__(self, engine: sa.Engine, execute: Execute) -> None:
        dialect = engine.dialect
        self._name = dialect.name
        self._execute = execute
        self._copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self._quote = dialect.identifier_preparer.quote
        self._marker = "?" if dialect.paramstyle == "qmark" else "%s"
        self._delete_returning = bool(dialect.delete_returning)
        self._inserts: dict[str, str] = {}
        self._clears: dict[str, str] = {}
        self._creates: dict[tuple[str, tuple[str, ...]], str] = {}
        self._combined: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}

    def insert_if_absent(
        self, conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]
    ) -> int | None:
        """The new row's id, or None when a row with that key exists. No error is raised
        (so a PostgreSQL transaction stays usable): ``ON CONFLICT DO NOTHING`` on
        PostgreSQL and SQLite, ``INSERT IGNORE`` on MySQL/MariaDB."""
        columns = tuple(values)
        sql = self._creates.get((table.name, columns))
        if sql is None:
            sql = self._creates[(table.name, columns)] = self._create_sql(table, columns)
        done = self._execute(conn, sql, tuple(values.values()))
        if self._name in ("mysql", "mariadb"):
            return int(done.lastrowid) if done.rowcount == 1 and done.lastrowid else None
        return None if done.row is None else int(done.row[0])

    def create(
        self,
        conn: sa.Connection,
        table: sa.Table,
        values: Mapping[str, Any],
        data: Mapping[str, Any],
    ) -> int | None:
        """Insert a root row and its child rows; the new id, or None when the key exists.

        On PostgreSQL, a root with few child rows goes in as one statement (the children
        unnested from arrays in data-modifying CTEs): one round trip instead of one per
        child table. Larger batches take `insert_if_absent` and COPY.
        """
        children = None
        if self._copy:
            children = project_children(table.name, data, 0)  # the root's id comes later
            if all(len(rows) <= COPY_FROM for _, rows in children):
                return self._create_in_one(conn, table, values, children)
        row_id = self.insert_if_absent(conn, table, values)
        if row_id is not None:
            self.write_children(conn, table, row_id, data, replace=False, projected=children)
        return row_id

    def _create_in_one(
        self,
        conn: sa.Connection,
        table: sa.Table,
        values: Mapping[str, Any],
        children: list[tuple[sa.Table, list[tuple[Any, ...]]]],
    ) -> int | None:
        present = tuple(child for child, rows in children if rows)
        columns = tuple(values)
        shape = (table.name, columns, tuple(child.name for child in present))
        sql = self._combined.get(shape)
        if sql is None:
            sql = self._combined[shape] = self._combined_sql(table, columns, present)
        params: dict[str, Any] = {f"r{i}": values[c] for i, c in enumerate(columns)}
        for n, (child, rows) in enumerate((c, r) for c, r in children if r):
            for i in range(len(CHILD_COLUMNS[child.name])):
                params[f"c{n}_{i}"] = [row[i + 1] for row in rows]
        found = self._execute(conn, sql, params).row
        return None if found is None else int(found[0])

    def _combined_sql(
        self, table: sa.Table, columns: tuple[str, ...], children: tuple[sa.Table, ...]
    ) -> str:
        q = self._quote
        parts = [
            f"root AS (INSERT INTO {q(table.name)} ({', '.join(q(c) for c in columns)}) "
            f"VALUES ({', '.join(f'%(r{i})s' for i in range(len(columns)))}) "
            "ON CONFLICT DO NOTHING RETURNING id)"
        ]
        fk = CHILDREN[table.name][0]
        for n, child in enumerate(children):
            names = CHILD_COLUMNS[child.name]
            arrays = ", ".join(
                f"%(c{n}_{i})s::{_pg_type(child.c[c])}[]" for i, c in enumerate(names)
            )
            parts.append(
                f"c{n} AS (INSERT INTO {q(child.name)} ({q(fk)}, {', '.join(map(q, names))}) "
                f"SELECT root.id, u.* FROM root, unnest({arrays}) AS u)"
            )
        return f"WITH {', '.join(parts)} SELECT id FROM root"

    def _create_sql(self, table: sa.Table, columns: tuple[str, ...]) -> str:
        names = ", ".join(self._quote(c) for c in columns)
        markers = ", ".join([self._marker] * len(columns))
        if self._name in ("mysql", "mariadb"):
            return f"INSERT IGNORE INTO {self._quote(table.name)} ({names}) VALUES ({markers})"
        return (
            f"INSERT INTO {self._quote(table.name)} ({names}) VALUES ({markers}) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )

    def write_children(
        self,
        conn: sa.Connection,
        table: sa.Table,
        row_id: int,
        data: Mapping[str, Any],
        *,
        replace: bool,
        projected: Rows | None = None,
    ) -> None:
        """Project ``data`` into the root's child tables (replacing what was there);
        ``projected``: its rows already projected, for any root id (it is put in)."""
        fk, tables = CHILDREN[table.name]
        if replace:
            for child in tables:
                sql = self._clears.get(child.name)
                if sql is None:
                    sql = self._clears[child.name] = (
                        f"DELETE FROM {self._quote(child.name)} "
                        f"WHERE {self._quote(fk)} = {self._marker}"
                    )
                self._execute(conn, sql, (row_id,))
        children = (
            project_children(table.name, data, row_id)
            if projected is None
            else [(child, [(row_id, *row[1:]) for row in rows]) for child, rows in projected]
        )
        for child, rows in children:
            if rows:
                self._insert_rows(conn, child, fk, rows)

    def _insert_rows(
        self, conn: sa.Connection, table: sa.Table, fk: str, rows: list[tuple[Any, ...]]
    ) -> None:
        columns = (fk, *CHILD_COLUMNS[table.name])
        if self._copy and len(rows) > COPY_FROM:
            names = ", ".join(self._quote(c) for c in columns)
            driver: Any = conn.connection.driver_connection
            statement = f"COPY {self._quote(table.name)} ({names}) FROM STDIN (FORMAT BINARY)"
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types([_pg_type(table.c[c]) for c in columns])
                for row in rows:
                    copy.write_row(row)
            return
        sql = self._inserts.get(table.name)
        if sql is None:
            sql = (
                f"INSERT INTO {self._quote(table.name)} "
                f"({', '.join(self._quote(c) for c in columns)}) "
                f"VALUES ({', '.join([self._marker] * len(columns))})"
            )
            self._inserts[table.name] = sql
        self._execute(conn, sql, rows)

    def delete_roots(
        self, conn: sa.Connection, table: sa.Table, condition: sa.ColumnElement[bool]
    ) -> int:
        """Delete root rows and their children; return how many roots went.

        Children with a foreign key go by ``ON DELETE CASCADE``; those without one
        (metric points) by the ids the delete returns, so a batch committed by another
        writer meanwhile never loses its points to this delete.
        """
        fk, children = CHILDREN[table.name]
        unlinked = [child for child in children if not child.foreign_keys]
        if not unlinked:
            return int(conn.execute(sa.delete(table).where(condition)).rowcount)
        if self._delete_returning:
            statement = sa.delete(table).where(condition).returning(table.c.id)
            ids = list(conn.execute(statement).scalars())
        else:
            locked = sa.select(table.c.id).where(condition).with_for_update()
            ids = list(conn.execute(locked).scalars())
            for chunk in _chunks(ids):
                conn.execute(sa.delete(table).where(table.c.id.in_(chunk)))
        for child in unlinked:
            for chunk in _chunks(ids):
                conn.execute(sa.delete(child).where(child.c[fk].in_(chunk)))
        return len(ids)
