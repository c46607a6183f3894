"""Job functions and config files for the scheduler tests.

The runner imports a job by "module:function" (``helpers.jobs:crawl_job``) in a spawned child
process, so these live at module level. Each one appends a line to ``<home>/calls.log``
(``name start|end monotonic-ish time pid``) so that a test can read the order and overlap of runs
from outside the processes.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from narrative_tracker.jobs.base import JobContext, JobInterrupted
from narrative_tracker.jobs.registry import target_of


def _log(ctx: JobContext, name: str, event: str) -> None:
    path = Path(ctx.settings.home) / "calls.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{name} {event} {time.time():.3f} {os.getpid()} {ctx.trigger}\n")


def read_calls(home: Path) -> list[tuple[str, str, float, int, str]]:
    path = home / "calls.log"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name, event, at, pid, trigger = line.split()
        rows.append((name, event, float(at), int(pid), trigger))
    return rows


def _quick(name: str) -> Any:
    def job(ctx: JobContext) -> dict[str, Any]:
        _log(ctx, name, "start")
        time.sleep(0.2)
        _log(ctx, name, "end")
        return {"name": name, "pid": os.getpid()}

    job.__name__ = job.__qualname__ = f"{name}_job"
    return job


crawl_job = _quick("crawl")
classify_job = _quick("classify")
trends_job = _quick("trends")
digest_job = _quick("digest")
retention_job = _quick("retention")


def slow_crawl_job(ctx: JobContext) -> dict[str, Any]:
    """Takes 2 s (longer than the 1 s interval the overlap test gives it); honours ctx.stop."""
    _log(ctx, "crawl", "start")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if ctx.stop.wait(0.05):
            _log(ctx, "crawl", "stopped")
            raise JobInterrupted("stopped by the test")
    _log(ctx, "crawl", "end")
    return {"slept": 2.0}


def endless_job(ctx: JobContext) -> dict[str, Any]:
    """Runs until ctx.stop is set, then says it was interrupted."""
    _log(ctx, "endless", "start")
    while not ctx.stop.wait(0.05):
        pass
    _log(ctx, "endless", "stopped")
    raise JobInterrupted("stopped by the service", stats={"done": 3})


def stubborn_job(ctx: JobContext) -> dict[str, Any]:
    """Ignores ctx.stop: only SIGKILL ends it."""
    _log(ctx, "stubborn", "start")
    time.sleep(600)
    return {}


def progress_job(ctx: JobContext) -> dict[str, Any]:
    """Reports progress 1..50 of 50, faster than the runner forwards it."""
    assert ctx.progress is not None
    for done in range(1, 51):
        ctx.progress(done, 50)
        time.sleep(0.01)
    return {"done": 50}


def failing_job(ctx: JobContext) -> dict[str, Any]:
    _log(ctx, "failing", "start")
    raise RuntimeError("the feed server said no")


def stats_job(ctx: JobContext) -> dict[str, Any]:
    """Stats with values JSON cannot hold as such (a path, a set) are stored as text."""
    return {"articles_stored": 3, "where": Path("/srv/x"), "when": time.strftime("%Y")}


def registry(**jobs: Any) -> dict[str, str]:
    """A registry mapping job names to these functions, e.g. ``registry(crawl=crawl_job)``."""
    return {name: target_of(function) for name, function in jobs.items()}


def write_config(folder: Path, database_url: str, extra: str = "", *, port: int = 0) -> Path:
    """A config file for a scheduler test: every job disabled unless ``extra`` enables it."""
    disabled = "".join(
        f"[jobs.{name}]\nenabled = false\n\n"
        for name in ("crawl", "classify", "trends", "digest", "retrain", "retention")
        if f"[jobs.{name}]" not in extra
    )
    path = folder / "config.toml"
    path.write_text(
        f'[storage]\ndatabase_url = "{database_url}"\n\n'
        f'[service]\nbind = "127.0.0.1"\nport = {port}\nshutdown_grace = 3\nstandby_poll = 1\n\n'
        f"{disabled}{extra}",
        encoding="utf-8",
    )
    return path


def stop_once_started(home: Path, stop: threading.Event, *, limit: float = 60.0) -> threading.Thread:
    """Sets ``stop`` as soon as a job has logged its start (at most ``limit`` seconds later), so
    that a test stops a running job, not one a loaded machine has not started yet."""

    def watch() -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not any(event == "start" for _, event, *_ in read_calls(home)):
            time.sleep(0.05)
        stop.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher
