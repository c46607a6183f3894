"""The demo world served by the local news web, and its sources catalogue."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from pathlib import Path

import tomli_w

from narrative_tracker.demo.channels import CHANNELS, channel_site, plan_posts
from narrative_tracker.demo.outlets import OUTLETS, Outlet
from narrative_tracker.demo.pages import article_page, atom_feed, home_page, rss_feed
from narrative_tracker.demo.world import DEFAULT_SEED, DemoArticle, Writer, live_article
from narrative_tracker.newsweb import NewsWeb, Page

ROBOTS = b"User-agent: *\nDisallow: /search\nDisallow: /account/\n"
FEED_TYPES = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}


class DemoSite:
    """Puts the demo outlets on ``web``: article pages, one feed and one home page per outlet."""

    def __init__(self, web: NewsWeb, articles: list[DemoArticle]) -> None:
        self.web = web
        self._articles: dict[str, list[DemoArticle]] = {o.slug: [] for o in OUTLETS}
        self._lock = threading.Lock()
        self.web.site["/robots.txt"] = Page(ROBOTS, "text/plain; charset=utf-8")
        for article in articles:
            self._articles[article.outlet.slug].append(article)
            self._put_article(article)
        now = datetime.now(UTC)
        for outlet in OUTLETS:
            self._put_indexes(outlet, now)
        # Telegram channel previews, under another host name than the outlets ("localhost"), as
        # t.me is another site than theirs.
        self.telegram_base_url = web.url("", host="localhost")
        self.posts = plan_posts(articles, web.base_url, self.telegram_base_url, now=now)
        self.web.site.update(channel_site(self.posts, self.telegram_base_url))

    @property
    def articles(self) -> list[DemoArticle]:
        with self._lock:
            return sorted((a for items in self._articles.values() for a in items), key=lambda a: a.published)

    def publish(self, article: DemoArticle) -> None:
        """Add one article now: its page first, then the feed and home page that list it."""
        with self._lock:
            self._articles[article.outlet.slug].append(article)
            self._put_article(article)
            self._put_indexes(article.outlet, article.published)

    def _put_article(self, article: DemoArticle) -> None:
        earlier = self._articles[article.outlet.slug][-6:-1]
        body = article_page(article, self.web.base_url, list(reversed(earlier)))
        page_type = f"text/html; charset={article.outlet.charset}"
        self.web.site[article.path] = Page(body, page_type, last_modified=article.published.timestamp())

    def _put_indexes(self, outlet: Outlet, now: datetime) -> None:
        items = self._articles[outlet.slug]
        newest = items[-1].published.timestamp() if items else now.timestamp()
        render = rss_feed if outlet.feed_format == "rss" else atom_feed
        feed = render(outlet, items, self.web.base_url, now)
        self.web.site[outlet.feed_path] = Page(feed, FEED_TYPES[outlet.feed_format], last_modified=newest)
        home = home_page(outlet, items, self.web.base_url, now)
        self.web.site[f"{outlet.prefix}/"] = Page(home, f"text/html; charset={outlet.charset}", last_modified=newest)

    def catalogue(self) -> str:
        """The sources catalogue (TOML) that points the crawler at the demo outlets."""
        sources = [
            {
                "slug": outlet.slug,
                "name": outlet.name,
                "group": outlet.group,
                "country": outlet.country,
                "languages": [outlet.lang],
                "feeds": [self.web.url(outlet.feed_path)],
                # All outlets live on the one local server; the port is ignored when matching.
                "domains": ["127.0.0.1"],
                **({"telegram": channels} if (channels := [c.name for c in CHANNELS if c.outlet == outlet]) else {}),
            }
            for outlet in OUTLETS
        ]
        header = "# The invented outlets of the Narrative Tracker demo, served on this machine.\n\n"
        return header + tomli_w.dumps({"source": sources})

    def write_catalogue(self, path: Path) -> Path:
        path.write_text(self.catalogue(), encoding="utf-8")
        return path


class LivePublisher:
    """Publishes a new article every ``interval`` seconds, in turn across the outlets, until stopped.

    Used when the demo is left running, so that each scheduled crawl finds something new.
    """

    def __init__(self, site: DemoSite, interval: float, *, seed: int = DEFAULT_SEED) -> None:
        self.site = site
        self.interval = interval
        self._rng = random.Random(f"{seed}:live")
        self._writer = Writer()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-publisher", daemon=True)
        self.published = 0

    def start(self) -> LivePublisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            outlet = OUTLETS[self.published % len(OUTLETS)]
            self.published += 1
            self.site.publish(live_article(outlet, datetime.now(UTC), self._writer, self._rng, self.published))
