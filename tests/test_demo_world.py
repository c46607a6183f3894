"""The demo world: its plan (dates relative to today, the wave's shape), its texts and how it is served."""

from __future__ import annotations

import itertools
import re
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import lxml.html
import pytest

from narrative_tracker.crawler.config import CrawlerSettings
from narrative_tracker.crawler.sources import load_sources
from narrative_tracker.demo.outlets import OUTLETS
from narrative_tracker.demo.site import DemoSite, LivePublisher
from narrative_tracker.demo.texts import LANGUAGES, load_pools
from narrative_tracker.demo.world import (
    BACKGROUND,
    STATE_WAVE,
    WAVE_NARRATIVE,
    DemoArticle,
    plan,
)
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.vocabulary import GROUPS

NOW = datetime(2026, 7, 9, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> list[DemoArticle]:
    return plan(28, now=NOW)


@pytest.fixture(scope="module")
def served(world: list[DemoArticle]) -> Iterator[tuple[NewsWeb, DemoSite]]:
    web = NewsWeb()
    site = DemoSite(web, world)
    with web:
        yield web, site


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def days_ago(article: DemoArticle) -> int:
    return (NOW.date() - article.published.date()).days


def test_outlets_cover_the_groups_languages_and_feed_kinds():
    assert 10 <= len(OUTLETS) <= 12
    assert {o.group for o in OUTLETS} == set(GROUPS) - {"other"}
    assert {o.lang for o in OUTLETS} == set(LANGUAGES)
    assert {o.feed_format for o in OUTLETS} == {"rss", "atom"}
    assert len({o.slug for o in OUTLETS}) == len({o.name for o in OUTLETS}) == len(OUTLETS)


def test_plan_is_deterministic_and_laid_out_up_to_now(world: list[DemoArticle]):
    again = plan(28, now=NOW)
    assert [(a.path, a.text) for a in again] == [(a.path, a.text) for a in world]
    assert all(a.published <= NOW for a in world)
    assert min(days_ago(a) for a in world) == 0
    assert max(days_ago(a) for a in world) == 27
    # Every outlet publishes every day, today included, at its usual volume (no source-health alert).
    per_outlet_day = Counter((a.outlet.slug, days_ago(a)) for a in world)
    for outlet in OUTLETS:
        volumes = {per_outlet_day[(outlet.slug, d)] for d in range(28)}
        assert volumes == {outlet.per_day}, outlet.slug
    assert len({a.path for a in world}) == len(world)


def test_dates_follow_today():
    later = plan(10, now=NOW + timedelta(days=3))
    assert max(a.published for a in later).date() == (NOW + timedelta(days=3)).date()
    with pytest.raises(ValueError, match="at least"):
        plan(5, now=NOW)


def test_a_day_just_begun_still_gets_its_articles():
    just_after_midnight = datetime(2026, 7, 9, 0, 3, tzinfo=UTC)
    today = [a for a in plan(10, now=just_after_midnight) if a.published.date() == just_after_midnight.date()]
    assert len(today) == sum(o.per_day for o in OUTLETS)
    assert all(a.published <= just_after_midnight for a in today)


def test_the_wave_rises_in_russian_state_media_and_is_refuted_elsewhere(world: list[DemoArticle]):
    carrying = [a for a in world if a.intended and a.intended[0] == WAVE_NARRATIVE]
    state = Counter(days_ago(a) for a in carrying if a.outlet.group == "russian-state")
    assert all(a.intended == (WAVE_NARRATIVE, "promotes") for a in carrying if a.outlet.group == "russian-state")
    assert dict(state) == STATE_WAVE
    assert [state[d] for d in range(5, -1, -1)] == sorted(state[d] for d in range(5, -1, -1))
    # Nothing before the news event: the last days are a rise from zero.
    assert all(days_ago(a) <= 5 for a in carrying)
    # One Western outlet picks the framing up, today only; the others refute it.
    promoting_elsewhere = [a for a in carrying if a.outlet.group != "russian-state" and a.intended[1] == "promotes"]
    assert {(a.outlet.slug, days_ago(a)) for a in promoting_elsewhere} == {("atlantic-courier", 0)}
    refuting = Counter(a.outlet.group for a in carrying if a.intended[1] == "refutes")
    assert set(refuting) == {"western", "ukrainian", "independent-russian", "fact-checker"}
    assert refuting["western"] >= 3


def test_background_narratives_are_steady_in_every_state_outlet(world: list[DemoArticle]):
    background = set(BACKGROUND.values())
    per_day = Counter(days_ago(a) for a in world if a.intended and a.intended[0] in background)
    assert set(per_day.values()) == {sum(1 for o in OUTLETS if o.group == "russian-state")}
    first_week = {(a.outlet.slug, a.intended[0]) for a in world if a.intended and 21 <= days_ago(a) <= 27}
    state = [o.slug for o in OUTLETS if o.group == "russian-state"]
    assert first_week >= {(slug, narrative) for slug in state for narrative in background}
    assert not any(a.intended and a.intended[0] in background for a in world if a.outlet.group != "russian-state")


def test_most_articles_are_ordinary_news(world: list[DemoArticle]):
    plain = sum(1 for a in world if a.intended is None)
    assert plain / len(world) > 0.85


def test_texts_are_filled_and_in_the_outlet_language(world: list[DemoArticle]):
    cyrillic = {a.outlet.lang == "ru": 0 for a in world}
    for article in world:
        text = " ".join((article.text.title, *article.text.paragraphs))
        assert "{" not in text and "}" not in text, article.path
        assert len(article.text.paragraphs) >= 3
        has_cyrillic = any("а" <= ch <= "я" for ch in text.lower())
        assert has_cyrillic == (article.outlet.lang == "ru"), article.path
        cyrillic[article.outlet.lang == "ru"] += 1
    assert all(cyrillic.values())
    for lang in LANGUAGES:
        assert "sport" in load_pools(lang).stories


def test_no_two_articles_are_near_duplicates_by_the_crawlers_measure(world: list[DemoArticle]):
    """The crawler links copies from a Jaccard similarity of word 3-shingles at its threshold; keep clear of it."""

    def shingles(article: DemoArticle) -> set[tuple[str, ...]]:
        tokens = re.findall(r"\w+", "\n".join(article.text.paragraphs).lower())
        return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}

    by_story: dict[tuple[str, str], list[set[tuple[str, ...]]]] = defaultdict(list)
    for article in world:
        by_story[(article.outlet.lang, article.story)].append(shingles(article))
    worst = max(len(a & b) / len(a | b) for sets in by_story.values() for a, b in itertools.combinations(sets, 2))
    # MinHash estimates the similarity within a few hundredths: leave a margin below the threshold.
    assert worst < CrawlerSettings().duplicate_threshold - 0.04


