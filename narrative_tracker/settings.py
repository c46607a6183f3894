"""Loading and validating the settings: one TOML file plus environment overrides.

Order, last wins: built-in defaults, the TOML file (``--config``, else NARRATIVE_TRACKER_CONFIG,
else ``<home>/config.toml`` when it exists), then environment variables:

- NARRATIVE_TRACKER_HOME: the data directory, over ``[storage] data_dir`` (see ``data_directory``);
- NARRATIVE_TRACKER_DATABASE_URL: ``[storage] database_url``;
- NARRATIVE_TRACKER_SMTP_PASSWORD: the SMTP password (never read from the file);
- NARRATIVE_TRACKER__<SECTION>__<KEY>=<TOML value>: any other key, e.g.
  ``NARRATIVE_TRACKER__CRAWLER__DOWNLOAD_DELAY=0.5``.

Relative paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from narrative_tracker.classifier.config import ClassifierSettings
from narrative_tracker.configmodel import Section
from narrative_tracker.crawler.config import CrawlerSettings
from narrative_tracker.errors import ConfigError
from narrative_tracker.jobs.config import (
    JobSettings,
    QueueSettings,
    RetentionSettings,
    ServiceSettings,
    merge_job_tables,
)
from narrative_tracker.storage.config import StorageSettings
from narrative_tracker.trends.config import AlertSettings, DigestSettings

ENV_PREFIX = "NARRATIVE_TRACKER_"


class WebSettings(Section):
    """``[web]``: the web app (``narrative-tracker web``). Declared here rather than in the web
    package, which sits above the settings in the import layers."""

    bind: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    #: The public address behind a reverse proxy, e.g. https://tracker.example.org; an https
    #: address makes the session cookie Secure.
    base_url: str | None = None
    session_hours: float = Field(default=12, gt=0, le=24 * 30)

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("write an absolute http:// or https:// address")
        return value.rstrip("/")

SECTIONS: dict[str, type[BaseModel]] = {
    "storage": StorageSettings,
    "crawler": CrawlerSettings,
    "classifier": ClassifierSettings,
    "service": ServiceSettings,
    "digest": DigestSettings,
    "alerts": AlertSettings,
    "retention": RetentionSettings,
    "queue": QueueSettings,
    "web": WebSettings,
}


def default_home() -> Path:
    """The data directory when no settings file says otherwise: NARRATIVE_TRACKER_HOME, else the
    platform's user data directory (where ``<home>/config.toml`` is looked for)."""
    env = os.environ.get(ENV_PREFIX + "HOME")
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir("narrative-tracker", appauthor=False))


def data_directory(configured: Path | None, config_file: Path | None) -> tuple[Path, str]:
    """(data directory, what decided it), first found wins: NARRATIVE_TRACKER_HOME, ``[storage]
    data_dir``, the folder of the settings file, the platform's user data directory.

    The settings file's folder is the default so that a file names everything it needs: the demo's
    ``--config`` alone, a systemd unit or a worker on another machine find the models that belong
    to the database the file names.
    """
    if os.environ.get(ENV_PREFIX + "HOME"):
        return default_home(), f"the environment variable {ENV_PREFIX}HOME"
    if configured is not None:
        where = f" in {config_file}" if config_file else ""
        return configured.expanduser().resolve(), f"[storage] data_dir{where}"
    if config_file is not None:
        return config_file.parent, (
            f"the folder of the settings file {config_file} (set [storage] data_dir or {ENV_PREFIX}HOME to change it)"
        )
    return default_home(), (
        f"the platform's default (set {ENV_PREFIX}HOME, or [storage] data_dir in a settings file, to change it)"
    )


@dataclass(frozen=True)
class Settings:
    """Validated settings with every path made absolute."""

    #: The data directory (``[storage] data_dir`` resolved): models, locks, the default database.
    home: Path
    config_file: Path | None
    storage: StorageSettings
    crawler: CrawlerSettings
    classifier: ClassifierSettings
    service: ServiceSettings
    digest: DigestSettings
    alerts: AlertSettings
    retention: RetentionSettings
    queue: QueueSettings = field(default_factory=QueueSettings)
    web: WebSettings = field(default_factory=WebSettings)
    jobs: dict[str, JobSettings] = field(default_factory=dict)
    smtp_password: str | None = field(default=None, repr=False)
    #: What decided ``home``, for messages about files missing from it.
    home_origin: str = ""

    @property
    def data_dir(self) -> Path:
        return self.home

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.home / 'tracker.db'}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def sources_file(self) -> Path:
        from narrative_tracker.crawler.sources import DEFAULT_SOURCES_FILE

        return self.crawler.sources or DEFAULT_SOURCES_FILE

    @property
    def taxonomy_file(self) -> Path:
        from narrative_tracker.classifier.taxonomy import DEFAULT_TAXONOMY_FILE

        return self.classifier.taxonomy or DEFAULT_TAXONOMY_FILE


