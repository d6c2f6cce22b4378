"""Alembic's environment: the catalog's metadata, and the connection the catalog passes in
(`config.attributes["connection"]`), or `VIDRAG_DATABASE_URL` on the alembic command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from indexer.catalog.schema import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters a table by copying it; batch mode does that for it
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from indexer.catalog.db import make_engine
    from indexer.service_settings import ServiceSettings

    engine = make_engine(ServiceSettings().db_url())
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
