"""The daily alert digest: gather, render (HTML, text, Markdown, JSON) and deliver.

``run(ctx)`` is the scheduler's ``digest`` job: it brings the trends up to date, evaluates the
alerts for today in ``[digest] timezone``, renders the digest and delivers it on the configured
channels (each at most once per date). The ``digest`` command calls the same ``produce``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jobs.base import JobContext
from narrative_tracker.errors import DeliveryError

if TYPE_CHECKING:
    from jobs.digest.content import Digest
    from narrative_tracker.settings import Settings
    from storage.database import Database


def today_in(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def produce(
    database: Database,
    settings: Settings,
    day: date,
    *,
    now: datetime | None = None,
    charts: bool = True,
    stop: Any = None,
) -> Digest:
    """Update the trends, evaluate and store the day's alerts, and gather the digest (with its charts)."""
    from jobs.alerts import AlertRecord, digest_shown, evaluate_alerts, unreported
    from jobs.digest.content import build_digest, narrative_names
    from jobs.trends import update_trends

    timezone = settings.digest.timezone
    update_trends(database, timezone, now=now, stop=stop)
    alerts = evaluate_alerts(database, day, settings.alerts, timezone, now=now)
    earlier: list[AlertRecord] = []
    previous = day - timedelta(days=1)
    if digest_shown(database, previous) is not None:
        # Yesterday's digest went out before yesterday ended: what arose after it comes now.
        earlier = unreported(database, evaluate_alerts(database, previous, settings.alerts, timezone, now=now))
    names = narrative_names(settings)
    digest = build_digest(database, day, alerts, timezone=timezone, names=names, now=now, earlier=earlier)
    digest.records = [a for a in alerts if not a.repeat] + earlier
    if charts and digest.series:
        from jobs.digest.charts import render_charts

        digest.charts = render_charts(digest.series)
    return digest


def record_shown(database: Database, digest: Digest, *, now: datetime | None = None) -> None:
    """Remember that this digest went out: its alerts, and that the date had a digest."""
    from jobs.alerts import mark_reported

    today = [record for record in digest.records if record.day == digest.day]
    mark_reported(database, digest.day, today, when=now)
    late = [record for record in digest.records if record.day != digest.day]
    if late:
        mark_reported(database, late[0].day, late, when=now)


def run(ctx: JobContext) -> dict[str, Any]:
    """The scheduler's ``digest`` job: today's digest, delivered on every configured channel."""
    from jobs.digest.delivery import configured_channels, deliver

    settings = ctx.settings
    day = today_in(settings.digest.timezone)
    digest = produce(ctx.database, settings, day, stop=ctx.stop)
    results = deliver(ctx.database, digest, settings.digest, settings.smtp_password)
    if any(r.status == "sent" for r in results):
        record_shown(ctx.database, digest)
    stats: dict[str, Any] = {
        "date": day.isoformat(),
        "alerts": len(digest.alerts),
        "earlier_alerts": len(digest.earlier),
        "channels": {r.channel: r.status for r in results},
    }
    if not configured_channels(settings.digest):
        stats["note"] = "no delivery channel configured in [digest]"
    failed = [r for r in results if r.status == "failed"]
    if failed:
        detail = "; ".join(f"{r.channel}: {r.error}" for r in failed)
        raise DeliveryError(f"digest {day} could not be delivered on {detail}")
    return stats
