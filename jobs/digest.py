"""The scheduler's ``digest`` job: today's digest, delivered on every configured channel."""

from __future__ import annotations

from typing import Any

from narrative_tracker.classifier.taxonomy import narrative_names
from narrative_tracker.errors import DeliveryError
from narrative_tracker.jobs.base import JobContext
from narrative_tracker.trends.digest import produce, record_shown, today_in
from narrative_tracker.trends.digest.delivery import configured_channels, deliver


def run(ctx: JobContext) -> dict[str, Any]:
    """Produce today's digest in ``[digest] timezone`` and deliver it (each channel at most once a day)."""
    settings = ctx.settings
    day = today_in(settings.digest.timezone)
    digest = produce(ctx.database, settings, day, names=narrative_names(settings.taxonomy_file), stop=ctx.stop)
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
