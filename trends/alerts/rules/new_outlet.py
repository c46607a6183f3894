"""**new-outlet** (narrative x outlet): an established outlet promotes a narrative for the first time.

An outlet with at least ``min_history_days`` [7] days of history promotes the narrative for the
first time ever.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from narrative_tracker.storage.models.trends import SourceNarrativeDay
from narrative_tracker.trends.alerts.record import AlertRecord
from narrative_tracker.trends.alerts.rules.base import RuleContext
from narrative_tracker.trends.alerts.wording import articles


def new_outlets(ctx: RuleContext, day: date) -> list[AlertRecord]:
    w = ctx.window
    found: list[AlertRecord] = []
    for narrative, source_id in w.source_keys.get(day, ()):
        counts = w.narrative_source[(narrative, source_id, day)]
        if counts.promotes == 0:
            continue
        first_day = w.first_article_day.get(source_id)
        if first_day is None or (day - first_day).days < ctx.thresholds.min_history_days:
            continue
        if not _first_promotion(ctx, narrative, source_id, day):
            continue
        source = w.sources[source_id]
        reason = f"{source.name} ({source.group}) promotes it for the first time: {articles(counts.promotes)} on {day}"
        numbers = {"promotes": counts.promotes, "flagged": counts.flagged, "outlet_since": first_day.isoformat()}
        found.append(
            AlertRecord(
                day,
                "new-outlet",
                f"{narrative}|{source.slug}",
                narrative,
                float(counts.promotes),
                reason,
                numbers,
                group=source.group,
                source=source.slug,
            )
        )
    return found


def _first_promotion(ctx: RuleContext, narrative: str, source_id: int, day: date) -> bool:
    w = ctx.window
    if (narrative, source_id) in w.promoted_before:
        return False
    # The window holds only the last weeks; "for the first time ever" needs the older rows too.
    earlier = ctx.session.scalar(
        select(SourceNarrativeDay.day)
        .where(
            SourceNarrativeDay.narrative_id == narrative,
            SourceNarrativeDay.source_id == source_id,
            SourceNarrativeDay.day < w.start,
            SourceNarrativeDay.promotes > 0,
        )
        .limit(1)
    )
    return earlier is None
