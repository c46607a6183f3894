"""A ``narrative-tracker worker`` process: Dramatiq's worker threads on the chosen queues, a
heartbeat in ``queue_workers``, and a graceful stop.

On stop (SIGTERM), the worker stops taking messages and hands back the ones it had prefetched;
a running classify batch finishes; a running crawl stops its crawl process (which stores what it
fetched), and the task goes back to the queue for another worker to finish.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from narrative_tracker.errors import UsageError
from narrative_tracker.jobs.queue import (
    CRAWL_QUEUE,
    QUEUES,
    WorkerContext,
    make_broker,
    set_worker_context,
    worker_name,
)
from narrative_tracker.storage.models import QueueWorker, utc_now

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

log = logging.getLogger(__name__)

#: Seconds between two heartbeats; a worker silent for LIVE_WITHIN is not listed as live.
HEARTBEAT_SECONDS = 5.0
LIVE_WITHIN = timedelta(seconds=30)
#: Milliseconds Dramatiq waits for running tasks at stop (a crawl stops itself within its grace).
STOP_TIMEOUT_MS = 60_000


def parse_queues(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if not names or unknown:
        raise UsageError(f"--queues {text!r}: name one or more of {', '.join(QUEUES)}, separated by commas")
    return list(dict.fromkeys(names))


def run_worker(
    settings: Settings, database: Database, *, queues: Sequence[str], concurrency: int, stop: threading.Event
) -> None:
    """Consume ``queues`` with ``concurrency`` threads until ``stop`` is set."""
    import dramatiq

    broker = make_broker(settings, database)
    context = WorkerContext(settings=settings, database=database, stop=threading.Event())
    set_worker_context(context)
    name = worker_name()
    worker = dramatiq.Worker(broker, queues=set(queues), worker_threads=concurrency)
    # One message per thread and no more: a prefetched crawl would wait behind a running one while
    # another worker sits idle (and RabbitMQ redelivers only what is unacknowledged anyway).
    worker.queue_prefetch = concurrency
    if CRAWL_QUEUE in queues:
        # Started and set up before the worker shows as live and takes tasks (a few seconds).
        context.warm_crawl_servers(concurrency)
    try:
        _heartbeat(database, name, queues, concurrency, first=True)
    except BaseException:
        context.close_crawl_servers()
        raise
    worker.start()
    log.info("worker %s consuming %s with %d thread(s)", name, ",".join(queues), concurrency)
    try:
        while not stop.wait(HEARTBEAT_SECONDS):
            _heartbeat(database, name, queues, concurrency)
    finally:
        log.info("worker %s stopping: running tasks finish or go back to the queue", name)
        context.stop.set()
        worker.stop(timeout=STOP_TIMEOUT_MS)
        context.close_crawl_servers()
        broker.close()
        set_worker_context(None)
        try:
            with database.session() as session:
                session.execute(delete(QueueWorker).where(QueueWorker.worker == name))
        except SQLAlchemyError as exc:
            log.warning("could not remove worker %s from the live list: %s", name, exc)


def _heartbeat(database: Database, name: str, queues: Sequence[str], concurrency: int, *, first: bool = False) -> None:
    try:
        with database.session() as session:
            row = session.get(QueueWorker, name)
            if row is None:
                row = QueueWorker(
                    worker=name,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    queues=",".join(queues),
                    concurrency=concurrency,
                    started_at=utc_now(),
                )
                session.add(row)
            row.heartbeat_at = utc_now()
    except SQLAlchemyError as exc:
        if first:
            raise
        log.warning("worker heartbeat failed (retried in %.0f s): %s", HEARTBEAT_SECONDS, exc)
