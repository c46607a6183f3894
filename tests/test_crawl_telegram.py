"""Crawls of the fixture Telegram channels (tests/sites/telegram.py) with real Scrapy, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from narrative_tracker.crawler.runner import check_sources, run_crawl
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.newsweb.telegram import ChannelPost, text_html
from narrative_tracker.settings import Settings, load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.export import iter_article_records
from narrative_tracker.storage.models import Article, Feed, Source

from sites.news import write_config
from sites.telegram import (
    ARTICLE_TITLE,
    EMOJI_POST,
    EN_POST,
    LONG_FIRST_LINE,
    RU_REPOSTED,
    Channels,
    build_channels,
    write_catalogue,
)

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC)


@pytest.fixture
def channels() -> Iterator[Channels]:
    web = NewsWeb().start()
    try:
        yield build_channels(web, NOW)
    finally:
        web.stop()


def settings_for(tmp_path: Path, site: Channels, db_url: str, **crawler: object) -> Settings:
    catalogue = write_catalogue(tmp_path / "sources.toml", site)
    values: dict[str, object] = {"telegram_base_url": site.base, "extraction_workers": 0, **crawler}
    return load_settings(write_config(tmp_path / "home", catalogue, db_url, **values))


def test_channels_are_read_back_to_stored_or_old_posts_with_reposts_links_and_faults(
    channels: Channels, db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, channels, db_url)
    stats = run_crawl(settings, timeout=90)

    # alpha: 22 posts in the window (4..25) less a service message and a photo alone; beta: 3;
    # the outlet's article that post 22 links to (twice: in its text and its preview card).
    assert stats["new_articles"] == 20 + 3 + 1
    assert stats["duplicates"] == 1  # the repost
    assert stats["skipped"] == {"no-text": 1, "telegram-service": 1}
    assert stats["errors"] == {"telegram-malformed": 1, "telegram-no-public-preview": 1}
    assert stats["feeds_failed"] == 2
    assert not stats["timed_out"]

    web = channels.web
    # Paged back with before=16 and before=6, and not further: page 3 reached posts out of the window.
    assert [r.path for r in web.requests if r.path.startswith("/s/alpha_news")] == [
        "/s/alpha_news",
        "/s/alpha_news?before=16",
        "/s/alpha_news?before=6",
    ]
    # beta_wire was refused once (429, Retry-After: 1) and asked again after the wait.
    beta = [r for r in web.requests if r.path == "/s/beta_wire"]
    assert len(beta) == 2 and beta[1].at - beta[0].at >= 0.9

    db = open_database(db_url)
    try:
        with db.session() as session:
            posts = {a.url: a for a in session.scalars(select(Article))}
            post = channels.post_url
            assert post("alpha_news", 24) not in posts  # photo alone
            assert post("alpha_news", 18) not in posts  # service message
            assert all(post("alpha_news", i) not in posts for i in (1, 2, 3))  # older than the window
            assert all(post("alpha_news", i) in posts for i in [*range(4, 18), *range(19, 24), 25])

            english = posts[post("alpha_news", 25)]
            assert (english.text, english.lang, english.views, english.views_granularity) == (
                EN_POST, "en", 3_400_000, 100_000
            )  # fmt: skip
            assert english.published_at == (NOW - timedelta(hours=1)).replace(microsecond=0)
            assert english.title.endswith("…") and EN_POST.startswith(english.title[:-1])  # cut at a word
            assert english.source.slug == "alpha"

            original = posts[post("alpha_news", 23)]
            assert (original.text, original.lang, original.title) == (RU_REPOSTED, "ru", RU_REPOSTED.split("\n")[0])
            assert original.duplicate_of_id is None

            repost = posts[post("beta_wire", 5)]
            assert repost.duplicate_of_id == original.id
            assert (repost.forwarded_from_channel, repost.forwarded_from_url) == ("alpha_news", original.url)
            assert repost.source.slug == "beta"
            hidden = posts[post("beta_wire", 4)]
            assert (hidden.forwarded_from_channel, hidden.forwarded_from_url) == ("Ivan", None)

            assert posts[post("alpha_news", 21)].text == EMOJI_POST.strip()
            entities = posts[post("alpha_news", 20)]
            assert (
                entities.text
                == 'Statement by the ministry: "aid & arms" <will> continue, officials say; nothing has changed.'
            )
            assert (entities.views, entities.views_granularity) == (512, 1)
            long_post = posts[post("alpha_news", 19)]
            assert "Цитата" not in long_post.text  # the quoted reply is not the post's text
            assert long_post.text.endswith("Вторая строка.")
            assert long_post.title.endswith("…") and len(long_post.title) <= 121
            assert LONG_FIRST_LINE.startswith(long_post.title[:-1])

            linking = posts[post("alpha_news", 22)]
            assert "логистика" in linking.text
            article = posts[channels.article_url]  # tracking parameter dropped
            assert (article.source.slug, article.title, article.lang) == ("outlet", ARTICLE_TITLE, "en")
            assert web.url("/") not in posts  # a home page is not an article

            feeds = {f.url: f for f in session.scalars(select(Feed))}
            assert feeds[f"{channels.base}/s/gamma_broken"].last_status == "failed"
            assert "no public preview" in (feeds[f"{channels.base}/s/delta_private"].last_error or "")
            assert feeds[f"{channels.base}/s/alpha_news"].last_status == "ok"

            records = {r["url"]: r for r in iter_article_records(session)}
            assert records[repost.url]["forwarded_from"] == {"channel": "alpha_news", "url": original.url}
            assert records[repost.url]["duplicate_of"] == original.url
            assert records[english.url]["views"] == 3_400_000
            assert records[channels.article_url]["views"] is None
            assert records[channels.article_url]["forwarded_from"] is None
            count = session.query(Article).count()
    finally:
        db.dispose()

    # A second crawl adds nothing and reads only the first page of each channel.
    before = len(web.requests)
    again = run_crawl(settings, timeout=60)
    assert again["new_articles"] == 0
    later = [r.path for r in web.requests[before:] if r.path.startswith("/s/")]
    assert sorted(p for p in later if "before" in p) == []

    # A new post: the next crawl stores it alone and stops at the stored posts on the first page.
    channels.publish(
        "alpha_news",
        "Alpha News",
        [
            *channels.posts["alpha_news"],
            ChannelPost(26, NOW, text_html("Свежая новость дня: переговоры продолжаются.")),
        ],
    )
    third = run_crawl(settings, timeout=60)
    assert third["new_articles"] == 1
    db = open_database(db_url)
    try:
        with db.session() as session:
            assert session.query(Article).count() == count + 1
            assert (
                session.scalar(
                    select(Source.slug).join(Article).where(Article.url == channels.post_url("alpha_news", 26))
                )
                == "alpha"
            )
    finally:
        db.dispose()


def test_a_channel_is_read_at_most_max_articles_per_feed_new_posts(channels: Channels, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, channels, f"sqlite:///{tmp_path}/tg.db", max_articles_per_feed=5)
    stats = run_crawl(settings, sources=["alpha"], timeout=60)
    assert stats["new_articles"] == 5 + 1  # the five newest posts with text, and the article one of them links to
    assert [r.path for r in channels.web.requests if r.path.startswith("/s/alpha_news")] == ["/s/alpha_news"]


def test_sources_check_reports_each_channels_reachability(channels: Channels, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, channels, f"sqlite:///{tmp_path}/tg.db")
    results = {r["url"].rsplit("/", 1)[-1]: r for r in check_sources(settings, timeout=60) if r["kind"] == "telegram"}
    assert (results["alpha_news"]["status"], results["alpha_news"]["items"]) == ("ok", 10)
    assert results["alpha_news"]["newest"] == (NOW - timedelta(hours=1)).replace(microsecond=0).isoformat()
    assert results["gamma_broken"]["status"] == "failed"
    assert results["gamma_broken"]["error"] == "not a channel preview page"
    assert "no public preview" in (results["delta_private"]["error"] or "")
    assert results["beta_wire"]["status"] == "ok"  # after the 429 and its wait


def test_channel_previews_obey_the_private_address_rule(channels: Channels, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, channels, f"sqlite:///{tmp_path}/tg.db", allow_private_addresses=False)
    stats = run_crawl(settings, sources=["beta"], timeout=60)
    assert stats["new_articles"] == 0
    assert stats["skipped"] == {"private-address": 1} and stats["feeds_failed"] == 1
    assert not [r for r in channels.web.requests if r.path.startswith("/s/")]
