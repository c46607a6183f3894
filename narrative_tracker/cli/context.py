"""What every command shares: the settings and the database, each loaded on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database


@dataclass
class AppContext:
    config_path: str | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _database: Database | None = field(default=None, init=False, repr=False)

    @property
    def settings(self) -> Settings:
        """Validated settings; a ConfigError (exit 2) names the file and key at fault."""
        if self._settings is None:
            from narrative_tracker.settings import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def database(self) -> Database:
        """The configured database, created and migrated on first use."""
        if self._database is None:
            from narrative_tracker.storage.database import open_database

            self._database = open_database(self.settings.database_url)
        return self._database

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()
            self._database = None
