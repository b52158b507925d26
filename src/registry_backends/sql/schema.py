"""The tables of a SQL registry (SQLAlchemy Core), as of the newest migration (`HEAD`).

Every document the Registry writes lands in one *root* row that keeps the whole document
as JSON text (``doc``, read back in one query) and a revision counter (``rev``, the etag
with the row ``id``). *Child* tables project the document into rows you can query
(tags, parameters, artifacts, aliases, CI links, memberships, metric points); they are
rewritten in the same transaction as every write of their root and removed with it
(``ON DELETE CASCADE``). Keys the Registry does not use go to ``documents``.

==================  ===================================  ===============================
root table          protocol key                         children
==================  ===================================  ===============================
``models``          ``("models", model_key)``            ``model_tags``, ``aliases``
``versions``        ``("versions", model_key, prec)``    ``version_tags``, ``params``,
                                                         ``artifacts``, ``ci_links``
``settings``        ``("settings",)``                    ``memberships``
``metric_batches``  ``("metrics", model, prec, id)``     ``metric_points``
``documents``       any other key                        --
==================  ===================================  ===============================

The column sizes hold the largest values the core accepts (names and versions of 255
characters, keys of 255, values of 5,000, paths of 1,024 bytes); key columns are sized in
UTF-8 bytes and sort by code point (see `registry_backends.sql._types`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import SchemaItem

from registry_backends.sql._types import MYSQL_OPTIONS, NAMING, id_type, key_type, long_text

__all__ = [
    "BATCH_KEY_BYTES",
    "HEAD",
    "MODEL_KEY_BYTES",
    "NAME_BYTES",
    "PARENT_BYTES",
    "PRECEDENCE_KEY_BYTES",
    "REVISIONS",
    "TEXT_KEY_BYTES",
    "VERSION_TABLE",
    "metadata",
]

#: Alembic revisions in order; the last is what this code reads and writes.
REVISIONS = ("0001_core_tables", "0002_ci_links")
HEAD = REVISIONS[-1]
#: Alembic's version table, named so that it never meets another application's.
VERSION_TABLE = "modelreg_alembic_version"

MODEL_KEY_BYTES = 512  # a model name's key: 255 ASCII characters
PRECEDENCE_KEY_BYTES = 1024  # a 255-character version's key is at most ~510
BATCH_KEY_BYTES = 255  # a metric batch id: 33 characters
TEXT_KEY_BYTES = 1020  # a tag/param/metric key, alias or user: 255 characters of UTF-8
PATH_BYTES = 1024  # an artifact path, as the core limits it
PARENT_BYTES = 1536  # `documents`: the key minus its last segment, joined
NAME_BYTES = 1024  # `documents`: the key's last segment

metadata = sa.MetaData(naming_convention=NAMING)


def _root(name: str, *columns: SchemaItem) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        *columns,
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("doc", long_text(), nullable=False),
        sqlite_autoincrement=True,  # ids are never reused: an etag names one incarnation
        **MYSQL_OPTIONS,
    )


def _child(
    name: str, parent: str | None, fk: str, *columns: SchemaItem, **options: Any
) -> sa.Table:
    """A child table; ``parent`` None: no foreign key (the code deletes its rows)."""
    link = [] if parent is None else [sa.ForeignKey(f"{parent}.id", ondelete="CASCADE")]
    return sa.Table(
        name,
        metadata,
        sa.Column(fk, id_type(), *link, nullable=False),
        *columns,
        **MYSQL_OPTIONS,
        **options,
    )


models = _root(
    "models",
    sa.Column("model_key", key_type(MODEL_KEY_BYTES), nullable=False),
    sa.Column("name", sa.String(255)),
    sa.Column("deleting", sa.Boolean(), nullable=False),
    sa.UniqueConstraint("model_key"),
)
model_tags = _child(
    "model_tags",
    "models",
    "model_id",
    sa.Column("key", key_type(TEXT_KEY_BYTES), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("model_id", "key"),
)
aliases = _child(
    "aliases",
    "models",
    "model_id",
    sa.Column("alias", key_type(TEXT_KEY_BYTES), nullable=False),
    sa.Column("version", sa.String(255), nullable=False),
    sa.PrimaryKeyConstraint("model_id", "alias"),
)

versions = _root(
    "versions",
    sa.Column("model_key", key_type(MODEL_KEY_BYTES), nullable=False),
    sa.Column("precedence_key", key_type(PRECEDENCE_KEY_BYTES), nullable=False),
    sa.Column("version", sa.String(255)),
    sa.Column("state", sa.String(16)),
    sa.Column("deleting", sa.Boolean(), nullable=False),
    # The index "latest" and ranges walk: ORDER BY precedence_key DESC LIMIT n.
    sa.UniqueConstraint("model_key", "precedence_key"),
)
version_tags = _child(
    "version_tags",
    "versions",
    "version_id",
    sa.Column("key", key_type(TEXT_KEY_BYTES), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("version_id", "key"),
)
params = _child(
    "params",
    "versions",
    "version_id",
    sa.Column("key", key_type(TEXT_KEY_BYTES), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("version_id", "key"),
)
artifacts = _child(
    "artifacts",
    "versions",
    "version_id",
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("path", key_type(PATH_BYTES), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.PrimaryKeyConstraint("version_id", "position"),
)
ci_links = _child(  # revision 0002
    "ci_links",
    "versions",
    "version_id",
    sa.Column("provider", sa.Text(), nullable=False),
    sa.Column("job_id", sa.Text(), nullable=False),
    sa.Column("pipeline_id", sa.Text()),
    sa.Column("project_url", sa.Text()),
    sa.Column("commit_sha", sa.Text()),
    sa.Column("ref", sa.Text()),
    sa.Column("merge_request", sa.Text()),
    sa.PrimaryKeyConstraint("version_id"),
)

settings = _root(
    "settings",
    sa.Column("singleton", sa.Integer(), nullable=False),  # always 1: one settings row
    sa.UniqueConstraint("singleton"),
)
memberships = _child(
    "memberships",
    "settings",
    "settings_id",
    sa.Column("user", key_type(TEXT_KEY_BYTES), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.PrimaryKeyConstraint("settings_id", "user"),
)

metric_batches = _root(
    "metric_batches",
    sa.Column("model_key", key_type(MODEL_KEY_BYTES), nullable=False),
    sa.Column("precedence_key", key_type(PRECEDENCE_KEY_BYTES), nullable=False),
    sa.Column("batch_key", key_type(BATCH_KEY_BYTES), nullable=False),
    sa.UniqueConstraint("model_key", "precedence_key", "batch_key"),
)
# Metric points are the one table that grows by thousands of rows per call, so it carries
# nothing a batch insert does not need: no foreign key (checking one per point doubles the
# cost of a batch on PostgreSQL; the repository deletes a batch's points in the transaction
# that deletes the batch), no secondary index, and on SQLite no rowid (the primary key is
# the table, as InnoDB does anyway).
metric_points = _child(
    "metric_points",
    None,
    "batch_id",
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("key", key_type(TEXT_KEY_BYTES), nullable=False),
    sa.Column("value", sa.Double()),  # NULL when not finite: see `special`
    sa.Column("special", sa.String(8)),  # "nan", "inf", "-inf" (MySQL has no such doubles)
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("logged_at", sa.String(40), nullable=False),  # UTC ISO-8601, sorts as text
    sa.PrimaryKeyConstraint("batch_id", "position"),
    sqlite_with_rowid=False,
)

documents = _root(
    "documents",
    sa.Column("parent", key_type(PARENT_BYTES), nullable=False),
    sa.Column("name", key_type(NAME_BYTES), nullable=False),
    sa.UniqueConstraint("parent", "name"),
)
