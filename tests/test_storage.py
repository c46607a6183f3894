"""Storage on SQLite and PostgreSQL: migrations, UTC timestamps, constraints, export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.exc import IntegrityError

from narrative_tracker.errors import StorageError
from narrative_tracker.storage.database import current_revision, downgrade, head_revision, open_database, upgrade
from narrative_tracker.storage.export import iter_article_records
from narrative_tracker.storage.models import Article, Base, Classification, ModelVersion, Source
from narrative_tracker.storage.search import include_in_schema_comparison


def _source(slug: str = "tass-en", group: str = "russian-state") -> Source:
    return Source(slug=slug, name=slug.upper(), group=group, country="RU", languages=["en"], domains=["tass.com"])


def _article(source: Source, n: int, **kw: object) -> Article:
    return Article(source=source, url=f"https://tass.com/{n}", url_hash=f"{n:040d}", title=f"T{n}", text="x", **kw)


def test_migrations_create_every_table_the_models_declare(database):
    tables = set(inspect(database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert current_revision(database.engine) == head_revision()


def test_migrated_schema_matches_the_models(database):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_in_schema_comparison})
        diff = compare_metadata(context, Base.metadata)
        assert diff == []
        # Only the full-text index objects were left out of the comparison, nothing else.
        unfiltered = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert {_diff_name(d) for d in unfiltered} <= {"articles_fts", "articles_fts_data", "articles_fts_idx",
                                                   "articles_fts_docsize", "articles_fts_config",
                                                   "ix_articles_search"}


def _diff_name(diff: object) -> str:
    """The name of the table or index that one autogenerate difference is about."""
    kind, subject = diff[0], diff[1]  # type: ignore[index]
    return str(subject.name) if kind in ("remove_table", "remove_index") else f"{kind}:{subject}"


def test_downgrade_to_empty_then_upgrade_again(database):
    downgrade(database.engine, "base")
    assert current_revision(database.engine) is None
    assert "articles" not in inspect(database.engine).get_table_names()
    upgrade(database.engine)
    assert current_revision(database.engine) == head_revision()


def test_timestamps_come_back_timezone_aware_in_utc(database):
    paris_summer = timezone(timedelta(hours=2))
    with database.session() as session:
        source = _source()
        session.add(_article(source, 1, published_at=datetime(2025, 7, 5, 14, 0, tzinfo=paris_summer)))
    with database.session() as session:
        article = session.scalars(select(Article)).one()
        assert article.published_at == datetime(2025, 7, 5, 12, 0, tzinfo=UTC)
        assert article.published_at.tzinfo is not None
        assert article.fetched_at.tzinfo is not None


def test_naive_timestamps_are_refused(database):
    with pytest.raises(Exception, match="naive datetime"), database.session() as session:
        session.add(_article(_source(), 1, published_at=datetime(2025, 7, 5, 12, 0)))


def test_the_same_url_cannot_be_stored_twice(database):
    with pytest.raises(IntegrityError), database.session() as session:
        source = _source()
        session.add_all([_article(source, 1), _article(source, 1)])


def test_foreign_keys_are_enforced(database):
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(Article(source_id=999, url="https://x/1", url_hash="a" * 40))


def test_export_records_carry_the_contract_fields_and_active_model_narratives(database):
    with database.session() as session:
        source = _source()
        first = _article(source, 1, lang="en", published_at=datetime(2025, 7, 5, tzinfo=UTC))
        session.add(first)
        session.flush()
        session.add(_article(source, 2, lang="en", duplicate_of_id=first.id))
        session.add(ModelVersion(version="m1", status="retired"))
        session.add(ModelVersion(version="m2", status="active"))
        session.flush()
        narrative = "discrediting-the-west/western-arms-pause-is-russian-victory"
        session.add(
            Classification(
                article_id=first.id, model_version="m2", narrative_id=narrative, score=0.91234567, stance="promotes"
            )
        )
        session.add(
            Classification(
                article_id=first.id, model_version="m1", narrative_id="hidden-plots", score=0.7, stance="promotes"
            )
        )
    with database.session() as session:
        records = list(iter_article_records(session))
    assert [r["url"] for r in records] == ["https://tass.com/1", "https://tass.com/2"]
    assert records[0] == {
        "url": "https://tass.com/1",
        "source": "tass-en",
        "group": "russian-state",
        "title": "T1",
        "text": "x",
        "lang": "en",
        "published_at": "2025-07-05T00:00:00+00:00",
        "fetched_at": records[0]["fetched_at"],
        "duplicate_of": None,
        "views": None,  # a Telegram post's (issue 17)
        "forwarded_from": None,
        "narratives": [{"id": narrative, "score": 0.9123, "stance": "promotes"}],
    }
    assert datetime.fromisoformat(records[0]["fetched_at"]).tzinfo is not None
    assert records[1]["duplicate_of"] == "https://tass.com/1"
    assert records[1]["narratives"] == []


def test_export_pages_through_more_rows_than_one_page(database, monkeypatch):
    monkeypatch.setattr("narrative_tracker.storage.export.PAGE_SIZE", 7)
    with database.session() as session:
        source = _source()
        session.add_all([_article(source, n) for n in range(1, 31)])
    with database.session() as session:
        urls = [r["url"] for r in iter_article_records(session)]
    assert urls == [f"https://tass.com/{n}" for n in range(1, 31)]


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_database):
    with sqlite_database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match=r"cannot open database .*port 1"):
        open_database("postgresql+psycopg://postgres@127.0.0.1:1/none")


def test_a_malformed_url_is_a_clear_error():
    with pytest.raises(StorageError, match="not valid"):
        open_database("not a url")


def test_sqlite_backup_copies_a_live_database(sqlite_database, tmp_path):
    from narrative_tracker.storage.database import backup_sqlite

    with sqlite_database.session() as session:
        session.add(_article(_source(), 1))
    target = tmp_path / "copy.db"
    backup_sqlite(sqlite_database.engine, target)
    engine = create_engine(f"sqlite:///{target}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT url FROM articles").scalars().all() == ["https://tass.com/1"]
    engine.dispose()
