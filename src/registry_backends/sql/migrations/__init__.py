"""Alembic scripts of the SQL backend; `registry_backends.sql.upgrade` runs them."""
