"""Alembic environment: runs on a connection handed in by storage.database, or on the ini's URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from narrative_tracker.storage.models import Base
from narrative_tracker.storage.search import include_in_schema_comparison

config = context.config
target_metadata = Base.metadata


def run_on(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        # The full-text index (migration 0007) is not in the models: autogenerate must not drop it.
        include_name=include_in_schema_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        run_on(conn)
