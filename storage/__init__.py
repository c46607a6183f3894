"""Storage: SQLAlchemy models, engine and sessions, queries, Alembic migrations."""

from narrative_tracker.storage.database import Database, open_database

__all__ = ["Database", "open_database"]