def _config_path(explicit: str | os.PathLike[str] | None, home: Path) -> Path | None:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    if env:
        return Path(env).expanduser().resolve()
    candidate = home / "config.toml"
    return candidate if candidate.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist: create it with `narrative-tracker init --config {path}`"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _env_overrides(raw: dict[str, Any]) -> None:
    url = os.environ.get(ENV_PREFIX + "DATABASE_URL")
    if url:
        raw.setdefault("storage", {})["database_url"] = url
    for name, value in os.environ.items():
        if not name.startswith(ENV_PREFIX + "_"):
            continue
        parts = name[len(ENV_PREFIX) + 1 :].lower().split("__")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"environment variable {name}: write {ENV_PREFIX}_<SECTION>__<KEY>")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value  # a bare word is taken as a string
        table = raw
        for part in parts[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"environment variable {name}: {part!r} is not a table")
        table[parts[-1]] = parsed


def _describe(error: ErrorDetails, section: str) -> str:
    where = ".".join(str(p) for p in (section, *error["loc"]))
    if error["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if error["type"] == "missing":
        return f"missing key {where!r}"
    value = error.get("input")
    shown = f" (got {value!r})" if not isinstance(value, dict) else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}{shown}"


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make relative paths in the file relative to the file's folder."""
    for section, key in (("crawler", "sources"), ("classifier", "taxonomy"), ("storage", "data_dir")):
        value = raw.get(section, {}).get(key)
        if isinstance(value, str) and value:
            raw[section][key] = str((base / value).expanduser())
    folder = raw.get("digest", {}).get("folder")
    if isinstance(folder, dict) and isinstance(folder.get("path"), str):
        folder["path"] = str((base / folder["path"]).expanduser())
    url = raw.get("storage", {}).get("database_url")
    # sqlite:///relative.db is relative to the config file as well; sqlite:////abs stays absolute.
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///") :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            raw["storage"]["database_url"] = f"sqlite:///{(base / rest).resolve()}"


def load_settings(config: str | os.PathLike[str] | None = None) -> Settings:
    """Read, merge and validate the settings; raise ConfigError naming the file and key at fault."""
    path = _config_path(config, default_home())
    raw: dict[str, Any] = _read_toml(path) if path else {}
    where = str(path) if path else "settings"
    if path:
        _resolve_paths(raw, path.parent)
    _env_overrides(raw)

    unknown = sorted(set(raw) - set(SECTIONS) - {"jobs"})
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}]; sections are: {', '.join([*SECTIONS, 'jobs'])}")
    values: dict[str, Any] = {}
    for section, model in SECTIONS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        try:
            values[section] = model.model_validate(table)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_describe(exc.errors()[0], section)}") from None
    home, home_origin = data_directory(values["storage"].data_dir, path)
    folder = values["digest"].folder
    if path is None and folder is not None and not folder.path.is_absolute():
        # A folder set by the environment alone is relative to the data directory.
        moved = folder.model_copy(update={"path": home / folder.path})
        values["digest"] = values["digest"].model_copy(update={"folder": moved})
    try:
        merged = merge_job_tables(raw.get("jobs", {}))
    except ValueError as exc:
        raise ConfigError(f"{where}: [jobs] {exc}") from None
    jobs: dict[str, JobSettings] = {}
    for name, table in merged.items():
        try:
            jobs[name] = JobSettings.model_validate(table)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_describe(exc.errors()[0], f'jobs.{name}')}") from None
    settings = Settings(
        home=home,
        config_file=path,
        jobs=jobs,
        smtp_password=os.environ.get(ENV_PREFIX + "SMTP_PASSWORD") or None,
        home_origin=home_origin,
        **values,
    )
    if settings.queue.broker_url and settings.database_url.startswith("sqlite"):
        raise ConfigError(
            f"{where}: [queue] broker_url is set but the database is SQLite ({settings.database_url}): "
            "workers on several machines share one PostgreSQL database; set [storage] database_url to "
            "postgresql+psycopg://... or leave broker_url empty to run crawl and classify embedded"
        )
    return settings
