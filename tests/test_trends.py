"""Daily trends: days in the digest time zone, duplicates once per outlet, incremental updates, model changes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from narrative_tracker.cli import main
from narrative_tracker.storage.models import ModelVersion
from narrative_tracker.storage.models.trends import ArticleDay, SourceDay
from narrative_tracker.trends.daily import article_day, read_trends, update_trends

from helpers.world import ARMS_PAUSE, MILITARY_MIGHT, World

DAY = date(2025, 7, 5)
NOW = datetime(2025, 7, 6, 12, tzinfo=UTC)


def _rows(database, narrative_id, day=DAY):
    return {(r["group"], r["lang"]): r for r in read_trends(database, day, day, narrative_id=narrative_id)}


def test_day_is_the_publication_date_in_the_digest_time_zone():
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    late = datetime(2025, 7, 5, 22, 30, tzinfo=UTC)  # 00:30 on the 6th in Paris
    assert article_day(late, late, paris) == date(2025, 7, 6)
    assert article_day(late, late, ZoneInfo("UTC")) == date(2025, 7, 5)
    assert article_day(None, late, paris) == date(2025, 7, 6)  # no publication date: the fetch date
    future = late + timedelta(days=30)  # a feed that dates its items in the future is not believed
    assert article_day(future, late, ZoneInfo("UTC")) == date(2025, 7, 5)


def test_counts_shares_and_stances_per_group_and_language(database):
    world = World(database)
    world.source("rs", "russian-state")
    world.source("west", "western")
    world.articles("rs", DAY, 3, narratives={ARMS_PAUSE: "promotes"}, lang="ru")
    world.articles("rs", DAY, 1, narratives={ARMS_PAUSE: "reports", MILITARY_MIGHT: "promotes"}, lang="ru")
    world.articles("rs", DAY, 6, lang="ru")
    world.articles("west", DAY, 2, narratives={ARMS_PAUSE: "refutes"}, lang="fr")
    world.articles("west", DAY, 2, lang="fr")
    world.articles("west", DAY, 5, lang="en")

    stats = update_trends(database, "UTC", now=NOW)
    assert stats["days_recomputed"] == 1 and stats["model_version"] == "m1"

    fine = _rows(database, ARMS_PAUSE)
    assert set(fine) == {("russian-state", "ru"), ("western", "fr")}
    rs = fine[("russian-state", "ru")]
    assert (rs["flagged"], rs["total"], rs["promotes"], rs["reports"], rs["refutes"]) == (4, 10, 3, 1, 0)
    assert rs["share"] == 0.4
    west = fine[("western", "fr")]
    assert (west["flagged"], west["total"], west["refutes"], west["share"]) == (2, 4, 2, 0.5)
    coarse = _rows(database, "discrediting-the-west")
    assert coarse[("russian-state", "ru")]["flagged"] == 4
    assert _rows(database, "praise-of-russia")[("russian-state", "ru")]["promotes"] == 1


def test_a_coarse_narrative_counts_an_article_once_with_its_best_sub_narrative_stance(database):
    world = World(database)
    world.source("rs", "russian-state")
    weak = "discrediting-the-west/the-west-is-weak"
    article = world.articles("rs", DAY, 1, narratives={ARMS_PAUSE: "promotes"}, score=0.9)[0]
    with database.session() as session:  # a second sub-narrative of the same coarse one, lower score
        from narrative_tracker.storage.models import Classification

        session.add(
            Classification(article_id=article, model_version="m1", narrative_id=weak, score=0.6, stance="reports")
        )
    update_trends(database, "UTC", now=NOW)
    coarse = _rows(database, "discrediting-the-west")[("russian-state", "en")]
    assert (coarse["flagged"], coarse["promotes"], coarse["reports"]) == (1, 1, 0)
    assert _rows(database, weak)[("russian-state", "en")]["reports"] == 1


def test_duplicates_count_once_per_outlet_but_copies_in_other_outlets_count(database):
    world = World(database)
    world.source("rs", "russian-state")
    world.source("rs2", "russian-state")
    original = world.articles("rs", DAY, 1, narratives={ARMS_PAUSE: "promotes"})[0]
    # The same outlet republishes it twice under other URLs; another outlet copies it once.
    world.articles("rs", DAY, 2, narratives={ARMS_PAUSE: "promotes"}, duplicate_of=original)
    world.articles("rs2", DAY, 1, narratives={ARMS_PAUSE: "promotes"}, duplicate_of=original)
    update_trends(database, "UTC", now=NOW)
    row = _rows(database, ARMS_PAUSE)[("russian-state", "en")]
    assert (row["flagged"], row["total"]) == (2, 2)
    with database.session() as session:
        counted = session.scalars(select(ArticleDay.counted).order_by(ArticleDay.article_id)).all()
    assert counted == [True, False, False, True]


def test_only_days_touched_since_the_last_run_are_recomputed(database):
    world = World(database)
    world.source("rs", "russian-state")
    for offset in range(10):
        world.articles("rs", DAY - timedelta(days=offset), 2, narratives={ARMS_PAUSE: "promotes"})
    first = update_trends(database, "UTC", now=NOW)
    assert first["days_recomputed"] >= 10 and first["articles_added"] == 20

    again = update_trends(database, "UTC", now=NOW)
    assert (again["articles_added"], again["days_recomputed"]) == (0, 0)

    world.articles("rs", DAY - timedelta(days=3), 1)
    world.articles("rs", DAY - timedelta(days=7), 1, narratives={ARMS_PAUSE: "refutes"})
    third = update_trends(database, "UTC", now=NOW)
    assert third["articles_added"] == 2
    assert third["days_recomputed"] == 2
    assert (third["first_day"], third["last_day"]) == (
        (DAY - timedelta(days=7)).isoformat(),
        (DAY - timedelta(days=3)).isoformat(),
    )
    row = _rows(database, ARMS_PAUSE, DAY - timedelta(days=7))[("russian-state", "en")]
    assert (row["flagged"], row["total"], row["refutes"]) == (3, 3, 1)
    assert _rows(database, ARMS_PAUSE, DAY - timedelta(days=3))[("russian-state", "en")]["total"] == 3


def test_a_later_classification_touches_its_day(database):
    world = World(database)
    world.source("rs", "russian-state")
    article = world.articles("rs", DAY, 1, model="m1")[0]
    update_trends(database, "UTC", now=NOW)
    assert _rows(database, ARMS_PAUSE) == {}
    with database.session() as session:
        from narrative_tracker.storage.models import Classification

        session.add(
            Classification(
                article_id=article, model_version="m1", narrative_id=ARMS_PAUSE, score=0.7, stance="promotes"
            )
        )
    stats = update_trends(database, "UTC", now=NOW)
    assert stats["days_recomputed"] == 1
    assert _rows(database, ARMS_PAUSE)[("russian-state", "en")]["flagged"] == 1


def test_a_model_promotion_recomputes_recent_days_with_the_new_model(database):
    world = World(database)
    world.source("rs", "russian-state")
    ids = world.articles("rs", DAY, 2, narratives={ARMS_PAUSE: "promotes"})
    update_trends(database, "UTC", now=NOW)
    for article_id in ids:  # the new model sees another narrative in the same articles
        world.classify(article_id, {MILITARY_MIGHT: "promotes"}, model="m2")
    with database.session() as session:
        session.get(ModelVersion, "m1").status = "retired"
        session.add(ModelVersion(version="m2", status="active", promoted_at=NOW))
    stats = update_trends(database, "UTC", now=NOW)
    assert stats["model_changed"] is True and stats["model_version"] == "m2"
    assert stats["days_recomputed"] >= 2
    assert _rows(database, ARMS_PAUSE) == {}
    row = _rows(database, MILITARY_MIGHT)[("russian-state", "en")]
    assert (row["flagged"], row["model_version"]) == (2, "m2")


def test_a_time_zone_change_rebuilds_the_days(database):
    world = World(database)
    world.source("rs", "russian-state")
    world.articles("rs", DAY, 1, published=datetime(2025, 7, 5, 23, 30, tzinfo=UTC))
    update_trends(database, "UTC", now=NOW)
    stats = update_trends(database, "Asia/Tokyo", now=NOW)
    assert stats["rebuilt"] is True
    with database.session() as session:
        assert session.scalars(select(SourceDay.day)).all() == [date(2025, 7, 6)]


def test_trends_command_json_csv_and_chart(tmp_path, capsys, monkeypatch):
    from narrative_tracker.storage.database import open_database

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", url)
    database = open_database(url)
    world = World(database)
    world.source("rs", "russian-state")
    today = datetime.now(UTC).date()
    for offset in range(5):
        world.articles("rs", today - timedelta(days=offset), offset + 1, narratives={ARMS_PAUSE: "promotes"})
    database.dispose()

    def run(*args: str) -> str:
        try:
            main(["trends", *args])
        except SystemExit as exc:
            assert exc.code == 0
        return capsys.readouterr().out

    rows = json.loads(run("--narrative", ARMS_PAUSE, "--days", "7", "--json"))
    assert [r["flagged"] for r in rows] == [5, 4, 3, 2, 1]
    assert rows[-1]["day"] == today.isoformat() and rows[-1]["share"] == 1.0
    csv_lines = run("--group", "russian-state", "--days", "7", "--csv").splitlines()
    assert csv_lines[0].startswith("day,narrative_id,group,lang,flagged,total,share")
    assert len(csv_lines) == 1 + 10  # fine and coarse rows for 5 days
    chart = run("--days", "7")
    assert ARMS_PAUSE in chart and "█" in chart
    days = run("--narrative", ARMS_PAUSE, "--days", "3")
    assert today.isoformat() in days
    assert "No article flagged" in run("--narrative", "hidden-plots", "--days", "3")


def test_two_concurrent_updates_both_succeed_and_count_once(database, db_url):
    import threading

    from narrative_tracker.storage.database import open_database

    world = World(database)
    world.source("rs", "russian-state")
    world.source("west", "western")
    with world.batch():
        for offset in range(30):
            day = DAY - timedelta(days=offset)
            world.articles("rs", day, 5, narratives={ARMS_PAUSE: "promotes"})
            world.articles("west", day, 5, narratives={ARMS_PAUSE: "refutes"})
    other = open_database(db_url)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def update(target) -> None:
        barrier.wait()
        try:
            results.append(update_trends(target, "UTC", now=NOW))
        except Exception as exc:  # recorded, so that the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=update, args=(db,)) for db in (database, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.dispose()
    assert all(isinstance(r, dict) for r in results) and len(results) == 2, results
    for offset in (0, 17, 29):
        rows = _rows(database, ARMS_PAUSE, DAY - timedelta(days=offset))
        assert rows[("russian-state", "en")]["flagged"] == 5 and rows[("western", "en")]["refutes"] == 5
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ArticleDay)) == 300
