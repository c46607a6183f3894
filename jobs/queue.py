"""The task queue: Dramatiq on RabbitMQ, two actors (``crawl_source``, ``classify_batch``) and
what PostgreSQL records of every task (``queue_tasks``).

Semantics (see docs/decisions.md, "Task queue"):

- a message is acknowledged after its actor returned, that is after its work is committed; a
  worker that dies leaves it unacknowledged and RabbitMQ delivers it again;
- every start is counted in ``queue_tasks.deliveries`` before the work begins: a task whose
  worker dies every time (a poison task) is parked after ``[queue] max_deliveries`` starts
  instead of killing workers forever (Dramatiq's retries only count exceptions);
- a task that raises is retried with back-off up to ``[queue] max_retries`` times, then failed.

The actors run in ``narrative-tracker worker`` processes, which set the worker context first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from narrative_tracker.errors import QueueError
from narrative_tracker.storage.models import QueueTask, utc_now

if TYPE_CHECKING:
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    from narrative_tracker.crawler.serving import CrawlServer
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

log = logging.getLogger(__name__)

CRAWL_QUEUE = "crawl"
CLASSIFY_QUEUE = "classify"
QUEUES = (CRAWL_QUEUE, CLASSIFY_QUEUE)
#: Seconds a crawl task waits for its source's lock (held by another worker) before retrying later.
SOURCE_LOCK_WAIT = 30.0
#: Back-off of a retried task, in milliseconds (doubling from the first).
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 300_000


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


#: Seconds a starting worker waits for its crawl processes to be ready before it takes tasks.
CRAWL_SERVER_READY_WAIT = 60.0
#: Milliseconds before a handed-back task is offered again (another worker takes it).
HAND_BACK_DELAY_MS = 1_000


@dataclass
class WorkerContext:
    """What the actors need in a worker process."""

    settings: Settings
    database: Database
    stop: threading.Event = field(default_factory=threading.Event)
    #: Long-lived crawl processes (``crawler.serving``): the idle ones, and every one started.
    idle_crawl_servers: list[CrawlServer] = field(default_factory=list)
    all_crawl_servers: list[CrawlServer] = field(default_factory=list)
    _servers_lock: threading.Lock = field(default_factory=threading.Lock)

    def warm_crawl_servers(self, count: int) -> None:
        """Start ``count`` crawl processes now, so that the first tasks find them ready.

        Called from the worker's main thread, which lives as long as the worker: the crawl
        processes' parent-death signal follows the thread that started them.
        """
        servers = [self._new_crawl_server() for _ in range(count)]
        for server in servers:
            server.warm_up()
        for server in servers:  # set up side by side
            if not server.wait_ready(CRAWL_SERVER_READY_WAIT):
                log.warning("a crawl process was not ready within %.0f s; tasks wait for it", CRAWL_SERVER_READY_WAIT)
        with self._servers_lock:
            self.idle_crawl_servers.extend(servers)

    @contextlib.contextmanager
    def crawl_server(self) -> Iterator[CrawlServer]:
        """An idle crawl process for one task (a new one if none is idle), back to the pool after."""
        with self._servers_lock:
            server = self.idle_crawl_servers.pop() if self.idle_crawl_servers else None
        if server is None:
            server = self._new_crawl_server()
        try:
            yield server
        finally:
            with self._servers_lock:
                self.idle_crawl_servers.append(server)

    def close_crawl_servers(self) -> None:
        with self._servers_lock:
            servers, self.all_crawl_servers, self.idle_crawl_servers = self.all_crawl_servers, [], []
        for server in servers:
            server.close()

    def _new_crawl_server(self) -> CrawlServer:
        from narrative_tracker.crawler.serving import CrawlServer

        server = CrawlServer(self.settings)
        with self._servers_lock:
            self.all_crawl_servers.append(server)
        return server


_context: WorkerContext | None = None


def set_worker_context(context: WorkerContext | None) -> None:
    global _context
    _context = context


def _worker() -> WorkerContext:
    if _context is None:
        raise RuntimeError("a task ran outside a narrative-tracker worker process")
    return _context


# -- the actors ------------------------------------------------------------------------------


#: Stats of the task each worker thread just ran, by thread, for the recorder's after-hook (which
#: runs in the same thread). Actors return None: Dramatiq warns about a return value without its
#: results backend, which this does not need.
_results: dict[int, dict[str, Any]] = {}


def _keep(stats: dict[str, Any]) -> None:
    _results[threading.get_ident()] = stats


def crawl_source(slug: str) -> None:
    """Crawl one source, holding its lock (a PostgreSQL advisory lock: it dies with this process),
    in one of this worker's long-lived crawl processes (``crawler.serving``)."""
    from dramatiq import Retry

    from narrative_tracker.jobs.locks import AdvisoryLock, acquire_waiting, close

    ctx = _worker()
    lock = AdvisoryLock(ctx.settings.database_url, f"crawl-source:{slug}")
    try:
        if not acquire_waiting(lock, timeout=SOURCE_LOCK_WAIT, give_up=ctx.stop.is_set, poll=0.2):
            if ctx.stop.is_set():
                log.info("crawl of %r not started: the worker is stopping; it goes back to the queue", slug)
                raise Retry(
                    f"crawl of {slug!r} not started: its worker stopped; it goes back to the queue",
                    delay=HAND_BACK_DELAY_MS,
                )
            log.info("source %r is being crawled by another worker; this task is retried later", slug)
            raise Retry(f"source {slug!r} is being crawled by another worker; retried later")
        with ctx.crawl_server() as server:
            stats = server.crawl(database=ctx.database, sources=[slug], stop=ctx.stop)
    finally:
        close(lock)
    if stats.get("interrupted"):
        # Not an error: the worker was asked to stop. Retry (not an exception of ours) keeps
        # Dramatiq from logging a traceback; what was stored stays, the rest is crawled elsewhere.
        log.warning(
            "crawl of %r stopped with its worker after %d new articles; it goes back to the queue",
            slug,
            stats.get("new_articles", 0),
        )
        raise Retry(f"crawl of {slug!r} stopped with its worker; it goes back to the queue", delay=HAND_BACK_DELAY_MS)
    _keep(stats)


