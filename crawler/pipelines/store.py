"""Storage pipeline: articles are written in batches of up to 1,000 rows, one transaction each.

A batch is written when full, when the oldest article in it has waited ``FLUSH_SECONDS``, and
when the spider closes; after each write the state of the feeds whose articles are all stored is
saved. A crawl killed midway loses at most the batch in flight, and its feeds are polled again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from scrapy.exceptions import DropItem

from crawler.store import BATCH_SIZE, store_articles
from storage.models.base import utc_now

logger = logging.getLogger(__name__)

#: Longest time an extracted article waits in memory before it is written.
FLUSH_SECONDS = 3.0


class StorePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.batch: list[dict[str, Any]] = []
        self.oldest: float | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.batch.append({**item, "fetched_at": utc_now()})
        if self.oldest is None:
            self.oldest = time.monotonic()
        if len(self.batch) >= BATCH_SIZE or time.monotonic() - self.oldest >= FLUSH_SECONDS:
            self.flush()
        # Scrapy keeps nothing of the item: return a light marker, not the text and signature.
        return {"url": item["url"]}

    def flush(self) -> None:
        spider = self.crawler.spider
        batch, self.batch, self.oldest = self.batch, [], None
        if batch:
            feed_ids = [row["feed_id"] for row in batch]
            try:
                result = store_articles(spider.database, batch, spider.index)
            except Exception as exc:
                spider.tracker.errors["storage"] += len(batch)
                for feed_id in feed_ids:
                    spider.tracker.article_finished(feed_id)
                # The feeds of this batch keep their old state, so the next crawl retries them.
                spider.tracker.forget_feeds(set(feed_ids))
                logger.error("cannot store %d articles: %s", len(batch), exc)
                raise DropItem(f"storage failed: {exc}") from exc
            spider.tracker.articles["new"] += result.new
            spider.tracker.articles["duplicates"] += result.duplicates
            spider.tracker.articles["already_stored"] += result.already_stored
            new_hashes = set(result.new_hashes)
            for row in batch:
                spider.tracker.article_finished(row["feed_id"], new=row["url_hash"] in new_hashes)
        spider.save_ready_feed_states()

    def close_spider(self) -> None:
        self.flush()