def test_feeds_parse_and_list_every_article(served: tuple[NewsWeb, DemoSite], world: list[DemoArticle]):
    web, _ = served
    for outlet in OUTLETS:
        parsed = feedparser.parse(_get(web.url(outlet.feed_path)))
        assert not parsed.bozo, (outlet.slug, parsed.get("bozo_exception"))
        assert parsed.version == ("rss20" if outlet.feed_format == "rss" else "atom10")
        mine = [a for a in world if a.outlet.slug == outlet.slug]
        assert len(parsed.entries) == len(mine)
        newest = max(mine, key=lambda a: a.published)
        entry = parsed.entries[0]
        assert entry.link == web.url(newest.path)
        assert entry.title == newest.text.title
        published = datetime(*entry.published_parsed[:6], tzinfo=UTC)
        assert published == newest.published.replace(microsecond=0)


def test_article_pages_are_well_formed_with_boilerplate(served: tuple[NewsWeb, DemoSite], world: list[DemoArticle]):
    web, _ = served
    legacy = next(a for a in world if a.outlet.charset != "utf-8")
    for article in [*world[::97], legacy]:
        with urllib.request.urlopen(web.url(article.path), timeout=10) as response:
            assert response.headers.get_content_charset() == article.outlet.charset
            body = response.read().decode(article.outlet.charset)
        assert f'<meta charset="{article.outlet.charset}">' in body
        root = lxml.html.document_fromstring(body)
        assert root.get("lang") == article.outlet.lang
        assert root.findtext(".//h1") == article.text.title
        assert root.xpath("//link[@rel='canonical']/@href") == [web.url(article.path)]
        published = root.xpath("//meta[@property='article:published_time']/@content")[0]
        assert datetime.fromisoformat(published) == article.published.replace(microsecond=0)
        assert root.xpath("//nav//a") and root.xpath("//footer")
        story = " ".join(root.xpath("//article//p//text()"))
        assert article.text.paragraphs[-1] in story


def test_robots_and_catalogue(served: tuple[NewsWeb, DemoSite], tmp_path: Path):
    web, site = served
    assert b"User-agent: *" in _get(web.url("/robots.txt"))
    sources = load_sources(site.write_catalogue(tmp_path / "sources.toml"))
    assert [s.slug for s in sources] == [o.slug for o in OUTLETS]
    for source, outlet in zip(sources, OUTLETS, strict=True):
        assert source.domains == ["127.0.0.1"]
        assert source.feeds == [web.url(outlet.feed_path)]


def test_live_publisher_adds_articles_to_the_feeds():
    web = NewsWeb()
    site = DemoSite(web, plan(8, now=datetime.now(UTC)))
    with web:
        outlet = OUTLETS[0]
        before = len(feedparser.parse(_get(web.url(outlet.feed_path))).entries)
        publisher = LivePublisher(site, 0.05).start()
        try:
            deadline = datetime.now(UTC) + timedelta(seconds=10)
            while publisher.published < len(OUTLETS) + 1 and datetime.now(UTC) < deadline:
                publisher._stop.wait(0.05)
        finally:
            publisher.stop()
        parsed = feedparser.parse(_get(web.url(outlet.feed_path)))
        assert len(parsed.entries) > before
        newest = parsed.entries[0]
        assert "-live-" in newest.link
        assert _get(newest.link).startswith(b"<!DOCTYPE html>")
