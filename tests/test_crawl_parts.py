"""The crawler's parts on their own: URLs, feeds, sitemaps, decoding, language, near-duplicates, storage."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from narrative_tracker.crawler.decoding import decode_html
from narrative_tracker.crawler.dedup import DuplicateIndex, content_hash, signature, similarity
from narrative_tracker.crawler.extract import PageInput, extract_page
from narrative_tracker.crawler.feeds import FeedParseError, parse_feed
from narrative_tracker.crawler.language import article_language, declared_language
from narrative_tracker.crawler.sitemaps import SitemapError, parse_sitemap
from narrative_tracker.crawler.sources import SourceSpec
from narrative_tracker.crawler.spiders.news import NewsSpider
from narrative_tracker.crawler.store import load_duplicate_index, store_articles, sync_catalogue
from narrative_tracker.crawler.urls import normalize_url, on_domains, resolves_to_public_addresses, url_hash
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, Feed, Source

from sites import texts
from sites.news import article_html, atom, rdf, rss

# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.ORG:80/a?utm_source=rss&id=3&fbclid=x#top", "http://example.org/a?id=3"),
        ("https://example.org:443", "https://example.org/"),
        ("https://example.org:8443/a?b=1&utm_medium=feed", "https://example.org:8443/a?b=1"),
        ("https://example.org./path?q=a+b", "https://example.org/path?q=a+b"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_tracking_copies_share_one_key() -> None:
    plain = url_hash(normalize_url("https://news.example/a.html"))
    assert plain == url_hash(normalize_url("https://news.example/a.html?utm_source=rss&utm_campaign=x"))
    assert plain != url_hash(normalize_url("https://news.example/b.html"))


def test_domains_allow_subdomains_and_ignore_ports() -> None:
    assert on_domains("https://www.bbc.co.uk/news/1", ["bbc.co.uk"])
    assert on_domains("http://127.0.0.1:8080/a", ["127.0.0.1"])
    assert not on_domains("https://evilbbc.co.uk/a", ["bbc.co.uk"])
    assert not on_domains("http://localhost:8080/a", ["127.0.0.1"])


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "0.0.0.0"]
)
def test_local_and_private_hosts_are_not_public(host: str) -> None:
    assert not resolves_to_public_addresses(host)


def test_public_address_literal_is_public() -> None:
    assert resolves_to_public_addresses("8.8.8.8")  # a literal: no DNS lookup needed


# -- feeds and sitemaps -------------------------------------------------------------------------


def test_rss_atom_and_rdf_feeds_give_dated_entries_newest_first() -> None:
    links = [("One", "http://e.org/1"), ("Two", "http://e.org/2")]
    for body in (rss([(t, u, "<b>Summary</b> text") for t, u in links]), atom(links), rdf(links)):
        parsed = parse_feed(body, url="http://e.org/feed")
        assert [e.link for e in parsed.entries] == ["http://e.org/1", "http://e.org/2"]
        assert all(e.published_at is not None for e in parsed.entries)
        assert not parsed.malformed
    assert parse_feed(rss([("One", "http://e.org/1", "<b>Summary</b> text")]), url="x").entries[0].summary == (
        "Summary text"
    )


def test_truncated_feed_is_recovered_or_refused_clearly() -> None:
    body = rss([("One", "http://e.org/1", ""), ("Two", "http://e.org/2", "")])
    recovered = parse_feed(body[:-40], url="http://e.org/feed")
    assert recovered.malformed and [e.link for e in recovered.entries] == ["http://e.org/1", "http://e.org/2"]
    with pytest.raises(FeedParseError, match="not a readable feed"):
        parse_feed(b"<html><body>Not a feed</body></html>", url="http://e.org/feed")


def test_news_sitemap_keeps_recent_entries_and_reads_gzip() -> None:
    now = datetime.now(UTC)
    body = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>http://e.org/new</loc><news:news><news:publication_date>{now.isoformat()}"
        "</news:publication_date></news:news></url>"
        "<url><loc>http://e.org/old</loc><lastmod>2019-05-01</lastmod></url>"
        "<url><loc>/relative</loc></url></urlset>"
    ).encode()
    parsed = parse_sitemap(gzip.compress(body), url="http://e.org/sitemap.xml", max_age=timedelta(days=2))
    assert [u.url for u in parsed.urls] == ["http://e.org/new", "http://e.org/relative"]
    with pytest.raises(SitemapError):
        parse_sitemap(b"<html/>", url="http://e.org/s.xml", max_age=timedelta(days=2))


def test_sitemap_entities_are_not_expanded() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://e.org/&x;</loc></url></urlset>'
    )
    parsed = parse_sitemap(body, url="http://e.org/s.xml", max_age=timedelta(days=2))
    assert all("root:" not in u.url for u in parsed.urls)


# -- decoding and language ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "content_type", "meta"),
    [
        ("koi8-r", "text/html", None),  # declared nowhere
        ("cp1251", "text/html", None),  # declared nowhere
        ("cp1251", "text/html; charset=windows-1251", None),  # in the header
        ("koi8-r", "text/html", "koi8-r"),  # in <meta charset>
        ("utf-8", None, None),
    ],
)
def test_russian_pages_decode_whatever_the_declaration(
    encoding: str, content_type: str | None, meta: str | None
) -> None:
    html = article_html(texts.RU_CP1251_TITLE, texts.RU_CP1251, lang=None, charset_meta=meta)
    text, used = decode_html(html.encode(encoding), content_type)
    assert "Вашингтон уступил требованиям Кремля" in text
    assert used.replace("-", "").replace("_", "") in (encoding.replace("-", ""), "windows1251")


def test_declared_language_comes_from_html_or_meta() -> None:
    assert declared_language('<html lang="fr-FR"><head>') == "fr"
    assert declared_language('<html><head><meta property="og:locale" content="ru_RU">') == "ru"
    assert declared_language('<html><head><meta http-equiv="Content-Language" content="en-GB">') == "en"
    assert declared_language("<html><head>", "uk") == "uk"
    assert declared_language("<html><head>") is None


def test_language_from_the_text_when_undeclared_or_plainly_wrong() -> None:
    french = " ".join(texts.FR)
    assert article_language("<html><body>", french) == "fr"
    assert article_language('<html lang="en">', french) == "fr"  # a site template that always says "en"
    assert article_language('<html lang="fr">', "Short text.") == "fr"  # too short to overrule
    assert article_language("<html>", "") == "und"


def test_extract_page_removes_boilerplate_and_falls_back_to_the_summary() -> None:
    page = article_html(texts.WEST_TITLE, texts.WEST)
    result = extract_page(PageInput("http://e.org/a", page.encode(), "text/html"))
    assert result.is_article and not result.summary_only and result.lang == "en"
    assert "tram line" in result.text and "Cookie settings" not in result.text and "Subscribe" not in result.text
    thin = article_html("Gallery", ["Photos."]).encode()
    summary = "A long enough summary from the feed that says what the gallery shows, in two sentences. " * 2
    fallback = extract_page(PageInput("http://e.org/g", thin, "text/html", summary=summary))
    assert fallback.is_article and fallback.summary_only and fallback.text == summary
    assert not extract_page(PageInput("http://e.org/g", thin, "text/html")).is_article


def test_feeds_are_parsed_in_the_crawl_process_when_the_workers_are_gone() -> None:
    body = rss([("One", "http://example.org/1", ""), ("Two", "http://example.org/2", "")])
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    spider = NewsSpider(entries=[], database=None, tracker=None, config=None, index=None, extraction_pool=pool)  # type: ignore[arg-type]

    def links() -> list[str]:
        return [e.link for e in asyncio.run(spider._parse_feed(body, "http://example.org/rss", None)).entries]

    assert links() == ["http://example.org/1", "http://example.org/2"]  # in the worker
    pool.submit(os._exit, 1)  # the worker dies, and the pool with it
    assert links() == ["http://example.org/1", "http://example.org/2"]
    pool.shutdown()
    assert links() == ["http://example.org/1", "http://example.org/2"]


# -- near-duplicates ----------------------------------------------------------------------------


def _sig(paragraphs: list[str]) -> bytes:
    sig = signature(" ".join(paragraphs))
    assert sig is not None
    return sig


def test_threshold_links_copies_and_rewrites_but_not_other_stories() -> None:
    """The default threshold (0.5) against the fixture texts: copy ~0.95, rewrite ~0.75, other story 0."""
    wire, copy = _sig(texts.WIRE), _sig(["(Wire) -", *texts.WIRE, "Editing by the desk."])
    rewrite, other = _sig(texts.REWRITE), _sig(texts.OTHER)
    assert similarity(wire, copy) > 0.9
    assert 0.5 < similarity(wire, rewrite) < 0.9
    assert similarity(wire, other) < 0.1 and similarity(rewrite, other) < 0.1
    index = DuplicateIndex.build(0.5, [1], [1], [wire])
    assert index.find(copy) == 1 and index.find(rewrite) == 1 and index.find(other) is None
    index.add(2, other)
    assert index.find(_sig(texts.OTHER[:3])) == 2
    index.remove(2)
    assert index.find(other) is None
    assert signature("too short to compare") is None
    assert content_hash("Same  words, SAME text!") == content_hash("same words same text")


def test_signatures_stay_comparable_with_stored_ones() -> None:
    # Signatures are stored and compared across crawls and releases: the same text, the same bytes.
    text = " ".join(f"word{i % 97} token{i % 13} story" for i in range(200))
    stored = "65b4cd6135773812433a6d9ff667c2cc89c013f7aaea2c42e83f458eeff890ab"
    assert hashlib.sha256(_sig([text])).hexdigest() == stored


def test_batch_lookup_answers_as_one_lookup_per_article() -> None:
    wire, rewrite, other = _sig(texts.WIRE), _sig(texts.REWRITE), _sig(texts.OTHER)
    index = DuplicateIndex.build(0.5, [3, 4], [3, 4], [wire, other])
    batch = [rewrite, None, b"short", _sig(texts.OTHER[:3]), _sig(["Nothing", "like", "the", "others"] * 10)]
    assert index.find_indexed(batch) == [3, None, None, 4, None]
    assert index.find_indexed(batch) == [index.find(sig) if sig else None for sig in batch]
    # Articles added since the last compaction are only seen by find_live (and so by find).
    fresh = DuplicateIndex.build(0.5, [], [], [])
    fresh.add(7, wire)
    assert fresh.find_indexed([rewrite]) == [None] and fresh.find_live(rewrite) == 7 == fresh.find(rewrite)
    fresh.compact()
    assert fresh.find_indexed([rewrite]) == [7] and fresh.find_live(rewrite) is None


def test_index_points_copies_of_copies_at_the_first_seen_article() -> None:
    wire = _sig(texts.WIRE)
    index = DuplicateIndex.build(0.5, [5, 9], [5, 5], [wire, _sig(texts.REWRITE)])
    assert index.find(_sig(texts.REWRITE)) == 5


# -- storage ------------------------------------------------------------------------------------


def _row(source_id: int, url: str, paragraphs: list[str]) -> dict[str, object]:
    text = " ".join(paragraphs)
    return {
        "source_id": source_id,
        "feed_id": None,
        "url": url,
        "url_hash": url_hash(url),
        "title": "t",
        "text": text,
        "author": None,
        "lang": "en",
        "published_at": None,
        "summary_only": False,
        "content_hash": content_hash(text),
        "signature": signature(text),
        "fetched_at": datetime.now(UTC),
    }


def test_store_articles_is_idempotent_and_links_copies_across_batches(database: Database) -> None:
    spec = SourceSpec(
        slug="s", name="S", group="western", country="GB", languages=["en"], feeds=["http://e.org/f"], domains=["e.org"]
    )
    sync_catalogue(database, [spec])
    sync_catalogue(database, [spec])  # twice: still one source, one feed
    with database.session() as session:
        source_id = session.scalar(select(Source.id))
        assert len(session.scalars(select(Feed)).all()) == 1
    index = load_duplicate_index(database, 0.5, 30)
    first = store_articles(
        database,
        [_row(source_id, "http://e.org/1", texts.WIRE), _row(source_id, "http://e.org/2", texts.WIRE)],
        index,
    )
    assert (first.new, first.duplicates, first.already_stored) == (2, 1, 0)  # the second is an exact copy
    again = store_articles(database, [_row(source_id, "http://e.org/1", texts.WIRE)], index)
    assert (again.new, again.already_stored) == (0, 1)
    # A later crawl: the index is rebuilt from the stored signatures.
    rebuilt = load_duplicate_index(database, 0.5, 30)
    assert len(rebuilt) == 2
    later = store_articles(
        database,
        [_row(source_id, "http://e.org/3", texts.REWRITE), _row(source_id, "http://e.org/4", texts.OTHER)],
        rebuilt,
    )
    assert (later.new, later.duplicates) == (2, 1)
    with database.session() as session:
        rows = {a.url: a for a in session.scalars(select(Article))}
    original = rows["http://e.org/1"].id
    assert rows["http://e.org/2"].duplicate_of_id == original
    assert rows["http://e.org/3"].duplicate_of_id == original
    assert rows["http://e.org/4"].duplicate_of_id is None


def test_canonical_link_replaces_the_url_only_on_the_source_domains() -> None:
    from narrative_tracker.crawler.extract import canonical_link
    from narrative_tracker.crawler.pipelines.extract import _identity

    page = '<html><head><link href="/story/1.html?utm_source=x" rel="canonical"></head><body>x</body></html>'
    assert canonical_link(page) == "/story/1.html?utm_source=x"
    assert canonical_link("<html><head><link rel=stylesheet href=a.css></head><body>") is None
    result = extract_page(PageInput("http://news.example.org/amp/1", page.encode(), "text/html"))
    item = {"url": "http://news.example.org/amp/1", "url_hash": "h", "domains": ["news.example.org"]}
    assert _identity(item, result) == (
        "http://news.example.org/story/1.html",
        url_hash("http://news.example.org/story/1.html"),
    )
    elsewhere = extract_page(
        PageInput("http://news.example.org/amp/1", b'<link rel="canonical" href="https://other.example.com/1">', None)
    )
    assert _identity(item, elsewhere) == ("http://news.example.org/amp/1", "h")


def test_feed_author_title_and_date_come_first() -> None:
    from narrative_tracker.crawler.pipelines.extract import _row

    page = extract_page(PageInput("http://e.org/a", article_html("Page title", texts.WEST).encode(), "text/html"))
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    item = {
        "source_id": 1, "feed_id": 1, "url": "http://e.org/a", "url_hash": "h", "domains": ["e.org"],
        "link_title": "Feed title", "link_published_at": when, "link_author": "A. Writer",
    }  # fmt: skip
    row = _row(item, page)
    assert (row["title"], row["published_at"], row["author"]) == ("Feed title", when, "A. Writer")
    assert _row({**item, "link_title": "", "link_author": None}, page)["title"] == "Page title"
