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
    # Keys below are this project's own additions (not part of the public contract).
    #: Retries of a request that timed out or got a 5xx answer (4xx answers are never retried).
    retry_times: int = Field(default=2, ge=0, le=10)
    #: Let AutoThrottle slow down on slow servers (download_delay stays the minimum).
    autothrottle: bool = True
    #: Article pages requested per feed, sitemap or listing page in one crawl (newest first).
    max_articles_per_feed: int = Field(default=100, ge=1)
    #: Sitemap entries older than this many days are ignored (news sitemaps list the last two days).
    sitemap_max_age_days: int = Field(default=3, ge=1)
    #: Extracted text shorter than this is "not an article" unless the feed summary can stand in.
    min_text_chars: int = Field(default=150, ge=0)
    #: Worker processes for text extraction, language and signatures (0: in the crawl process).
    #: They share trafilatura and the language model; each adds about 55 MB.
    extraction_workers: int = Field(default=2, ge=0, le=32)
    #: MinHash Jaccard threshold above which two articles are the same story (copies, light rewrites).
    duplicate_threshold: float = Field(default=0.5, gt=0, lt=1)
    #: Days of stored articles whose signatures are loaded to find near-duplicates at crawl start
    #: (about 1.6 KB of memory per article: a week of a busy catalogue is some 50 MB).
    duplicate_window_days: int = Field(default=7, ge=1)
    #: Consecutive failures after which a feed is marked unhealthy and polled less often.
    unhealthy_after_failures: int = Field(default=3, ge=1)
    #: Where the public channel previews are read (``BASE/s/CHANNEL``; tests point it at the local news web).
    telegram_base_url: str = Field(default="https://t.me", pattern=r"^https?://[^/?#\s]+$")
    #: Channel posts older than this many days are not read (paging back stops at them).
    telegram_since_days: int = Field(default=7, ge=1)
    #: Longest ``Retry-After`` honoured on a 429 answer (seconds); a longer one gives the request up.
    max_retry_after: float = Field(default=120.0, ge=0)
