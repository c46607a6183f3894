"""No repeat, and no coarse duplicate.

A condition that also held the day before is recorded with ``repeat = true`` and not reported,
unless its magnitude (a count of articles, failing feeds or the percentage shortfall) exceeds the
one last reported in the run of consecutive days. A coarse narrative's alert is dropped when one
of its sub-narratives has the same alert.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from narrative_tracker.storage.models.trends import Alert
from narrative_tracker.trends.alerts.record import AlertRecord
from narrative_tracker.vocabulary import coarse_of

#: Days before the alert day whose conditions decide whether it is a repeat.
REPEAT_LOOKBACK = 7


def drop_coarse_duplicates(alerts: list[AlertRecord]) -> list[AlertRecord]:
    """A coarse narrative's alert adds nothing when a sub-narrative has the same alert."""
    fine = {
        (a.kind, coarse_of(a.narrative_id), a.key.split("|", 1)[1])
        for a in alerts
        if a.narrative_id and "/" in a.narrative_id
    }
    return [
        a
        for a in alerts
        if not (
            a.narrative_id and "/" not in a.narrative_id and (a.kind, a.narrative_id, a.key.split("|", 1)[1]) in fine
        )
    ]


def mark_repeats(history: dict[date, list[AlertRecord]], day: date) -> list[AlertRecord]:
    """Walk the days in order; a condition that held the day before is a repeat unless it grew."""
    reported: dict[tuple[str, str], float] = {}
    previous: set[tuple[str, str]] = set()
    result: list[AlertRecord] = []
    for when in sorted(history):
        current = set()
        for alert in history[when]:
            ident = (alert.kind, alert.key)
            current.add(ident)
            if ident in previous and ident in reported and alert.magnitude <= reported[ident]:
                alert.repeat = True
            else:
                reported[ident] = alert.magnitude
        for ident in list(reported):
            if ident not in current:
                del reported[ident]
        previous = current
        if when == day:
            result = history[when]
    return result


def stored_repeats(session: Session, alerts: list[AlertRecord], day: date) -> None:
    """Feed-health conditions have no history in the data: decide repeats from the stored alerts."""
    for alert in alerts:
        if not alert.key.startswith("feeds|"):
            continue
        rows = session.execute(
            select(Alert.day, Alert.magnitude, Alert.repeat)
            .where(Alert.kind == alert.kind, Alert.key == alert.key, Alert.day < day)
            .order_by(Alert.day.desc())
            .limit(REPEAT_LOOKBACK * 4)
        ).all()
        expected = day - timedelta(days=1)
        for when, magnitude, repeat in rows:
            if when != expected:
                break
            if not repeat:
                alert.repeat = alert.magnitude <= magnitude
                break
            expected -= timedelta(days=1)
