"""The Telegram preview parser, its numbers and titles, the 429 wait and the catalogue's channels, alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from narrative_tracker.crawler.dedup import DuplicateIndex
from narrative_tracker.crawler.middlewares import retry_after_seconds
from narrative_tracker.crawler.sources import load_sources
from narrative_tracker.crawler.store import store_articles, sync_catalogue
from narrative_tracker.crawler.telegram import make_title, parse_preview, parse_views
from narrative_tracker.crawler.urls import url_hash
from narrative_tracker.errors import ConfigError
from narrative_tracker.newsweb.telegram import ChannelPost, emoji, preview_page, text_html
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, Feed, Source
from narrative_tracker.trends.digest.content import telegram_spread

BASE = "https://t.me"
WHEN = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("shown", "value"),
    [
        ("1.2K", (1200, 100)),
        ("3.4M", (3_400_000, 100_000)),
        ("15K", (15_000, 1000)),
        ("980", (980, 1)),
        ("1,5K", (1500, 100)),
        ("12 345", (12_345, 1)),
        ("n/a", None),
        ("", None),
    ],
)
def test_views_are_read_with_their_rounding(shown: str, value: tuple[int, int] | None) -> None:
    assert parse_views(shown) == value


def test_titles_are_the_first_line_cut_at_a_word() -> None:
    assert make_title("\n  Short line  \nsecond") == "Short line"
    long = "word " * 40
    title = make_title(long)
    assert title.endswith("…") and len(title) <= 121 and not title[:-1].endswith(" ")
    assert make_title("") == ""


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds(b"7", default=30) == 7
    assert retry_after_seconds(None, default=30) == 30
    assert retry_after_seconds(b"soon", default=30) == 30
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True).encode()
    assert 100 <= retry_after_seconds(later, default=30) <= 121


def test_preview_posts_text_forwards_links_and_paging() -> None:
    posts = [
        ChannelPost(10, WHEN, "Line one &amp; more<br/>Line " + emoji("🔥") + " two", views="1.2K"),
        ChannelPost(11, WHEN, None, photo=True),
        ChannelPost(12, WHEN, text_html("reposted"), forwarded=("Origin", "https://t.me/origin_ch/77")),
        ChannelPost(13, WHEN, text_html("hidden"), forwarded=("Someone", None)),
        ChannelPost(
            14,
            WHEN,
            'See <a href="https://outlet.example/news/1">this</a>',
            reply_to=("X", "quoted words"),
            preview=("https://outlet.example/news/2", "Outlet", "Title", "Preview text"),
        ),
        ChannelPost(15, WHEN, None, service=True),
    ]
    page = parse_preview(
        preview_page(BASE, "chan_one", "Chan", posts, before=10),
        channel="chan_one",
        base=BASE,
        page_url="https://t.me/s/chan_one",
    )
    assert page.is_channel_page and page.before == 10 and page.unreadable == 0
    by_id = {p.post_id: p for p in page.posts}
    assert by_id[10].text == "Line one & more\nLine 🔥 two"
    assert (by_id[10].url, by_id[10].published_at, by_id[10].views) == ("https://t.me/chan_one/10", WHEN, 1200)
    assert by_id[11].text == ""
    assert (by_id[12].forwarded_channel, by_id[12].forwarded_url) == ("origin_ch", "https://t.me/origin_ch/77")
    assert (by_id[13].forwarded_channel, by_id[13].forwarded_url) == ("Someone", None)
    assert by_id[14].text == "See this"  # neither the quoted reply nor the preview card
    assert by_id[14].links == ("https://outlet.example/news/1", "https://outlet.example/news/2")
    assert by_id[15].service


def test_posts_claiming_another_channel_or_without_a_date_are_unreadable() -> None:
    html = preview_page(BASE, "other_ch", "Other", [ChannelPost(1, WHEN, text_html("x"))], before=None)
    page = parse_preview(html, channel="chan_one", base=BASE, page_url="https://t.me/s/chan_one")
    assert page.posts == [] and page.unreadable == 1
    broken = html.replace(b"datetime=", b"data-x=")
    assert parse_preview(broken, channel="other_ch", base=BASE, page_url="https://t.me/s/other_ch").unreadable == 1
    garbage = parse_preview(b"<html><body><p>Oops", channel="c_one", base=BASE, page_url="https://t.me/s/c_one")
    assert not garbage.is_channel_page and garbage.posts == []
    assert not parse_preview(b"", channel="c_one", base=BASE, page_url="https://t.me/s/c_one").is_channel_page


def test_catalogue_channels_alone_or_with_feeds_and_bad_names(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(
        '[[source]]\nslug = "mfa"\nname = "MFA"\ngroup = "russian-state"\ncountry = "RU"\nlanguages = ["ru"]\n'
        'telegram = ["@MID_Russia"]\ndomains = ["mid.ru"]\n',
        encoding="utf-8",
    )
    assert load_sources(path)[0].telegram == ["MID_Russia"]
    path.write_text(path.read_text(encoding="utf-8").replace("@MID_Russia", "https://t.me/x"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source .mfa.: field .telegram.*not a Telegram channel name"):
        load_sources(path)


def _post(
    source_id: int, url: str, text: str, forwarded: str | None = None, feed_id: int | None = None
) -> dict[str, object]:
    from narrative_tracker.crawler.dedup import fingerprints

    digest, sig = fingerprints(text)
    return {
        "source_id": source_id,
        "feed_id": feed_id,
        "url": url,
        "url_hash": url_hash(url),
        "title": text[:20],
        "text": text,
        "author": None,
        "lang": "en",
        "published_at": WHEN,
        "summary_only": False,
        "content_hash": digest,
        "signature": sig,
        "views": 10,
        "views_granularity": 1,
        "forwarded_from_channel": "a_chan" if forwarded else None,
        "forwarded_from_url": forwarded,
    }


def test_a_repost_stored_before_its_original_becomes_its_copy(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(
        "".join(
            f'[[source]]\nslug = "{slug}"\nname = "{slug}"\ngroup = "other"\ncountry = "XX"\nlanguages = ["en"]\n'
            f'telegram = ["{slug}_chan"]\ndomains = ["t.me"]\n'
            for slug in ("a", "b", "c")
        ),
        encoding="utf-8",
    )
    sync_catalogue(database, load_sources(path))
    with database.session() as session:
        ids = dict(session.execute(select(Source.slug, Source.id)).tuples().all())
        feeds = dict(session.execute(select(Feed.source_id, Feed.id)).tuples().all())
    feed = {slug: feeds[source_id] for slug, source_id in ids.items()}
    index = DuplicateIndex(0.5)
    text = "The arms pause shows the West is giving in, a strategic victory, experts say."
    original = "https://t.me/a_chan/1"
    # b reposts a's post and c reposts it too, both read before a's channel.
    store_articles(database, [_post(ids["b"], "https://t.me/b_chan/9", text, original, feed["b"])], index)
    store_articles(
        database, [_post(ids["c"], "https://t.me/c_chan/3", text + " Read more.", original, feed["c"])], index
    )
    stored = store_articles(database, [_post(ids["a"], original, text, None, feed["a"])], index)
    assert stored.new == 1
    with database.session() as session:
        rows = {a.url: a for a in session.scalars(select(Article))}
        first = rows[original]
        assert first.duplicate_of_id is None
        assert rows["https://t.me/b_chan/9"].duplicate_of_id == first.id
        assert rows["https://t.me/c_chan/3"].duplicate_of_id == first.id
    # A later repost of the repost's original links to it directly.
    store_articles(
        database, [_post(ids["c"], "https://t.me/c_chan/4", "Other words entirely", original, feed["c"])], index
    )
    with database.session() as session:
        later = session.scalars(select(Article).where(Article.url == "https://t.me/c_chan/4")).one()
        assert later.duplicate_of_id == first.id

    # The digest's evidence names the channels: first posted by a, reposted by b and c.
    with database.session() as session:
        spread = telegram_spread(session, [first.id, later.id])
    assert spread[first.id] == ("@a_chan", "first posted by @a_chan (a), reposted by @b_chan (b), @c_chan (c)")
    assert spread[later.id][0] == "@c_chan" and spread[later.id][1] == spread[first.id][1]


def test_the_short_post_set_reads_in_three_languages_and_its_report_section_is_replaced() -> None:
    from narrative_tracker.classifier.records import read_records
    from narrative_tracker.classifier.report import DEFAULT_POSTS, POSTS_HEADING, replace_posts_section
    from narrative_tracker.classifier.taxonomy import load_taxonomy

    posts = read_records(DEFAULT_POSTS, load_taxonomy(None))
    assert {p.lang for p in posts} == {"ru", "en", "fr"} and len(posts) >= 30
    assert all(1 <= p.text.count(".") + p.text.count("!") + p.text.count(":") <= 5 for p in posts)
    report = "# Model report\n\n## Trained on x\n\nold\n"
    once = replace_posts_section(report, [POSTS_HEADING, "", "first", ""])
    twice = replace_posts_section(once + "\n## Later\n\nkept\n", [POSTS_HEADING, "", "second", ""])
    assert "first" not in twice and "second" in twice and "## Later" in twice and "old" in twice


def test_csv_export_writes_forwarded_from_as_json() -> None:
    import csv
    import io
    import json

    from narrative_tracker.cli.export import _write
    from narrative_tracker.storage.export import FIELDS, ArticleRecord, ForwardedFrom

    record = ArticleRecord(
        url="https://t.me/b_chan/9", source="b", group="other", title="t", text="x", lang="en",
        published_at=None, fetched_at=None, duplicate_of="https://t.me/a_chan/1", views=1200,
        forwarded_from=ForwardedFrom(channel="a_chan", url="https://t.me/a_chan/1"), narratives=[],
    )  # fmt: skip
    plain = ArticleRecord(**{**record, "url": "https://e.org/1", "views": None, "forwarded_from": None})
    out = io.StringIO()
    assert _write(out, "csv", iter([record, plain]), FIELDS) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert json.loads(rows[0]["forwarded_from"]) == {"channel": "a_chan", "url": "https://t.me/a_chan/1"}
    assert (rows[0]["views"], rows[1]["views"], rows[1]["forwarded_from"]) == ("1200", "", "")


def test_trends_count_a_reposted_story_once_per_channel_outlet(database: Database, tmp_path: Path) -> None:
    from narrative_tracker.storage.models.trends import ArticleDay
    from narrative_tracker.trends.daily import update_trends

    path = tmp_path / "sources.toml"
    path.write_text(
        "".join(
            f'[[source]]\nslug = "{slug}"\nname = "{slug}"\ngroup = "other"\ncountry = "XX"\nlanguages = ["en"]\n'
            f'telegram = ["{slug}_chan"]\ndomains = ["t.me"]\n'
            for slug in ("a", "b")
        ),
        encoding="utf-8",
    )
    sync_catalogue(database, load_sources(path))
    with database.session() as session:
        ids = dict(session.execute(select(Source.slug, Source.id)).tuples().all())
    index = DuplicateIndex(0.5)
    original = "https://t.me/a_chan/1"
    rows = [
        _post(ids["a"], original, "The pause is a victory, they say."),
        _post(ids["b"], "https://t.me/b_chan/1", "The pause is a victory, they say.", original),
        _post(ids["b"], "https://t.me/b_chan/2", "Again: the pause is a victory.", original),  # b reposts it twice
    ]
    for row in rows:
        store_articles(database, [row], index)
    update_trends(database, "UTC")
    with database.session() as session:
        counted = dict(
            session.execute(select(Article.url, ArticleDay.counted).join(Article, Article.id == ArticleDay.article_id))
            .tuples()
            .all()
        )
    assert counted == {original: True, "https://t.me/b_chan/1": True, "https://t.me/b_chan/2": False}
