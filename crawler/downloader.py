"""Scrapy's downloader with its per-domain concurrency kept under the asyncio reactor.

Since 2.14 (to at least 2.19), Scrapy starts each download of a slot's queue as an asyncio task,
and the task marks its request as transferring only when it first runs. The loop that starts
downloads while the slot has free transfer places therefore sees every place free and starts the
whole queue in one go: with ``CONCURRENT_REQUESTS_PER_DOMAIN = 2`` a site got up to
``CONCURRENT_REQUESTS`` (16+) requests at once, and Twisted's connection pool, which keeps that
many idle connections per host, closed the extra ones and opened new ones for about every second
request. Without a download delay this downloader reserves the transfer place when it starts the
download; with a delay Scrapy starts one request per call anyway, and its own code runs.

It relies on private parts of Scrapy's downloader; where they are not there (Scrapy 2.13 started
downloads at once, without the burst; a later version may change them), Scrapy's own code runs,
and ``tests/test_crawl_process.py`` tells whether the concurrency is kept.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils import defer as scrapy_defer

_SCRAPY_PARTS = (
    hasattr(Downloader, "_wait_for_download")
    and hasattr(scrapy_defer, "_schedule_coro")
    and hasattr(Slot, "free_transfer_slots")
)


class PoliteDownloader(Downloader):
    def _process_queue(self, *args: Any) -> None:
        slot = args[-1]  # (slot) since Scrapy 2.14, (spider, slot) before
        if not _SCRAPY_PARTS or len(args) != 1 or slot.latercall or slot.delay > 0:
            super()._process_queue(*args)
            return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = monotonic()
            request, queue_deferred = slot.queue.popleft()
            # Reserved here, not when the task first runs; the task adds it again (a set) and
            # removes it when the download ends.
            slot.transferring.add(request)
            scrapy_defer._schedule_coro(self._wait_for_download(slot, request, queue_deferred))
