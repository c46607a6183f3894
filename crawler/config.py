"""Settings of the ``[crawler]`` table (keys ``sources`` to ``user_agent`` are a public contract)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from narrative_tracker.configmodel import Section

DEFAULT_USER_AGENT = "NarrativeTracker/0.1 (+https://github.com/narrative-tracker/narrative-tracker; research crawler)"


class CrawlerSettings(Section):
    #: Sources catalogue (TOML); default: the catalogue shipped in ``crawler/data/sources.toml``.
    sources: Path | None = None
    #: Lets loopback and private addresses be crawled (tests, the demo). Off in production.
    allow_private_addresses: bool = False
    #: Seconds between two requests to one domain.
    download_delay: float = Field(default=1.0, ge=0)
    concurrent_requests_per_domain: int = Field(default=2, ge=1, le=64)
    #: Identifying User-Agent with a contact URL.
    user_agent: str = Field(default=DEFAULT_USER_AGENT, min_length=1)
    #: Seconds before a request is given up.
    download_timeout: float = Field(default=30.0, gt=0)
    #: Largest response body accepted, after decompression.
    max_download_bytes: int = Field(default=5_000_000, gt=0)
    #: Seconds a whole crawl may run before the child process is stopped.
    crawl_timeout: float = Field(default=1800.0, gt=0)
