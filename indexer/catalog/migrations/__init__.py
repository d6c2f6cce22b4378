"""Alembic migrations of the catalog's schema, run by `CatalogDB.create_all` at start-up.

    env.py                      Alembic's entry: the catalog's metadata, the caller's connection
    versions/r0001_baseline.py  the schema of the last release made by `create_all`
    versions/r0002_*.py         every change since, one revision each

Add a revision after changing `indexer/catalog/schema.py`:
`.venv/bin/alembic -c indexer/catalog/migrations/alembic.ini revision -m "what changed"`
(with `VIDRAG_DATABASE_URL` set to a database at head, `--autogenerate` drafts it)."""
