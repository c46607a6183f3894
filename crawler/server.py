"""A long-lived crawl process for a queue worker: ``python -m narrative_tracker.crawler.server``.

A worker used to start ``crawler.child`` for every crawl task: Python, Scrapy and trafilatura
imported, the database opened and the near-duplicate index loaded again each time (about 3 s per
task on two loaded cores, more than a 100-article source takes to crawl). This process does that
once and then crawls task after task in one Twisted reactor (which cannot restart, but runs any
number of crawls one after the other).

Protocol, one JSON object per line:

- stdin: first the worker's plan (``database_url``, ``crawler``, ``log_level``, ``parent_pid``),
  then one task per line (``task``, ``sources``, ``outlets``, ``max_articles``), sent only once
  the previous task's summary is out;
- stdout: ``{"event": "ready"}`` once set up, then per task the events of ``crawler.child``
  (``progress``; ``summary`` with the task's ``stats`` and its ``task`` id).

SIGTERM stops the running crawl as ``crawler.child`` does (Scrapy stores what is in flight), its
summary goes out and the process exits; the worker starts a new one for its next task. The end
of stdin (the worker closed it, or died) ends the process once it is idle. Like every crawl
process it dies with its parent (``crawler.lifetime``).

Near-duplicates: the index loaded at start learns each task's articles as they are stored, and
before each task the articles other processes stored since (by id, with a margin for
transactions that committed out of order); it is rebuilt from scratch every
``INDEX_REBUILD_SECONDS``, which also drops articles that left the window.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import threading
import time
from typing import IO, Any

#: Seconds after which the near-duplicate index is loaded again from scratch before a task.
INDEX_REBUILD_SECONDS = 600.0
#: Ids below the highest indexed one that are read again when refreshing the index: a crawl
#: elsewhere may commit a lower id after a higher one (ids come from a sequence at insert time).
INDEX_ID_MARGIN = 5000  # ids only: the signatures are read for the missing ones

logger = logging.getLogger(__name__)


class _Index:
    """The near-duplicate index, kept across tasks and refreshed before each."""

    def __init__(self, database: Any, threshold: float, days: int) -> None:
        self.database, self.threshold, self.days = database, threshold, days
        self.index: Any = None
        self.loaded_at = 0.0

    def current(self) -> Any:
        from narrative_tracker.crawler.store import load_duplicate_index, refresh_duplicate_index

        if self.index is None or time.monotonic() - self.loaded_at >= INDEX_REBUILD_SECONDS:
            self.index = load_duplicate_index(self.database, self.threshold, self.days)
            self.loaded_at = time.monotonic()
        else:
            refresh_duplicate_index(self.database, self.index, self.days, margin=INDEX_ID_MARGIN)
        return self.index


def serve(plan: dict[str, Any], tasks: IO[str], events: IO[str]) -> int:
    from narrative_tracker.crawler.child import share_politeness, tune_garbage_collector
    from narrative_tracker.crawler.config import CrawlerSettings

    config = CrawlerSettings.model_validate(plan["crawler"])
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    import scrapy.core.downloader.handlers.http11  # noqa: F401  (see crawler.child)
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from twisted.internet import reactor, task
    from twisted.python.failure import Failure

    from narrative_tracker.crawler.memory import PeakMemory
    from narrative_tracker.crawler.settings import scrapy_settings
    from narrative_tracker.crawler.sources import SourceSpec
    from narrative_tracker.crawler.spiders.news import NewsSpider, plan_entries
    from narrative_tracker.crawler.spiders.telegram import Outlet
    from narrative_tracker.crawler.store import load_feeds, load_source_ids
    from narrative_tracker.crawler.tracker import CrawlTracker
    from narrative_tracker.storage.database import open_database

    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        with lock:
            events.write(json.dumps(event, default=str) + "\n")

    database = open_database(plan["database_url"], migrate=False)
    index = _Index(database, config.duplicate_threshold, config.duplicate_window_days)
    index.current()
    log_level = plan.get("log_level", "WARNING")
    settings = scrapy_settings(config, log_level=log_level)
    share_politeness(settings, plan["database_url"], config.download_delay)
    process = CrawlerProcess(settings)
    state: dict[str, Any] = {"running": None, "closing": False}

    def start_task(line: str) -> None:
        work = json.loads(line)
        sources = [SourceSpec.model_validate(s) for s in work["sources"]]
        outlet_specs = [SourceSpec.model_validate(s) for s in work.get("outlets", work["sources"])]
        tracker = CrawlTracker()
        memory = PeakMemory()
        ticks = iter(range(sys.maxsize))

        def tick() -> None:
            if next(ticks) % 4 == 0:
                memory.sample()
            emit({"event": "progress", "done": tracker.finished, "total": tracker.scheduled})

        progress = task.LoopingCall(tick)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        running = {"task": work.get("task"), "tracker": tracker, "opened": False, "sent": False}
        state["running"] = running
        try:
            idx = index.current()
            entries = plan_entries(
                sources, load_feeds(database, [s.slug for s in sources]), telegram_base_url=config.telegram_base_url
            )
            source_ids = load_source_ids(database, [s.slug for s in outlet_specs])
            outlets = [Outlet(spec, source_ids[spec.slug]) for spec in outlet_specs if spec.slug in source_ids]
            crawler = process.create_crawler(NewsSpider)
        except Exception:
            logger.exception("the crawl task could not start")
            finish(running, None, usage, memory, progress, failed=True)
            return

        def opened(spider: Any) -> None:
            running["opened"] = True
            for name in ("", "scrapy"):
                logging.getLogger(name).setLevel(log_level)
            progress.start(0.5, now=False)

        running["on_open"] = opened  # the signal holds its receivers weakly
        crawler.signals.connect(opened, signal=signals.spider_opened)
        done = process.crawl(
            crawler,
            entries=entries,
            database=database,
            tracker=tracker,
            config=config,
            index=idx,
            max_articles=work.get("max_articles"),
            extraction_pool=None,
            outlets=outlets,
        )

        def ended(result: Any) -> None:
            if isinstance(result, Failure):
                logger.error("the crawl failed: %s", result.getTraceback())
            finish(running, idx, usage, memory, progress, failed=not running["opened"])

        done.addBoth(ended)

    def finish(running: dict[str, Any], idx: Any, usage: Any, memory: Any, progress: Any, *, failed: bool) -> None:
        if progress.running:
            progress.stop()
        if running["sent"]:
            return
        running["sent"] = True
        state["running"] = None
        if failed:
            emit({"event": "failed", "task": running["task"]})
        else:
            memory.sample()
            after = resource.getrusage(resource.RUSAGE_SELF)
            stats = running["tracker"].summary()
            stats["peak_memory_mb"] = round(memory.peak_mb, 1)
            stats["crawl_process_peak_rss_mb"] = round(after.ru_maxrss / 1024, 1)
            stats["cpu_seconds"] = round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 2)
            stats["duplicate_index_size"] = len(idx) if idx is not None else 0
            emit({"event": "summary", "task": running["task"], "stats": stats})
        if state["closing"]:
            _stop(reactor)

    def end_of_input() -> None:
        state["closing"] = True
        if state["running"] is None:
            _stop(reactor)

    def read_tasks() -> None:
        for line in tasks:
            if line.strip():
                reactor.callFromThread(start_task, line)
        reactor.callFromThread(end_of_input)

    def stopping() -> None:  # SIGTERM: the crawl stops (Scrapy's own handler), then so do we
        state["closing"] = True

    core: Any = reactor  # Twisted's interface stubs take the method's arguments one place off
    core.addSystemEventTrigger("before", "shutdown", stopping)
    threading.Thread(target=read_tasks, name="crawl-tasks", daemon=True).start()
    reactor.callWhenRunning(emit, {"event": "ready"})
    tune_garbage_collector()
    process.start(stop_after_crawl=False, install_signal_handlers=True)
    running = state["running"]
    if running is not None and not running["sent"]:  # stopped before its crawl's end fired
        running["sent"] = True
        emit({"event": "summary", "task": running["task"], "stats": running["tracker"].summary()})
    database.dispose()
    return 0


def _stop(reactor: Any) -> None:
    try:
        reactor.stop()
    except Exception:  # already stopping (a SIGTERM came first)
        logger.debug("reactor already stopping", exc_info=True)


def main() -> int:
    from narrative_tracker.crawler.child import event_stream
    from narrative_tracker.crawler.lifetime import die_with_parent

    events = event_stream()
    plan = json.loads(sys.stdin.readline())
    die_with_parent(plan.get("parent_pid"))
    status = serve(plan, sys.stdin, events)
    logging.shutdown()
    events.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
