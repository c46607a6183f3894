"""The adversarial corpus (tests/sites/hostile.py): every hostile input through one real crawl.

A first crawl stores the good outlet's articles; the second crawls them again beside more than
60 hostile feeds, sitemaps and pages. Each hostile input must end as a counted skip or error (or
be read safely), the crawl must finish within its timeout and memory, nothing a hostile input
names (a local file, another host, the metadata address) may be requested, and every good
article, stored before or during the hostile crawl, must be there afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article

from sites.hostile import Corpus, Drip, build_corpus, build_good, write_corpus_catalogue
from sites.news import write_config

#: Hostile inputs in the corpus; the README states this number.
CORPUS_SIZE = 78
#: The crawl process tree's memory must stay under this (MB) despite 100 MB bodies and bombs.
MEMORY_LIMIT_MB = 1500


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Corpus, dict[str, Any], list[str]]]:
    tmp = tmp_path_factory.mktemp("corpus")
    web = NewsWeb().start()
    drip = Drip()
    try:
        corpus = build_corpus(web, drip, tmp)
        build_good(web, corpus, 3)
        db_url = f"sqlite:///{tmp / 'db.sqlite'}"
        catalogue = write_corpus_catalogue(tmp / "sources.toml", corpus)
        config = write_config(tmp / "home", catalogue, db_url, max_articles_per_feed=30, crawl_timeout=300)
        settings = load_settings(config)
        before = run_crawl(settings, sources=["good"], timeout=120)
        assert before["new_articles"] == 3
        build_good(web, corpus, 2, start=3)  # two more good articles, found beside the hostile inputs
        stats = run_crawl(settings, timeout=300)
        database = open_database(db_url)
        try:
            with database.session() as session:
                urls = list(session.scalars(select(Article.url)))
        finally:
            database.dispose()
        yield corpus, stats, urls
    finally:
        drip.stop()
        web.stop()


def test_the_corpus_has_the_stated_size(crawled: tuple[Corpus, dict[str, Any], list[str]]) -> None:
    corpus, _, _ = crawled
    assert len(corpus.inputs) == CORPUS_SIZE >= 60


def test_the_crawl_finishes_within_its_bounds(crawled: tuple[Corpus, dict[str, Any], list[str]]) -> None:
    _, stats, _ = crawled
    assert not stats["timed_out"] and not stats["interrupted"]
    assert 0 < stats["peak_memory_mb"] < MEMORY_LIMIT_MB


def test_every_good_article_is_stored(crawled: tuple[Corpus, dict[str, Any], list[str]]) -> None:
    corpus, _, urls = crawled
    stored = {url.split(str(corpus.web.port), 1)[-1] for url in urls}
    assert set(corpus.good) <= stored


def test_every_hostile_entry_is_accounted_for(crawled: tuple[Corpus, dict[str, Any], list[str]]) -> None:
    corpus, stats, _ = crawled
    entries = len(corpus.feeds) + len(corpus.sitemaps) + 2  # and the good and hostile-pages feeds
    assert stats["feeds_fetched"] + stats["feeds_failed"] == entries
    # The broken ones are counted as errors or skips with a kind, never silently dropped.
    assert stats["feeds_failed"] >= 20
    assert sum(stats["errors"].values()) + sum(stats["skipped"].values()) >= 40
    assert stats["skipped"].get("not-http", 0) >= 6  # javascript:, file:, data:, ftp: links


def test_nothing_a_hostile_input_names_is_requested(crawled: tuple[Corpus, dict[str, Any], list[str]]) -> None:
    corpus, _, urls = crawled
    web = corpus.web
    for path in corpus.forbidden:
        assert not web.requests_for(path), path
    # Another host is never requested for a page; a feed's own redirect is followed (outlets move
    # their feeds to feed services), and what it answers is only read as a feed.
    assert not [
        r for r in web.requests if r.host.startswith("localhost") and r.path not in ("/hf/fine.html", "/robots.txt")
    ]
    assert not [u for u in urls if not u.startswith("http://127.0.0.1:")]
    # A feed with 2,000 items and 500 copies of one link: capped and deduplicated.
    # (A page that timed out on a loaded machine is retried: distinct pages are what the cap bounds.)
    assert len({r.path for r in web.requests if re.fullmatch(r"/hf/m\d+\.html", r.path)}) <= 30
    assert len([r for r in web.requests_for("/hf/fine.html") if r.host.startswith("127.0.0.1")]) <= 1
