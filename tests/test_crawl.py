"""End-to-end crawls of the fixture news web (tests/sites/news.py) with real Scrapy, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.settings import Settings, load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.export import iter_article_records
from narrative_tracker.storage.models import Article, Feed

from sites import texts
from sites.news import BOILERPLATE_COMMENT, BOILERPLATE_FOOTER, Site, build_site, write_catalogue, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def site() -> Iterator[Site]:
    web = NewsWeb().start()
    try:
        yield build_site(web)
    finally:
        web.stop()


def settings_for(tmp_path: Path, site: Site, db_url: str, **crawler: object) -> Settings:
    catalogue = write_catalogue(tmp_path / "sources.toml", site)
    return load_settings(write_config(tmp_path / "home", catalogue, db_url, **crawler))


def test_crawl_stores_each_article_once_with_clean_text_language_and_copies(
    site: Site, db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, site, db_url)
    web = site.web

    # The wire outlet first, so that its story is the first-seen copy.
    first = run_crawl(settings, sources=["wire"])
    assert (first["feeds_fetched"], first["new_articles"], first["duplicates"]) == (1, 1, 0)

    stats = run_crawl(settings)
    assert stats["feeds_fetched"] == 7  # west, rewrite, fr, ru, broken (recovered), maps, list
    assert stats["feeds_not_modified"] == 1  # wire, polled again with its ETag
    assert stats["feeds_failed"] == 1  # down (500 after a retry)
    assert stats["new_articles"] == 10
    assert stats["duplicates"] == 2  # the syndicated copy and the light rewrite
    assert stats["skipped"] == {"not-an-article": 2, "off-domain": 2, "robots": 1, "too-large": 1, "url-too-long": 1}
    assert stats["errors"] == {
        "feed-http-500": 1,
        "feed-malformed": 1,
        "http-404": 1,
        "http-500": 1,
        "timeout": 1,
    }
    assert not stats["timed_out"] and not stats["interrupted"]

    db = open_database(db_url)
    try:
        with db.session() as session:
            articles = {a.url.split(str(web.port), 1)[1]: a for a in session.scalars(select(Article))}
            assert set(articles) == set(site.articles)
            for path, (title, lang) in site.articles.items():
                assert (articles[path].title, articles[path].lang) == (title, lang), path
            for article in articles.values():
                assert BOILERPLATE_COMMENT.split(",")[0] not in article.text
                assert BOILERPLATE_FOOTER.split(".")[0] not in article.text
                assert "Subscribe now" not in article.text
            # Decoding: windows-1251 declared in the header only; KOI8-R declared nowhere.
            assert "Вашингтон уступил" in articles["/ru/cp1251.html"].text
            assert "бассейн" in articles["/ru/koi8.html"].text
            assert "Le conseil régional a adopté jeudi un plan" in articles["/fr/a1.html"].text
            # Copies point at the first-seen article; a different story on the same subject does not.
            wire = articles["/wire/story.html"]
            assert wire.duplicate_of_id is None
            assert articles["/west/old-link.html"].duplicate_of_id == wire.id
            assert articles["/rw/story.html"].duplicate_of_id == wire.id
            assert articles["/rw/other.html"].duplicate_of_id is None
            assert all(a.signature for a in articles.values())
            # Feeds and news sitemaps date their entries; the listing page does not.
            assert {p for p, a in articles.items() if a.published_at is None} == {"/list/one.html", "/list/two.html"}
            west_feed = session.scalar(select(Feed).where(Feed.url == site.feeds["west"]))
            down_feed = session.scalar(select(Feed).where(Feed.url == site.feeds["down"]))
            assert west_feed.etag and west_feed.last_status == "ok" and west_feed.last_new_item_at
            assert (down_feed.last_status, down_feed.consecutive_failures, down_feed.healthy) == ("failed", 1, True)
            records = {r["url"]: r for r in iter_article_records(session)}
        assert records[site.url("/rw/story.html")]["duplicate_of"] == site.url("/wire/story.html")
        assert records[site.url("/ru/koi8.html")]["lang"] == "ru"
    finally:
        db.dispose()

    # What was requested: the tracking-parameter copy once, nothing off-domain, nothing disallowed.
    assert len(web.requests_for("/west/a1.html")) == 1
    assert not web.requests_for("/private/secret.html")
    assert not web.requests_for("/west/elsewhere.html") and not web.requests_for("/west/trap.html")
    assert not [r for r in web.requests if r.host.startswith("localhost")]
    assert not web.requests_for("/maps/old.html") and not web.requests_for("/list/about.html")
    assert len(web.requests_for("/west/error.html")) == 2  # one retry of a 500
    assert len(web.requests_for("/west/missing.html")) == 1  # a 404 is not retried

    # A second crawl: every feed answers 304 to its conditional request; nothing new, nothing twice.
    again = run_crawl(settings)
    assert (again["new_articles"], again["feeds_fetched"], again["feeds_not_modified"]) == (0, 0, 8)
    assert web.requests_for("/west/rss.xml")[-1].headers.get("If-None-Match")
    db = open_database(db_url)
    try:
        with db.session() as session:
            assert len(session.scalars(select(Article.id)).all()) == len(site.articles)
            down_feed = session.scalar(select(Feed).where(Feed.url == site.feeds["down"]))
            assert down_feed.consecutive_failures == 2
    finally:
        db.dispose()


@pytest.mark.parametrize("workers", [0, 2])
def test_feeds_and_pages_read_alike_in_the_crawl_process_and_in_workers(
    site: Site, tmp_path: Path, workers: int
) -> None:
    # extraction_workers = 0 parses feeds and extracts pages in the crawl process itself.
    settings = settings_for(tmp_path, site, f"sqlite:///{tmp_path / 'db.sqlite'}", extraction_workers=workers)
    stats = run_crawl(settings, sources=["west", "fr", "ru", "broken"])
    assert (stats["feeds_fetched"], stats["errors"].get("feed-malformed")) == (4, 1)
    db = open_database(settings.database_url)
    try:
        with db.session() as session:
            articles = session.scalars(select(Article)).all()
            stored = {a.url.split(str(site.web.port), 1)[1]: (a.title, a.lang) for a in articles}
    finally:
        db.dispose()
    expected = {p: v for p, v in site.articles.items() if p.startswith(("/west/", "/fr/", "/ru/"))}
    assert stored == expected


def test_private_addresses_are_refused_unless_allowed(site: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, site, f"sqlite:///{tmp_path / 'db.sqlite'}", allow_private_addresses=False)
    stats = run_crawl(settings, sources=["west"])
    assert stats["feeds_failed"] == 1 and stats["new_articles"] == 0
    assert stats["skipped"] == {"private-address": 1}
    assert not site.web.requests  # not even robots.txt


def test_max_articles_caps_the_pages_requested(site: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, site, f"sqlite:///{tmp_path / 'db.sqlite'}")
    stats = run_crawl(settings, sources=["list", "rewrite"], max_articles=2)
    assert stats["pages_fetched"] == 2 and stats["new_articles"] == 2
    assert stats["already_stored"] == 0


def test_wire_copy_published_later_is_linked_to_the_article_stored_by_an_earlier_crawl(
    site: Site, tmp_path: Path
) -> None:
    """The near-duplicate index is rebuilt from stored signatures at the start of each crawl."""
    settings = settings_for(tmp_path, site, f"sqlite:///{tmp_path / 'db.sqlite'}")
    run_crawl(settings, sources=["rewrite"])
    stats = run_crawl(settings, sources=["wire"])
    assert (stats["new_articles"], stats["duplicates"]) == (1, 1)
    db = open_database(settings.database_url)
    try:
        with db.session() as session:
            by_url = {a.url: a for a in session.scalars(select(Article))}
        assert by_url[site.url("/wire/story.html")].duplicate_of_id == by_url[site.url("/rw/story.html")].id
    finally:
        db.dispose()
    assert texts.REWRITE_TITLE  # the rewrite came first here, so it is the first-seen copy


def test_sources_check_fetches_each_entry_point_once_and_stores_nothing(site: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, site, f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert settings.config_file is not None
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "narrative_tracker",
            "--config",
            str(settings.config_file),
            "sources",
            "check",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1  # one feed is down
    by_slug = {r["slug"]: r for r in json.loads(result.stdout)}
    assert set(by_slug) == set(site.feeds) | set(site.extra)
    assert (by_slug["west"]["status"], by_slug["west"]["items"]) == ("ok", 13)
    assert by_slug["west"]["newest"] == "2026-11-20T12:00:00+00:00"
    assert (by_slug["rewrite"]["items"], by_slug["list"]["items"], by_slug["maps"]["items"]) == (2, 2, 1)
    assert by_slug["broken"]["status"] == "ok" and "malformed" in by_slug["broken"]["error"]
    assert (by_slug["down"]["status"], by_slug["down"]["http_status"]) == ("failed", 500)
    assert not [r for r in site.web.requests if r.path.endswith(".html") and not r.path.startswith("/list/index")]
    assert not (tmp_path / "db.sqlite").exists()
