"""The sources catalogue: outlets, their group, languages, feeds and allowed domains.

A TOML file with one ``[[source]]`` table per outlet. The shipped default is
``crawler/data/sources.toml``; ``[crawler] sources`` points at another one.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from narrative_tracker.configmodel import Section
from narrative_tracker.errors import ConfigError
from narrative_tracker.vocabulary import GROUPS

#: A public channel's user name: letters, digits and underscores (Telegram asks for 5 to 32; older ones are shorter).
CHANNEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,63}")
DEFAULT_SOURCES_FILE = Path(__file__).resolve().parent / "data" / "sources.toml"


def _http_url(value: str, what: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{what} {value!r} is not an http(s) URL")
    return value


class Listing(Section):
    """Listing pages of an outlet without feeds: start URLs and a CSS selector for article links."""

    urls: list[str] = Field(min_length=1)
    selector: str = Field(min_length=1)

    @field_validator("urls")
    @classmethod
    def _urls(cls, values: list[str]) -> list[str]:
        return [_http_url(v, "listing URL") for v in values]


class SourceSpec(Section):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)
    name: str = Field(min_length=1)
    group: str
    country: str = Field(min_length=2, max_length=8)
    languages: list[str] = Field(min_length=1)
    feeds: list[str] = Field(default_factory=list)
    #: Host names whose pages may be fetched for this outlet (the port is ignored).
    domains: list[str] = Field(min_length=1)
    sitemaps: list[str] = Field(default_factory=list)
    listing: Listing | None = None
    #: Public Telegram channels of the outlet (user names, as in ``t.me/NAME``).
    telegram: list[str] = Field(default_factory=list)

    @field_validator("group")
    @classmethod
    def _known_group(cls, value: str) -> str:
        if value not in GROUPS:
            raise ValueError(f"{value!r} is not a source group: write one of {', '.join(GROUPS)}")
        return value

    @field_validator("feeds", "sitemaps")
    @classmethod
    def _urls(cls, values: list[str]) -> list[str]:
        return [_http_url(v, "URL") for v in values]

    @field_validator("domains")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            host = value.strip().lower().rstrip(".")
            if not host or "/" in host or ":" in host.strip("[]"):
                raise ValueError(f"{value!r} is not a host name (write 'example.org', without scheme or port)")
            cleaned.append(host)
        return cleaned

    @field_validator("telegram")
    @classmethod
    def _channels(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            name = value.strip().removeprefix("@")
            if not CHANNEL_NAME.fullmatch(name):
                raise ValueError(
                    f"{value!r} is not a Telegram channel name (write the name of t.me/NAME, for example 'tass_agency')"
                )
            cleaned.append(name)
        return cleaned

    @model_validator(mode="after")
    def _has_entry_point(self) -> SourceSpec:
        if not (self.feeds or self.sitemaps or self.listing or self.telegram):
            raise ValueError("give at least one of feeds, sitemaps, listing or telegram")
        return self


def _where(error: ErrorDetails) -> str:
    loc = [str(p) for p in error["loc"]]
    return ".".join(loc) if loc else "source"


def load_sources(path: Path) -> list[SourceSpec]:
    """Read and validate a catalogue; ConfigError names the file, the source slug and the field."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"sources catalogue {path} does not exist: fix [crawler] sources") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sources catalogue {path}: not valid TOML: {exc}") from None
    extra = sorted(set(raw) - {"source"})
    if extra:
        raise ConfigError(f"sources catalogue {path}: unknown top-level key {extra[0]!r}; write [[source]] tables")
    tables = raw.get("source", [])
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"sources catalogue {path}: no [[source]] table")
    sources: list[SourceSpec] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        label = f"source {table.get('slug')!r}" if isinstance(table.get("slug"), str) else f"source #{index}"
        try:
            spec = SourceSpec.model_validate(table)
        except ValidationError as exc:
            error = exc.errors()[0]
            kind = "unknown field" if error["type"] == "extra_forbidden" else "field"
            value = error.get("input")
            shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
            reason = str(error["msg"]).removeprefix("Value error, ")
            message = "" if error["type"] == "extra_forbidden" else f": {reason}{shown}"
            raise ConfigError(f"sources catalogue {path}: {label}: {kind} {_where(error)!r}{message}") from None
        if spec.slug in seen:
            raise ConfigError(f"sources catalogue {path}: slug {spec.slug!r} appears twice")
        seen.add(spec.slug)
        sources.append(spec)
    return sources
