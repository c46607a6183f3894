"""**source-health**, feeds (outlet): an outlet's feeds keep failing.

``feed_failures`` [3] consecutive failures, or marked unhealthy by the crawler. Judged for today
and yesterday only, as feed state has no history; for the same reason its repeats are decided from
the stored alerts (``repeats.stored_repeats``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func, or_, select

from narrative_tracker.storage.models import Feed
from narrative_tracker.trends.alerts.record import AlertRecord
from narrative_tracker.trends.alerts.rules.base import RuleContext
from narrative_tracker.vocabulary import FETCH_FAILURE_CAUSES, failure_cause


def _last(feed: Feed) -> str:
    """The last outcome in words: the cause when the feed got no answer ("name not resolved")."""
    cause = failure_cause(feed.last_error)
    return FETCH_FAILURE_CAUSES[cause][0] if cause else feed.last_status or "no status"


def failing_feeds(ctx: RuleContext, day: date) -> list[AlertRecord]:
    session = ctx.session
    feeds = session.scalars(
        select(Feed).where(or_(Feed.healthy.is_(False), Feed.consecutive_failures >= ctx.thresholds.feed_failures))
    ).all()
    by_source: dict[int, list[Feed]] = defaultdict(list)
    for feed in feeds:
        by_source[feed.source_id].append(feed)
    found: list[AlertRecord] = []
    for source_id, failing in by_source.items():
        source = ctx.window.sources.get(source_id)
        if source is None:
            continue
        total = session.scalar(select(func.count()).select_from(Feed).where(Feed.source_id == source_id))
        worst = max(failing, key=lambda feed: feed.consecutive_failures)
        reason = (
            f"{len(failing)} of {total} feeds of {source.name} failing; worst: {worst.url} with "
            f"{worst.consecutive_failures} consecutive failures (last: {_last(worst)})"
        )
        numbers = {
            "failing_feeds": len(failing),
            "feeds": total,
            "feeds_detail": [
                {
                    "url": feed.url,
                    "consecutive_failures": feed.consecutive_failures,
                    "healthy": feed.healthy,
                    "last_status": feed.last_status,
                    "cause": failure_cause(feed.last_error),
                    "last_error": (feed.last_error or "")[:300],
                    "last_success_at": feed.last_success_at.isoformat() if feed.last_success_at else None,
                }
                for feed in failing
            ],
        }
        found.append(
            AlertRecord(
                day,
                "source-health",
                f"feeds|{source.slug}",
                None,
                float(len(failing)),
                reason,
                numbers,
                group=source.group,
                source=source.slug,
            )
        )
    return found
