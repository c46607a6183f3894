"""The extraction worker processes: a pool forked from a server that has preloaded trafilatura.

No Scrapy here: the crawl process starts the pool before it imports Scrapy, and the workers never
import it (30 MB each).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from narrative_tracker.crawler.lifetime import die_with_parent


def make_executor(workers: int) -> Executor | None:
    """A pool of extraction workers forked from a server process that has loaded trafilatura and
    the language model once (they share those pages); None for ``workers == 0`` (in-process).

    Not forked from the crawl process itself: it runs threads (Twisted's, the pool's own), and a
    fork could copy a lock held by one of them.
    """
    if workers <= 0:
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["narrative_tracker.crawler._preload"])
    # Each worker dies with the fork server, which exits when the crawl process is gone.
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=die_with_parent)


def start_executor(workers: int) -> Executor | None:
    """``make_executor``, with its fork server and workers started in a background thread.

    The crawl process calls this first thing: the fork server loads trafilatura and the language
    model on one core while the crawl process imports Scrapy on the other, and the workers are
    ready when the first page arrives (started lazily, they cost a short crawl a second or more
    of waiting). Starting a worker waits for the fork server's preload, hence the thread.
    """
    executor = make_executor(workers)
    if executor is not None:
        threading.Thread(target=_start_workers, args=(executor, workers), name="start-workers", daemon=True).start()
    return executor


def _start_workers(executor: Executor, workers: int) -> None:
    try:
        # One trivial task per worker: the pool spawns a worker for each task it has no idle one for.
        for _ in range(workers):
            executor.submit(int)
    except RuntimeError:  # shut down before the workers were up (a crawl that ended at once)
        pass


def worker_usage(executor: Executor) -> tuple[float, float]:
    """(largest peak resident MB, total CPU seconds) of the pool's workers, from Linux /proc.

    Read before the pool shuts down: the workers are children of the fork server, not of this
    process, so their usage never reaches this process's RUSAGE_CHILDREN. (0, 0) where unreadable.
    """
    peak, cpu = 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in list(getattr(executor, "_processes", None) or {}):  # no public API lists the workers
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        cpu += (int(fields[11]) + int(fields[12])) / ticks  # utime and stime
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) / 1024)
    return round(peak, 1), round(cpu, 2)
