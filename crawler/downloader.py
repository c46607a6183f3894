"""Scrapy's downloader with its per-domain concurrency kept under the asyncio reactor.

Scrapy (2.13 to at least 2.19) starts each download of a slot's queue as an asyncio task, and the
task marks its request as transferring only when it first runs. The loop that starts downloads
while the slot has free transfer places therefore sees every place free and starts the whole
queue in one go: with ``CONCURRENT_REQUESTS_PER_DOMAIN = 2`` a site got up to
``CONCURRENT_REQUESTS`` (16+) requests at once, and Twisted's connection pool, which keeps that
many idle connections per host, closed the extra ones and opened new ones for about every second
request. Without a download delay this downloader reserves the transfer place when it starts the
download; with a delay Scrapy starts one request per call anyway, and its own code runs.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils import defer as scrapy_defer

logger = logging.getLogger(__name__)

#: The private parts of Scrapy this relies on; without them, Scrapy's own queue handling runs.
_SCRAPY_PARTS = (
    hasattr(Downloader, "_wait_for_download")
    and hasattr(scrapy_defer, "_schedule_coro")
    and hasattr(Slot, "free_transfer_slots")
)


class PoliteDownloader(Downloader):
    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        if not _SCRAPY_PARTS:
            logger.warning(
                "this Scrapy version's downloader differs from the one crawler.downloader was written for: "
                "per-domain concurrency is Scrapy's own"
            )

    def _process_queue(self, slot: Slot) -> None:
        if not _SCRAPY_PARTS or slot.latercall or slot.delay > 0:
            super()._process_queue(slot)
            return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = monotonic()
            request, queue_deferred = slot.queue.popleft()
            # Reserved here, not when the task first runs; the task adds it again (a set) and
            # removes it when the download ends.
            slot.transferring.add(request)
            scrapy_defer._schedule_coro(self._wait_for_download(slot, request, queue_deferred))
