"""The scheduler's ``trends`` job (it also runs right after each ``classify``)."""

from __future__ import annotations

from typing import Any

from narrative_tracker.jobs.base import JobContext
from narrative_tracker.trends.daily import update_trends


def run(ctx: JobContext) -> dict[str, Any]:
    """Bring the per-day trend tables up to date in ``[digest] timezone``."""
    return update_trends(ctx.database, ctx.settings.digest.timezone, stop=ctx.stop)
