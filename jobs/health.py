"""The health and metrics endpoint of the service: ``GET /healthz`` and ``GET /metrics``.

It runs in a thread of the service process (leader or standby) on ``[service] bind``/``port``.
``/healthz`` answers JSON with HTTP 200, or 503 when the service is failing. ``/metrics`` uses the
Prometheus text format from a registry of its own (never the process-global default one):

- ``narrative_tracker_job_runs_total{job,status}``, ``narrative_tracker_job_failures_total{job}``
  and ``narrative_tracker_job_duration_seconds{job}``: runs this process started;
- read from the database (at most once per ``FIGURES_TTL`` seconds, however often it is scraped:
  the counts scan whole tables): ``narrative_tracker_articles_stored``,
  ``narrative_tracker_feeds_unhealthy``, ``narrative_tracker_classification_backlog`` (articles the
  active model has not classified yet), ``narrative_tracker_job_last_success_timestamp_seconds{job}``;
- ``narrative_tracker_scheduler_leader`` (1 on the leader) and ``narrative_tracker_up_database``;
- with a broker (``[queue] broker_url``): ``narrative_tracker_queue_depth{queue,state}`` (ready,
  delayed, dead; read from RabbitMQ), ``narrative_tracker_queue_tasks{queue,status}`` (tasks
  recorded in the database by status), ``narrative_tracker_workers_live``.

The server reads each request for at most ``REQUEST_TIMEOUT`` seconds and serves at most
``MAX_CONNECTIONS`` at once; a connection beyond that gets 503 at once, so idle or slow clients
cannot pile up threads in the service process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from narrative_tracker.jobs import history
from narrative_tracker.jobs.runner import RunOutcome
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, ClassifiedArticle, Feed
from narrative_tracker.storage.queries import active_model_version

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings

log = logging.getLogger(__name__)

#: Buckets from a second to two hours: jobs take from a few seconds (trends) to long crawls.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
#: Seconds the database figures of /metrics are reused (Prometheus scrapes every 15-60 s).
FIGURES_TTL = 30.0
#: Seconds a client gets to send its request (and to read the answer) before it is dropped.
REQUEST_TIMEOUT = 10.0
#: Connections served at once.
MAX_CONNECTIONS = 8


class Metrics:
    """The service's Prometheus registry."""

    def __init__(
        self,
        database: Database,
        jobs: list[str],
        is_leader: Callable[[], bool],
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        disable_created_metrics()  # the *_created series only double the output
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "narrative_tracker_job_runs", "Job runs by outcome", ["job", "status"], registry=self.registry
        )
        self.failures = Counter(
            "narrative_tracker_job_failures", "Job runs that failed", ["job"], registry=self.registry
        )
        self.durations = Histogram(
            "narrative_tracker_job_duration_seconds",
            "Job run durations",
            ["job"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        for job in jobs:  # every series exists from the start, so rate() and absent() behave
            self.failures.labels(job)
            for status in ("success", "failed", "interrupted", "skipped"):
                self.runs.labels(job, status)
        self.registry.register(_DatabaseCollector(database, jobs, is_leader, clock=clock))
        if settings is not None and settings.queue.broker_url:
            self.registry.register(_QueueCollector(settings, database))

    def observe(self, outcome: RunOutcome) -> None:
        self.runs.labels(outcome.job, outcome.status).inc()
        if outcome.status == "failed":
            self.failures.labels(outcome.job).inc()
        if outcome.status != "skipped":
            self.durations.labels(outcome.job).observe(outcome.duration)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector(Collector):
    """Gauges read from the database at scrape time, so a standby or a restart reports them too."""

    def __init__(
        self,
        database: Database,
        jobs: list[str],
        is_leader: Callable[[], bool],
        *,
        ttl: float = FIGURES_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.jobs = jobs
        self.is_leader = is_leader
        self.ttl = ttl
        self.clock = clock
        self._cached: tuple[float, tuple[int, int, int, dict[str, Any]]] | None = None
        self._lock = threading.Lock()  # one scrape queries, the ones arriving meanwhile wait for it

    def describe(self) -> list[Any]:
        return []  # computed at collect time; describing would query the database at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "narrative_tracker_scheduler_leader", "1 when this process is the leader", value=int(self.is_leader())
        )
        try:
            figures = self._cached_figures()
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreachable: %s", exc)
            yield GaugeMetricFamily("narrative_tracker_up_database", "1 when the database answers", value=0)
            return
        yield GaugeMetricFamily("narrative_tracker_up_database", "1 when the database answers", value=1)
        articles, unhealthy, backlog, successes = figures
        yield GaugeMetricFamily("narrative_tracker_articles_stored", "Articles in the database", value=articles)
        yield GaugeMetricFamily("narrative_tracker_feeds_unhealthy", "Feeds marked unhealthy", value=unhealthy)
        yield GaugeMetricFamily(
            "narrative_tracker_classification_backlog", "Articles not yet classified by the active model", value=backlog
        )
        last = GaugeMetricFamily(
            "narrative_tracker_job_last_success_timestamp_seconds",
            "Unix time the newest successful run of a job ended",
            labels=["job"],
        )
        for job, when in successes.items():
            if when is not None:
                last.add_metric([job], when.timestamp())
        yield last

    def _cached_figures(self) -> tuple[int, int, int, dict[str, Any]]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.ttl:
                self._cached = (now, self._figures())  # an error is not cached: the next scrape retries
            return self._cached[1]

    def _figures(self) -> tuple[int, int, int, dict[str, Any]]:
        with self.database.session() as session:
            articles = session.scalar(select(func.count()).select_from(Article)) or 0
            unhealthy = session.scalar(select(func.count()).select_from(Feed).where(Feed.healthy.is_(False))) or 0
            active = active_model_version(session)
            classified = 0
            if active is not None:
                classified = (
                    session.scalar(
                        select(func.count())
                        .select_from(ClassifiedArticle)
                        .where(ClassifiedArticle.model_version == active)
                    )
                    or 0
                )
        successes = {job: summary.last_success for job, summary in history.summaries(self.database, self.jobs).items()}
        return articles, unhealthy, max(articles - classified, 0), successes


class _QueueCollector(Collector):
    """The task queue's depths (from the broker) and task counts (from the database) at scrape time."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from narrative_tracker.jobs.workers_status import live_worker_count, queue_depths, task_counts

        depth = GaugeMetricFamily(
            "narrative_tracker_queue_depth", "Messages in a queue of the broker", labels=["queue", "state"]
        )
        for queue, counts in queue_depths(self.settings, self.database).items():
            for state, value in (counts or {}).items():
                depth.add_metric([queue, state], value)
        yield depth
        try:
            tasks = task_counts(self.database)
            live = live_worker_count(self.database)
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreachable: %s", exc)
            return
        family = GaugeMetricFamily(
            "narrative_tracker_queue_tasks", "Tasks recorded per queue and status", labels=["queue", "status"]
        )
        for queue, by_status in tasks.items():
            for status in ("queued", "running", "retrying", "done", "failed", "parked"):
                family.add_metric([queue, status], by_status.get(status, 0))
        yield family
        yield GaugeMetricFamily("narrative_tracker_workers_live", "Workers with a recent heartbeat", value=live)


class HealthServer:
    """A small threaded HTTP server; ``health()`` returns (HTTP status, JSON body)."""

    def __init__(
        self,
        bind: str,
        port: int,
        health: Callable[[], tuple[int, dict[str, Any]]],
        metrics: Metrics,
        *,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.health = health
        self.metrics = metrics
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = request_timeout  # socket timeout: a client that sends nothing is dropped

            def log_message(self, format: str, *args: object) -> None:
                log.debug("health endpoint: " + format, *args)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/healthz":
                        status, body = owner.health()
                        self._send(status, json.dumps(body).encode(), "application/json")
                    elif path == "/metrics":
                        self._send(200, owner.metrics.render(), CONTENT_TYPE_LATEST)
                    else:
                        self._send(404, b'{"error": "not found: try /healthz or /metrics"}', "application/json")
                except Exception:
                    log.exception("health endpoint failed on %s", path)
                    self._send(500, b'{"status": "failing"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self._server = _BoundedServer((bind, port), Handler, max_connections)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-endpoint", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes | bytearray):  # typeshed allows bytes; a bound socket reports a str
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _BoundedServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with at most ``limit`` connections served at once."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], limit: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(limit)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Full: answer 503 from the accepting thread (a small write, with a short timeout)
            # and close, instead of starting one more thread.
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
