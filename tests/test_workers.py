"""Crawl and classify on worker processes through RabbitMQ, with PostgreSQL as the shared store.

Real components: a news web on 127.0.0.1, the machine's RabbitMQ and PostgreSQL, worker
processes started with ``narrative-tracker worker``. Scaled down from the issue's 40 sources x
100 articles (and 20,000 classified articles): two workers crawl 4,000 articles in about 85 s on
the shared two cores (``bench/workers.py``, which runs the full size), too long for this suite.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from narrative_tracker.jobs.base import JobContext
from narrative_tracker.jobs.crawl import run as crawl_job
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import Database, open_database
from narrative_tracker.storage.models import Article, ClassifiedArticle, QueueTask, QueueWorker

from helpers.polling import wait_for
from helpers.queue import (
    BROKER_URL,
    CuttableProxy,
    broker_and_fresh_postgres,
    build_web,
    cli,
    paragraphs,
    start_worker,
    stop_workers,
    write_setup,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url(postgres_server_url: str) -> Iterator[str]:
    with broker_and_fresh_postgres(postgres_server_url) as url:
        yield url


@pytest.fixture
def web() -> Iterator[NewsWeb]:
    server = NewsWeb().start()
    try:
        yield server
    finally:
        server.stop()


def _db(config: Path) -> Database:
    return open_database(load_settings(config).database_url)


def _articles(db: Database) -> tuple[int, int]:
    with db.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Article)) or 0,
            session.scalar(select(func.count(func.distinct(Article.url)))) or 0,
        )


def test_two_workers_crawl_every_article_once_within_the_domain_limit(
    web: NewsWeb, pg_url: str, tmp_path: Path
) -> None:
    sources, articles = 8, 25
    urls = build_web(web, sources, articles, delay=0.05)
    # Every source is on 127.0.0.1, one domain: two workers x two crawls at once x two requests
    # each could reach 8 at once; the shared limit is 2.
    config = write_setup(tmp_path, web, sources, pg_url, concurrent_requests_per_domain=2)
    db = _db(config)
    workers = [start_worker(config, "--concurrency", "2", log=tmp_path / f"w{i}.log") for i in range(2)]
    try:
        result = cli(config, "crawl", "--json", timeout=180)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["new_articles"] == len(urls) and summary["tasks"]["done"] == sources
        assert _articles(db) == (len(urls), len(urls))
        with db.session() as session:
            stored = set(session.scalars(select(Article.url)))
            done = session.scalar(select(func.count()).where(QueueTask.status == "done"))
            ran_on = set(session.scalars(select(QueueTask.worker)))
        assert stored == set(urls)
        assert done == sources
        assert len(ran_on) == 2  # both workers took crawl tasks
        assert 1 <= web.peak_concurrency <= 2
    finally:
        statuses = stop_workers(workers)
        db.dispose()
    assert statuses == [0, 0]


def test_a_sigkilled_worker_loses_and_duplicates_nothing(web: NewsWeb, pg_url: str, tmp_path: Path) -> None:
    sources, articles = 3, 30
    urls = build_web(web, sources, articles, delay=0.1)
    config = write_setup(tmp_path, web, sources, pg_url, concurrent_requests_per_domain=1)
    db = _db(config)
    workers = [start_worker(config, log=tmp_path / f"w{i}.log") for i in range(2)]
    try:
        queued = cli(config, "crawl", "--no-wait")
        assert queued.returncode == 0, queued.stderr

        def crawling_worker() -> tuple[str, str] | None:
            with db.session() as session:
                if (session.scalar(select(func.count()).select_from(Article)) or 0) < 5:
                    return None
                row = session.execute(
                    select(QueueTask.message_id, QueueTask.worker).where(QueueTask.status == "running")
                ).first()
            return (row[0], row[1]) if row else None

        message_id, name = wait_for(crawling_worker, 60, "a worker storing articles")
        victim = next(w for w in workers if name.endswith(f":{w.pid}"))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        def all_done() -> bool:
            with db.session() as session:
                return session.scalar(select(func.count()).where(QueueTask.status == "done")) == sources

        wait_for(all_done, 120, "every crawl task done after the kill", interval=0.5)
        assert _articles(db) == (len(urls), len(urls))
        with db.session() as session:
            task = session.get(QueueTask, message_id)
            assert task is not None
            assert task.deliveries == 2 and task.status == "done" and task.worker != name
    finally:
        statuses = stop_workers(workers)
        db.dispose()
    assert statuses[workers.index(victim)] == -signal.SIGKILL
    assert [s for w, s in zip(workers, statuses, strict=True) if w is not victim] == [0]


def test_two_workers_classify_each_article_once(web: NewsWeb, pg_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from helpers.models import install_model

    config = write_setup(tmp_path, web, 1, pg_url)
    with config.open("a", encoding="utf-8") as handle:
        handle.write("classify_batch = 100\n")
    settings = load_settings(config)
    db = open_database(settings.database_url)
    version = install_model(settings.models_dir, db)
    total = 1000
    with db.session() as session:
        from narrative_tracker.storage.models import Source

        source = Source(slug="x", name="X", group="western", country="GB")
        session.add(source)
        session.flush()
        session.add_all(
            Article(
                source_id=source.id,
                url=f"https://example.org/{n}",
                url_hash=f"{n:040x}",
                title=f"Story {n}",
                text=" ".join(paragraphs(1, n)),
                lang="en",
                fetched_at=datetime.now(UTC),
            )
            for n in range(total)
        )
    workers = [start_worker(config, "--queues", "classify", log=tmp_path / f"w{i}.log") for i in range(2)]
    try:
        result = cli(config, "classify", "--json", timeout=180)
        assert result.returncode == 0, result.stderr
        with db.session() as session:
            classified = session.scalar(
                select(func.count()).select_from(ClassifiedArticle).where(ClassifiedArticle.model_version == version)
            )
            batches = session.scalars(select(QueueTask).where(QueueTask.queue == "classify")).all()
        assert classified == total
        assert len(batches) == total // 100 and all(b.status == "done" for b in batches)
        assert sum(b.stats["articles"] for b in batches) == total  # none classified twice
    finally:
        statuses = stop_workers(workers)
        db.dispose()
    assert statuses == [0, 0]


def test_a_poison_task_is_parked_and_reported(web: NewsWeb, pg_url: str, tmp_path: Path) -> None:
    import json

    from narrative_tracker.jobs.queue import make_broker

    config = write_setup(tmp_path, web, 1, pg_url)
    settings = load_settings(config)
    db = open_database(settings.database_url)
    broker = make_broker(settings, db)
    message = broker.get_actor("crawl_source").message("s0")
    with db.session() as session:
        # As if its worker had died during each of its three deliveries.
        session.add(QueueTask(message_id=message.message_id, queue="crawl", subject="s0", batch="b", deliveries=3))
    broker.enqueue(message)
    broker.close()
    workers = [start_worker(config, "--queues", "crawl", log=tmp_path / "w.log")]
    try:

        def parked() -> bool:
            with db.session() as session:
                task = session.get(QueueTask, message.message_id)
                return task is not None and task.status == "parked"

        wait_for(parked, 60, "the poison task parked")
        wait_for(lambda: _live_workers(db) == 1, 30, "the worker's heartbeat")
        status = cli(config, "workers", "status", "--json")
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert [t["id"] for t in shown["failed_last_hour"]] == [message.message_id]
        assert shown["failed_last_hour"][0]["status"] == "parked"
        assert len(shown["workers"]) == 1 and shown["workers"][0]["pid"] == workers[0].pid
        assert shown["workers"][0]["queues"] == ["crawl"]
        assert shown["queues"]["crawl"]["ready"] == 0

        from narrative_tracker.jobs.health import Metrics

        metrics = Metrics(db, [], lambda: False, settings).render().decode()
        assert 'narrative_tracker_queue_tasks{queue="crawl",status="parked"} 1.0' in metrics
        assert 'narrative_tracker_queue_depth{queue="crawl",state="ready"} 0.0' in metrics
        assert "narrative_tracker_workers_live 1.0" in metrics

        from datetime import UTC, datetime

        from narrative_tracker.trends.digest.content import build_digest

        digest = build_digest(db, datetime.now(UTC).date(), [], timezone="UTC", names={})
        assert digest.notes["tasks_parked"] == [{"queue": "crawl", "subject": "s0", "deliveries": 4}]
    finally:
        statuses = stop_workers(workers)
        db.dispose()
    assert statuses == [0]


def _live_workers(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(QueueWorker)) or 0


def test_a_broker_with_sqlite_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[queue]\nbroker_url = "amqp://guest:guest@127.0.0.1:5672//"\n')
    result = cli(config, "crawl")
    assert result.returncode == 2
    assert "[queue] broker_url" in result.stderr and "PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_without_a_broker_says_what_to_set(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    result = cli(config, "worker")
    assert result.returncode == 2 and "broker_url" in result.stderr and "Traceback" not in result.stderr
    bad = cli(config, "worker", "--queues", "crawl,nope")
    assert bad.returncode == 2 and "--queues" in bad.stderr


def test_the_crawl_completes_after_a_broker_outage(web: NewsWeb, pg_url: str, tmp_path: Path) -> None:
    sources, articles = 4, 20
    urls = build_web(web, sources, articles, delay=0.1)
    upstream = urlsplit(BROKER_URL)
    proxy = CuttableProxy((upstream.hostname or "127.0.0.1", upstream.port or 5672)).start()
    config = write_setup(tmp_path, web, sources, pg_url, broker_url=proxy.url, concurrent_requests_per_domain=1)
    db = _db(config)
    workers = [start_worker(config, log=tmp_path / f"w{i}.log") for i in range(2)]
    try:
        # The scheduler's crawl job: it sends one task per source and waits for them.
        job: dict[str, Any] = {}
        runner = threading.Thread(
            target=lambda: job.update(crawl_job(JobContext(settings=load_settings(config), database=db)))
        )
        runner.start()
        wait_for(lambda: _articles(db)[0] >= 5, 60, "the crawl under way")
        proxy.cut()  # every worker loses the broker mid-crawl
        time.sleep(4)
        proxy.resume()
        runner.join(timeout=150)
        assert not runner.is_alive()
        assert job["tasks"]["done"] == sources and not job["timed_out"]
        assert _articles(db) == (len(urls), len(urls))
    finally:
        statuses = stop_workers(workers)
        proxy.cut()
        db.dispose()
    assert statuses == [0, 0]
    logs = "".join((tmp_path / f"w{i}.log").read_text(errors="replace") for i in range(2))
    assert "connection error" in logs.lower()  # the outage was seen, logged, and survived


def test_sigterm_hands_a_running_crawl_back_and_exits_0(web: NewsWeb, pg_url: str, tmp_path: Path) -> None:
    sources, articles = 1, 30
    urls = build_web(web, sources, articles, delay=0.2)
    config = write_setup(tmp_path, web, sources, pg_url, concurrent_requests_per_domain=1)
    db = _db(config)
    first = start_worker(config, "--queues", "crawl", log=tmp_path / "w0.log")
    later: list[subprocess.Popen[bytes]] = []
    try:
        assert cli(config, "crawl", "--no-wait").returncode == 0
        wait_for(lambda: _articles(db)[0] >= 3, 60, "the crawl under way")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        # A hand-back is not an error: one line says so, no traceback.
        handed_back = (tmp_path / "w0.log").read_text(errors="replace")
        assert "stopped with its worker" in handed_back and "Traceback" not in handed_back
        with db.session() as session:
            task = session.scalars(select(QueueTask)).one()
            assert task.status == "retrying" and "goes back to the queue" in (task.error or "")
        later.append(start_worker(config, "--queues", "crawl", log=tmp_path / "w1.log"))

        def done() -> bool:
            with db.session() as session:
                return session.scalars(select(QueueTask.status)).one() == "done"

        wait_for(done, 90, "the handed-back crawl finished by another worker", interval=0.5)
        assert _articles(db) == (len(urls), len(urls))
        with db.session() as session:
            task = session.scalars(select(QueueTask)).one()
            assert task.deliveries == 2 and task.worker.endswith(f":{later[0].pid}")
    finally:
        statuses = stop_workers([first, *later])
        db.dispose()
    assert statuses == [0, 0]


def test_a_source_locked_by_another_crawl_waits_for_it(web: NewsWeb, pg_url: str, tmp_path: Path) -> None:
    from narrative_tracker.jobs.locks import AdvisoryLock, close

    urls = build_web(web, 1, 5, delay=0)
    config = write_setup(tmp_path, web, 1, pg_url)
    db = _db(config)
    # As if another worker were crawling s0: the task must wait for the lock, not crawl beside it.
    holder = AdvisoryLock(pg_url, "crawl-source:s0")
    assert holder.try_acquire()
    workers = [start_worker(config, "--queues", "crawl", log=tmp_path / "w.log")]
    try:
        assert cli(config, "crawl", "--no-wait").returncode == 0

        def waiting() -> bool:
            with db.session() as session:
                return session.scalars(select(QueueTask.status)).one() == "running"

        wait_for(waiting, 30, "the task started")
        time.sleep(3)
        assert _articles(db) == (0, 0) and not web.requests_for("/s0/rss.xml")
        close(holder)

        def done() -> bool:
            with db.session() as session:
                return session.scalars(select(QueueTask.status)).one() == "done"

        wait_for(done, 60, "the crawl once the lock was free", interval=0.5)
        assert _articles(db) == (len(urls), len(urls))
    finally:
        close(holder)
        statuses = stop_workers(workers)
        db.dispose()
    assert statuses == [0]
