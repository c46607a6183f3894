"""The alerts table and the digest's bookkeeping: which alerts a digest has already shown."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models.trends import Alert, TrendState
from narrative_tracker.trends.alerts.record import AlertRecord


def _stored_key(alert: AlertRecord) -> str:
    # The column holds 300 characters: every look-up must cut the key as storing did.
    return alert.key[:300]


def store_alerts(session: Session, alerts: Iterable[AlertRecord], day: date) -> None:
    """Replace the day's alerts, keeping when a digest first showed each of them."""
    query = select(Alert.kind, Alert.key, Alert.reported_at).where(Alert.day == day)
    shown = {(kind, key): at for kind, key, at in session.execute(query)}
    session.execute(delete(Alert).where(Alert.day == day))
    rows = [
        {
            "day": a.day,
            "kind": a.kind,
            "key": _stored_key(a),
            "narrative_id": a.narrative_id,
            "magnitude": a.magnitude,
            "repeat": a.repeat,
            "details": {
                "reason": a.reason,
                "numbers": a.numbers,
                "group": a.group,
                "source": a.source,
                "evidence_article_ids": a.evidence_article_ids,
            },
            "created_at": datetime.now(UTC),
            "reported_at": shown.get((a.kind, _stored_key(a))),
        }
        for a in alerts
    ]
    if rows:
        session.execute(insert(Alert), rows)


def _marker(day: date) -> str:
    return f"digest-shown:{day.isoformat()}"


def digest_shown(database: Database, day: date) -> datetime | None:
    """When a digest for ``day`` was first produced, or None."""
    with database.session() as session:
        row = session.get(TrendState, _marker(day))
        return row.updated_at if row is not None else None


def unreported(database: Database, alerts: list[AlertRecord]) -> list[AlertRecord]:
    """The reported (non-repeat) alerts that no digest has shown yet."""
    if not alerts:
        return []
    with database.session() as session:
        shown = {
            (kind, key)
            for kind, key in session.execute(
                select(Alert.kind, Alert.key).where(Alert.day == alerts[0].day, Alert.reported_at.is_not(None))
            )
        }
    return [a for a in alerts if not a.repeat and (a.kind, _stored_key(a)) not in shown]


def mark_reported(database: Database, day: date, alerts: list[AlertRecord], when: datetime | None = None) -> None:
    """Record that a digest for ``day`` was produced and showed these alerts (the first time only)."""
    moment = when or datetime.now(UTC)
    with database.session() as session:
        if session.get(TrendState, _marker(day)) is None:
            session.add(TrendState(name=_marker(day), number=len(alerts), text="", updated_at=moment))
        for alert in alerts:
            row = session.scalar(
                select(Alert).where(Alert.day == alert.day, Alert.kind == alert.kind, Alert.key == _stored_key(alert))
            )
            if row is not None and row.reported_at is None:
                row.reported_at = moment
