"""Running one job: the run lock, the history record and a child process that does the work.

The service and ``narrative-tracker jobs run`` share this path. Each run:

1. takes the job's run lock (see :mod:`jobs.locks`), so a job never overlaps itself, whether the
   other run belongs to the service or to a manual command on any machine; a run that finds the
   lock taken is recorded as ``skipped``;
2. marks ``running`` rows of that job left by a dead process as ``interrupted`` (holding the lock
   proves nobody runs it);
3. runs the job function in a child process (spawned, so it shares no threads, locks or database
   connections with the scheduler, and CPU-heavy work cannot delay the scheduler's timers); the
   child opens its own database connection and sends its stats back through a pipe;
4. records the outcome: success (with the stats), failed (with the error), or interrupted.

Stopping: when ``stop`` is set or the job's timeout passes, the child gets SIGTERM, which sets the
job's ``ctx.stop`` (the crawl then stops its Scrapy process and raises JobInterrupted); a child
that has not ended ``CHILD_STOP_SECONDS`` later is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from narrative_tracker.interrupt import StopFlag
from narrative_tracker.jobs import history
from narrative_tracker.jobs.locks import acquire_waiting, close, make_lock
from narrative_tracker.jobs.registry import DEFAULT_REGISTRY, chained_after

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

log = logging.getLogger(__name__)

#: Called with (job, done, total) while a job tells its progress.
Progress = Callable[[str, int, int | None], None]

#: Seconds a child has between SIGTERM and SIGKILL.
CHILD_STOP_SECONDS = 12.0
#: Seconds between two progress messages from a job process.
PROGRESS_INTERVAL = 0.2
#: How long a chained run waits for another run of the same job to end before it is skipped.
CHAIN_LOCK_WAIT_SECONDS = 600.0


@dataclass(frozen=True)
class RunOutcome:
    job: str
    trigger: str
    status: str
    run_id: int | None
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration: float = 0.0


@dataclass(frozen=True)
class LogSetup:
    """How the child process logs (it starts with a bare interpreter)."""

    level: int = logging.INFO
    fmt: str = "plain"


def run_job(
    settings: Settings,
    database: Database,
    name: str,
    *,
    trigger: str,
    stop: StopFlag,
    registry: Mapping[str, str] = DEFAULT_REGISTRY,
    lock_wait: float = 0.0,
    logs: LogSetup | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Run job ``name`` once through the lock, the history and a child process."""
    lock = make_lock(settings.database_url, settings.home, f"job-{name}")
    try:
        got = lock.try_acquire() if lock_wait <= 0 else acquire_waiting(lock, timeout=lock_wait, give_up=stop.is_set)
        if not got:
            return _skip(database, name, trigger)
        me = history.this_runner()
        stale = history.interrupt_stale_runs(
            database, name, f"left running by a process that is gone; found by {me} at its next run"
        )
        if stale:
            log.warning("%s: %d run(s) left running by a dead process marked interrupted", name, stale)
        run_id = history.start_run(database, name, trigger)
        log.info("%s: run %d started (%s)", name, run_id, trigger, extra={"job": name, "run_id": run_id})
        began = time.monotonic()
        timeout = settings.jobs[name].timeout if name in settings.jobs else None
        target = registry.get(name, DEFAULT_REGISTRY.get(name, ""))
        try:
            status, stats, error = execute_in_child(
                settings, name, target, trigger, stop, timeout, logs, progress=progress
            )
        except Exception as exc:  # the process could not even start: still end the record
            log.exception("%s: cannot start the job process", name)
            status, stats, error = "failed", {}, f"cannot start the job process: {exc}"
        duration = time.monotonic() - began
        history.finish_run(database, run_id, status, stats=stats, error=error)
    finally:
        close(lock)
    level = logging.INFO if status == "success" else logging.WARNING
    log.log(
        level,
        "%s: run %d %s in %.1f s%s",
        name,
        run_id,
        status,
        duration,
        f": {error}" if error else "",
        extra={"job": name, "run_id": run_id, "status": status, "stats": stats},
    )
    return RunOutcome(name, trigger, status, run_id, stats, error, duration)


