"""Telegram channels in the news spider: preview pages, paging back, posts as articles.

A channel is read from ``BASE/s/CHANNEL`` and then ``?before=ID`` pages, newest posts first,
until a page holds a post already stored, a post older than ``telegram_since_days``, or the
channel gave ``max_articles_per_feed`` new posts. ``before`` must decrease and each post id is
read once per crawl (pages without an "older" link, or a page that repeats itself, once made
readers of this page loop). Links in a post to a page on a catalogue outlet's domains are
crawled as that outlet's articles, under its rules.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response

from narrative_tracker.crawler.store import FeedRow, known_url_hashes
from narrative_tracker.crawler.telegram import Post, channel_url, make_title, parse_preview
from narrative_tracker.crawler.urls import host_of, is_http, on_domains, url_hash
from narrative_tracker.storage.models.base import utc_now

if TYPE_CHECKING:
    from narrative_tracker.crawler.config import CrawlerSettings
    from narrative_tracker.crawler.sources import SourceSpec
    from narrative_tracker.crawler.spiders.news import Entry, Link
    from narrative_tracker.crawler.tracker import CrawlTracker
    from narrative_tracker.storage.database import Database

logger = logging.getLogger(__name__)

#: Pages of one channel read in one crawl, whatever the other limits say.
MAX_PAGES = 50
ENTRY_PRIORITY = 10


@dataclass(frozen=True)
class Outlet:
    """A catalogue outlet whose article pages a post may link to."""

    spec: SourceSpec
    source_id: int


@dataclass
class ChannelPass:
    """The state of one channel's reading in this crawl, carried from page to page."""

    new_posts: int = 0
    pages: int = 0
    before: int | None = None
    seen: set[int] | None = None


