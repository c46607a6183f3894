"""A real scheduler (APScheduler, child processes, health endpoint) run in this process, with test jobs."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from narrative_tracker.jobs import history
from narrative_tracker.jobs.service import Service
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, ClassifiedArticle, Feed, JobRun, ModelVersion, Source, utc_now

from helpers.jobs import (
    classify_job,
    digest_job,
    read_calls,
    registry,
    retention_job,
    slow_crawl_job,
    trends_job,
    write_config,
)
from helpers.polling import wait_for

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Running:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.result: list[int] = []
        self.thread = threading.Thread(target=lambda: self.result.append(service.serve(install_signals=False)))

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.service.request_shutdown()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the service did not stop"


#: For tests that are not about the database: run them on SQLite only (the suite must stay fast).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def port() -> int:
    return free_port()


def make_service(tmp_path: Path, url: str, extra: str, port: int, jobs: dict[str, str], **kwargs: Any) -> Service:
    settings = load_settings(write_config(tmp_path, url, extra, port=port))
    return Service(settings, registry=jobs, **kwargs)


@pytest.fixture
def pipeline(tmp_path: Path, db_url: str, port: int) -> Iterator[Service]:
    extra = "[jobs.crawl]\nevery = '1s'\n[jobs.classify]\nevery = '1h'\n[jobs.trends]\nevery = '1h'\n"
    jobs = registry(crawl=slow_crawl_job, classify=classify_job, trends=trends_job)
    service = make_service(tmp_path, db_url, extra, port, jobs)
    yield service


def test_crawl_then_classify_then_trends_in_order_without_overlap(pipeline: Service, port: int) -> None:
    home = pipeline.settings.home
    with Running(pipeline):
        wait_for(lambda: sum(1 for c in read_calls(home) if c[:2] == ("trends", "end")) >= 2, 40, "two crawl chains")
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        health = json.loads(body)
        _, metrics = get(f"http://127.0.0.1:{port}/metrics")
    calls = read_calls(home)
    crawls = _spans(calls, "crawl")
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(crawls)), crawls
    for job, follower in (("crawl", "classify"), ("classify", "trends")):
        for _, end in _spans(calls, job)[:2]:
            assert any(start >= end for start, _ in _spans(calls, follower)), f"{follower} did not follow {job}"
    assert {c[4] for c in calls if c[0] in ("classify", "trends")} == {"chained"}
    assert status == 200
    assert health["leader"] is True
    assert set(health["jobs"]) == {"crawl", "classify", "trends", "digest", "retrain", "retention"}
    assert health["jobs"]["crawl"]["last_success"] and health["jobs"]["classify"]["last_success"]
    assert health["jobs"]["crawl"]["next_run"] and health["jobs"]["digest"]["next_run"] is None  # disabled
    text = metrics.decode()
    assert "# TYPE narrative_tracker_job_runs_total counter" in text
    assert _sample(text, 'narrative_tracker_job_runs_total{job="crawl",status="success"}') >= 2
    assert 'narrative_tracker_job_duration_seconds_bucket{job="classify",le="1.0"}' in text


@sqlite_only
def test_a_stop_lets_the_running_job_finish_within_the_grace_period(pipeline: Service) -> None:
    home = pipeline.settings.home
    with Running(pipeline) as running:
        wait_for(lambda: any(c[:2] == ("crawl", "start") for c in read_calls(home)), 20, "a crawl")
        pipeline.request_shutdown()
        running.thread.join(20)
        assert running.result == [0]
    runs = history.list_runs(_db(pipeline))
    crawl_runs = [run for run in runs if run.job == "crawl"]
    assert crawl_runs[0].status == "success"  # 2 s of work < 3 s of grace
    assert not [run for run in runs if run.trigger == "chained" and run.started_at > crawl_runs[0].finished_at]


@sqlite_only
def test_after_the_grace_period_the_job_is_stopped_and_recorded_interrupted(
    tmp_path: Path, db_url: str, port: int
) -> None:
    from helpers.jobs import endless_job

    service = make_service(tmp_path, db_url, "[jobs.crawl]\nevery = '1s'\n", port, registry(crawl=endless_job))
    home = service.settings.home
    with Running(service) as running:
        wait_for(lambda: any(c[:2] == ("endless", "start") for c in read_calls(home)), 20, "a run")
        began = time.monotonic()
        service.request_shutdown()
        running.thread.join(30)
        assert running.result == [0]
        assert time.monotonic() - began < 3 + 5 + 3  # grace, then the child's stop time
    [run] = history.list_runs(_db(service))
    assert run.status == "interrupted"
    assert [c[1] for c in read_calls(home)] == ["start", "stopped"]


def test_catch_up_runs_a_missed_digest_once_at_start(tmp_path: Path, db_url: str, port: int) -> None:
    now = utc_now().replace(microsecond=0)
    fired = now - timedelta(hours=1)  # the digest's time of day was one hour ago
    cron = f"{fired.minute} {fired.hour} * * *"
    extra = f"[jobs.digest]\ncron = '{cron}'\n[jobs.retention]\ncron = '{cron}'\n"
    service = make_service(
        tmp_path, db_url, extra, port, registry(digest=digest_job, retention=retention_job), clock=lambda: now
    )
    db = _db(service)
    with db.session() as session:  # the digest last ran yesterday; retention ran after today's fire time
        session.add(_run("digest", fired - timedelta(days=1)))
        session.add(_run("retention", fired + timedelta(minutes=5)))
    with Running(service):
        wait_for(lambda: any(c[:2] == ("digest", "end") for c in read_calls(service.settings.home)), 20, "the catch-up")
        time.sleep(1.5)
    runs = history.list_runs(db)
    assert [(run.job, run.trigger, run.status) for run in runs if run.started_at > now - timedelta(minutes=1)] == [
        ("digest", "catch-up", "success")
    ]


def test_metrics_read_articles_feeds_and_the_classification_backlog(tmp_path: Path, db_url: str, port: int) -> None:
    service = make_service(tmp_path, db_url, "", port, {})
    db = _db(service)
    with db.session() as session:
        source = Source(slug="s", name="S", group="western")
        session.add(source)
        session.flush()
        session.add_all([Feed(source_id=source.id, url="http://127.0.0.1/f", healthy=False)])
        articles = [Article(source_id=source.id, url=f"http://127.0.0.1/{i}", url_hash=f"{i:040d}") for i in range(3)]
        session.add_all(articles)
        session.add(ModelVersion(version="m1", status="active"))
        session.flush()
        session.add(ClassifiedArticle(article_id=articles[0].id, model_version="m1"))
    with Running(service):
        wait_for(lambda: service.is_leader and get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 10, "the endpoint")
        _, body = get(f"http://127.0.0.1:{port}/metrics")
        status, _ = get(f"http://127.0.0.1:{port}/nothing")
    text = body.decode()
    assert _sample(text, "narrative_tracker_articles_stored") == 3
    assert _sample(text, "narrative_tracker_feeds_unhealthy") == 1
    assert _sample(text, "narrative_tracker_classification_backlog") == 2
    assert _sample(text, "narrative_tracker_scheduler_leader") == 1
    assert status == 404


def _db(service: Service) -> Database:
    return service.database


def _run(job: str, started: datetime) -> JobRun:
    return JobRun(
        job=job,
        trigger="scheduled",
        status="success",
        started_at=started,
        finished_at=started + timedelta(seconds=3),
        runner="old:1",
    )


def _spans(calls: list[tuple[str, str, float, int, str]], job: str) -> list[tuple[float, float]]:
    starts = [c[2] for c in calls if c[0] == job and c[1] == "start"]
    ends = [c[2] for c in calls if c[0] == job and c[1] in ("end", "stopped")]
    return list(zip(starts, ends, strict=False))


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics:\n{text}")


@pytest.mark.postgres
def test_a_leader_that_loses_its_lock_session_steps_down_then_leads_again(
    tmp_path: Path, postgres_server_url: str, port: int
) -> None:
    """PostgreSQL only: a SQLite leader's file lock ends only with its process."""
    import zlib

    from sqlalchemy import create_engine, text

    service = make_service(tmp_path, postgres_server_url, "[jobs.retention]\nevery = '1h'\n", port, {})
    with Running(service):
        wait_for(lambda: service.is_leader, 20, "leadership")
        admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            killed = connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid = :ns AND objid = :key"
                ),
                {"ns": 0x4E54, "key": zlib.crc32(b"scheduler") & 0x7FFFFFFF},
            )
        admin.dispose()
        assert killed == 1
        wait_for(lambda: not service.is_leader, 15, "the leader to notice and step down")
        wait_for(lambda: service.is_leader, 15, "leadership again")