def run_chain(
    settings: Settings,
    database: Database,
    name: str,
    *,
    trigger: str,
    stop: StopFlag,
    registry: Mapping[str, str] = DEFAULT_REGISTRY,
    on_finish: Callable[[RunOutcome], None] | None = None,
    logs: LogSetup | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    progress: Progress | None = None,
) -> list[RunOutcome]:
    """Run ``name``, then, after each success, the jobs chained after it (crawl -> classify -> trends).

    ``keep_going()`` is asked before each run: the service says no once it is shutting down.
    """
    outcomes: list[RunOutcome] = []
    queue = [(name, trigger, 0.0)]
    enabled = {job: value.enabled for job, value in settings.jobs.items()}
    while queue and not stop.is_set() and keep_going():
        job, why, wait = queue.pop(0)
        outcome = run_job(
            settings,
            database,
            job,
            trigger=why,
            stop=stop,
            registry=registry,
            lock_wait=wait,
            logs=logs,
            progress=progress,
        )
        outcomes.append(outcome)
        if on_finish is not None:
            on_finish(outcome)
        if outcome.status == "success":
            queue.extend((follower, "chained", CHAIN_LOCK_WAIT_SECONDS) for follower in chained_after(job, enabled))
    return outcomes


def _skip(database: Database, name: str, trigger: str) -> RunOutcome:
    other = history.running_run(database, name)
    reason = (
        f"another {name} run was in progress (run {other.id} by {other.runner}, started {other.started_at:%H:%M:%S})"
        if other
        else f"another {name} run was in progress"
    )
    run_id = history.record_skipped(database, name, trigger, reason)
    log.warning("%s: skipped: %s", name, reason, extra={"job": name, "run_id": run_id})
    return RunOutcome(name, trigger, "skipped", run_id, error=reason)


def execute_in_child(
    settings: Settings,
    name: str,
    target: str,
    trigger: str,
    stop: StopFlag,
    timeout: float | None,
    logs: LogSetup | None = None,
    *,
    progress: Progress | None = None,
) -> tuple[str, dict[str, Any], str | None]:
    """Run ``target`` in a spawned child; (status, stats, error).

    The child sends ``("progress", done, total)`` messages while it works (when the job reports
    progress) and one ``("result", status, stats, error)`` at the end.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=child_main,
        args=(sender, settings, name, target, trigger, logs or LogSetup(logging.getLogger().level)),
        name=f"narrative-tracker-{name}",
    )
    process.start()
    sender.close()
    deadline = time.monotonic() + timeout if timeout else None
    result: tuple[str, dict[str, Any], str | None] | None = None
    why_stopped: str | None = None
    on_progress = (lambda done, total: progress(name, done, total)) if progress else None
    try:
        while result is None:
            result = _receive(receiver, 0.2, on_progress)
            if result is not None or not process.is_alive():
                result = result or _receive(receiver, 0.5, on_progress)
                break
            if stop.is_set():
                why_stopped = "interrupted"
            elif deadline is not None and time.monotonic() > deadline:
                why_stopped = "timeout"
            if why_stopped:
                result = _stop_child(process, receiver)
                break
    finally:
        process.join(CHILD_STOP_SECONDS)
        if process.is_alive():
            _kill_group(process)
            process.join(2)
        receiver.close()
    if why_stopped == "timeout" and (result is None or result[0] != "success"):
        return "failed", (result[1] if result else {}), f"timed out after {timeout:g} s (raise [jobs.{name}] timeout)"
    if why_stopped == "interrupted" and (result is None or result[0] != "success"):
        said = f" ({result[2]})" if result and result[2] else ""
        return "interrupted", (result[1] if result else {}), f"stopped before it finished (shutdown or Ctrl-C){said}"
    if result is None:
        return "failed", {}, f"the job process ended with exit code {process.exitcode} without reporting"
    return result


def _receive(
    receiver: Connection, wait: float, on_progress: Callable[[int, int | None], None] | None = None
) -> tuple[str, dict[str, Any], str | None] | None:
    """The child's result if it comes within ``wait`` seconds; progress messages are handed on."""
    deadline = time.monotonic() + wait
    try:
        while receiver.poll(max(deadline - time.monotonic(), 0.0)):
            message = receiver.recv()
            if message[0] == "progress":
                if on_progress is not None:
                    on_progress(message[1], message[2])
                continue
            _, status, stats, error = message
            return str(status), dict(stats), error
    except (EOFError, OSError):
        return None
    return None


