"""Settings of the ``[storage]`` table."""

from __future__ import annotations

from narrative_tracker.configmodel import Section


class StorageSettings(Section):
    #: SQLAlchemy URL; default ``sqlite:///<home>/tracker.db``. Overridden by NARRATIVE_TRACKER_DATABASE_URL.
    database_url: str | None = None
    #: Days of crawled article text kept; older article bodies are pruned by the retention job (0 keeps all).
    keep_article_text_days: int = 365
