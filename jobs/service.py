"""``narrative-tracker scheduler run``: the one long-running process.

Every process elects itself leader by taking the leader lock (:mod:`jobs.locks`); the others stay
on standby, retry every ``[service] standby_poll`` seconds, and answer ``/healthz`` with
``"leader": false``. The leader declares the jobs in code from ``[jobs.*]`` on an APScheduler 3
``BackgroundScheduler`` with a memory job store (nothing pickled, nothing to migrate):

- ``coalesce=True``: fire times missed while the process was busy or suspended collapse into one
  run, never a burst;
- ``max_instances=1``: a job never overlaps itself in this process (and the run lock keeps it from
  overlapping a run elsewhere, such as a manual ``jobs run``);
- ``misfire_grace_time`` from ``[jobs.<name>]`` (default 600 s): a run that could not start on time
  still starts if it is at most that late, otherwise it waits for the next fire time.

Jobs run in threads of a small pool, each doing its work in a child process (:mod:`jobs.runner`),
so the scheduler's own thread stays idle and on time. A successful crawl is followed at once by
classify, and a successful classify by trends.

SIGTERM or SIGINT: the scheduler stops starting runs, running jobs get ``[service]
shutdown_grace`` seconds to finish, then their child processes are stopped and the runs recorded
as interrupted, the leader lock is released and the process exits with status 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from narrative_tracker.jobs import history
from narrative_tracker.jobs.health import HealthServer, Metrics
from narrative_tracker.jobs.locks import Lock, close, make_lock
from narrative_tracker.jobs.registry import DEFAULT_REGISTRY
from narrative_tracker.jobs.runner import CHILD_STOP_SECONDS, LogSetup, run_chain
from narrative_tracker.jobs.schedule import plan_job
from narrative_tracker.storage.database import Database, open_database
from narrative_tracker.storage.models import SchedulerInstance, utc_now

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from narrative_tracker.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between the leader's heartbeats (and its check that it still holds the leader lock).
HEARTBEAT_SECONDS = 5.0
#: An instance whose heartbeat is older than this is considered gone.
INSTANCE_STALE_SECONDS = 60.0


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        registry: Mapping[str, str] = DEFAULT_REGISTRY,
        clock: Callable[[], datetime] = utc_now,
        logs: LogSetup | None = None,
    ) -> None:
        self.settings = settings
        self.registry = dict(registry)
        self.clock = clock
        self.logs = logs or LogSetup(logging.getLogger().level)
        self.database = open_database(settings.database_url)
        self.zone = ZoneInfo(settings.digest.timezone)
        self.runner = history.this_runner()
        self.job_names = list(settings.jobs)
        self._shutdown = threading.Event()
        self._job_stop = threading.Event()
        self._accepting = False
        self._leader = False
        self._scheduler: BackgroundScheduler | None = None
        self._catch_up: set[str] = set()
        self._active = 0
        self._idle = threading.Condition()
        self.metrics = Metrics(self.database, self.job_names, lambda: self._leader, settings)
        self.health_server: HealthServer | None = None
        if settings.service.port:
            self.health_server = HealthServer(settings.service.bind, settings.service.port, self.health, self.metrics)

    # --- lifecycle ------------------------------------------------------------------------

    def serve(self, *, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or ``request_shutdown``); returns the exit status."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        if self.health_server is not None:
            self.health_server.start()
            log.info("health and metrics on %s/healthz and /metrics", self.health_server.url)
        lock = make_lock(self.settings.database_url, self.settings.home, "scheduler")
        announced = False
        try:
            self._forget_dead_instances()
            while not self._shutdown.is_set():
                if lock.try_acquire():
                    announced = False
                    self._lead(lock)
                    if not self._shutdown.is_set():
                        log.error("lost the leader lock: back to standby")
                        lock.release()
                elif not announced:
                    log.info(
                        "standby: another scheduler is the leader (%s); trying again every %g s",
                        self._leader_name() or "unknown",
                        self.settings.service.standby_poll,
                    )
                    announced = True
                self._heartbeat()
                self._shutdown.wait(self.settings.service.standby_poll)
        finally:
            close(lock)
            self._remove_instance()
            if self.health_server is not None:
                self.health_server.stop()
            self.database.dispose()
        log.info("scheduler stopped")
        return 0

    def request_shutdown(self) -> None:
        self._accepting = False
        self._shutdown.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._shutdown.is_set():
            log.warning("%s again: already stopping", name)
            return
        log.info("%s: stopping; running jobs have %g s to finish", name, self.settings.service.shutdown_grace)
        self.request_shutdown()

    def _lead(self, lock: Lock) -> None:
        """Be the leader until shutdown or until the lock is lost."""
        log.info("leader: running the jobs (%s)", self.runner)
        try:
            self._interrupt_dead_runs()
            self._job_stop = threading.Event()
            self._start_scheduler()
            self._leader = True  # only now: /healthz calls a leader without a running scheduler failing
            self._heartbeat()
            next_beat = time.monotonic() + HEARTBEAT_SECONDS
            while not self._shutdown.wait(1.0):
                if time.monotonic() >= next_beat:
                    if not lock.still_held():
                        break
                    self._heartbeat()
                    next_beat = time.monotonic() + HEARTBEAT_SECONDS
        finally:
            self._stop_scheduler(self.settings.service.shutdown_grace if self._shutdown.is_set() else 0.0)
            self._leader = False

    def _start_scheduler(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=max(len(self.job_names), 1))},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.zone,
        )
        now = self.clock()
        history_start = history.first_start(self.database)
        self._catch_up = set()
        for name, job in self.settings.jobs.items():
            if not job.enabled:
                continue
            plan = plan_job(
                name,
                job,
                self.zone,
                now=now,
                last_start=history.last_start(self.database, name),
                history_start=history_start,
            )
            if plan is None:
                log.info("%s: no schedule; runs only when chained or by `jobs run %s`", name, name)
                continue
            if plan.catch_up:
                self._catch_up.add(name)
                log.info("%s: a scheduled run was missed while no scheduler ran: catching up now", name)
            scheduler.add_job(
                self._fire,
                trigger=plan.trigger,
                args=[name],
                id=name,
                name=name,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=job.misfire_grace_time,
                next_run_time=plan.first_run,
            )
        self._scheduler = scheduler
        self._accepting = True  # before start(): a catch-up run fires at once
        scheduler.start()
        for job in scheduler.get_jobs():
            log.info("%s: next run %s", job.id, job.next_run_time.isoformat(timespec="seconds"))

    def _stop_scheduler(self, grace: float) -> None:
        """Stop starting runs; give running ones ``grace`` seconds, then stop their processes."""
        self._accepting = False
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if not self._wait_idle(grace):
            log.warning("%d job run(s) still going after %g s: stopping them", self._active, grace)
            self._job_stop.set()
            if not self._wait_idle(CHILD_STOP_SECONDS + 5.0):
                log.error("%d job run(s) did not stop; leaving them", self._active)

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active and time.monotonic() < deadline:
                self._idle.wait(min(0.5, max(deadline - time.monotonic(), 0.01)))
            return self._active == 0

    def _fire(self, name: str) -> None:
        """What APScheduler calls: one run of ``name`` and its chain, in an executor thread."""
        if not self._accepting:
            return
        trigger = "catch-up" if name in self._catch_up else "scheduled"
        self._catch_up.discard(name)
        with self._idle:
            self._active += 1
        try:
            run_chain(
                self.settings,
                self.database,
                name,
                trigger=trigger,
                stop=self._job_stop,
                registry=self.registry,
                on_finish=self.metrics.observe,
                logs=self.logs,
                keep_going=lambda: self._accepting,
            )
        except Exception:
            log.exception("%s: the run could not be recorded (database unreachable?)", name)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    # --- what others see ------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leader

    def next_runs(self) -> dict[str, datetime | None]:
        result: dict[str, datetime | None] = dict.fromkeys(self.job_names)
        scheduler = self._scheduler
        if self._leader and scheduler is not None and scheduler.running:
            for job in scheduler.get_jobs():
                result[job.id] = job.next_run_time
        return result

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of ``/healthz``."""
        body: dict[str, Any] = {"status": "ok", "leader": self._leader, "runner": self.runner, "jobs": {}}
        problems: list[str] = []
        try:
            summaries = history.summaries(self.database, self.job_names)
        except SQLAlchemyError as exc:
            summaries = {}
            body["status"] = "failing"
            problems.append(f"database unreachable: {type(exc).__name__}")
        next_runs = self.next_runs()
        for name in self.job_names:
            summary = summaries.get(name)
            enabled = self.settings.jobs[name].enabled
            last_status = summary.last_status if summary else None
            body["jobs"][name] = {
                "enabled": enabled,
                "last_success": _iso(summary.last_success if summary else None),
                "last_status": last_status,
                "next_run": _iso(next_runs.get(name)),
            }
            if enabled and last_status == "failed":
                problems.append(f"{name}: last run failed")
        if self._leader and not self._shutdown.is_set() and (self._scheduler is None or not self._scheduler.running):
            body["status"] = "failing"
            problems.append("leader without a running scheduler")
        if problems and body["status"] == "ok":
            body["status"] = "degraded"
        body["problems"] = problems
        return (503 if body["status"] == "failing" else 200), body

    def _heartbeat(self) -> None:
        """Publish this instance, its role and (leader) the next runs, for ``scheduler status``."""
        now = utc_now()
        url = f"{self.health_server.url}/healthz" if self.health_server else ""
        try:
            with self.database.session() as session:
                row = session.get(SchedulerInstance, self.runner)
                if row is None:
                    row = SchedulerInstance(runner=self.runner, started_at=now)
                    session.add(row)
                row.role = "leader" if self._leader else "standby"
                row.heartbeat_at = now
                row.health_url = url
                row.next_runs = {name: _iso(when) for name, when in self.next_runs().items()}
        except SQLAlchemyError as exc:
            log.warning("heartbeat not recorded: %s", exc)

    def _leader_name(self) -> str | None:
        try:
            for instance in live_instances(self.database):
                if instance.role == "leader":
                    return instance.runner
        except SQLAlchemyError:
            return None
        return None

    def _forget_dead_instances(self) -> None:
        cutoff = utc_now() - timedelta(seconds=INSTANCE_STALE_SECONDS)
        try:
            with self.database.session() as session:
                session.execute(delete(SchedulerInstance).where(SchedulerInstance.heartbeat_at < cutoff))
        except SQLAlchemyError as exc:
            log.warning("cannot tidy the scheduler instances: %s", exc)

    def _remove_instance(self) -> None:
        try:
            with self.database.session() as session:
                session.execute(delete(SchedulerInstance).where(SchedulerInstance.runner == self.runner))
        except SQLAlchemyError as exc:
            log.warning("cannot remove this instance from the table: %s", exc)

    def _interrupt_dead_runs(self) -> None:
        """Runs left ``running`` by a process that died (SIGKILL, power loss) become ``interrupted``.

        Holding a job's run lock proves that no live process runs it, wherever it is.
        """
        for name in self.job_names:
            lock = make_lock(self.settings.database_url, self.settings.home, f"job-{name}")
            try:
                if lock.try_acquire():
                    count = history.interrupt_stale_runs(
                        self.database, name, f"its process died; found by the scheduler {self.runner} at start-up"
                    )
                    if count:
                        log.warning("%s: %d run(s) left running by a dead process marked interrupted", name, count)
            finally:
                close(lock)


def live_instances(database: Database) -> list[SchedulerInstance]:
    """Scheduler processes whose heartbeat is recent, leader first."""
    from sqlalchemy import select

    cutoff = utc_now() - timedelta(seconds=INSTANCE_STALE_SECONDS)
    with database.session() as session:
        rows = list(session.scalars(select(SchedulerInstance).where(SchedulerInstance.heartbeat_at >= cutoff)))
    return sorted(rows, key=lambda row: (row.role != "leader", row.started_at))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
