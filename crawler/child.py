"""The crawl process: ``python -m crawler.child`` reads a plan (JSON) on stdin and runs Scrapy once.

It writes one JSON object per line to its stdout: ``{"event": "progress", "done", "total"}``
twice a second and ``{"event": "summary", "stats": {...}}`` at the end; logs go to stderr.
A process of its own, because Twisted's reactor cannot be restarted in a long-lived process.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import resource
import sys
from typing import IO, TYPE_CHECKING, Any

# Nothing of this project's at the top: every extraction worker imports this module again, as the
# main module of the process it is forked for (multiprocessing's preparation of a worker).
if TYPE_CHECKING:
    from collections.abc import Callable

    from narrative_tracker.crawler.config import CrawlerSettings
    from narrative_tracker.crawler.sources import SourceSpec

#: Seconds between progress events.
PROGRESS_INTERVAL = 0.5
#: The memory of the crawl's processes is read every this many progress events (every 2 s): the
#: kernel walks every page of them to tell it, and a peak lasts longer than that.
MEMORY_EVERY_TICKS = 4
#: Allocations between two collections of the youngest generation (Python's default is 700). A
#: crawl makes many short-lived objects per page, and with the default the collector took about
#: a tenth of the crawl process's CPU.
GC_YOUNG_THRESHOLD = 20_000


def event_stream() -> IO[str]:
    """A private copy of stdout for events; stdout itself goes to stderr so no library can mix in."""
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return events


def _peak_memory_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(plan: dict[str, Any], events: IO[str]) -> int:
    pool = None
    if plan.get("mode") != "check":
        from narrative_tracker.crawler.workers import start_executor

        # First thing: the fork server loads trafilatura and the language model on one core while
        # this process imports pydantic, Scrapy and SQLAlchemy on the other. (The caller made the
        # plan from settings it had validated; it is validated again below.)
        pool = start_executor(int(plan["crawler"]["extraction_workers"]))
    from narrative_tracker.crawler.config import CrawlerSettings
    from narrative_tracker.crawler.sources import SourceSpec

    config = CrawlerSettings.model_validate(plan["crawler"])
    from scrapy.utils.reactor import install_reactor

    # Before anything imports twisted.internet.reactor and installs the default one.
    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    # Imported here, near the bottom of the call stack, rather than by Scrapy's crawl set-up: one
    # of its modules makes deprecated aliases with a helper that reads the source of every frame
    # of its importer's stack (50 ms more under Twisted's deep stack).
    import scrapy.core.downloader.handlers.http11  # noqa: F401
    from scrapy.crawler import CrawlerProcess
    from twisted.internet import task

    from narrative_tracker.crawler.memory import PeakMemory
    from narrative_tracker.crawler.settings import scrapy_settings
    from narrative_tracker.crawler.spiders.news import NewsSpider, plan_entries
    from narrative_tracker.crawler.spiders.telegram import Outlet
    from narrative_tracker.crawler.store import load_duplicate_index, load_feeds, load_source_ids
    from narrative_tracker.crawler.tracker import CrawlTracker
    from narrative_tracker.storage.database import open_database

    sources = [SourceSpec.model_validate(s) for s in plan["sources"]]

    def emit(event: dict[str, Any]) -> None:
        events.write(json.dumps(event, default=str) + "\n")

    if plan.get("mode") == "check":
        return _check(config, sources, plan, emit)
    database = open_database(plan["database_url"], migrate=False)
    tracker = CrawlTracker()
    entries = plan_entries(
        sources, load_feeds(database, [s.slug for s in sources]), telegram_base_url=config.telegram_base_url
    )
    outlet_specs = [SourceSpec.model_validate(s) for s in plan.get("outlets", plan["sources"])]
    source_ids = load_source_ids(database, [s.slug for s in outlet_specs])
    outlets = [Outlet(spec, source_ids[spec.slug]) for spec in outlet_specs if spec.slug in source_ids]
    index = load_duplicate_index(database, config.duplicate_threshold, config.duplicate_window_days)

    log_level = plan.get("log_level", "WARNING")
    settings = scrapy_settings(config, log_level=log_level)
    if plan.get("shared_limits"):
        share_politeness(settings, plan["database_url"], config.download_delay)
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(NewsSpider)
    memory = PeakMemory()

    ticks = itertools.count()

    def tick() -> None:
        if next(ticks) % MEMORY_EVERY_TICKS == 0:
            memory.sample()
        emit({"event": "progress", "done": tracker.finished, "total": tracker.scheduled})

    progress = task.LoopingCall(tick)

    opened: list[bool] = []

    def started(spider: Any) -> None:
        opened.append(True)
        # Scrapy puts LOG_LEVEL on its handler only and leaves its own loggers at DEBUG: every debug
        # call (two per page) would still build a record for the handler to drop.
        for name in ("", "scrapy"):
            logging.getLogger(name).setLevel(log_level)
        progress.start(PROGRESS_INTERVAL, now=False)

    from scrapy import signals

    crawler.signals.connect(started, signal=signals.spider_opened)
    process.crawl(
        crawler,
        entries=entries,
        database=database,
        tracker=tracker,
        config=config,
        index=index,
        max_articles=plan.get("max_articles"),
        extraction_pool=pool,
        outlets=outlets,
    )
    tune_garbage_collector()
    process.start(install_signal_handlers=True)
    if pool is not None:  # the pipeline shuts it down; not when the crawl could not start
        pool.shutdown(wait=False, cancel_futures=True)
    if progress.running:
        progress.stop()
    memory.sample()
    if not opened:
        logging.getLogger(__name__).error("the crawl could not start (see the error above)")
        return 1
    stats = tracker.summary()
    # Peak total PSS of the crawl process and its workers (sampled every 2 s), and for
    # reference the peak resident size of the crawl process and of its largest worker.
    stats["peak_memory_mb"] = round(memory.peak_mb, 1)
    stats["crawl_process_peak_rss_mb"] = _peak_memory_mb()
    stats["worker_peak_rss_mb"] = tracker.worker_peak_memory_mb
    own = resource.getrusage(resource.RUSAGE_SELF)
    stats["cpu_seconds"] = round(own.ru_utime + own.ru_stime, 2)
    stats["worker_cpu_seconds"] = tracker.worker_cpu_seconds
    stats["duplicate_index_size"] = len(index)
    emit({"event": "summary", "stats": stats})
    database.dispose()
    return 0


def share_politeness(settings: dict[str, Any], database_url: str, delay: float) -> None:
    """Per-domain places and delay kept in PostgreSQL for every crawl process (``crawler.limiter``).

    Last of the downloader middlewares, so that nothing between it and the network holds a
    request that holds a place; Scrapy's own delay is off (the shared pace replaces it), its own
    per-domain concurrency stays (a process never has more in flight than the installation).
    """
    settings["DOWNLOADER_MIDDLEWARES"] = {
        **settings.get("DOWNLOADER_MIDDLEWARES", {}),
        "narrative_tracker.crawler.limiter.SharedPolitenessMiddleware": 990,
    }
    settings["NT_SHARED_LIMITS_DATABASE"] = database_url
    settings["NT_SHARED_DOWNLOAD_DELAY"] = delay
    settings["DOWNLOAD_DELAY"] = 0


def tune_garbage_collector() -> None:
    """Collect less often during the crawl, and never re-walk what start-up made.

    Scrapy, Twisted, SQLAlchemy and the duplicate index make some 120,000 objects that live as
    long as the process: frozen, the collector leaves them alone (they are never freed anyway).
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _check(
    config: CrawlerSettings, sources: list[SourceSpec], plan: dict[str, Any], emit: Callable[[dict[str, Any]], None]
) -> int:
    """Fetch each entry point once (``sources check``); one "check" event per entry point."""
    from scrapy.crawler import CrawlerProcess

    from narrative_tracker.crawler.settings import scrapy_settings
    from narrative_tracker.crawler.spiders.check import CheckSpider

    settings = scrapy_settings(config, log_level=plan.get("log_level", "WARNING"))
    settings["ITEM_PIPELINES"] = {}
    process = CrawlerProcess(settings)
    process.crawl(CheckSpider, sources=sources, config=config, report=lambda r: emit({"event": "check", **r}))
    process.start(install_signal_handlers=True)
    emit({"event": "summary", "stats": {}})
    return 0


def main() -> int:
    from narrative_tracker.crawler.lifetime import die_with_parent

    events = event_stream()
    plan = json.loads(sys.stdin.read())
    # Before the workers start: killed with the process that started us (see crawler.lifetime).
    die_with_parent(plan.get("parent_pid"))
    # Scrapy installs the root log handler (LOG_LEVEL, on stderr) when the crawl process starts.
    status = run(plan, events)
    # Everything is stored, the workers are shut down and the summary is out: skip the
    # interpreter's teardown, which frees Scrapy's and Twisted's objects one by one (about 0.2 s
    # that the caller would wait for). An exception above still ends the normal way.
    logging.shutdown()
    events.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
