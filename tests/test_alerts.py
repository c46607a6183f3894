"""Alerts on a synthetic history: injected spikes, crossovers, new outlets and source problems are
found exactly where they were injected and nowhere else; ongoing conditions are not repeated."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from narrative_tracker.cli import main
from narrative_tracker.storage.models.trends import Alert
from narrative_tracker.trends.alerts import evaluate_alerts, poisson_lower_tail, poisson_upper_tail
from narrative_tracker.trends.alerts.wording import articles, promote
from narrative_tracker.trends.config import AlertSettings
from narrative_tracker.trends.daily import update_trends

from helpers.alerts_history import HIDDEN, NOW, SANCTIONS, TODAY, build_history
from helpers.world import ARMS_PAUSE, World, day_total

THRESHOLDS = AlertSettings()


def test_poisson_tails_match_known_values():
    # P(X >= 10 | 1) and P(X <= 2 | 20), checked against the closed forms.
    assert poisson_upper_tail(10, 1.0) == pytest.approx(1 - sum(math.exp(-1) / math.factorial(k) for k in range(10)))
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert poisson_upper_tail(3, 0.0) == 0.0
    assert poisson_lower_tail(2, 20.0) == pytest.approx(math.exp(-20) * (1 + 20 + 200))
    assert 0 < poisson_upper_tail(60, 0.5) < 1e-80  # tiny tails keep their precision


@pytest.fixture
def history(database):
    world = World(database)
    build_history(world)
    update_trends(database, "UTC", now=NOW)
    return world


def _groups_of(database, article_ids):
    from narrative_tracker.storage.models import Article, Source

    with database.session() as session:
        rows = dict(
            session.execute(
                select(Article.id, Source.group)
                .join(Source, Source.id == Article.source_id)
                .where(Article.id.in_(article_ids))
            ).all()
        )
    return [rows[i] for i in article_ids]


def _reported(alerts):
    return {(a.kind, a.key) for a in alerts if not a.repeat}


def test_injected_events_and_nothing_else_today(database, history):
    alerts = evaluate_alerts(database, TODAY, THRESHOLDS, "UTC", now=NOW)
    assert _reported(alerts) == {
        ("spike", f"{ARMS_PAUSE}|russian-state"),
        ("crossover", f"{ARMS_PAUSE}|western"),
        ("crossover", f"{ARMS_PAUSE}|fact-checker"),
        ("new-outlet", f"{ARMS_PAUSE}|w1"),
        ("spike", f"{HIDDEN}|russian-state"),
        ("source-health", "volume|ua1"),
        ("source-health", "feeds|w2"),
    }
    # The ongoing "sanctions" spike is recorded as a repeat, not reported.
    assert {(a.kind, a.key) for a in alerts if a.repeat} == {("spike", f"{SANCTIONS}|russian-state")}
    by_key = {(a.kind, a.key): a for a in alerts}

    spike = by_key[("spike", f"{ARMS_PAUSE}|russian-state")]
    assert spike.numbers["flagged"] == 10 and spike.numbers["total"] == 40
    assert spike.numbers["baseline_flagged"] == 28 and spike.numbers["baseline_total"] == 28 * 40
    assert spike.numbers["p_value"] < 1e-6
    assert "10 of 40 russian-state articles" in spike.reason
    assert len(spike.evidence_article_ids) == 10

    crossover = by_key[("crossover", f"{ARMS_PAUSE}|western")]
    assert crossover.numbers["russian_state_promotes_7d"] == 6 + 10
    assert crossover.numbers["promotes"] == 2 and crossover.numbers["refutes"] == 1
    assert crossover.numbers["first_in_group"] is False  # w2 refuted it 40 days ago
    assert crossover.numbers["languages"] == {"en": 3}
    # Evidence: the Western articles (the two promoting ones first), then the day's top promoting
    # Russian state articles that pushed it.
    groups = _groups_of(database, crossover.evidence_article_ids)
    assert groups == ["western"] * 3 + ["russian-state"] * 3
    checker = by_key[("crossover", f"{ARMS_PAUSE}|fact-checker")]
    assert checker.numbers["first_in_group"] is True and checker.numbers["promotes"] == 0

    volume = by_key[("source-health", "volume|ua1")]
    assert volume.numbers["articles"] == 2 and volume.numbers["baseline_daily_mean"] == 20.0
    feeds = by_key[("source-health", "feeds|w2")]
    assert feeds.numbers["failing_feeds"] == 1 and feeds.numbers["feeds_detail"][0]["consecutive_failures"] == 6


def test_yesterday_has_the_bursts_that_began_then(database, history):
    alerts = evaluate_alerts(database, TODAY - timedelta(days=1), THRESHOLDS, "UTC", now=NOW)
    assert _reported(alerts) == {
        ("spike", f"{SANCTIONS}|russian-state"),
        ("spike", f"{HIDDEN}|russian-state"),
        ("new-outlet", f"{SANCTIONS}|rs1"),
        ("new-outlet", f"{HIDDEN}|rs2"),
        ("source-health", "feeds|w2"),  # feed state is judged for today and yesterday
    }


def test_quiet_days_have_no_alert(database, history):
    for back in range(2, 30):
        day = TODAY - timedelta(days=back)
        alerts = evaluate_alerts(database, day, THRESHOLDS, "UTC", now=NOW, store=False)
        assert alerts == [], f"unexpected alerts on {day}: {[(a.kind, a.key, a.reason) for a in alerts]}"


def test_a_coarse_narrative_alert_gives_way_to_its_sub_narrative(database, history):
    alerts = evaluate_alerts(database, TODAY, THRESHOLDS, "UTC", now=NOW)
    assert not any(a.narrative_id == "discrediting-the-west" for a in alerts)


def test_alerts_are_stored_once_per_day_and_feed_repeats_come_from_the_stored_ones(database, history):
    yesterday = TODAY - timedelta(days=1)
    evaluate_alerts(database, yesterday, THRESHOLDS, "UTC", now=NOW)
    first = evaluate_alerts(database, TODAY, THRESHOLDS, "UTC", now=NOW)
    again = evaluate_alerts(database, TODAY, THRESHOLDS, "UTC", now=NOW)
    assert [a.as_dict() for a in first] == [a.as_dict() for a in again]
    with database.session() as session:
        stored = session.scalars(select(Alert).where(Alert.day == TODAY)).all()
        assert len(stored) == len(first)
        feeds = next(a for a in stored if a.key == "feeds|w2")
        assert feeds.repeat is True  # reported yesterday with the same number of failing feeds
        assert feeds.details["numbers"]["failing_feeds"] == 1
        spike = next(a for a in stored if a.key == f"{ARMS_PAUSE}|russian-state")
        assert spike.details["evidence_article_ids"] and "Poisson" in spike.details["reason"]


def test_a_day_in_progress_is_judged_on_the_part_elapsed(database, history):
    # At 02:00 ua1's two articles are about what two hours should bring: no volume alert yet.
    early = datetime(2025, 7, 20, 2, 0, tzinfo=UTC)
    alerts = evaluate_alerts(database, TODAY, THRESHOLDS, "UTC", now=early, store=False)
    assert ("source-health", "volume|ua1") not in _reported(alerts)


def test_alerts_command_json(tmp_path, capsys, monkeypatch):
    from narrative_tracker.storage.database import open_database

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", url)
    database = open_database(url)
    build_history(World(database))
    database.dispose()
    with pytest.raises(SystemExit) as exit_info:
        main(["alerts", "--date", TODAY.isoformat(), "--json"])
    assert exit_info.value.code == 0
    alerts = json.loads(capsys.readouterr().out)
    kinds = {(a["kind"], a["key"]) for a in alerts}
    assert ("crossover", f"{ARMS_PAUSE}|western") in kinds
    assert all(set(a) >= {"kind", "reason", "numbers", "evidence_article_ids", "magnitude"} for a in alerts)
    with pytest.raises(SystemExit) as exit_info:
        main(["alerts", "--date", "20-07-2025"])
    assert exit_info.value.code == 2


def test_a_crossover_is_a_first_or_unusual_promotion_not_the_odd_repeat(sqlite_database):
    world = World(sqlite_database)
    world.source("rs", "russian-state")
    world.source("w", "western")
    promoting = {12: 1, 5: 1, 0: 3}  # days back -> Western articles promoting it
    with world.batch():
        for back in range(20, -1, -1):
            day = TODAY - timedelta(days=back)
            world.articles("rs", day, 3, narratives={ARMS_PAUSE: "promotes"})
            day_total(world, "rs", day, 3)
            world.articles("w", day, promoting.get(back, 0), narratives={ARMS_PAUSE: "promotes"})
            day_total(world, "w", day, promoting.get(back, 0), 10)
    update_trends(sqlite_database, "UTC", now=NOW)

    def crossovers(back: int) -> dict[str, float | None]:
        day = TODAY - timedelta(days=back)
        found = evaluate_alerts(sqlite_database, day, THRESHOLDS, "UTC", now=NOW, store=False)
        return {a.key: a.numbers["promoting_p_value"] for a in found if a.kind == "crossover" and not a.repeat}

    first = crossovers(12)  # the first time the group promotes it
    assert list(first) == [f"{ARMS_PAUSE}|western"]
    assert crossovers(8) == {}
    assert crossovers(5) == {}  # one more article, 1 in 70 before: not unusual (P about 0.09)
    burst = crossovers(0)  # three of ten: unusual
    assert list(burst) == [f"{ARMS_PAUSE}|western"] and burst[f"{ARMS_PAUSE}|western"] < 0.001


def test_reasons_word_one_article_in_the_singular() -> None:
    assert f"{articles(1, 'western')} {promote(1)} it" == "1 western article promotes it"
    assert f"{articles(2, 'western')} {promote(2)} it" == "2 western articles promote it"
    assert articles(0) == "0 articles"
