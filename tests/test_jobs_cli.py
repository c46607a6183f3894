"""`jobs run | history` and `scheduler status | run` from the command line; retention; config errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from narrative_tracker.jobs import retention
from narrative_tracker.jobs.base import JobContext
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, DigestDelivery, JobRun, Source, utc_now

from helpers.jobs import write_config


def cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "narrative_tracker", *prefix, *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", "[jobs.retention]\ncron = '30 2 * * *'\n")


def test_jobs_run_records_a_manual_run_that_history_shows_as_json(config: Path) -> None:
    ran = cli("jobs", "run", "retention", config=config)
    assert ran.returncode == 0, ran.stderr
    assert "retention: success" in ran.stderr
    runs = json.loads(cli("jobs", "history", "--json", config=config).stdout)
    assert len(runs) == 1
    run = runs[0]
    assert {"job", "status", "started_at", "finished_at", "stats", "error"} <= run.keys()
    assert (run["job"], run["status"], run["trigger"], run["error"]) == ("retention", "success", "manual", None)
    assert run["stats"] == {"job_runs_deleted": 0, "digest_deliveries_deleted": 0, "article_texts_pruned": 0}
    table = cli("jobs", "history", config=config).stdout
    assert "retention" in table and "manual" in table and "success" in table


def test_history_filters_by_job_and_limits(config: Path, tmp_path: Path) -> None:
    from narrative_tracker.storage.database import open_database

    db = open_database(f"sqlite:///{tmp_path / 'tracker.db'}")
    with db.session() as session:
        for minutes, job in enumerate(["crawl", "classify", "crawl", "trends"]):
            started = utc_now() - timedelta(minutes=10 - minutes)
            session.add(JobRun(job=job, trigger="scheduled", status="success", started_at=started, finished_at=started))
    db.dispose()
    crawls = json.loads(cli("jobs", "history", "--job", "crawl", "--json", config=config).stdout)
    assert [run["job"] for run in crawls] == ["crawl", "crawl"]
    assert crawls[0]["started_at"] > crawls[1]["started_at"]
    newest = json.loads(cli("jobs", "history", "--limit", "1", "--json", config=config).stdout)
    assert [run["job"] for run in newest] == ["trends"]


def test_a_failed_manual_run_exits_1_with_the_reason(tmp_path: Path) -> None:
    # A job that fails for real: retention on a database that lost one of its tables.
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    config = write_config(tmp_path, url)
    from sqlalchemy import text

    from narrative_tracker.storage.database import open_database

    db = open_database(url)
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE digest_deliveries"))
    db.dispose()
    ran = cli("jobs", "run", "retention", config=config)
    assert ran.returncode == 1
    assert "retention: failed" in ran.stderr and "digest_deliveries" in ran.stderr
    assert "Traceback" not in ran.stderr.split("retention: failed")[1]


def test_an_unknown_job_name_is_a_usage_error(config: Path) -> None:
    ran = cli("jobs", "run", "nope", config=config)
    assert ran.returncode == 2 and "nope" in ran.stderr


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("[jobs.nope]\nevery = '1h'\n", "'nope'"),
        ("[jobs.crawl]\nevery = '5x'\n", "jobs.crawl.every"),
        ("[jobs.digest]\ncron = '61 7 * * *'\n", "jobs.digest.cron"),
        ("[jobs.crawl]\nevery = '1h'\ncron = '0 * * * *'\n", "jobs.crawl"),
        ("[service]\nport = 70000\n", "service.port"),
    ],
)
def test_bad_job_tables_exit_2_naming_the_key(tmp_path: Path, table: str, named: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[storage]\ndatabase_url = "sqlite:///{tmp_path / "t.db"}"\n{table}')
    ran = cli("scheduler", "status", config=path)
    assert ran.returncode == 2
    assert named in ran.stderr and "Traceback" not in ran.stderr


def test_status_without_a_running_scheduler(config: Path) -> None:
    cli("jobs", "run", "retention", config=config)
    report = json.loads(cli("scheduler", "status", "--json", config=config).stdout)
    assert report["leader"] is None and report["instances"] == []
    assert set(report["jobs"]) == {"crawl", "classify", "trends", "digest", "retrain", "retention"}
    assert report["jobs"]["retention"]["last_status"] == "success"
    assert report["jobs"]["retention"]["last_success"]
    assert report["jobs"]["retention"]["schedule"] == "cron 30 2 * * *"
    assert report["jobs"]["crawl"]["enabled"] is False
    assert "no scheduler is running" in cli("scheduler", "status", config=config).stdout


def test_scheduler_run_on_a_busy_port_exits_2_naming_it(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", port=port)
        ran = cli("scheduler", "run", config=config)
    assert ran.returncode == 2
    assert f"127.0.0.1:{port}" in ran.stderr


def test_retention_prunes_old_runs_digest_records_and_article_texts(tmp_path: Path, database: Database) -> None:
    now = utc_now()
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    with database.session() as session:
        source = Source(slug="s", name="S", group="western")
        session.add(source)
        session.flush()
        for days, text in ((400, "old body"), (10, "recent body")):
            session.add(
                Article(
                    source_id=source.id,
                    url=f"http://127.0.0.1/{days}",
                    url_hash=f"{days:040d}",
                    title=f"t{days}",
                    text=text,
                    fetched_at=now - timedelta(days=days),
                )
            )
        for when, status in ((old, "success"), (old, "running"), (recent, "failed")):
            session.add(
                JobRun(
                    job="crawl",
                    trigger="scheduled",
                    status=status,
                    started_at=when,
                    finished_at=None if status == "running" else when,
                )
            )
        session.add(DigestDelivery(day=old.date(), channel="smtp", status="sent", created_at=old))
        session.add(DigestDelivery(day=recent.date(), channel="smtp", status="sent", created_at=recent))
    settings = load_settings(write_config(tmp_path, str(database.engine.url.render_as_string(hide_password=False))))
    stats = retention.prune(JobContext(settings=settings, database=database, stop=threading.Event()), now=now)
    assert stats == {"job_runs_deleted": 1, "digest_deliveries_deleted": 1, "article_texts_pruned": 1}
    with database.session() as session:
        articles = {a.title: a.text for a in session.query(Article)}
        runs = sorted(r.status for r in session.query(JobRun))
        deliveries = session.query(DigestDelivery).count()
    assert articles == {"t400": "", "t10": "recent body"}  # the old row stays, without its text
    assert runs == ["failed", "running"]
    assert deliveries == 1


def test_retention_keeps_all_text_when_told_to(tmp_path: Path, database: Database) -> None:
    url = database.engine.url.render_as_string(hide_password=False)
    path = write_config(tmp_path, url)
    text = path.read_text().replace(
        f'database_url = "{url}"\n', f'database_url = "{url}"\nkeep_article_text_days = 0\n'
    )
    path.write_text(text)
    settings = load_settings(path)
    now = utc_now()
    with database.session() as session:
        source = Source(slug="s", name="S", group="western")
        session.add(source)
        session.flush()
        session.add(
            Article(
                source_id=source.id,
                url="http://x/1",
                url_hash="1" * 40,
                text="body",
                fetched_at=now - timedelta(days=4000),
            )
        )
    stats = retention.prune(JobContext(settings=settings, database=database, stop=threading.Event()), now=now)
    assert stats["article_texts_pruned"] == 0
