"""Settings of the ``[storage]`` table."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from narrative_tracker.configmodel import Section


class StorageSettings(Section):
    #: The data directory: models, locks, the default SQLite database and anything else the app keeps.
    #: Default: the folder of the settings file when one is given (--config or
    #: NARRATIVE_TRACKER_CONFIG), else the platform's user data directory. A relative path is
    #: relative to the settings file. NARRATIVE_TRACKER_HOME overrides it.
    data_dir: Path | None = None
    #: SQLAlchemy URL; default ``sqlite:///<data_dir>/tracker.db``. Overridden by NARRATIVE_TRACKER_DATABASE_URL.
    #: Left out of repr(): the URL may hold a password (render it with render_as_string()).
    database_url: str | None = Field(default=None, repr=False)
    #: Days of crawled article text kept; older article bodies are pruned by the retention job (0 keeps all).
    keep_article_text_days: int = 365
