"""The news spider: feeds, news sitemaps and listing pages lead to article pages.

Entry URLs are polled with the stored ETag / Last-Modified; their links are normalised, kept to
the source's domains, checked against the articles already stored, capped per entry and per
crawl, and requested. Article responses become items for the extraction pipeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from narrative_tracker.crawler.config import CrawlerSettings
from narrative_tracker.crawler.dedup import DuplicateIndex
from narrative_tracker.crawler.failures import classify_failure, explain_failure
from narrative_tracker.crawler.feeds import FeedEntry, FeedParseError, ParsedFeed, parse_feed
from narrative_tracker.crawler.sitemaps import SitemapError, parse_sitemap
from narrative_tracker.crawler.sources import SourceSpec
from narrative_tracker.crawler.spiders.telegram import ChannelPass, Outlet, TelegramReader
from narrative_tracker.crawler.store import FeedRow, known_url_hashes, telegram_entry_urls, update_feed_state
from narrative_tracker.crawler.tracker import CrawlTracker
from narrative_tracker.crawler.urls import is_http, normalize_url, on_domains, url_hash
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models.base import utc_now

logger = logging.getLogger(__name__)

#: Sitemap indexes are followed this many levels down.
MAX_SITEMAP_DEPTH = 2
#: Child sitemaps followed per sitemap index (on the source's domains; the rest are counted as
#: skipped): one index listing thousands of children must not turn the crawler into an amplifier.
MAX_SITEMAP_CHILDREN = 50

T = TypeVar("T")
#: Scheduler priorities: the article pages of the entries already read go before the next entries,
#: so that the extraction workers get pages from the first feed on (all feeds first left them idle
#: while the crawl process parsed a hundred feeds) and fewer requests wait in memory.
ENTRY_PRIORITY = 10
ARTICLE_PRIORITY = 20
#: Longer links are skipped (what browsers and Scrapy's own limit accept; longer ones are traps).
MAX_URL_LENGTH = 2083
#: Longest back-off of a failing feed.
MAX_BACKOFF = timedelta(hours=24)


def _normalized(url: str) -> str | None:
    """``normalize_url``, or None for a URL that cannot be parsed (hostile feeds write them)."""
    try:
        return normalize_url(url)
    except ValueError:
        return None


@dataclass(frozen=True)
class Entry:
    """One entry URL of a source (a feed, a sitemap or a listing page) with its stored state."""

    kind: str  # feed | sitemap | listing | telegram (| telegram-link: an outlet's page a post links to)
    source: SourceSpec
    row: FeedRow


@dataclass(frozen=True)
class Link:
    url: str
    title: str = ""
    summary: str = ""
    published_at: datetime | None = None
    author: str | None = None


def plan_entries(
    sources: Iterable[SourceSpec], rows: dict[str, FeedRow], *, telegram_base_url: str = "https://t.me"
) -> list[Entry]:
    entries: list[Entry] = []
    for spec in sources:
        kinds = [
            ("feed", spec.feeds),
            ("sitemap", spec.sitemaps),
            ("listing", spec.listing.urls if spec.listing else []),
            ("telegram", telegram_entry_urls(spec, telegram_base_url)),
        ]
        for kind, urls in kinds:
            entries.extend(Entry(kind, spec, rows[url]) for url in urls if url in rows)
    return entries


def success_state(response: Response, digest: str, *, status: str) -> dict[str, Any]:
    now = utc_now()
    state: dict[str, Any] = {
        "last_status": status,
        "last_error": None,
        "last_fetched_at": now,
        "last_success_at": now,
        "consecutive_failures": 0,
        "healthy": True,
        "next_poll_at": None,
    }
    if status != "not-modified":
        state["content_hash"] = digest
        state["etag"] = _header(response, "ETag")
        state["last_modified"] = _header(response, "Last-Modified")
    return state


def failure_state(row: FeedRow, error: str, unhealthy_after: int) -> dict[str, Any]:
    failures = row.consecutive_failures + 1
    healthy = failures < unhealthy_after
    backoff = min(timedelta(minutes=30) * 2 ** (failures - unhealthy_after), MAX_BACKOFF)
    return {
        "last_status": "failed",
        "last_error": error[:1000],
        "last_fetched_at": utc_now(),
        "consecutive_failures": failures,
        "healthy": healthy,
        "next_poll_at": None if healthy else utc_now() + backoff,
    }


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


class NewsSpider(TelegramReader, scrapy.Spider):
    name = "news"

    def __init__(
        self,
        *,
        entries: list[Entry],
        database: Database,
        tracker: CrawlTracker,
        config: CrawlerSettings,
        index: DuplicateIndex,
        max_articles: int | None = None,
        extraction_pool: Executor | None = None,
        outlets: list[Outlet] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: Extraction workers already started by the crawl process (the pipeline uses them).
        self.extraction_pool = extraction_pool
        self.index = index
        self.entries = entries
        self.database = database
        self.tracker = tracker
        self.config = config
        self.budget = max_articles
        #: Every catalogue outlet, for the links of Telegram posts.
        self.outlets = outlets or []
        self._requested: set[str] = set()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        now = utc_now()
        for entry in self.entries:
            if entry.row.next_poll_at is not None and entry.row.next_poll_at > now:
                self.tracker.feeds["postponed"] += 1
                continue
            if entry.kind == "telegram":
                yield self.channel_request(entry, ChannelPass(), depth=0)
                continue
            yield self._entry_request(entry, entry.row.url, depth=0)

    def _entry_request(self, entry: Entry, url: str, *, depth: int) -> scrapy.Request:
        headers = {}
        if depth == 0 and entry.row.etag:
            headers["If-None-Match"] = entry.row.etag
        if depth == 0 and entry.row.last_modified:
            headers["If-Modified-Since"] = entry.row.last_modified
        return scrapy.Request(
            url,
            headers=headers,
            callback=self.parse_entry,
            errback=self.entry_failed,
            meta={"nt_entry": entry, "nt_depth": depth, "handle_httpstatus_list": [304]},
            priority=ENTRY_PRIORITY,
            dont_filter=True,
        )

    # -- entries --------------------------------------------------------------------------------

    async def parse_entry(self, response: Response) -> AsyncIterator[scrapy.Request]:
        entry: Entry = response.meta["nt_entry"]
        depth: int = response.meta["nt_depth"]
        feed_id = entry.row.id
        try:
            if depth == 0:
                digest = hashlib.sha256(response.body).hexdigest()
                if response.status == 304 or digest == entry.row.content_hash:
                    self.tracker.feeds["not_modified"] += 1
                    self._feed_success(response, entry, digest, status="not-modified")
                    return
            try:
                links, children = await self._links(entry, response)
            except (FeedParseError, SitemapError) as exc:
                if depth > 0:
                    self.tracker.errors["sitemap-parse"] += 1
                    logger.warning("%s: %s", response.url, exc)
                    return
                self.tracker.feeds["failed"] += 1
                self.tracker.errors[f"{entry.kind}-parse"] += 1
                logger.warning("%s (%s): %s", response.url, entry.source.slug, exc)
                self._feed_failure(entry, str(exc))
                return
            if depth == 0:
                self.tracker.feeds["fetched"] += 1
                self._feed_success(response, entry, digest, status="ok")
            if depth < MAX_SITEMAP_DEPTH:
                for child in self._sitemap_children(entry, response.url, children):
                    self.tracker.hold(feed_id)
                    yield self._entry_request(entry, child, depth=depth + 1)
            for request in self._article_requests(entry, links):
                yield request
        finally:
            if depth > 0:
                self.tracker.release(feed_id)

    def _sitemap_children(self, entry: Entry, index_url: str, children: list[str]) -> list[str]:
        """The children of a sitemap index worth fetching: http(s), on the source's domains, new in
        this crawl, at most MAX_SITEMAP_CHILDREN of them."""
        kept: list[str] = []
        for child in children:
            normalized = _normalized(child) if is_http(child) and len(child) <= MAX_URL_LENGTH else None
            if normalized is None or not on_domains(normalized, entry.source.domains):
                self.tracker.skipped["sitemap-off-domain"] += 1
                continue
            key = url_hash(normalized)
            if key in self._requested:
                continue
            if len(kept) >= MAX_SITEMAP_CHILDREN:
                self.tracker.skipped["sitemap-children-capped"] += 1
                continue
            self._requested.add(key)
            kept.append(normalized)
        if len(kept) < len(children):
            logger.info("%s: %d of %d child sitemaps followed", index_url, len(kept), len(children))
        return kept

    @property
    def _unhealthy_after(self) -> int:
        return self.config.unhealthy_after_failures

    def _feed_success(self, response: Response, entry: Entry, digest: str, *, status: str) -> None:
        self.tracker.feed_polled(entry.row.id, success_state(response, digest, status=status))

    def _feed_failure(self, entry: Entry, message: str) -> None:
        state = failure_state(entry.row, message, self._unhealthy_after)
        if not state["healthy"]:
            logger.warning(
                "%s (%s) is unhealthy: %d failures in a row (last: %s); next poll after %s",
                entry.row.url, entry.source.slug, state["consecutive_failures"], message, state["next_poll_at"],
            )  # fmt: skip
        self.tracker.feed_polled(entry.row.id, state)

    async def _links(self, entry: Entry, response: Response) -> tuple[list[Link], list[str]]:
        content_type = _header(response, "Content-Type")
        if entry.kind == "feed":
            parsed = await self._parse_feed(response.body, response.url, content_type)
            if parsed.malformed:
                self.tracker.errors["feed-malformed"] += 1
                logger.info(
                    "%s: malformed feed, %d entries recovered (%s)", response.url, len(parsed.entries), parsed.problem
                )
            return [self._link(response.url, e) for e in parsed.entries], []
        if entry.kind == "sitemap":
            max_age = timedelta(days=self.config.sitemap_max_age_days)
            # Up to 50 MB after gunzip: parsed off the reactor thread, which keeps serving downloads.
            sitemap = await self._off_reactor(parse_sitemap, response.body, url=response.url, max_age=max_age)
            return [Link(u.url, u.title, "", u.published_at) for u in sitemap.urls], sitemap.sitemaps
        selector = entry.source.listing.selector if entry.source.listing else "a"
        hrefs = []
        for element in response.css(selector):
            href = element.attrib.get("href") or element.css("a::attr(href)").get()
            if href:
                hrefs.append(Link(urljoin(response.url, href.strip())))
        return hrefs, []

    async def _off_reactor(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function`` in an extraction worker, or in a thread when there are none (or they died)."""
        if self.extraction_pool is not None:
            try:
                future = self.extraction_pool.submit(function, *args, **kwargs)
            except RuntimeError:  # the pool is shutting down, or broken (BrokenExecutor)
                pass
            else:
                try:
                    return await asyncio.wrap_future(future)
                except BrokenExecutor:
                    logger.warning("an extraction worker died; parsing in a thread of the crawl process")
        return await asyncio.to_thread(function, *args, **kwargs)

    async def _parse_feed(self, body: bytes, url: str, content_type: str | None) -> ParsedFeed:
        """``parse_feed`` in an extraction worker when there are some: feedparser costs about 0.2 ms
        per item, and at a crawl's start every feed arrives at once (parsed here, one after the
        other, they kept the first article pages waiting while the workers had nothing to do)."""
        if self.extraction_pool is not None:
            try:
                future = self.extraction_pool.submit(parse_feed, body, url=url, content_type=content_type)
            except RuntimeError:  # the pool is shutting down, or broken (BrokenExecutor)
                pass
            else:
                try:
                    return await asyncio.wrap_future(future)
                except BrokenExecutor:
                    logger.warning("%s: an extraction worker died; the feed is parsed in the crawl process", url)
        return parse_feed(body, url=url, content_type=content_type)

    @staticmethod
    def _link(base: str, item: FeedEntry) -> Link:
        return Link(urljoin(base, item.link), item.title, item.summary, item.published_at, item.author)

    def entry_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        entry: Entry = request.meta["nt_entry"]
        depth: int = request.meta["nt_depth"]
        kind, is_skip = classify_failure(failure)
        explained = explain_failure(failure)
        logger.warning("%s (%s): %s", request.url, entry.source.slug, explained)
        if depth > 0:
            # A sub-sitemap, or an older page of a channel: the entry itself was read.
            self.tracker.errors[f"{'telegram' if entry.kind == 'telegram' else 'sitemap'}-{kind}"] += 1
            self.tracker.release(entry.row.id)
            return
        if is_skip:
            self.tracker.skipped[kind] += 1
        self.tracker.feeds["failed"] += 1
        self.tracker.errors[f"{entry.kind}-{kind}"] += 1
        self._feed_failure(entry, f"{kind}: {explained}")

    # -- articles -------------------------------------------------------------------------------

    def _article_requests(self, entry: Entry, links: list[Link]) -> Iterator[scrapy.Request]:
        candidates: dict[str, tuple[str, Link]] = {}
        for link in links:
            if not is_http(link.url):
                self.tracker.skipped["not-http"] += 1
                continue
            if len(link.url) > MAX_URL_LENGTH:
                self.tracker.skipped["url-too-long"] += 1
                continue
            normalized = _normalized(link.url)
            if normalized is None:  # a port out of range, a broken IPv6 literal...
                self.tracker.skipped["bad-url"] += 1
                continue
            if not on_domains(normalized, entry.source.domains):
                self.tracker.skipped["off-domain"] += 1
                continue
            key = url_hash(normalized)
            if key not in candidates and key not in self._requested:
                candidates[key] = (normalized, link)
        known = known_url_hashes(self.database, list(candidates))
        self.tracker.articles["already_stored"] += len(known)
        fresh = [(key, value) for key, value in candidates.items() if key not in known]
        for key, (normalized, link) in fresh[: self.config.max_articles_per_feed]:
            if self.budget is not None:
                if self.budget <= 0:
                    return
                self.budget -= 1
            self._requested.add(key)
            self.tracker.article_scheduled(entry.row.id)
            yield scrapy.Request(
                normalized,
                callback=self.parse_article,
                errback=self.article_failed,
                priority=ARTICLE_PRIORITY,
                meta={
                    "nt_entry": entry,
                    "nt_link": link,
                    "nt_url": normalized,
                    "nt_url_hash": key,
                    "nt_domains": entry.source.domains,
                },
            )

    def parse_article(self, response: Response) -> Iterator[dict[str, Any]]:
        entry: Entry = response.meta["nt_entry"]
        link: Link = response.meta["nt_link"]
        self.tracker.articles["fetched"] += 1
        content_type = _header(response, "Content-Type") or ""
        if content_type and "html" not in content_type.lower():
            self.tracker.skipped["not-an-article"] += 1
            self.tracker.article_finished(entry.row.id)
            return
        yield {
            "feed_id": entry.row.id,
            "source_id": entry.row.source_id,
            # The link as the feed gave it (normalised), not where redirects ended: the same link in
            # the next crawl must be recognised as stored without being requested.
            "url": response.meta["nt_url"],
            "url_hash": response.meta["nt_url_hash"],
            "body": response.body,
            "content_type": content_type or None,
            "content_language": _header(response, "Content-Language"),
            "link_title": link.title,
            "link_summary": link.summary,
            "link_published_at": link.published_at,
            "link_author": link.author,
            "domains": entry.source.domains,
        }

    def article_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        entry: Entry = request.meta["nt_entry"]
        kind, is_skip = classify_failure(failure)
        if is_skip:
            self.tracker.skipped[kind] += 1
            logger.info("skipped %s: %s", request.url, explain_failure(failure))
        else:
            self.tracker.errors[kind] += 1
            logger.info("article %s: %s", request.url, explain_failure(failure))
        self.tracker.article_finished(entry.row.id)

    # -- feed state -----------------------------------------------------------------------------

    def save_ready_feed_states(self) -> None:
        """Save the state of every feed whose articles are all stored (called after each batch)."""
        now = datetime.now(UTC)
        for feed_id, state, new_items in self.tracker.ready_feed_states():
            if new_items:
                state = {**state, "last_new_item_at": now}
            update_feed_state(self.database, feed_id, state)
