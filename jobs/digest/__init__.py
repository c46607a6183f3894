"""The daily alert digest: gather, render (HTML, text, Markdown, JSON) and deliver.

``run(ctx)`` is the scheduler's ``digest`` job: it brings the trends up to date, evaluates the
alerts for today in ``[digest] timezone``, renders the digest and delivers it on the configured
channels (each at most once per date). The ``digest`` command calls the same ``produce``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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
) -> Digest:
    """Update the trends, evaluate and store the day's alerts, and gather the digest (with its charts)."""
    from jobs.alerts import evaluate_alerts
    from jobs.digest.content import build_digest, narrative_names
    from jobs.trends import update_trends

    timezone = settings.digest.timezone
    update_trends(database, timezone, now=now)
    alerts = evaluate_alerts(database, day, settings.alerts, timezone, now=now)
    digest = build_digest(database, day, alerts, timezone=timezone, names=narrative_names(settings), now=now)
    if charts and digest.series:
        from jobs.digest.charts import render_charts

        digest.charts = render_charts(digest.series)
    return digest


def run(ctx: JobContext) -> dict[str, Any]:
    """The scheduler's ``digest`` job: today's digest, delivered on every configured channel."""
    from jobs.digest.delivery import configured_channels, deliver

    settings = ctx.settings
    day = today_in(settings.digest.timezone)
    digest = produce(ctx.database, settings, day)
    results = deliver(ctx.database, digest, settings.digest, settings.smtp_password)
    stats: dict[str, Any] = {
        "date": day.isoformat(),
        "alerts": len(digest.alerts),
        "channels": {r.channel: r.status for r in results},
    }
    if not configured_channels(settings.digest):
        stats["note"] = "no delivery channel configured in [digest]"
    failed = [r for r in results if r.status == "failed"]
    if failed:
        detail = "; ".join(f"{r.channel}: {r.error}" for r in failed)
        raise DeliveryError(f"digest {day} could not be delivered on {detail}")
    return stats