def _stop_child(
    process: multiprocessing.process.BaseProcess, receiver: Connection
) -> tuple[str, dict[str, Any], str | None] | None:
    """SIGTERM (the job sees ctx.stop), then SIGKILL for the whole group after CHILD_STOP_SECONDS."""
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + CHILD_STOP_SECONDS
    while time.monotonic() < deadline:
        result = _receive(receiver, 0.2)
        if result is not None:
            return result
        if not process.is_alive():
            return _receive(receiver, 0.2)
    _kill_group(process)
    return None


def _kill_group(process: multiprocessing.process.BaseProcess) -> None:
    """The child leads its own process group: this also ends what it started (a Scrapy crawl)."""
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


# --- in the child process ----------------------------------------------------------------


def child_main(sender: Connection, settings: Settings, name: str, target: str, trigger: str, logs: LogSetup) -> None:
    """Entry point of the job process: run the job function and send (status, stats, error) back."""
    from narrative_tracker.jobs import logs as logging_setup

    logging_setup.configure(logs.level, logs.fmt)
    stop = threading.Event()
    _detach(stop)
    sending = threading.Lock()  # jobs may report progress from a thread of their own
    last_report = [0.0]

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last_report[0] < PROGRESS_INTERVAL and (total is None or done < total):
            return
        last_report[0] = now
        with sending, contextlib.suppress(OSError):
            sender.send(("progress", done, total))

    try:
        status, stats, error = _call_job(settings, name, target, trigger, stop, report)
    except BaseException as exc:  # the parent must hear about anything, even SystemExit
        status, stats, error = "failed", {}, f"{type(exc).__name__}: {exc}"
    try:
        with sending:
            sender.send(("result", status, stats, error))
    finally:
        sender.close()


def _detach(stop: threading.Event) -> None:
    """Own process group, SIGTERM -> ctx.stop, and stop when the parent dies (SIGKILL leaves orphans)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpgrp()  # a terminal's Ctrl-C or systemd's SIGTERM reach the parent, which decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.warning("the scheduler process %d is gone: stopping this job", parent)
        stop.set()
        time.sleep(CHILD_STOP_SECONDS * 2)
        os._exit(1)

    threading.Thread(target=watch_parent, name="watch-parent", daemon=True).start()


def _call_job(
    settings: Settings,
    name: str,
    target: str,
    trigger: str,
    stop: StopFlag,
    progress: Callable[[int, int | None], None],
) -> tuple[str, dict[str, Any], str | None]:
    from narrative_tracker.errors import NarrativeTrackerError
    from narrative_tracker.jobs.base import JobContext, JobInterrupted
    from narrative_tracker.jobs.registry import JobUnavailableError, resolve
    from narrative_tracker.storage.database import open_database

    try:
        function = resolve(target)
    except JobUnavailableError as exc:
        return "failed", {}, str(exc)
    try:
        database = open_database(settings.database_url, migrate=False)
    except NarrativeTrackerError as exc:
        return "failed", {}, str(exc)
    try:
        stats = function(
            JobContext(settings=settings, database=database, stop=stop, trigger=trigger, progress=progress)
        )
        return "success", _json_safe(stats), None
    except JobInterrupted as exc:
        return "interrupted", _json_safe(exc.stats), str(exc) or "stopped"
    except NarrativeTrackerError as exc:
        return "failed", {}, str(exc)
    except Exception as exc:
        log.exception("%s failed", name)
        return "failed", {}, f"{type(exc).__name__}: {exc}"
    finally:
        database.dispose()


def _json_safe(stats: Any) -> dict[str, Any]:
    """Stats go into a JSON column: anything else (dates, paths) is written as text."""
    if not isinstance(stats, dict):
        return {"result": json.loads(json.dumps(stats, default=str))} if stats is not None else {}
    return dict(json.loads(json.dumps(stats, default=str)))
