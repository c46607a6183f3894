"""Issue 13, item 10: a page stored under its canonical URL keeps its feed link as an alias (not
fetched again), and a canonical URL off the source's domains is ignored."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article, ArticleAlias

from sites import texts
from sites.news import Site, article_html, rss, write_catalogue, write_config


def _page(title: str, paragraphs: list[str], canonical: str) -> Page:
    html = article_html(title, paragraphs).replace("<head>", f'<head><link rel="canonical" href="{canonical}">', 1)
    return Page(html.encode())


def test_a_canonical_page_is_fetched_once_and_a_foreign_canonical_is_ignored(tmp_path: Path) -> None:
    with NewsWeb() as web:
        u = web.url
        web.site["/robots.txt"] = Page(b"User-agent: *\n", "text/plain")
        web.site["/west/link.html"] = _page(texts.WEST_TITLE, texts.WEST, u("/west/canonical.html"))
        # Claims to be another outlet's article ("localhost" is not one of the source's domains).
        web.site["/west/claim.html"] = _page(texts.FR_TITLE, texts.WIRE, web.url("/other.html", host="localhost"))
        items = [("Link", u("/west/link.html"), ""), ("Claim", u("/west/claim.html"), "")]
        web.site["/west/rss.xml"] = Page(rss(items), "application/rss+xml")
        db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        catalogue = write_catalogue(tmp_path / "sources.toml", Site(web, feeds={"west": u("/west/rss.xml")}))
        settings = load_settings(write_config(tmp_path / "home", catalogue, db_url))

        first = run_crawl(settings, timeout=120)
        # The feed changes (a new item), so the second crawl reads it again with the same links.
        web.site["/west/new.html"] = Page(article_html(texts.OTHER_TITLE, texts.OTHER).encode())
        web.site["/west/rss.xml"] = Page(rss([("New", u("/west/new.html"), ""), *items]), "application/rss+xml")
        second = run_crawl(settings, timeout=120)

        assert first["new_articles"] == 2 and second["new_articles"] == 1
        assert len(web.requests_for("/west/link.html")) == 1  # not fetched again: its alias is known
        assert len(web.requests_for("/west/claim.html")) == 1
        canonical, claim = u("/west/canonical.html"), u("/west/claim.html")
    database = open_database(db_url)
    try:
        with database.session() as session:
            urls = set(session.scalars(select(Article.url)))
            assert canonical in urls
            assert claim in urls  # stored under its own URL, not the other outlet's
            assert not [url for url in urls if "localhost" in url]
            assert len(session.scalars(select(ArticleAlias)).all()) == 1
    finally:
        database.dispose()
