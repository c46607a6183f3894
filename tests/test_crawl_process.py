"""The crawl process under stress: killed midway, stopped, timed out; the job and the CLI around it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from narrative_tracker.crawler.runner import prepare_crawl, run_crawl, start_child
from narrative_tracker.jobs.base import JobContext, JobInterrupted
from narrative_tracker.jobs.crawl import run as crawl_job
from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.settings import Settings, load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article, Feed

from sites.news import article_html, rss, write_config

pytestmark = pytest.mark.slow

ARTICLES = 30


def _paragraphs(n: int) -> list[str]:
    return [
        f"Story number {n} reports on the municipal decision number {n * 7} about the district {n % 5}.",
        f"Officials quoted in story {n} said the budget of {n * 1000} euros would be spent within {n} months.",
        "Residents interviewed for the report described the change in their own words and asked questions.",
    ]


@pytest.fixture
def slow_web() -> Iterator[NewsWeb]:
    """One feed of 30 distinct articles, each answered after 0.25 s."""
    web = NewsWeb().start()
    items = []
    for n in range(ARTICLES):
        path = f"/slow/{n}.html"
        web.site[path] = Page(article_html(f"Story {n}", _paragraphs(n)).encode(), delay=0.25)
        items.append((f"Story {n}", web.url(path), ""))
    web.site["/slow/rss.xml"] = Page(rss(items), "application/rss+xml")
    try:
        yield web
    finally:
        web.stop()


def _settings(tmp_path: Path, web: NewsWeb, **crawler: object) -> Settings:
    catalogue = tmp_path / "sources.toml"
    catalogue.write_text(
        '[[source]]\nslug = "slow"\nname = "Slow"\ngroup = "western"\ncountry = "GB"\nlanguages = ["en"]\n'
        f'feeds = ["{web.url("/slow/rss.xml")}"]\ndomains = ["127.0.0.1"]\n'
    )
    options = {"concurrent_requests_per_domain": 2, "download_timeout": 10.0, **crawler}
    return load_settings(write_config(tmp_path / "home", catalogue, f"sqlite:///{tmp_path / 'db.sqlite'}", **options))


def _count(settings: Settings) -> tuple[int, int]:
    db = open_database(settings.database_url)
    try:
        with db.session() as session:
            return (
                session.scalar(select(func.count()).select_from(Article)) or 0,
                session.scalar(select(func.count(func.distinct(Article.url_hash)))) or 0,
            )
    finally:
        db.dispose()


def test_sigkill_midway_loses_and_duplicates_nothing(slow_web: NewsWeb, tmp_path: Path) -> None:
    # One page at a time, 0.25 s apart: time to kill it.
    settings = _settings(tmp_path, slow_web, concurrent_requests_per_domain=1, download_delay=0.25)
    child = start_child(prepare_crawl(settings))
    deadline = time.monotonic() + 60
    while _count(settings)[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    stored_before, _ = _count(settings)
    assert 0 < stored_before < ARTICLES
    db = open_database(settings.database_url)
    try:
        with db.session() as session:
            feed = session.scalar(select(Feed))
            # Its articles were not all stored: the feed keeps its old state and is polled again.
            assert feed.etag is None and feed.last_fetched_at is None
    finally:
        db.dispose()

    stats = run_crawl(_settings(tmp_path, slow_web, concurrent_requests_per_domain=8))
    assert stats["new_articles"] == ARTICLES - stored_before
    assert stats["already_stored"] == stored_before
    assert _count(settings) == (ARTICLES, ARTICLES)


def test_stop_and_timeout_end_the_crawl_process(slow_web: NewsWeb, tmp_path: Path) -> None:
    settings = _settings(tmp_path, slow_web, concurrent_requests_per_domain=1, download_delay=0.25)
    started = time.monotonic()
    # 30 pages 0.25 s apart take 7.5 s: 4 s cuts the crawl short, and leaves a loaded machine time
    # to start Scrapy (a crawl process stopped before it starts reports nothing).
    stats = run_crawl(settings, timeout=4.0)
    assert stats["timed_out"] and not stats["interrupted"]
    assert time.monotonic() - started < 25
    assert _count(settings)[0] == stats["new_articles"] < ARTICLES  # what was fetched is stored

    # A fresh database: all 30 pages (7.5 s) are still to fetch when the stop comes.
    (tmp_path / "stopped").mkdir()
    settings = _settings(tmp_path / "stopped", slow_web, concurrent_requests_per_domain=1, download_delay=0.25)
    stop = threading.Event()
    threading.Timer(3.0, stop.set).start()  # after start-up, well before the pages are done
    db = open_database(settings.database_url)
    try:
        with pytest.raises(JobInterrupted, match="crawl stopped") as stopped:
            crawl_job(JobContext(settings=settings, database=db, stop=stop))
        assert stopped.value.stats["interrupted"] and "new_articles" in stopped.value.stats
    finally:
        db.dispose()
    assert _count(settings)[0] == _count(settings)[1]


def test_a_crawl_stopped_before_it_starts_reports_every_count_as_zero(slow_web: NewsWeb, tmp_path: Path) -> None:
    settings = _settings(tmp_path, slow_web, concurrent_requests_per_domain=1)
    stats = run_crawl(settings, timeout=0.01)  # the crawl process cannot even import Scrapy by then
    assert stats["timed_out"] and not stats["interrupted"]
    assert (stats["new_articles"], stats["pages_fetched"], stats["feeds_fetched"]) == (0, 0, 0)
    assert _count(settings)[0] == 0


def test_crawl_job_returns_the_summary(slow_web: NewsWeb, tmp_path: Path) -> None:
    settings = _settings(tmp_path, slow_web, concurrent_requests_per_domain=8)
    seen: list[tuple[int, int | None]] = []
    db = open_database(settings.database_url)
    try:
        stats = crawl_job(JobContext(settings=settings, database=db, progress=lambda d, t: seen.append((d, t))))
    finally:
        db.dispose()
    assert stats["new_articles"] == ARTICLES and stats["feeds_fetched"] == 1
    assert json.loads(json.dumps(stats)) == stats  # stats go to the run history as JSON
    assert seen and seen[-1][1] == ARTICLES


def test_per_domain_concurrency_is_kept(slow_web: NewsWeb, tmp_path: Path) -> None:
    # Scrapy's asyncio downloader alone starts a site's whole queue at once (see crawler.downloader).
    stats = run_crawl(_settings(tmp_path, slow_web, concurrent_requests_per_domain=3))
    assert stats["new_articles"] == ARTICLES
    assert slow_web.peak_concurrency == 3


def test_crawl_opens_no_remote_control(slow_web: NewsWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Scrapy's remote control runs posted Python code; enabled, it leaves a job file with its token here.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    stats = run_crawl(_settings(tmp_path, slow_web), max_articles=2)
    assert stats["new_articles"] == 2
    assert not list((tmp_path / "state").rglob("*"))


def test_crawl_process_builds_no_log_records_for_pages_below_its_level(slow_web: NewsWeb, tmp_path: Path) -> None:
    # Scrapy's logging set-up leaves its own loggers at DEBUG whatever LOG_LEVEL says (the level is
    # on its handler): left so, every page built two debug records for the handler to drop.
    records = tmp_path / "records.txt"
    counting_child = (
        "import logging, sys\n"
        "make = logging.LogRecord.__init__\n"
        "def counted(self, name, level, *args, **kwargs):\n"
        f"    if level < logging.WARNING: open({str(records)!r}, 'a').write(name + '\\n')\n"
        "    make(self, name, level, *args, **kwargs)\n"
        "logging.LogRecord.__init__ = counted\n"
        "from narrative_tracker.crawler.child import main\n"
        "sys.exit(main())\n"
    )
    plan = prepare_crawl(_settings(tmp_path, slow_web), max_articles=4)
    assert plan["log_level"] == "WARNING"
    child = subprocess.run(
        [sys.executable, "-c", counting_child], input=json.dumps(plan), capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.splitlines()[-1])["stats"]["new_articles"] == 4
    counts = Counter(records.read_text().split() if records.exists() else [])
    # Scrapy's start-up messages up to "Spider opened", and none per page ("Crawled", "Scraped").
    assert counts["scrapy.core.engine"] <= 1 and counts["scrapy.core.scraper"] == 0, counts


def _cli(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "narrative_tracker", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_crawl_command_exit_statuses(slow_web: NewsWeb, tmp_path: Path) -> None:
    settings = _settings(tmp_path, slow_web, concurrent_requests_per_domain=8)
    assert settings.config_file is not None
    unknown = _cli(settings.config_file, "crawl", "--source", "nope")
    assert unknown.returncode == 2 and "unknown source 'nope'" in unknown.stderr

    ran = _cli(settings.config_file, "crawl", "--json", "--max-articles", "5")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["new_articles"] == 5
    assert "Feeds: 1 fetched, 0 not modified, 0 failed. Articles: 5 new (0 duplicates)" in ran.stderr

    slow_web.site["/slow/rss.xml"] = Page(b"down", status=503)
    failing = _cli(settings.config_file, "crawl")
    assert failing.returncode == 0  # the crawl ran; the feed failing is in the summary
    assert "1 failed" in failing.stderr and "1 feed-http-503" in failing.stderr

    nowhere = _cli(
        settings.config_file,
        "crawl",
        env={"NARRATIVE_TRACKER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/x"},
    )
    assert nowhere.returncode == 1 and "cannot open database" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
