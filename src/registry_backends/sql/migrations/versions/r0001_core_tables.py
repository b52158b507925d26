"""The core tables: root rows with documents, their projections, and ``documents``.

Revision ID: 0001_core_tables
Revises: -
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from registry_backends.sql._types import MYSQL_OPTIONS, id_type, key_type, long_text

revision = "0001_core_tables"
down_revision = None
branch_labels = None
depends_on = None


def _root(name: str, *columns: Any) -> None:
    op.create_table(
        name,
        sa.Column("id", id_type(), autoincrement=True, nullable=False),
        *columns,
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("doc", long_text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sqlite_autoincrement=True,
        **MYSQL_OPTIONS,
    )


def _child(name: str, parent: str | None, fk: str, *columns: Any, **options: Any) -> None:
    link = (
        []
        if parent is None
        else [
            sa.ForeignKeyConstraint(
                [fk], [f"{parent}.id"], name=f"fk_{name}_{fk}", ondelete="CASCADE"
            )
        ]
    )
    op.create_table(
        name,
        sa.Column(fk, id_type(), nullable=False),
        *columns,
        *link,
        **MYSQL_OPTIONS,
        **options,
    )


def _pairs(name: str, parent: str, fk: str, key: str, value: sa.types.TypeEngine[Any]) -> None:
    _child(
        name,
        parent,
        fk,
        sa.Column(key, key_type(1020), nullable=False),
        sa.Column("value" if key == "key" else "version", value, nullable=False),
        sa.PrimaryKeyConstraint(fk, key, name=f"pk_{name}"),
    )


def upgrade() -> None:
    _root(
        "models",
        sa.Column("model_key", key_type(512), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("deleting", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("model_key", name="uq_models_model_key"),
    )
    _pairs("model_tags", "models", "model_id", "key", sa.Text())
    _pairs("aliases", "models", "model_id", "alias", sa.String(255))
    _root(
        "versions",
        sa.Column("model_key", key_type(512), nullable=False),
        sa.Column("precedence_key", key_type(1024), nullable=False),
        sa.Column("version", sa.String(255)),
        sa.Column("state", sa.String(16)),
        sa.Column("deleting", sa.Boolean(), nullable=False),
        sa.UniqueConstraint(
            "model_key", "precedence_key", name="uq_versions_model_key_precedence_key"
        ),
    )
    _pairs("version_tags", "versions", "version_id", "key", sa.Text())
    _pairs("params", "versions", "version_id", "key", sa.Text())
    _child(
        "artifacts",
        "versions",
        "version_id",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("path", key_type(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "position", name="pk_artifacts"),
    )
    _root(
        "settings",
        sa.Column("singleton", sa.Integer(), nullable=False),
        sa.UniqueConstraint("singleton", name="uq_settings_singleton"),
    )
    _child(
        "memberships",
        "settings",
        "settings_id",
        sa.Column("user", key_type(1020), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("settings_id", "user", name="pk_memberships"),
    )
    _root(
        "metric_batches",
        sa.Column("model_key", key_type(512), nullable=False),
        sa.Column("precedence_key", key_type(1024), nullable=False),
        sa.Column("batch_key", key_type(255), nullable=False),
        sa.UniqueConstraint(
            "model_key",
            "precedence_key",
            "batch_key",
            name="uq_metric_batches_model_key_precedence_key_batch_key",
        ),
    )
    _child(  # no foreign key: the repository deletes a batch's points itself
        "metric_points",
        None,
        "batch_id",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", key_type(1020), nullable=False),
        sa.Column("value", sa.Double()),
        sa.Column("special", sa.String(8)),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("logged_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "position", name="pk_metric_points"),
        sqlite_with_rowid=False,
    )
    _root(
        "documents",
        sa.Column("parent", key_type(1536), nullable=False),
        sa.Column("name", key_type(1024), nullable=False),
        sa.UniqueConstraint("parent", "name", name="uq_documents_parent_name"),
    )


def downgrade() -> None:
    for name in (
        "documents",
        "metric_points",
        "metric_batches",
        "memberships",
        "settings",
        "artifacts",
        "params",
        "version_tags",
        "versions",
        "aliases",
        "model_tags",
        "models",
    ):
        op.drop_table(name)
