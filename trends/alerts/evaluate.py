"""Evaluating a day: every rule over the day and the repeat lookback before it, then repeats,
evidence, order and storage."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError, OperationalError

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.queries import active_model_version
from narrative_tracker.trends.alerts.evidence import attach_evidence
from narrative_tracker.trends.alerts.record import AlertRecord, sort_key
from narrative_tracker.trends.alerts.repeats import (
    REPEAT_LOOKBACK,
    drop_coarse_duplicates,
    mark_repeats,
    stored_repeats,
)
from narrative_tracker.trends.alerts.reporting import store_alerts
from narrative_tracker.trends.alerts.rules import (
    RuleContext,
    crossovers,
    failing_feeds,
    low_volume,
    new_outlets,
    spikes,
)
from narrative_tracker.trends.alerts.window import load_window
from narrative_tracker.trends.config import AlertSettings


def evaluate_alerts(
    database: Database,
    day: date,
    thresholds: AlertSettings,
    timezone: str,
    *,
    now: datetime | None = None,
    store: bool = True,
) -> list[AlertRecord]:
    """The alerts for ``day`` (repeats included, marked), stored in the alerts table when ``store``.

    Two processes storing the same day's alerts at once (a command during the digest job) race
    on the table's unique key: the loser evaluates again and replaces the winner's rows.
    """
    for attempt in range(1, 4):
        try:
            return _evaluate(database, day, thresholds, timezone, now=now, store=store)
        except (IntegrityError, OperationalError):
            if attempt == 3:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _evaluate(
    database: Database,
    day: date,
    thresholds: AlertSettings,
    timezone: str,
    *,
    now: datetime | None,
    store: bool,
) -> list[AlertRecord]:
    zone = ZoneInfo(timezone)
    now = (now or datetime.now(UTC)).astimezone(zone)
    today = now.date()
    start = day - timedelta(days=thresholds.baseline_days + REPEAT_LOOKBACK)
    with database.session() as session:
        window = load_window(session, start, day)
        active = active_model_version(session) or ""
        ctx = RuleContext(session, window, thresholds)
        history: dict[date, list[AlertRecord]] = {}
        for offset in range(REPEAT_LOOKBACK, -1, -1):
            when = day - timedelta(days=offset)
            # Volume is judged on the part of today elapsed; a future day has none.
            fraction = _fraction_elapsed(when, now, zone) if when >= today else 1.0
            found = spikes(ctx, when) + crossovers(ctx, when, with_first_appearance=when == day)
            if when == day:
                found += new_outlets(ctx, when)
            if fraction > 0:
                found += low_volume(ctx, when, fraction)
            history[when] = drop_coarse_duplicates(found)
        alerts = mark_repeats(history, day)
        if day >= today - timedelta(days=1):
            feed_alerts = failing_feeds(ctx, day)
            stored_repeats(session, feed_alerts, day)
            alerts += feed_alerts
        attach_evidence(session, alerts, day, active, window)
        alerts.sort(key=sort_key)
        if store:
            store_alerts(session, alerts, day)
    return alerts


def _fraction_elapsed(day: date, now: datetime, zone: ZoneInfo) -> float:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return max(0.0, min(1.0, (now - start).total_seconds() / 86400))
