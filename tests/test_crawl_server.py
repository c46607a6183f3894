"""The workers' long-lived crawl process (``crawler.server`` through ``crawler.serving``): task
after task in one process, a stop that hands back and a fresh process after it, and the
near-duplicate index it keeps learning what other processes stored."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from narrative_tracker.crawler.dedup import NUM_PERM
from narrative_tracker.crawler.serving import CrawlServer
from narrative_tracker.crawler.store import load_duplicate_index, refresh_duplicate_index
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import Database, open_database
from narrative_tracker.storage.models import Article, Source

from helpers.queue import build_web, fresh_postgres, write_setup


def _add_articles(db: Database, source_id: int, numbers: range) -> None:
    with db.session() as session:
        session.add_all(
            Article(
                source_id=source_id,
                url=f"https://example.org/{n}",
                url_hash=f"{n:040x}",
                title=f"Story {n}",
                text="text",
                lang="en",
                fetched_at=datetime.now(UTC),
                signature=os.urandom(NUM_PERM * 4),
            )
            for n in numbers
        )


def test_the_index_learns_what_other_processes_stored_once(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        source = Source(slug="x", name="X", group="western", country="GB")
        session.add(source)
        session.flush()
        source_id = source.id
    _add_articles(sqlite_database, source_id, range(10))
    index = load_duplicate_index(sqlite_database, 0.8, 30)
    assert len(index) == 10
    _add_articles(sqlite_database, source_id, range(10, 25))  # stored by another worker
    assert refresh_duplicate_index(sqlite_database, index, 30, margin=100) == 15
    assert refresh_duplicate_index(sqlite_database, index, 30, margin=100) == 0  # nothing twice
    assert len(index) == 25


@pytest.fixture
def pg_url(postgres_server_url: str) -> Iterator[str]:
    with fresh_postgres(postgres_server_url) as url:
        yield url


@pytest.mark.slow
def test_one_crawl_process_serves_task_after_task_and_a_stop_hands_back(pg_url: str, tmp_path: Path) -> None:
    web = NewsWeb().start()
    try:
        urls = build_web(web, 3, 6, delay=0)
        web.site["/s2/0.html"].delay = 6.0  # holds the third task past its stop
        settings = load_settings(write_setup(tmp_path, web, 3, pg_url))
        db = open_database(settings.database_url)
        server = CrawlServer(settings)
        try:
            first = server.crawl(database=db, sources=["s0"])
            second = server.crawl(database=db, sources=["s1"])
            assert (first["new_articles"], second["new_articles"]) == (6, 6)
            assert not first["interrupted"] and not second["interrupted"]
            assert server.starts == 1  # the second task ran in the same crawl process
            stop = threading.Event()
            threading.Timer(3.0, stop.set).start()
            third = server.crawl(database=db, sources=["s2"], stop=stop, stop_grace=10)
            assert third["interrupted"]  # what was in flight is stored (Scrapy's graceful stop)
            web.site["/s2/0.html"].delay = 0
            again = server.crawl(database=db, sources=["s2"])  # a new crawl process takes over
            assert server.starts == 2 and not again["interrupted"]
            with db.session() as session:
                stored = session.scalar(select(func.count()).select_from(Article))
                distinct = session.scalar(select(func.count(func.distinct(Article.url))))
            assert stored == distinct == len(urls)  # the held-back page too, and none twice
        finally:
            server.close()
            db.dispose()
    finally:
        web.stop()
