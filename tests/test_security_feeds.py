"""Issue 13, item 1: a feed body that names a local file is parsed as a feed, never opened as a path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from narrative_tracker.crawler.feeds import FeedParseError, parse_feed
from narrative_tracker.crawler.runner import check_sources, run_crawl
from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.settings import load_settings

from sites.news import Site, article_html, rss, write_catalogue, write_config


def test_a_body_naming_a_local_feed_file_is_not_read(tmp_path: Path) -> None:
    local = tmp_path / "local.xml"
    local.write_bytes(rss([("Local", "http://127.0.0.1:9/secret.html", "")]))
    for body in (str(local).encode(), str(local).encode() + b"\n"):
        with pytest.raises(FeedParseError):
            parse_feed(body, url="http://127.0.0.1/feed.xml")


def test_a_body_naming_dev_zero_is_not_read() -> None:
    # Before the fix this read /dev/zero until memory ran out.
    with pytest.raises(FeedParseError):
        parse_feed(b"/dev/zero", url="http://127.0.0.1/feed.xml")


@pytest.fixture
def web() -> Iterator[NewsWeb]:
    server = NewsWeb().start()
    try:
        yield server
    finally:
        server.stop()


def test_a_crawl_requests_nothing_a_local_feed_file_lists(web: NewsWeb, tmp_path: Path) -> None:
    """The issue's "done when": a feed whose body is the path of a local feed file."""
    u = web.url
    web.site["/robots.txt"] = Page(b"User-agent: *\n", "text/plain")
    web.site["/secret/listed.html"] = Page(article_html("Listed only in a local file", ["text " * 80]).encode())
    local = tmp_path / "planted.xml"
    local.write_bytes(rss([("Planted", u("/secret/listed.html"), "")]))
    web.site["/path/rss.xml"] = Page(str(local).encode(), "application/rss+xml")
    site = Site(web, feeds={"west": u("/path/rss.xml")})
    catalogue = write_catalogue(tmp_path / "sources.toml", site)
    settings = load_settings(write_config(tmp_path / "home", catalogue, f"sqlite:///{tmp_path / 'db.sqlite'}"))

    stats = run_crawl(settings, timeout=120)

    assert web.requests_for("/path/rss.xml")
    assert not web.requests_for("/secret/listed.html")
    assert stats["new_articles"] == 0
    assert stats["errors"] == {"feed-malformed": 1} or stats["feeds_failed"] == 1


def test_sources_check_reports_a_path_body_as_no_feed(web: NewsWeb, tmp_path: Path) -> None:
    local = tmp_path / "planted.xml"
    local.write_bytes(rss([("Planted", web.url("/secret/listed.html"), "")]))
    web.site["/robots.txt"] = Page(b"User-agent: *\n", "text/plain")
    web.site["/path/rss.xml"] = Page(str(local).encode(), "application/rss+xml")
    site = Site(web, feeds={"west": web.url("/path/rss.xml")})
    catalogue = write_catalogue(tmp_path / "sources.toml", site)
    settings = load_settings(write_config(tmp_path / "home", catalogue, f"sqlite:///{tmp_path / 'db.sqlite'}"))

    [result] = check_sources(settings, timeout=120)

    assert (result["status"], result["items"]) == ("failed", None) or not result["items"]