class TelegramReader:
    """Mixed into the news spider: it provides the database, tracker, config and article requests."""

    database: Database
    tracker: CrawlTracker
    config: CrawlerSettings
    budget: int | None
    outlets: list[Outlet]

    def _article_requests(self, entry: Entry, links: list[Link]) -> Iterator[scrapy.Request]:
        raise NotImplementedError

    def entry_failed(self, failure: Any) -> None:
        raise NotImplementedError

    def _feed_success(self, response: Response, entry: Entry, digest: str, *, status: str) -> None:
        raise NotImplementedError

    def _feed_failure(self, entry: Entry, message: str) -> None:
        raise NotImplementedError

    # -- pages ----------------------------------------------------------------------------------

    def channel_request(self, entry: Entry, state: ChannelPass, *, depth: int) -> scrapy.Request:
        channel = entry.row.url.rstrip("/").rsplit("/", 1)[-1]
        return scrapy.Request(
            channel_url(self.config.telegram_base_url, channel, state.before),
            callback=self.parse_channel,
            errback=self.entry_failed,
            meta={"nt_entry": entry, "nt_depth": depth, "nt_channel": channel, "nt_pass": state},
            priority=ENTRY_PRIORITY,
            dont_filter=True,
        )

    async def parse_channel(self, response: Response) -> AsyncIterator[Any]:
        entry: Entry = response.meta["nt_entry"]
        depth: int = response.meta["nt_depth"]
        channel: str = response.meta["nt_channel"]
        state: ChannelPass = response.meta["nt_pass"]
        # Held while the page is read: a post stored between two yields must not let the channel's
        # new state (its first page's hash) be saved before the page's other posts are scheduled.
        self.tracker.hold(entry.row.id)
        try:
            for output in self._read_channel_page(response, entry, channel, state, depth):
                yield output
        finally:
            self.tracker.release(entry.row.id)
            if depth > 0:
                self.tracker.release(entry.row.id)

    def _read_channel_page(
        self, response: Response, entry: Entry, channel: str, state: ChannelPass, depth: int
    ) -> Iterator[Any]:
        digest = hashlib.sha256(response.body).hexdigest()
        if "/s/" not in urlsplit(response.url).path:
            # Telegram sends channels without a public preview (private, renamed, removed) to t.me/NAME.
            self._channel_failed(
                entry, depth, "no-public-preview", f"{response.url}: the channel has no public preview"
            )
            return
        if depth == 0 and digest == entry.row.content_hash:
            self.tracker.feeds["not_modified"] += 1
            self._feed_success(response, entry, digest, status="not-modified")
            return
        page = parse_preview(response.body, channel=channel, base=self.config.telegram_base_url, page_url=response.url)
        if page.unreadable:
            self.tracker.errors["telegram-unreadable-post"] += page.unreadable
        if not page.is_channel_page:
            self._channel_failed(entry, depth, "malformed", f"{response.url}: not a channel preview page")
            return
        if depth == 0:
            self.tracker.feeds["fetched"] += 1
            self._feed_success(response, entry, digest, status="ok")
        state.pages += 1
        seen = state.seen if state.seen is not None else set()
        state.seen = seen
        posts = sorted((p for p in page.posts if p.post_id not in seen), key=lambda p: -p.post_id)
        seen.update(p.post_id for p in posts)
        known = known_url_hashes(self.database, [url_hash(p.url) for p in posts])
        since = utc_now() - timedelta(days=self.config.telegram_since_days)
        stop = not posts
        for post in posts:
            if post.service:
                self.tracker.skipped["telegram-service"] += 1
                continue
            if post.published_at is not None and post.published_at < since:
                stop = True
                continue
            key = url_hash(post.url)
            if key in known:
                self.tracker.articles["already_stored"] += 1
                stop = True
                continue
            if state.new_posts >= self.config.max_articles_per_feed or (self.budget is not None and self.budget <= 0):
                stop = True
                break
            if not post.text:
                self.tracker.skipped["no-text"] += 1
                continue
            if self.budget is not None:
                self.budget -= 1
            state.new_posts += 1
            self.tracker.article_scheduled(entry.row.id)
            yield self._post_item(entry, post, key)
            yield from self._outlet_requests(entry, post)
        if stop or state.pages >= MAX_PAGES:
            return
        lowest = min(p.post_id for p in posts)
        before = page.before if page.before is not None and page.before <= lowest else lowest
        if state.before is not None and before >= state.before:
            self.tracker.errors["telegram-paging"] += 1
            logger.warning("%s: the older-posts link does not go back (before=%s); stopping", response.url, before)
            return
        state.before = before
        self.tracker.hold(entry.row.id)
        yield self.channel_request(entry, state, depth=depth + 1)

    def _channel_failed(self, entry: Entry, depth: int, kind: str, message: str) -> None:
        self.tracker.errors[f"telegram-{kind}"] += 1
        logger.warning("%s (%s)", message, entry.source.slug)
        if depth == 0:
            self.tracker.feeds["failed"] += 1
            self._feed_failure(entry, f"{kind}: {message}")

    # -- posts ----------------------------------------------------------------------------------

    def _post_item(self, entry: Entry, post: Post, key: str) -> dict[str, Any]:
        return {
            "kind": "post",
            "feed_id": entry.row.id,
            "source_id": entry.row.source_id,
            "url": post.url,
            "url_hash": key,
            "title": make_title(post.text),
            "text": post.text,
            "published_at": post.published_at,
            "views": post.views,
            "views_granularity": post.views_granularity,
            "forwarded_from_channel": post.forwarded_channel,
            "forwarded_from_url": post.forwarded_url,
        }

    def _outlet_of(self, link: str, own_slug: str) -> Outlet | None:
        """The catalogue outlet a link belongs to: the channel's own outlet when its domains match,
        else the one whose matching domain is the most specific; None when none, or when several
        outlets share that domain (which one published the page cannot be told)."""
        host = host_of(link)
        best: list[tuple[int, Outlet]] = []
        for outlet in self.outlets:
            if not on_domains(link, outlet.spec.domains):
                continue
            if outlet.spec.slug == own_slug:
                return outlet
            length = max(len(d) for d in outlet.spec.domains if host == d or host.endswith("." + d))
            best.append((length, outlet))
        if not best:
            return None
        top = max(length for length, _ in best)
        winners = [outlet for length, outlet in best if length == top]
        if len(winners) > 1:
            self.tracker.skipped["ambiguous-outlet"] += 1
            return None
        return winners[0]

    def _outlet_requests(self, entry: Entry, post: Post) -> Iterator[scrapy.Request]:
        """Article pages of catalogue outlets that the post links to, requested as those outlets' articles."""
        from narrative_tracker.crawler.spiders.news import Entry, Link

        telegram_host = host_of(self.config.telegram_base_url)
        for link in post.links:
            if not is_http(link) or host_of(link) == telegram_host or urlsplit(link).path.strip("/") == "":
                continue  # other posts, and home pages: not articles
            outlet = self._outlet_of(link, entry.source.slug)
            if outlet is None:
                continue
            # The page is the outlet's article; the channel's entry keeps the tally (its state is saved
            # once the page is stored), so the article row records which channel led to it.
            row: FeedRow = replace(entry.row, source_id=outlet.source_id)
            yield from self._article_requests(Entry("telegram-link", outlet.spec, row), [Link(link)])
