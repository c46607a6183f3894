"""Extraction pipeline: page bytes -> article text, language and signature, off the reactor thread.

trafilatura costs a few milliseconds per page, more than Scrapy's own work, so pages are sent to
a pool of worker processes (``[crawler] extraction_workers``) while the reactor keeps fetching.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from scrapy.exceptions import DropItem

from crawler.extract import ExtractedPage, PageInput, extract_page

logger = logging.getLogger(__name__)


def _warm_up() -> None:
    """Load trafilatura and the language model once per worker, before the first page."""
    from crawler.language import detect_language

    detect_language("warm up")


def make_executor(workers: int) -> Executor | None:
    if workers <= 0:
        return None
    # spawn: the crawl process runs threads (Twisted, DNS); forking it could copy a held lock.
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_up
    )


def _worker_peak_mb(executor: Executor) -> float:
    """Largest peak resident memory among the pool's workers (Linux /proc; 0 where unreadable)."""
    peak = 0.0
    for pid in list(getattr(executor, "_processes", None) or {}):  # no public API lists the workers
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) / 1024)
    return round(peak, 1)


class NotAnArticle(DropItem):
    reason = "not-an-article"


class ExtractPipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.min_text_chars = crawler.settings.getint("NT_MIN_TEXT_CHARS")
        self.executor: Executor | None = make_executor(crawler.settings.getint("NT_EXTRACTION_WORKERS"))

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExtractPipeline:
        return cls(crawler)

    def close_spider(self) -> None:
        if self.executor is not None:
            self.crawler.spider.tracker.worker_peak_memory_mb = _worker_peak_mb(self.executor)
            self.executor.shutdown(wait=True, cancel_futures=True)

    async def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        spider = self.crawler.spider
        page = PageInput(
            url=item["url"],
            body=item.pop("body"),
            content_type=item["content_type"],
            content_language=item["content_language"],
            summary=item["link_summary"],
            min_text_chars=self.min_text_chars,
        )
        try:
            if self.executor is None:
                result = extract_page(page)
            else:
                result = await asyncio.wrap_future(self.executor.submit(extract_page, page))
        except Exception as exc:  # a page that breaks the extractor must not stop the crawl
            logger.warning("cannot extract %s: %s: %s", item["url"], type(exc).__name__, exc)
            spider.tracker.errors["extraction"] += 1
            spider.tracker.article_finished(item["feed_id"])
            raise DropItem(f"extraction failed: {exc}") from exc
        if not result.is_article:
            spider.tracker.skipped["not-an-article"] += 1
            spider.tracker.article_finished(item["feed_id"])
            raise NotAnArticle(f"{item['url']}: {len(result.text)} characters of text, not an article")
        return _row(item, result)


def _row(item: dict[str, Any], page: ExtractedPage) -> dict[str, Any]:
    """Column values of the article (plus ``feed_id``), with the feed's data filling gaps."""
    return {
        "source_id": item["source_id"],
        "feed_id": item["feed_id"],
        "url": item["url"],
        "url_hash": item["url_hash"],
        "title": page.title or item["link_title"] or "",
        "text": page.text,
        "author": page.author,
        "lang": page.lang,
        # The feed's timestamp has a time of day; the page's metadata usually only a date.
        "published_at": item["link_published_at"] or page.published_at,
        "summary_only": page.summary_only,
        "content_hash": page.content_hash,
        "signature": page.signature,
    }
