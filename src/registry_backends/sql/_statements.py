"""Statements built once per table (and listing shape) and reused.

Building a SQLAlchemy statement costs more than running a small one on SQLite, so the
hot paths take a cached statement and pass values as bind parameters: key columns as
``k_<column>``, everything else as ``p_<name>``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import sqlalchemy as sa

from registry_backends.sql import schema as s

__all__ = [
    "PROJECTED",
    "count_level",
    "find_id",
    "get_row",
    "get_row_locked",
    "key_params",
    "level",
    "swap",
]

#: Root columns filled from the document (besides the key, ``rev`` and ``doc``).
PROJECTED: dict[str, tuple[str, ...]] = {
    "models": ("name", "deleting"),
    "versions": ("version", "state", "deleting"),
}
_KEYS: dict[str, tuple[str, ...]] = {
    "settings": ("singleton",),
    "models": ("model_key",),
    "versions": ("model_key", "precedence_key"),
    "metric_batches": ("model_key", "precedence_key", "batch_key"),
    "documents": ("parent", "name"),
}


def key_params(where: Mapping[str, object]) -> dict[str, object]:
    """Bind parameters for the key columns ``where`` names."""
    return {f"k_{column}": value for column, value in where.items()}


def _key_clause(table: sa.Table, columns: tuple[str, ...]) -> list[sa.ColumnElement[bool]]:
    return [table.c[column] == sa.bindparam(f"k_{column}") for column in columns]


@functools.cache
def get_row(table: sa.Table) -> sa.Select:  # type: ignore[type-arg]
    """``id, rev, doc`` of the row with the given key."""
    return sa.select(table.c.id, table.c.rev, table.c.doc).where(
        *_key_clause(table, _KEYS[table.name])
    )


@functools.cache
def get_row_locked(table: sa.Table) -> sa.Select:  # type: ignore[type-arg]
    """`get_row` with a shared row lock (``FOR SHARE``; SQLite's write lock covers it)."""
    return get_row(table).with_for_update(read=True)


@functools.cache
def find_id(table: sa.Table) -> sa.Select:  # type: ignore[type-arg]
    """``id`` of the row with the given key (does it exist?)."""
    return sa.select(table.c.id).where(*_key_clause(table, _KEYS[table.name]))


@functools.cache
def swap(table: sa.Table) -> sa.Update:
    """Compare-and-swap: ``SET rev = rev + 1, doc = :p_doc ... WHERE key AND id AND rev``."""
    values: dict[str, object] = {"rev": table.c.rev + 1, "doc": sa.bindparam("p_doc")}
    values.update({c: sa.bindparam(f"p_{c}") for c in PROJECTED.get(table.name, ())})
    return (
        sa.update(table)
        .where(
            *_key_clause(table, _KEYS[table.name]),
            table.c.id == sa.bindparam("p_id"),
            table.c.rev == sa.bindparam("p_rev"),
        )
        .values(values)
    )


@functools.cache
def level(
    table: sa.Table,
    fixed: tuple[str, ...],
    segment: str,
    *,
    after: str | None,
    before: bool,
    starts: str | None,
    reverse: bool,
    limited: bool,
) -> sa.Select:  # type: ignore[type-arg]
    """One level of a listing in segment order: ``fixed`` columns equal ``k_*``;
    ``after`` is ``">"`` or ``">="`` against ``p_after``; ``before`` is ``< p_before``;
    ``starts`` is ``"range"`` (``p_low <= seg < p_high``) or ``"from"`` (``>= p_low``)."""
    column = table.c[segment]
    conditions = _key_clause(table, fixed)
    if after == ">":
        conditions.append(column > sa.bindparam("p_after"))
    elif after == ">=":
        conditions.append(column >= sa.bindparam("p_after"))
    if before:
        conditions.append(column < sa.bindparam("p_before"))
    if starts is not None:
        conditions.append(column >= sa.bindparam("p_low"))
        if starts == "range":
            conditions.append(column < sa.bindparam("p_high"))
    query = (
        sa.select(column, table.c.id, table.c.rev, table.c.doc)
        .where(*conditions)
        .order_by(column.desc() if reverse else column.asc())
    )
    return query.limit(sa.bindparam("p_limit", type_=sa.Integer())) if limited else query


@functools.cache
def count_level(table: sa.Table, fixed: tuple[str, ...]) -> sa.Select:  # type: ignore[type-arg]
    """How many rows have the ``fixed`` columns equal to ``k_*`` and are not ``deleting``
    (a table with the projected ``deleting`` column only)."""
    return (
        sa.select(sa.func.count())
        .select_from(table)
        .where(*_key_clause(table, fixed), table.c.deleting == sa.false())
    )


#: The tables that have statements here (all root tables).
ROOTS = tuple(s.metadata.tables[name] for name in _KEYS)
