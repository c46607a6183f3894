"""What a crawl did, counted as it goes, and when each feed's state may be saved.

A feed's new state (ETag, Last-Modified, content hash, health) is saved only once every article
it led to has been stored, dropped or has failed: a crawl killed midway leaves the old state, so
the next crawl polls the feed again and nothing it listed is lost.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CrawlTracker:
    started: float = field(default_factory=time.monotonic)
    feeds: Counter[str] = field(default_factory=Counter)
    articles: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    #: Article requests scheduled in this crawl (the progress total).
    scheduled: int = 0
    #: Largest resident memory of one extraction worker (MB), when it could be read.
    worker_peak_memory_mb: float = 0.0
    #: CPU seconds used by the extraction workers, when it could be read.
    worker_cpu_seconds: float = 0.0
    #: Articles finished one way or another (the progress count).
    finished: int = 0
    _outstanding: Counter[int] = field(default_factory=Counter)
    _new_items: Counter[int] = field(default_factory=Counter)
    _pending_state: dict[int, dict[str, Any]] = field(default_factory=dict)
    _blocked: set[int] = field(default_factory=set)

    def article_scheduled(self, feed_id: int) -> None:
        self.scheduled += 1
        self._outstanding[feed_id] += 1

    def article_finished(self, feed_id: int, *, new: bool = False) -> None:
        self.finished += 1
        self._outstanding[feed_id] -= 1
        if new:
            self._new_items[feed_id] += 1

    def hold(self, feed_id: int) -> None:
        """Keep the feed's state unsaved until ``release`` (a sub-sitemap is being fetched)."""
        self._outstanding[feed_id] += 1

    def release(self, feed_id: int) -> None:
        self._outstanding[feed_id] -= 1

    def feed_polled(self, feed_id: int, state: dict[str, Any]) -> None:
        """The feed was read; ``state`` is saved once its articles are done."""
        if feed_id not in self._blocked:
            self._pending_state[feed_id] = state

    def forget_feeds(self, feed_ids: set[int]) -> None:
        """Never save these feeds' new state in this crawl (some of their articles could not be stored)."""
        for feed_id in feed_ids:
            self._pending_state.pop(feed_id, None)
            self._blocked.add(feed_id)

    def ready_feed_states(self) -> list[tuple[int, dict[str, Any], int]]:
        """(feed id, state, new articles) of each feed whose articles are all done; forgotten once returned."""
        ready = []
        for feed_id in [f for f in self._pending_state if self._outstanding[f] <= 0]:
            ready.append((feed_id, self._pending_state.pop(feed_id), self._new_items.pop(feed_id, 0)))
        return ready

    def summary(self) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        return {
            "feeds_fetched": self.feeds["fetched"],
            "feeds_not_modified": self.feeds["not_modified"],
            "feeds_failed": self.feeds["failed"],
            "feeds_postponed": self.feeds["postponed"],
            "new_articles": self.articles["new"],
            "duplicates": self.articles["duplicates"],
            "already_stored": self.articles["already_stored"],
            "pages_fetched": self.articles["fetched"],
            "skipped": dict(sorted(self.skipped.items())),
            "errors": dict(sorted(self.errors.items())),
            "seconds": round(seconds, 2),
            "articles_per_second": round(self.articles["new"] / seconds, 1) if seconds > 0 else 0.0,
        }
