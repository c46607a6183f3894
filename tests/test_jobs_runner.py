"""One job run: run lock, history record, child process, chains, stops and timeouts (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from narrative_tracker.jobs import history, runner
from narrative_tracker.jobs.locks import close, make_lock
from narrative_tracker.jobs.runner import run_chain, run_job
from narrative_tracker.settings import Settings, load_settings
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import JobRun, utc_now

from helpers.jobs import (
    classify_job,
    crawl_job,
    endless_job,
    failing_job,
    progress_job,
    read_calls,
    registry,
    slow_crawl_job,
    stats_job,
    stop_once_started,
    stubborn_job,
    trends_job,
    write_config,
)

#: For tests that are not about the database: run them on SQLite only (the suite must stay fast).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def settings_for(tmp_path: Path, url: str, extra: str = "") -> Settings:
    return load_settings(write_config(tmp_path, url, extra))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return settings_for(tmp_path, db_url, "[jobs.crawl]\nevery = '1h'\n[jobs.classify]\n[jobs.trends]\n")


def test_a_successful_run_is_recorded_with_its_stats_and_ran_in_another_process(
    settings: Settings, database: Database
) -> None:
    outcome = run_job(
        settings, database, "crawl", trigger="manual", stop=threading.Event(), registry=registry(crawl=crawl_job)
    )
    assert outcome.status == "success"
    [run] = history.list_runs(database)
    assert (run.job, run.trigger, run.status, run.error) == ("crawl", "manual", "success", None)
    assert run.stats["name"] == "crawl"
    assert run.stats["pid"] != __import__("os").getpid()
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.runner == history.this_runner()


@sqlite_only
def test_stats_that_json_cannot_hold_are_stored_as_text(settings: Settings, database: Database) -> None:
    run_job(settings, database, "crawl", trigger="manual", stop=threading.Event(), registry=registry(crawl=stats_job))
    [run] = history.list_runs(database)
    assert run.stats == {"articles_stored": 3, "where": "/srv/x", "when": time.strftime("%Y")}


@sqlite_only
def test_progress_reported_in_the_job_process_reaches_the_caller_thinned_out(
    settings: Settings, database: Database
) -> None:
    seen: list[tuple[str, int, int | None]] = []
    outcome = run_job(
        settings,
        database,
        "crawl",
        trigger="manual",
        stop=threading.Event(),
        registry=registry(crawl=progress_job),
        progress=lambda job, done, total: seen.append((job, done, total)),
    )
    assert outcome.status == "success"
    assert seen[-1] == ("crawl", 50, 50)
    assert 2 <= len(seen) < 20  # about one message per 0.2 s over half a second of work, plus the last
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


@sqlite_only
def test_a_failing_job_is_recorded_failed_with_its_error(settings: Settings, database: Database) -> None:
    outcome = run_job(
        settings, database, "crawl", trigger="scheduled", stop=threading.Event(), registry=registry(crawl=failing_job)
    )
    assert outcome.status == "failed"
    assert outcome.error == "RuntimeError: the feed server said no"
    assert history.list_runs(database)[0].error == "RuntimeError: the feed server said no"


@sqlite_only
def test_a_missing_job_module_is_a_failed_run_that_names_the_module(settings: Settings, database: Database) -> None:
    outcome = run_job(
        settings,
        database,
        "crawl",
        trigger="manual",
        stop=threading.Event(),
        registry={"crawl": "narrative_tracker.jobs.no_such:run"},
    )
    assert outcome.status == "failed"
    assert "narrative_tracker.jobs.no_such" in (outcome.error or "") and "not installed" in (outcome.error or "")


def test_a_job_never_overlaps_itself_the_second_run_is_skipped(settings: Settings, database: Database) -> None:
    jobs = registry(crawl=slow_crawl_job)
    stop = threading.Event()
    first = threading.Thread(
        target=run_job,
        args=(settings, database, "crawl"),
        kwargs={"trigger": "scheduled", "stop": stop, "registry": jobs},
    )
    first.start()
    deadline = time.monotonic() + 20
    while history.running_run(database, "crawl") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_job(settings, database, "crawl", trigger="manual", stop=stop, registry=jobs)
    first.join(30)
    assert second.status == "skipped"
    assert "another crawl run was in progress" in (second.error or "")
    statuses = sorted(run.status for run in history.list_runs(database))
    assert statuses == ["skipped", "success"]
    assert [event for name, event, *_ in read_calls(settings.home)] == ["start", "end"]


@sqlite_only
def test_other_jobs_may_run_at_the_same_time(settings: Settings, database: Database) -> None:
    jobs = registry(crawl=slow_crawl_job, classify=classify_job)
    stop = threading.Event()
    first = threading.Thread(
        target=run_job,
        args=(settings, database, "crawl"),
        kwargs={"trigger": "scheduled", "stop": stop, "registry": jobs},
    )
    first.start()
    while history.running_run(database, "crawl") is None:
        time.sleep(0.05)
    other = run_job(settings, database, "classify", trigger="manual", stop=stop, registry=jobs)
    first.join(30)
    assert other.status == "success"


@sqlite_only
def test_stop_interrupts_the_child_and_records_interrupted(settings: Settings, database: Database) -> None:
    stop = threading.Event()
    stop_once_started(settings.home, stop)
    outcome = run_job(settings, database, "crawl", trigger="scheduled", stop=stop, registry=registry(crawl=endless_job))
    assert outcome.status == "interrupted"
    assert [event for _, event, *_ in read_calls(settings.home)] == ["start", "stopped"]
    [run] = history.list_runs(database)
    assert (run.status, run.stats) == ("interrupted", {"done": 3})  # what it did before it stopped


@sqlite_only
def test_a_child_that_ignores_the_stop_is_killed(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "CHILD_STOP_SECONDS", 1.0)
    stop = threading.Event()
    stop_once_started(settings.home, stop)
    outcome = run_job(
        settings, database, "crawl", trigger="scheduled", stop=stop, registry=registry(crawl=stubborn_job)
    )
    assert outcome.status == "interrupted"
    [(_, _, _, pid, _)] = read_calls(settings.home)
    assert not _alive(pid)


@sqlite_only
def test_the_job_timeout_stops_a_run_and_records_it_failed(tmp_path: Path, database: Database, db_url: str) -> None:
    settings = settings_for(tmp_path, db_url, "[jobs.crawl]\ntimeout = 1\n")
    outcome = run_job(
        settings, database, "crawl", trigger="scheduled", stop=threading.Event(), registry=registry(crawl=endless_job)
    )
    assert outcome.status == "failed"
    assert outcome.error == "timed out after 1 s (raise [jobs.crawl] timeout)"


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(settings: Settings, database: Database) -> None:
    with database.session() as session:
        session.add(JobRun(job="crawl", trigger="scheduled", status="running", started_at=utc_now(), runner="gone:1"))
    run_job(settings, database, "crawl", trigger="manual", stop=threading.Event(), registry=registry(crawl=crawl_job))
    runs = history.list_runs(database)
    assert [run.status for run in runs] == ["success", "interrupted"]
    assert "process that is gone" in (runs[1].error or "")


def test_the_chain_runs_classify_then_trends_after_a_successful_crawl(settings: Settings, database: Database) -> None:
    jobs = registry(crawl=crawl_job, classify=classify_job, trends=trends_job)
    outcomes = run_chain(settings, database, "crawl", trigger="scheduled", stop=threading.Event(), registry=jobs)
    assert [(o.job, o.trigger, o.status) for o in outcomes] == [
        ("crawl", "scheduled", "success"),
        ("classify", "chained", "success"),
        ("trends", "chained", "success"),
    ]
    calls = [(name, event) for name, event, *_ in read_calls(settings.home)]
    assert calls == [(job, event) for job in ("crawl", "classify", "trends") for event in ("start", "end")]


@sqlite_only
def test_the_chain_stops_at_a_failure(settings: Settings, database: Database) -> None:
    jobs = registry(crawl=failing_job, classify=classify_job, trends=trends_job)
    outcomes = run_chain(settings, database, "crawl", trigger="scheduled", stop=threading.Event(), registry=jobs)
    assert [o.job for o in outcomes] == ["crawl"]


@sqlite_only
def test_the_chain_skips_a_disabled_follower(tmp_path: Path, database: Database, db_url: str) -> None:
    settings = settings_for(tmp_path, db_url, "[jobs.crawl]\nevery = '1h'\n[jobs.trends]\n")  # classify disabled
    jobs = registry(crawl=crawl_job, classify=classify_job, trends=trends_job)
    outcomes = run_chain(settings, database, "crawl", trigger="scheduled", stop=threading.Event(), registry=jobs)
    assert [o.job for o in outcomes] == ["crawl"]


def test_the_run_lock_is_released_when_its_holder_dies(settings: Settings, database: Database) -> None:
    lock = make_lock(settings.database_url, settings.home, "job-crawl")
    assert lock.try_acquire()
    other = make_lock(settings.database_url, settings.home, "job-crawl")
    assert not other.try_acquire()
    close(lock)
    assert other.try_acquire()
    close(other)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie not yet reaped by its parent counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
