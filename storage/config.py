"""Settings of the ``[storage]`` table."""

from __future__ import annotations

from pydantic import Field

from narrative_tracker.configmodel import Section


class StorageSettings(Section):
    #: SQLAlchemy URL; default ``sqlite:///<home>/tracker.db``. Overridden by NARRATIVE_TRACKER_DATABASE_URL.
    #: Left out of repr(): the URL may hold a password (render it with render_as_string()).
    database_url: str | None = Field(default=None, repr=False)
    #: Days of crawled article text kept; older article bodies are pruned by the retention job (0 keeps all).
    keep_article_text_days: int = 365
