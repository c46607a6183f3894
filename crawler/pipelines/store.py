"""Storage pipeline: articles are written in batches of up to 1,000 rows, one transaction each.

A batch is written when full, when the oldest article in it has waited ``FLUSH_SECONDS``, and
when the spider closes; after each write the state of the feeds whose articles are all stored is
saved. A crawl killed midway loses at most the batch in flight, and its feeds are polled again.

Batches are written in a thread, one at a time, so that the reactor keeps fetching and handing
pages to the extraction workers meanwhile (the database driver releases the GIL while it works).
Only that thread touches the near-duplicate index during a crawl.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from narrative_tracker.crawler.store import BATCH_SIZE, StoredBatch, store_articles
from narrative_tracker.storage.models.base import utc_now

logger = logging.getLogger(__name__)

#: Longest time an extracted article waits in memory before it is written.
FLUSH_SECONDS = 3.0


class StorePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.batch: list[dict[str, Any]] = []
        self.oldest: float | None = None
        self.writing: Deferred[Any] | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.batch.append({**item, "fetched_at": utc_now()})
        if self.oldest is None:
            self.oldest = time.monotonic()
        self._maybe_flush()
        # Scrapy keeps nothing of the item: return a light marker, not the text and signature.
        return {"url": item["url"]}

    def _maybe_flush(self) -> None:
        due = self.oldest is not None and time.monotonic() - self.oldest >= FLUSH_SECONDS
        if self.writing is None and self.batch and (len(self.batch) >= BATCH_SIZE or due):
            self._flush()

    def _flush(self) -> Deferred[Any]:
        batch, self.batch, self.oldest = self.batch, [], None
        spider = self.crawler.spider
        self.writing = deferToThread(_write, spider, batch)
        self.writing.addBoth(self._written, batch)
        return self.writing

    def _written(self, result: list[StoredBatch] | Failure, batch: list[dict[str, Any]]) -> None:
        """Back on the reactor thread: count, release the feeds, save their state."""
        self.writing = None
        spider = self.crawler.spider
        tracker = spider.tracker
        if isinstance(result, Failure):
            feed_ids = {row["feed_id"] for row in batch}
            tracker.errors["storage"] += len(batch)
            for row in batch:
                tracker.article_finished(row["feed_id"])
            # The feeds of this batch keep their old state, so the next crawl reads them again.
            tracker.forget_feeds(feed_ids)
            logger.error("cannot store %d articles: %s", len(batch), result.getErrorMessage())
        else:
            new_hashes: set[str] = set()
            for stored in result:
                tracker.articles["new"] += stored.new
                tracker.articles["duplicates"] += stored.duplicates
                tracker.articles["already_stored"] += stored.already_stored
                new_hashes.update(stored.new_hashes)
            for row in batch:
                tracker.article_finished(row["feed_id"], new=row["url_hash"] in new_hashes)
        try:
            spider.save_ready_feed_states()
        except Exception as exc:  # the articles are safe; the feeds are simply read again next time
            logger.error("cannot save feed states: %s", exc)
        self._maybe_flush()  # what arrived while this batch was being written

    async def close_spider(self) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future

        while self.writing is not None or self.batch:
            if self.writing is None:
                self._flush()
            assert self.writing is not None
            await maybe_deferred_to_future(self.writing)
        self.crawler.spider.save_ready_feed_states()  # feeds without new articles


def _write(spider: Any, batch: list[dict[str, Any]]) -> list[StoredBatch]:
    """In the writer thread: one transaction per ``BATCH_SIZE`` rows."""
    return [
        store_articles(spider.database, batch[start : start + BATCH_SIZE], spider.index)
        for start in range(0, len(batch), BATCH_SIZE)
    ]
