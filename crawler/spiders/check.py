"""The check spider: fetch every entry URL of the catalogue once and say what it holds.

Used by ``narrative-tracker sources check``: status, item count and newest item date of each
feed, sitemap, listing page and Telegram channel. Nothing is stored and no feed state changes; the same
politeness, robots.txt and address rules as a crawl apply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from narrative_tracker.crawler.config import CrawlerSettings
from narrative_tracker.crawler.failures import classify_failure, explain_failure
from narrative_tracker.crawler.feeds import FeedParseError, parse_feed
from narrative_tracker.crawler.sitemaps import SitemapError, parse_sitemap
from narrative_tracker.crawler.sources import SourceSpec
from narrative_tracker.crawler.telegram import channel_url, parse_preview
from narrative_tracker.vocabulary import failure_cause


def entry_points(spec: SourceSpec, telegram_base_url: str = "https://t.me") -> list[tuple[str, str]]:
    """(kind, url) of each entry point of an outlet."""
    listing = spec.listing.urls if spec.listing else []
    return (
        [("feed", u) for u in spec.feeds]
        + [("sitemap", u) for u in spec.sitemaps]
        + [("listing", u) for u in listing]
        + [("telegram", channel_url(telegram_base_url, name)) for name in spec.telegram]
    )


class CheckSpider(scrapy.Spider):
    name = "check"

    def __init__(
        self, *, sources: list[SourceSpec], config: CrawlerSettings, report: Callable[[dict[str, Any]], None], **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.sources = sources
        self.config = config
        self.report = report

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for spec in self.sources:
            for kind, url in entry_points(spec, self.config.telegram_base_url):
                meta = {
                    "nt_slug": spec.slug,
                    "nt_kind": kind,
                    "nt_selector": spec.listing.selector if spec.listing else "",
                }
                yield scrapy.Request(url, callback=self.parse, errback=self.failed, meta=meta, dont_filter=True)

    def _result(self, meta: dict[str, Any], url: str, **values: Any) -> dict[str, Any]:
        return {
            "slug": meta["nt_slug"], "kind": meta["nt_kind"], "url": url, "items": None, "newest": None,
            "cause": None, **values,
        }  # fmt: skip

    def parse(self, response: Response) -> None:
        meta, kind = response.meta, response.meta["nt_kind"]
        url = response.request.url if response.request else response.url
        try:
            if kind == "feed":
                feed = parse_feed(response.body, url=response.url)
                dates = [e.published_at for e in feed.entries if e.published_at]
                problem = f"malformed, read as far as possible: {feed.problem}" if feed.malformed else None
                self.report(
                    self._result(
                        meta, url, status="ok", http_status=response.status, items=len(feed.entries),
                        newest=max(dates).isoformat() if dates else None, error=problem,
                    )
                )  # fmt: skip
            elif kind == "sitemap":
                sitemap = parse_sitemap(
                    response.body, url=response.url, max_age=timedelta(days=self.config.sitemap_max_age_days)
                )
                dates = [u.published_at for u in sitemap.urls if u.published_at]
                self.report(
                    self._result(
                        meta, url, status="ok", http_status=response.status,
                        items=len(sitemap.urls) + len(sitemap.sitemaps),
                        newest=max(dates).isoformat() if dates else None, error=None,
                    )
                )  # fmt: skip
            elif kind == "telegram":
                self.report(self._channel_result(meta, url, response))
            else:
                links = response.css(meta["nt_selector"])
                self.report(
                    self._result(meta, url, status="ok", http_status=response.status, items=len(links), error=None)
                )
        except (FeedParseError, SitemapError) as exc:
            self.report(self._result(meta, url, status="failed", http_status=response.status, error=str(exc)))

    def _channel_result(self, meta: dict[str, Any], url: str, response: Response) -> dict[str, Any]:
        """A channel is reachable when its preview lists posts (an empty list is reported, not failed)."""
        if "/s/" not in urlsplit(response.url).path:
            return self._result(
                meta, url, status="failed", http_status=response.status,
                error=f"no public preview (sent to {response.url}): private, renamed or removed",
            )  # fmt: skip
        channel = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        page = parse_preview(response.body, channel=channel, base=self.config.telegram_base_url, page_url=response.url)
        if not page.is_channel_page:
            return self._result(
                meta, url, status="failed", http_status=response.status, error="not a channel preview page"
            )
        dates = [p.published_at for p in page.posts if p.published_at]
        return self._result(
            meta, url, status="ok", http_status=response.status, items=len(page.posts),
            newest=max(dates).isoformat() if dates else None, error=None if page.posts else "no posts",
        )  # fmt: skip

    def failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        kind, _ = classify_failure(failure)
        status = getattr(getattr(failure.value, "response", None), "status", None)
        self.report(
            self._result(
                request.meta, request.url, status="failed", http_status=status,
                error=f"{kind}: {explain_failure(failure)}", cause=failure_cause(kind),
            )
        )  # fmt: skip
