"""The daily alert digest: gather, render (HTML, text, Markdown, JSON) and deliver.

``produce`` brings the trends up to date, evaluates the alerts of a day in ``[digest] timezone``
and gathers the digest; ``delivery.deliver`` sends it on the configured channels (each at most
once per date). The scheduler's ``digest`` job and the ``digest`` command both call them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from narrative_tracker.interrupt import StopFlag
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database
    from narrative_tracker.trends.digest.content import Digest


def today_in(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def produce(
    database: Database,
    settings: Settings,
    day: date,
    *,
    now: datetime | None = None,
    charts: bool = True,
    names: dict[str, str] | None = None,
    stop: StopFlag | None = None,
) -> Digest:
    """Update the trends, evaluate and store the day's alerts, and gather the digest (with its charts).

    ``names`` maps narrative ids to the names shown (from the taxonomy); ids are shown without it.
    """
    from narrative_tracker.trends.alerts import AlertRecord, digest_shown, evaluate_alerts, unreported
    from narrative_tracker.trends.daily import update_trends
    from narrative_tracker.trends.digest.content import build_digest

    timezone = settings.digest.timezone
    update_trends(database, timezone, now=now, stop=stop)
    alerts = evaluate_alerts(database, day, settings.alerts, timezone, now=now)
    earlier: list[AlertRecord] = []
    previous = day - timedelta(days=1)
    if digest_shown(database, previous) is not None:
        # Yesterday's digest went out before yesterday ended: what arose after it comes now.
        earlier = unreported(database, evaluate_alerts(database, previous, settings.alerts, timezone, now=now))
    digest = build_digest(database, day, alerts, timezone=timezone, names=names or {}, now=now, earlier=earlier)
    digest.records = [a for a in alerts if not a.repeat] + earlier
    if charts and digest.series:
        from narrative_tracker.trends.digest.charts import render_charts

        digest.charts = render_charts(digest.series)
    return digest


def record_shown(database: Database, digest: Digest, *, now: datetime | None = None) -> None:
    """Remember that this digest went out: its alerts, and that the date had a digest."""
    from narrative_tracker.trends.alerts import mark_reported

    today = [record for record in digest.records if record.day == digest.day]
    mark_reported(database, digest.day, today, when=now)
    late = [record for record in digest.records if record.day != digest.day]
    if late:
        mark_reported(database, late[0].day, late, when=now)
