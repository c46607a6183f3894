"""Extraction pipeline: page bytes -> article text, language and signature, off the reactor thread.

trafilatura costs a few milliseconds per page, more than Scrapy's own work, so pages are sent to
a pool of worker processes (``[crawler] extraction_workers``) while the reactor keeps fetching.

A worker can die (killed for memory, a crash in a C library on a hostile page). The pool is then
broken: every pending batch fails at once and ``submit`` raises. The pages are not lost: the pool
is rebuilt (at most ``MAX_POOL_REBUILDS`` times per crawl) and the broken batches' pages are sent
again one by one, so a page that kills a worker on its own is the only one that fails. Past the
limit, pages fail with a logged error instead of waiting for the crawl timeout.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import BrokenExecutor, Executor, Future
from typing import Any
from urllib.parse import urljoin

from scrapy.exceptions import DropItem

from narrative_tracker.crawler.dedup import fingerprints
from narrative_tracker.crawler.extract import ExtractedPage, PageInput, extract_pages
from narrative_tracker.crawler.store import ALIAS_KEY
from narrative_tracker.crawler.urls import is_http, normalize_url, on_domains, url_hash
from narrative_tracker.crawler.workers import make_executor, worker_usage
from narrative_tracker.language import detect_language

logger = logging.getLogger(__name__)

#: Pages per round trip to a worker, and the longest a page waits for its batch to fill.
BATCH_SIZE = 8
BATCH_WAIT = 0.005
#: Extraction pools rebuilt per crawl after a worker died; past this, pages fail (logged).
MAX_POOL_REBUILDS = 3

Batch = list[tuple["PageInput", "asyncio.Future[ExtractedPage | str]"]]


class NotAnArticle(DropItem):
    reason = "not-an-article"


class ExtractPipeline:
    """Sends pages to the workers in small batches and turns the results into article rows.

    A batch leaves when it holds ``BATCH_SIZE`` pages or ``BATCH_WAIT`` seconds after its first
    page: one inter-process round trip per batch instead of per page.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.min_text_chars = crawler.settings.getint("NT_MIN_TEXT_CHARS")
        # The crawl process starts the pool before Scrapy (``start_executor``) and hands it over
        # through the spider; a pipeline used on its own makes its own.
        self.executor: Executor | None = None
        self._batch: list[tuple[PageInput, asyncio.Future[ExtractedPage | str]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._workers = crawler.settings.getint("NT_EXTRACTION_WORKERS")
        self.rebuilds = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExtractPipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        pool = getattr(self.crawler.spider, "extraction_pool", None)
        self.executor = pool or make_executor(self.crawler.settings.getint("NT_EXTRACTION_WORKERS"))

    def close_spider(self) -> None:
        if self.executor is not None:
            tracker = self.crawler.spider.tracker
            tracker.worker_peak_memory_mb, tracker.worker_cpu_seconds = worker_usage(self.executor)
            self.executor.shutdown(wait=True, cancel_futures=True)

    async def _extract(self, page: PageInput) -> ExtractedPage | str:
        if self.executor is None:
            return extract_pages([page])[0]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ExtractedPage | str] = loop.create_future()
        self._batch.append((page, future))
        if len(self._batch) >= BATCH_SIZE:
            self._send()
        elif self._timer is None:
            self._timer = loop.call_later(BATCH_WAIT, self._send)
        return await future

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, []
        if batch:
            self._submit(batch, retry=True)

    def _submit(self, batch: Batch, *, retry: bool) -> None:
        """Send ``batch`` to the pool; on a broken pool, resend its pages one by one to a new one."""
        loop = asyncio.get_running_loop()
        executor = self.executor
        try:
            if executor is None:
                raise BrokenExecutor("no extraction pool")
            done = executor.submit(extract_pages, [page for page, _ in batch])
        except (BrokenExecutor, RuntimeError) as exc:  # broken, or shut down by a rebuild
            self._broken(batch, executor, exc, retry=retry)
            return

        def finished(result: Future[Any]) -> None:
            loop.call_soon_threadsafe(self._finished, batch, executor, result, retry)

        done.add_done_callback(finished)

    def _finished(self, batch: Batch, executor: Executor | None, done: Future[Any], retry: bool) -> None:
        error = done.exception()
        if isinstance(error, BrokenExecutor):
            self._broken(batch, executor, error, retry=retry)
        else:
            _deliver(batch, done)

    def _broken(self, batch: Batch, executor: Executor | None, error: BaseException, *, retry: bool) -> None:
        if executor is not None and executor is self.executor and not self._rebuild():
            retry = False
        if not retry or self.executor is None:
            for page, future in batch:
                if not future.done():
                    future.set_result(f"worker failed: {type(error).__name__}: {error}")
                    logger.warning("%s: the extraction worker died on it", page.url)
            return
        for page, future in batch:  # one page per task: a page that kills a worker fails alone
            self._submit([(page, future)], retry=len(batch) > 1)

    def _rebuild(self) -> bool:
        """Replace the broken pool (and the spider's reference to it); False past the limit."""
        old = self.executor
        if self.rebuilds >= MAX_POOL_REBUILDS:
            logger.error("extraction workers died %d times: pages now fail instead of waiting", self.rebuilds + 1)
            return False
        self.rebuilds += 1
        logger.warning("an extraction worker died: starting a new pool (%d of %d)", self.rebuilds, MAX_POOL_REBUILDS)
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        self.executor = make_executor(max(self._workers, 1))
        spider = self.crawler.spider
        if getattr(spider, "extraction_pool", None) is old:
            spider.extraction_pool = self.executor
        return True

    async def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        spider = self.crawler.spider
        if item.get("kind") == "post":
            return post_row(item)
        page = PageInput(
            url=item["url"],
            body=item.pop("body"),
            content_type=item["content_type"],
            content_language=item["content_language"],
            summary=item["link_summary"],
            min_text_chars=self.min_text_chars,
            with_metadata=not (item["link_title"] and item["link_published_at"]),
        )
        result = await self._extract(page)
        if isinstance(result, str):
            logger.warning("cannot extract %s: %s", item["url"], result)
            spider.tracker.errors["extraction"] += 1
            spider.tracker.article_finished(item["feed_id"])
            raise DropItem(f"extraction failed: {result}")
        if not result.is_article:
            spider.tracker.skipped["not-an-article"] += 1
            spider.tracker.article_finished(item["feed_id"])
            raise NotAnArticle(f"{item['url']}: {len(result.text)} characters of text, not an article")
        return _row(item, result)


def _deliver(batch: list[tuple[PageInput, asyncio.Future[ExtractedPage | str]]], done: Future[Any]) -> None:
    error = done.exception()
    results: list[ExtractedPage | str] = (
        [f"worker failed: {type(error).__name__}: {error}"] * len(batch) if error else done.result()
    )
    for (_, future), result in zip(batch, results, strict=True):
        if not future.done():
            future.set_result(result)


def _identity(item: dict[str, Any], page: ExtractedPage) -> tuple[str, str]:
    """(url, url_hash): the page's canonical URL when it names one on the source's domains."""
    if page.canonical:
        try:
            canonical = normalize_url(urljoin(item["url"], page.canonical))
        except ValueError:  # a port out of range, a broken IPv6 literal: ignore the claim
            return item["url"], item["url_hash"]
        if is_http(canonical) and on_domains(canonical, item["domains"]) and canonical != item["url"]:
            return canonical, url_hash(canonical)
    return item["url"], item["url_hash"]


def _row(item: dict[str, Any], page: ExtractedPage) -> dict[str, Any]:
    """Column values of the article (plus ``feed_id``).

    The feed entry's title, date and author come first when it has them (structured data the
    outlet published; its date has a time of day), the page's metadata otherwise.
    """
    url, key = _identity(item, page)
    alias = {ALIAS_KEY: item["url_hash"]} if key != item["url_hash"] else {}
    return {
        **alias,
        "source_id": item["source_id"],
        "feed_id": item["feed_id"],
        "url": url,
        "url_hash": key,
        "title": item["link_title"] or page.title or "",
        "text": page.text,
        "author": item["link_author"] or page.author,
        "lang": page.lang,
        "published_at": item["link_published_at"] or page.published_at,
        "summary_only": page.summary_only,
        "content_hash": page.content_hash,
        "signature": page.signature,
    }


def post_row(item: dict[str, Any]) -> dict[str, Any]:
    """Column values of a Telegram post: its text is already clean; language and fingerprints here.

    In the crawl process rather than a worker: a post is a few hundred characters, cheaper to
    read here than to send. The language is the text's alone (a channel declares nothing per post).
    """
    text: str = item["text"]
    digest, sig = fingerprints(text)
    return {
        "source_id": item["source_id"],
        "feed_id": item["feed_id"],
        "url": item["url"],
        "url_hash": item["url_hash"],
        "title": item["title"],
        "text": text,
        "author": None,
        "lang": detect_language(text)[0],
        "published_at": item["published_at"],
        "summary_only": False,
        "content_hash": digest,
        "signature": sig,
        "views": item["views"],
        "views_granularity": item["views_granularity"],
        "forwarded_from_channel": item["forwarded_from_channel"],
        "forwarded_from_url": item["forwarded_from_url"],
    }