def classify_batch(article_ids: list[int], version: str) -> None:
    """Classify these articles with model ``version``, each once (see ``classifier.classify.classify_ids``)."""
    from narrative_tracker.classifier.classify import classify_ids
    from narrative_tracker.classifier.service import ensure_model
    from narrative_tracker.classifier.taxonomy import load_taxonomy

    ctx = _worker()
    model = ensure_model(ctx.settings, ctx.database, version=version)
    _keep(classify_ids(ctx.database, model, load_taxonomy(ctx.settings.taxonomy_file), list(article_ids)))


# -- the broker ------------------------------------------------------------------------------


def make_broker(settings: Settings, database: Database) -> RabbitmqBroker:
    """A RabbitMQ broker for ``[queue] broker_url`` with the two actors declared on it."""
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.middleware import Retries

    if not settings.queue.broker_url:
        raise QueueError("no broker: set [queue] broker_url (e.g. amqp://guest:guest@127.0.0.1:5672//)")
    try:
        broker = RabbitmqBroker(
            url=amqp_url(settings.queue.broker_url),
            confirm_delivery=True,  # an enqueue returns once RabbitMQ has the message
            middleware=[
                # First: its after-hooks run last, once Retries has said whether the task is retried.
                task_recorder(database, settings.queue.max_deliveries),
                Retries(max_retries=settings.queue.max_retries, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
            ],
        )
    except Exception as exc:  # pika refuses a malformed URL with a ValueError or its own errors
        raise QueueError(f"[queue] broker_url is not a usable AMQP URL: {type(exc).__name__}") from None
    dramatiq.actor(actor_name="crawl_source", queue_name=CRAWL_QUEUE, broker=broker)(crawl_source)
    dramatiq.actor(actor_name="classify_batch", queue_name=CLASSIFY_QUEUE, broker=broker)(classify_batch)
    return broker


def amqp_url(url: str) -> str:
    """The URL as pika reads it: the Celery/kombu spelling ``amqp://host:5672//`` means the default
    virtual host ``/``, which pika would read as the empty name (write ``%2F`` for it)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.path == "//":
        return urlunsplit(parts._replace(path="/%2F"))
    return url


def send_with_backoff(broker: dramatiq.Broker, message: dramatiq.Message[Any], *, attempts: int = 6) -> None:
    """Enqueue, retrying with back-off while the broker is away (1, 2, 4... s); QueueError at the end."""
    import time

    from dramatiq.errors import ConnectionError as BrokerConnectionError

    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            broker.enqueue(message)
            return
        except BrokerConnectionError as exc:
            if attempt == attempts:
                raise QueueError(
                    f"cannot send tasks to the broker ([queue] broker_url) after {attempts} attempts: {exc}"
                ) from None
            log.warning("broker unreachable (%s); retrying in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def task_recorder(database: Database, max_deliveries: int) -> dramatiq.Middleware:
    """Dramatiq middleware: each task's status, deliveries and stats in ``queue_tasks``."""
    import dramatiq

    class TaskRecorder(dramatiq.Middleware):
        def before_process_message(self, broker: Any, message: Any) -> None:
            _record_start(database, message, max_deliveries)

        def after_process_message(
            self, broker: Any, message: Any, *, result: Any = None, exception: BaseException | None = None
        ) -> None:
            _record_end(database, message, _results.pop(threading.get_ident(), None), exception)

    return TaskRecorder()


def _record_start(database: Database, message: Any, max_deliveries: int) -> None:
    from dramatiq.middleware import SkipMessage

    now = utc_now()
    with database.session() as session:
        task = session.get(QueueTask, message.message_id, with_for_update=True)
        if task is None:  # sent by something that did not record it
            task = QueueTask(
                message_id=message.message_id, queue=message.queue_name.removesuffix(".DQ"), batch="", subject=""
            )
            session.add(task)
        elif task.status in ("done", "parked"):
            # Finished already: a copy sent twice (a publisher confirm lost in a broker outage), or
            # a delivery whose acknowledgement was lost. Acknowledged unrun, its record untouched.
            log.info("task %s (%s) is %s already; not run again", message.message_id, message.actor_name, task.status)
            raise SkipMessage()  # the session rolls back: nothing changed
        task.deliveries = (task.deliveries or 0) + 1
        task.worker = worker_name()
        task.started_at = now
        # Starts that ended neither in success nor in an exception: the worker died each time.
        deaths = task.deliveries - 1 - int(message.options.get("retries", 0))
        if deaths >= max_deliveries:
            task.status = "parked"
            task.finished_at = now
            task.error = (
                f"parked: started {task.deliveries} times and its worker died {deaths} times "
                "([queue] max_deliveries); not run again"
            )
            parked = True
        else:
            task.status = "running"
            parked = False
    if parked:
        log.error("task %s (%s) parked after its worker died %d times", message.message_id, message.actor_name, deaths)
        raise SkipMessage()


def _record_end(database: Database, message: Any, result: Any, exception: BaseException | None) -> None:
    values: dict[str, Any] = {}
    if exception is None:
        values = {"status": "done", "finished_at": utc_now(), "stats": result if isinstance(result, dict) else {}}
    elif message.failed:
        values = {"status": "failed", "finished_at": utc_now(), "error": _describe(exception)}
    else:
        values = {"status": "retrying", "error": _describe(exception)}
    try:
        with database.session() as session:
            session.execute(update(QueueTask).where(QueueTask.message_id == message.message_id).values(**values))
    except SQLAlchemyError as exc:
        # The work is committed; the next delivery (this one is not acknowledged if we raise) finds it done.
        log.warning("could not record the end of task %s: %s", message.message_id, exc)
        raise


def _describe(exception: BaseException) -> str:
    text = str(exception) or type(exception).__name__
    return text[:2000]
