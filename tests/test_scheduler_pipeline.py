"""End to end: the real scheduler runs the real crawl, classify and trends jobs against the local news web."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from narrative_tracker.jobs import history
from narrative_tracker.jobs.service import Service
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.models import Article

from sites.news import Site, build_site, write_catalogue
from sites.news import write_config as write_crawl_config

pytestmark = [
    pytest.mark.slow,
]


@pytest.fixture
def site() -> Iterator[Site]:
    web = NewsWeb().start()
    try:
        yield build_site(web)
    finally:
        web.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_crawl_then_classify_then_trends_on_a_real_scheduler(site: Site, tmp_path: Path, db_url: str) -> None:
    catalogue = write_catalogue(tmp_path / "sources.toml", site, ["wire", "rewrite", "fr", "ru"])
    # A generous download timeout: on a loaded machine a page may answer slowly, and this test is about
    # the order of the jobs, not about timeouts.
    config = write_crawl_config(tmp_path / "home", catalogue, db_url, download_timeout=15)
    port = free_port()
    config.write_text(
        config.read_text()
        + f'\n[service]\nbind = "127.0.0.1"\nport = {port}\nshutdown_grace = 20\n\n'
        + "[jobs.crawl]\nevery = '3s'\n[jobs.classify]\nevery = '1h'\n[jobs.trends]\nevery = '1h'\n"
        + "[jobs.digest]\nenabled = false\n[jobs.retention]\nenabled = false\n"
    )
    service = Service(load_settings(config))
    database = service.database
    thread = threading.Thread(target=service.serve, kwargs={"install_signals": False})
    thread.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = history.list_runs(database, limit=200)
            crawls = [run for run in runs if run.job == "crawl" and run.status == "success"]
            if any(run.job == "trends" and run.status != "running" for run in runs) and len(crawls) >= 2:
                break
            time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = json.loads(response.read())
    finally:
        service.request_shutdown()
        thread.join(60)
    assert not thread.is_alive()

    runs = sorted(history.list_runs(database, limit=200), key=lambda run: run.id)
    summary = [(run.job, run.trigger, run.status, run.error) for run in runs]
    first_crawl = next(run for run in runs if run.job == "crawl")
    assert first_crawl.status == "success", summary
    assert first_crawl.stats.get("new_articles", 0) > 0, first_crawl.stats
    classify = next(run for run in runs if run.job == "classify")
    trends = next(run for run in runs if run.job == "trends")
    assert (classify.trigger, classify.status) == ("chained", "success"), summary
    assert (trends.trigger, trends.status) == ("chained", "success"), summary
    assert first_crawl.finished_at is not None and classify.started_at >= first_crawl.finished_at
    assert classify.finished_at is not None and trends.started_at >= classify.finished_at
    assert health["jobs"]["crawl"]["last_success"] and health["jobs"]["classify"]["last_success"]

    # Crawling again and again stores no article twice: the rows are the new articles the runs reported.
    crawls = [run for run in runs if run.job == "crawl" and run.status == "success"]
    assert len(crawls) >= 2
    with database.session() as session:
        urls = session.scalar(select(func.count(func.distinct(Article.url_hash))))
        rows = session.scalar(select(func.count()).select_from(Article))
    assert urls == rows
    if all(run.status == "success" for run in runs if run.job == "crawl"):  # (an interrupted run has no stats)
        assert rows == sum(run.stats.get("new_articles", 0) for run in crawls), [r.stats for r in crawls]
    database.dispose()
