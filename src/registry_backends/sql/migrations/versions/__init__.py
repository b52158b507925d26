"""One module per schema revision, in `registry_backends.sql.schema.REVISIONS` order."""
