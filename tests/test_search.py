"""Full-text article search on SQLite (FTS5) and PostgreSQL (tsvector): languages, word forms,
hostile queries, the index kept in step with inserts, changes and deletes, filters and pages."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, select, text, update
from starlette.testclient import TestClient

from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import downgrade, upgrade
from narrative_tracker.storage.models import Article, Source
from narrative_tracker.storage.search import fts5_query, postgres_match, query_words
from narrative_tracker.web.accounts import create_token
from narrative_tracker.web.app import create_app
from narrative_tracker.web.data import ArticleFilters, search_articles

from helpers.world import ARMS_PAUSE, World

DAY = date(2026, 11, 30)
HOSTILE_QUERIES = [
    '"', '"unbalanced', "NEAR(armée guerre)", "title:перемирие", "text : *", "*", "-guerre", "guerre OR",
    "AND", "^war", "war)", "(((", "{title text}: war", "'; DROP TABLE articles; --", "\\", "%_", "\x00",
    "perem*", "NOT war", "a + b", "🙂", "ж" * 5000, "war " * 500,
]


def _ids(database, **filters) -> list[int]:
    found, _ = search_articles(database, ArticleFilters(**filters))
    return [a["id"] for a in found]


def _index_matches_the_articles(database) -> None:
    """SQLite: FTS5 compares its index with what the articles table holds now (raises if not)."""
    if database.engine.dialect.name == "sqlite":
        with database.engine.begin() as connection:
            connection.execute(text("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)"))


@pytest.fixture
def world(database) -> World:
    world = World(database)
    world.source("rt-ru", "russian-state")
    world.source("lemonde", "western")
    world.source("bbc", "western")
    return world


def test_words_in_russian_french_and_english_are_found_in_other_forms(database, world):
    [truce] = world.articles("rt-ru", DAY, lang="ru", title="Перемирие сорвано", text="Стороны обвиняют друг друга.")
    [talks] = world.articles("rt-ru", DAY, lang="ru", title="Новости", text="Переговоры о перемирии в Женеве.")
    [army] = world.articles("lemonde", DAY, lang="fr", title="L'armée recule", text="Les négociations reprennent.")
    [sanctions] = world.articles("bbc", DAY, lang="en", title="New sanctions", text="The EU sanctioned two banks.")
    world.articles("rt-ru", DAY, lang="ru", title="Погода", text="Морозы в Москве.")

    assert sorted(_ids(database, q="перемирия")) == [truce, talks]  # genitive finds nominative and locative
    assert _ids(database, q="ПЕРЕМИРИЕ сорвано") == [truce]  # every word, case folded
    assert _ids(database, q="переговоров") == [talks]
    assert _ids(database, q="armées") == [army]
    assert _ids(database, q="négociation") == [army]
    if database.engine.dialect.name == "sqlite":
        assert _ids(database, q="negociation") == [army]  # unicode61 folds accents; PostgreSQL does not
    assert _ids(database, q="sanction") == [sanctions]
    assert _ids(database, q="banks sanctions") == [sanctions]
    assert _ids(database, q="Geneva") == []
    assert _ids(database, q="") == _ids(database, q="   \t") == [5, 4, 3, 2, 1]  # no words: no filter


def test_query_syntax_typed_by_a_user_is_only_words(database, world):
    [war] = world.articles("lemonde", DAY, lang="fr", title="La guerre", text="Une armée near un perem* titre.")
    world.articles("bbc", DAY, lang="en", title="Weather", text="Rain and war games.")
    for query in HOSTILE_QUERIES:
        found = _ids(database, q=query)  # never raises
        words = query_words(query)
        if not words:
            assert len(found) == 2, query
        assert "NEAR(" not in fts5_query(words) and ":" not in fts5_query(words), query
    assert _ids(database, q="NEAR(armée guerre)") == [war]  # three words, "near" among them: not NEAR
    assert _ids(database, q="title:guerre") == []  # no column filter: "title" is a word not in the text


def test_an_article_stored_changed_or_deleted_after_the_migration_is_searched_as_it_is_now(database, world):
    [kept] = world.articles("bbc", DAY, title="Ceasefire holds", text="Quiet night.")
    [changed] = world.articles("bbc", DAY, title="Ceasefire broken", text="Shelling resumed.")
    [gone] = world.articles("bbc", DAY, title="Ceasefire talks", text="Delegations met.")
    assert sorted(_ids(database, q="ceasefire")) == [kept, changed, gone]
    with database.session() as session:
        session.execute(update(Article).where(Article.id == changed).values(title="Storm warning", text="Wind."))
        session.execute(delete(Article).where(Article.id == gone))
    assert _ids(database, q="ceasefire") == [kept]
    assert _ids(database, q="storm") == [changed]
    # A source removed takes its articles with it (ON DELETE CASCADE), and their index entries.
    with database.session() as session:
        session.execute(delete(Source).where(Source.slug == "bbc"))
    assert _ids(database, q="storm") == _ids(database, q="ceasefire") == []
    # A new article may take a freed id on SQLite: it is found by its own words only.
    world.source("bbc2", "western")
    world._next_article = gone
    [reused] = world.articles("bbc2", DAY, title="Harvest festival", text="Apples.")
    assert _ids(database, q="harvest") == [reused] and _ids(database, q="delegations") == []
    _index_matches_the_articles(database)


def test_the_migration_indexes_the_articles_already_stored(database, world):
    downgrade(database.engine, "0006")
    [old] = world.articles("rt-ru", DAY, lang="ru", title="Перемирие", text="Старая статья.")
    upgrade(database.engine)
    [new] = world.articles("rt-ru", DAY, lang="ru", title="Перемирие", text="Новая статья.")
    assert _ids(database, q="перемирия") == [new, old]
    assert _ids(database, q="старая") == [old]


def test_filters_and_keyset_pages_combine_with_the_search(database, world, monkeypatch):
    from narrative_tracker.web import data

    # PostgreSQL tries the newest articles before the index: a window of 4 makes every query
    # here cross from one to the other (SQLite does not use it).
    monkeypatch.setattr(data, "SEARCH_WINDOW", 4)
    with world.batch():
        ru = world.articles("rt-ru", DAY, 5, lang="ru", title="Санкции", text="Новые санкции.",
                            narratives={ARMS_PAUSE: "promotes"})
        fr = world.articles("lemonde", DAY, 4, lang="fr", title="Sanctions", text="De nouvelles sanctions.")
        en = world.articles("bbc", date(2026, 11, 1), 3, lang="en", title="Sanctions", text="More sanctions.")
        world.articles("bbc", DAY, 3, lang="en", title="Weather", text="Rain.")
    assert _ids(database, q="sanctions", group="western") == sorted(fr + en, reverse=True)
    assert _ids(database, q="sanctions", lang="en") == sorted(en, reverse=True)
    assert _ids(database, q="sanctions", source="lemonde", since=DAY) == sorted(fr, reverse=True)
    assert _ids(database, q="sanctions", until=date(2026, 11, 2)) == sorted(en, reverse=True)
    assert _ids(database, q="санкций", narrative=ARMS_PAUSE, stance="promotes") == sorted(ru, reverse=True)
    assert _ids(database, q="sanctions", narrative=ARMS_PAUSE) == []

    pages, cursor = [], None
    while True:
        found, cursor = search_articles(database, ArticleFilters(q="sanctions"), cursor=cursor, limit=3)
        pages.append([a["id"] for a in found])
        if cursor is None:
            break
    assert pages == [[12, 11, 10], [9, 8, 7], [6]]


def test_the_api_searches_with_the_index_and_keeps_its_pages(database, world, tmp_path):
    world.articles("rt-ru", DAY, 3, lang="ru", title="Перемирие", text="Текст.")
    world.articles("rt-ru", DAY, 2, lang="ru", title="Погода", text="Морозы.")
    token = create_token(database, "reader", "viewer")
    client = TestClient(create_app(load_settings(), database, secret="s" * 48), base_url="http://127.0.0.1",
                        headers={"Authorization": f"Bearer {token}"})
    first = client.get("/api/v1/articles", params={"q": "перемирия", "limit": 2}).json()
    assert [a["id"] for a in first["articles"]] == [3, 2]
    second = client.get("/api/v1/articles", params={"q": "перемирия", "limit": 2, "cursor": first["next_cursor"]})
    assert [a["id"] for a in second.json()["articles"]] == [1]
    assert client.get("/api/v1/articles", params={"q": '"NEAR(*'}).status_code == 200


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_uses_the_gin_index_for_a_search(database, world):
    world.articles("bbc", DAY, lang="en", title="Ceasefire", text="Quiet.")
    query = select(Article.id).where(postgres_match(query_words("ceasefire")))
    sql = str(query.compile(dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}))
    with database.engine.connect() as connection:
        connection.execute(text("SET enable_seqscan = off"))  # a tiny table: make the planner show its options
        plan = connection.exec_driver_sql("EXPLAIN " + sql).scalars().all()
    assert any("ix_articles_search" in line for line in plan), plan


def test_the_crawlers_batched_inserts_and_the_retention_prune_keep_the_index_in_step(database):
    import threading
    from datetime import UTC, datetime, timedelta

    from narrative_tracker.crawler.dedup import content_hash, signature
    from narrative_tracker.crawler.sources import SourceSpec
    from narrative_tracker.crawler.store import load_duplicate_index, store_articles, sync_catalogue
    from narrative_tracker.crawler.urls import url_hash
    from narrative_tracker.jobs import retention
    from narrative_tracker.jobs.base import JobContext

    sync_catalogue(database, [SourceSpec(slug="s", name="S", group="western", country="FR", languages=["fr"],
                                         feeds=["http://e.org/f"], domains=["e.org"])])
    with database.session() as session:
        source_id = session.scalar(select(Source.id))
    old = datetime.now(UTC) - timedelta(days=400)

    def row(n: int, title: str, body: str) -> dict[str, object]:
        url = f"http://e.org/{n}"
        return {"source_id": source_id, "feed_id": None, "url": url, "url_hash": url_hash(url), "title": title,
                "text": body, "author": None, "lang": "fr", "published_at": None, "summary_only": False,
                "content_hash": content_hash(body), "signature": signature(body), "fetched_at": old}

    index = load_duplicate_index(database, 0.5, 30)
    batch = [row(1, "Bruxelles", "Les sanctions européennes visent les banques."),
             row(2, "Kiev", "Le cessez-le-feu est rompu dans la nuit.")]
    assert store_articles(database, batch, index).new == 2
    # Stored again (ON CONFLICT DO NOTHING): nothing changes, nothing is indexed twice.
    assert store_articles(database, [row(1, "Autre titre", "Autre texte.")], index).already_stored == 1
    assert len(_ids(database, q="sanction")) == 1 and _ids(database, q="autre") == []
    assert len(_ids(database, q="rompu")) == 1

    ctx = JobContext(settings=load_settings(), database=database, stop=threading.Event())
    assert retention._prune_texts(ctx, database, datetime.now(UTC)) == 2  # old texts emptied, titles kept
    assert _ids(database, q="rompu") == _ids(database, q="sanctions") == []
    assert len(_ids(database, q="Kiev")) == 1
    _index_matches_the_articles(database)


def test_a_query_word_is_searched_in_its_forms_as_whole_terms():
    from narrative_tracker.storage.search import word_forms

    assert {"перемирие", "перемирии", "перемирием", "перемирия"} <= set(word_forms("Перемирия"))
    assert {"переговоры", "переговоров", "переговорами"} <= set(word_forms("переговоров"))
    assert {"armée", "armées"} <= set(word_forms("armées"))
    assert {"negotiation", "negotiations", "negotiated", "negotiating"} <= set(word_forms("negotiations"))
    assert {"stop", "stops", "stopped", "stopping"} <= set(word_forms("stopped"))
    assert "warm" not in word_forms("war") and "warsaw" not in word_forms("wars")  # forms, not any prefix
    assert word_forms("a") == ["a"] and word_forms("2024") == ["2024"]
    assert "négociateur" not in word_forms("négociation", "en")  # the lang filter's stemmer only...
    assert "négociateur" in word_forms("négociation", "fr") and "négociateur" in word_forms("négociation")
    assert "sanctionsа" not in word_forms("sanctions", "ru")  # ...when it writes the word's script
    # Whole quoted terms only: a prefix term would make FTS5 merge every word under it in memory.
    query = fts5_query(query_words("перемирия armées"))
    assert "*" not in query and query.count(" OR ") < 2 * 400
