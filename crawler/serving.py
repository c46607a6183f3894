"""A queue worker's handle on its long-lived crawl process (``crawler.server``).

    server = CrawlServer(settings)
    stats = server.crawl(database=db, sources=["s1"], stop=event)   # task after task
    server.close()

The crawl process is started at the first task and kept for the next ones, so a task costs its
crawl, not a process start (see ``crawler.server``). A stop (``stop`` set, or the timeout) ends it
as ``run_crawl`` ends its crawl process: SIGTERM, Scrapy stores what is in flight, the summary
comes back with ``interrupted`` (or ``timed_out``), SIGKILL after the grace; the next task starts
a new one. A crawl process that dies during a task fails the task (CrawlError); one that died
between tasks is replaced.

A server runs one task at a time; a worker keeps one per thread (``jobs.queue.WorkerContext``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from narrative_tracker.crawler.runner import STOP_GRACE_SECONDS, Progress, child_environment, prepare_crawl
from narrative_tracker.errors import CrawlError
from narrative_tracker.interrupt import StopFlag, stop_requested

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

logger = logging.getLogger(__name__)

#: Seconds between two looks at the stop flag while a task runs.
POLL_SECONDS = 0.2
#: Seconds an idle crawl process gets to exit after its stdin is closed.
CLOSE_SECONDS = 5.0


class CrawlServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._child: subprocess.Popen[str] | None = None
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._ids = itertools.count(1)
        #: Crawl processes started so far (the first, and one after each stop or death).
        self.starts = 0

    def warm_up(self) -> None:
        """Start the crawl process now rather than at the first task (``wait_ready`` to wait for it)."""
        self._running(worker_plan(self.settings))

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the crawl process has set up (imports, database, index); False if it did not
        in time or ended (the first task then starts or waits for it)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                break
            if event is None:  # it ended: the first task starts a new one and reports why
                self._reap()
                return False
            if event.get("event") == "ready":
                return True
        return False

    def crawl(
        self,
        *,
        database: Database,
        sources: Sequence[str],
        stop: StopFlag | None = None,
        timeout: float | None = None,
        progress: Progress | None = None,
        stop_grace: float = STOP_GRACE_SECONDS,
    ) -> dict[str, Any]:
        """Crawl ``sources`` once in the crawl process; the stats of ``run_crawl``."""
        plan = prepare_crawl(self.settings, database=database, sources=sources)
        child = self._running(plan)
        task = next(self._ids)
        try:
            assert child.stdin is not None
            child.stdin.write(
                json.dumps({"task": task, "sources": plan["sources"], "outlets": plan["outlets"], "max_articles": None})
                + "\n"
            )
            child.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: its end of output, just below, says so
        deadline = time.monotonic() + (timeout if timeout is not None else self.settings.crawler.crawl_timeout)
        timed_out = interrupted = False
        stats: dict[str, Any] | None = None
        while stats is None:
            stopped = stop_requested(stop)
            if stopped or time.monotonic() >= deadline:
                interrupted, timed_out = stopped, not stopped
                logger.warning("crawl %s: stopping the crawl process", "interrupted" if interrupted else "timed out")
                stats = self._stop(task, stop_grace)
                break
            try:
                event = self._events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if event is None:
                status = self._reap()
                raise CrawlError(f"the crawl process ended during the task (exit status {status}); its log says why")
            kind = event.get("event")
            if kind == "progress" and progress is not None:
                with contextlib.suppress(Exception):  # a broken display must not break the crawl
                    progress(int(event.get("done", 0)), event.get("total"))
            elif kind == "summary" and event.get("task") == task:
                stats = dict(event.get("stats") or {})
            elif kind == "failed" and event.get("task") == task:
                raise CrawlError("the crawl could not start; the crawl process's log says why")
        stats["timed_out"] = timed_out
        stats["interrupted"] = interrupted
        return stats

    def close(self) -> None:
        """End the crawl process (it exits when its input ends; killed if it does not in time)."""
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):
            if child.stdin is not None:
                child.stdin.close()
        try:
            child.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            _kill(child)

    def _running(self, plan: dict[str, Any]) -> subprocess.Popen[str]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        if self._child is not None:
            logger.warning("the crawl process had ended (exit status %s); starting a new one", self._child.returncode)
            self._child = None
        self._events = queue.Queue()
        self._child = _start(plan, self._events)
        self.starts += 1
        return self._child

    def _stop(self, task: int, grace: float) -> dict[str, Any]:
        """SIGTERM, the summary of what was stored (empty if none came), SIGKILL after ``grace``."""
        child, self._child = self._child, None
        assert child is not None
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace
        stats: dict[str, Any] = {}
        while (left := end - time.monotonic()) > 0:
            try:
                event = self._events.get(timeout=min(left, POLL_SECONDS))
            except queue.Empty:
                continue
            if event is None:
                break
            if event.get("event") == "summary" and event.get("task") == task:
                stats = dict(event.get("stats") or {})
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(end - time.monotonic(), 0.1))
        _kill(child)
        return stats

    def _reap(self) -> int | None:
        child, self._child = self._child, None
        if child is None:
            return None
        try:
            return child.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            _kill(child)
            return child.returncode


def worker_plan(settings: Settings) -> dict[str, Any]:
    """What the crawl process needs before its first task (no catalogue: each task brings its own)."""
    return {
        "database_url": settings.database_url,
        "crawler": settings.crawler.model_dump(mode="json"),
        "log_level": "DEBUG" if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else "WARNING",
    }


def _start(plan: dict[str, Any], events: queue.Queue[dict[str, Any] | None]) -> subprocess.Popen[str]:
    """The crawl process, in its own process group, with its first line (the worker's plan)."""
    try:
        child = subprocess.Popen(
            [sys.executable, "-P", "-m", "narrative_tracker.crawler.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=child_environment(),  # no secrets: the database URL goes in the plan (crawler.runner)
            start_new_session=True,
        )
    except OSError as exc:
        raise CrawlError(f"cannot start the crawl process ({sys.executable}): {exc.strerror}") from None
    assert child.stdin is not None and child.stdout is not None
    first = {
        "database_url": plan["database_url"],
        # No extraction fork server: the worker processes are the parallelism (see run_crawl).
        "crawler": {**plan["crawler"], "extraction_workers": 0},
        "log_level": plan["log_level"],
        "parent_pid": os.getpid(),
    }
    try:
        child.stdin.write(json.dumps(first) + "\n")
        child.stdin.flush()
    except (BrokenPipeError, OSError):
        pass  # it died at once: the reader sees its output end
    threading.Thread(target=_read, args=(child.stdout, events), name="crawl-events", daemon=True).start()
    return child


def _read(stream: IO[str], events: queue.Queue[dict[str, Any] | None]) -> None:
    for line in stream:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.put(event)
    events.put(None)


def _kill(child: subprocess.Popen[str]) -> None:
    """SIGKILL the crawl process's group (nothing of it outlives a stop), unless it has exited."""
    if child.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=CLOSE_SECONDS)
