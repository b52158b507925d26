"""The SQL backend: SQLite, PostgreSQL and MySQL/MariaDB through SQLAlchemy Core.

``open_registry("sqlite:///reg.db")`` or ``open_sql(url)``; server databases take their
artifact store as ``?artifacts=<folder or fsspec URL>``. See `SqlRepository` for the
transaction design, `registry_backends.sql.schema` for the tables, and `upgrade` /
`current_revision` for schema migrations (``modelreg db upgrade URL``).
"""

from __future__ import annotations

from typing import Any

from registry_backends.sql._blobs import blob_store_opener
from registry_backends.sql._engine import make_engine, parse_url
from registry_backends.sql._migrate import current_revision, prepare, upgrade
from registry_backends.sql.repository import SqlRepository
from registry_backends.sql.schema import HEAD, REVISIONS

__all__ = ["HEAD", "REVISIONS", "SqlRepository", "current_revision", "open_sql", "upgrade"]


def open_sql(
    url: str, *, upgrade: bool = False, artifacts: str | None = None, **options: Any
) -> SqlRepository:
    """Open the registry in the database at ``url``, creating its tables if it is empty.

    ``artifacts`` (or ``?artifacts=`` in the URL) is where blobs go; SQLite defaults to
    ``<database>.artifacts`` beside the file. An ``s3://`` or ``gs://`` artifact store
    takes the other keywords as `open_s3` / `open_gcs` do (``endpoint_url``, credentials,
    ``part_size``...); without them its driver finds them itself (``AWS_ENDPOINT_URL``,
    ``STORAGE_EMULATOR_HOST``, profiles...). Other stores take none. A database at an older
    schema revision is refused with `SchemaError` unless ``upgrade=True``; one that holds
    other tables is refused with `InvalidInput` and left untouched.
    """
    target = parse_url(url, artifacts)
    open_blobs = blob_store_opener(target.artifacts, **options)  # refuses bad options first
    engine = make_engine(target)
    try:
        prepare(engine, target, upgrade=upgrade)
        blobs = open_blobs()
    except BaseException:
        engine.dispose()
        raise
    return SqlRepository(engine, target, blobs)
