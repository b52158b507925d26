"""Documents projected into queryable columns and child rows.

The document column is the truth; projections exist so that SQL can answer questions
(which versions carry tag ``owner=ana``, which artifacts exceed 1 GB) and must never
refuse a document. So every projection is defensive: a field of the wrong type is left
out, a key too long for its column is skipped, and text a database cannot hold (NUL in
PostgreSQL, a lone surrogate anywhere) is stored with those characters escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from registry_backends.sql import schema as s

__all__ = [
    "CHILDREN",
    "CHILD_COLUMNS",
    "Rows",
    "project_children",
    "project_columns",
    "storable",
]

Rows = list[tuple[sa.Table, list[tuple[Any, ...]]]]


def storable(text: str) -> str:
    """``text`` as every database can store it: NUL and lone surrogates escaped."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _fits(value: object, limit: int) -> bool:
    """Whether ``value`` is a string of at most ``limit`` UTF-8 bytes (and encodable)."""
    if not isinstance(value, str):
        return False
    if "\x00" in value:
        return False
    if value.isascii():
        return len(value) <= limit
    try:
        return len(value.encode("utf-8")) <= limit
    except UnicodeEncodeError:
        return False


def _text(value: object, limit: int | None = None) -> str | None:
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        return None
    return storable(value)


def _pairs(doc: Mapping[str, Any], field: str) -> list[tuple[Any, ...]]:
    found = doc.get(field)
    if not isinstance(found, Mapping):
        return []
    return [
        (k, storable(v))
        for k, v in found.items()
        if _fits(k, s.TEXT_KEY_BYTES) and isinstance(v, str)
    ]


# -- root columns -----------------------------------------------------------------------


def _model_columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": _text(doc.get("name"), 255), "deleting": doc.get("deleting") is True}


def _version_columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": _text(doc.get("version"), 255),
        "state": _text(doc.get("state"), 16),
        "deleting": doc.get("deleting") is True,
    }


def _nothing(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {}


# -- child rows (tuples in the child's column order, without the foreign key) ---------------


def _model_children(doc: Mapping[str, Any]) -> Rows:
    aliases = [row for row in _pairs(doc, "aliases") if len(row[1]) <= 255]
    return [(s.model_tags, _pairs(doc, "tags")), (s.aliases, aliases)]


def _artifact_rows(doc: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    found = doc.get("artifacts")
    if not isinstance(found, list):
        return []
    rows = []
    for position, item in enumerate(found):
        if not isinstance(item, Mapping):
            continue
        path, size, sha = item.get("path"), item.get("size"), item.get("sha256")
        if _fits(path, s.PATH_BYTES) and isinstance(size, int) and 0 <= size < 2**63:
            sha_text = _text(sha, 64)
            if sha_text is not None:
                rows.append((position, path, size, sha_text))
    return rows


def _ci_rows(doc: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    job = doc.get("ci_job")
    if not isinstance(job, Mapping):
        return []
    provider, job_id = _text(job.get("provider")), _text(job.get("job_id"))
    if provider is None or job_id is None:
        return []
    fields = ("pipeline_id", "project_url", "commit", "ref", "merge_request")
    return [(provider, job_id, *(_text(job.get(field)) for field in fields))]


def _version_children(doc: Mapping[str, Any]) -> Rows:
    return [
        (s.version_tags, _pairs(doc, "tags")),
        (s.params, _pairs(doc, "params")),
        (s.artifacts, _artifact_rows(doc)),
        (s.ci_links, _ci_rows(doc)),
    ]


def _settings_children(doc: Mapping[str, Any]) -> Rows:
    return [(s.memberships, [row for row in _pairs(doc, "members") if len(row[1]) <= 16])]


_SPECIAL = frozenset({"nan", "inf", "-inf"})
_STEP = range(-(2**63), 2**63)


def _point(batch: int, position: int, point: object) -> tuple[Any, ...] | None:
    """(batch, position, key, value, special, step, logged_at), or None if malformed."""
    if type(point) is not list or len(point) != 4:
        return None
    key, value, step, logged_at = point
    if type(step) is not int or step not in _STEP:
        return None
    if type(logged_at) is not str or len(logged_at) > 40 or not _fits(key, s.TEXT_KEY_BYTES):
        return None
    if type(value) is int:
        try:
            value = float(value)
        except OverflowError:
            return None
    if type(value) is float:
        if math.isfinite(value):
            return (batch, position, key, value, None, step, logged_at)
        return (batch, position, key, None, str(float(value)), step, logged_at)
    if type(value) is str and value in _SPECIAL:
        return (batch, position, key, None, value, step, logged_at)
    return None


def _metric_rows(doc: Mapping[str, Any], batch: int) -> Rows:
    """Built with the foreign key in place: a batch may hold many thousand points."""
    points = doc.get("points")
    if not isinstance(points, list):
        return [(s.metric_points, [])]
    rows = [row for i, p in enumerate(points) if (row := _point(batch, i, p)) is not None]
    return [(s.metric_points, rows)]


def _no_children(doc: Mapping[str, Any]) -> Rows:
    return []


def _columns_after(fk: str, table: sa.Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.columns if column.name != fk)


#: Root table name -> (the children's foreign key column, the child tables).
CHILDREN: dict[str, tuple[str, tuple[sa.Table, ...]]] = {
    "models": ("model_id", (s.model_tags, s.aliases)),
    "versions": ("version_id", (s.version_tags, s.params, s.artifacts, s.ci_links)),
    "settings": ("settings_id", (s.memberships,)),
    "metric_batches": ("batch_id", (s.metric_points,)),
    "documents": ("", ()),
}
#: Child table name -> the columns its projected tuples fill, in order.
CHILD_COLUMNS: dict[str, tuple[str, ...]] = {
    child.name: _columns_after(fk, child)
    for fk, children in CHILDREN.values()
    for child in children
}

_COLUMNS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "models": _model_columns,
    "versions": _version_columns,
}
_ROWS: dict[str, Callable[[Mapping[str, Any]], Rows]] = {
    "models": _model_children,
    "versions": _version_children,
    "settings": _settings_children,
}


def project_columns(table: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The root row's projected columns (besides key, ``rev`` and ``doc``)."""
    return _COLUMNS.get(table, _nothing)(doc)


def project_children(table: str, doc: Mapping[str, Any], row_id: int) -> Rows:
    """Each child table of the root ``row_id`` with the rows ``doc`` gives it: tuples of
    the foreign key, then the columns of `CHILD_COLUMNS`, in order."""
    if table == "metric_batches":
        return _metric_rows(doc, row_id)
    return [
        (child, [(row_id, *row) for row in rows])
        for child, rows in _ROWS.get(table, _no_children)(doc)
    ]
