"""CI links as rows, backfilled from the version documents.

Revision ID: 0002_ci_links
Revises: 0001_core_tables

Before this revision a version's CI job lived only in its document; now ``ci_links``
holds one row per linked version, so "which versions did pipeline 1234 build" is a query.
The backfill reads every version document once, in pages of 1,000.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

from registry_backends.sql._types import MYSQL_OPTIONS, id_type, long_text

revision = "0002_ci_links"
down_revision = "0001_core_tables"
branch_labels = None
depends_on = None

_PAGE = 1000
_FIELDS = ("pipeline_id", "project_url", "ref", "merge_request")


def _row(version_id: int, doc_text: str) -> dict[str, Any] | None:
    """The ``ci_links`` row of one version document, as this revision projects it."""
    try:
        job = json.loads(doc_text).get("ci_job")
    except (ValueError, AttributeError):
        return None
    if not isinstance(job, Mapping):
        return None
    if not isinstance(job.get("provider"), str) or not isinstance(job.get("job_id"), str):
        return None
    row = {"version_id": version_id, "provider": job["provider"], "job_id": job["job_id"]}
    for field in _FIELDS:
        value = job.get(field)
        row[field] = value if isinstance(value, str) else None
    commit = job.get("commit")
    row["commit_sha"] = commit if isinstance(commit, str) else None
    return row


def upgrade() -> None:
    ci_links = op.create_table(
        "ci_links",
        sa.Column("version_id", id_type(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("pipeline_id", sa.Text()),
        sa.Column("project_url", sa.Text()),
        sa.Column("commit_sha", sa.Text()),
        sa.Column("ref", sa.Text()),
        sa.Column("merge_request", sa.Text()),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_ci_links_version_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("version_id", name="pk_ci_links"),
        **MYSQL_OPTIONS,
    )
    versions = sa.table("versions", sa.column("id", id_type()), sa.column("doc", long_text()))
    bind = op.get_bind()
    last = -1
    while True:
        page = bind.execute(
            sa.select(versions.c.id, versions.c.doc)
            .where(versions.c.id > last)
            .order_by(versions.c.id)
            .limit(_PAGE)
        ).all()
        rows = [row for version_id, doc in page if (row := _row(version_id, doc)) is not None]
        if rows:
            bind.execute(ci_links.insert(), rows)
        if len(page) < _PAGE:
            return
        last = page[-1][0]


def downgrade() -> None:
    op.drop_table("ci_links")
