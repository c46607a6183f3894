"""**crossover** (narrative x group): a narrative pushed by Russian state media crosses into another group.

Russian state media promoted the narrative in at least ``crossover_push_min`` [3] articles over the
last 7 days, and that day either Western, Ukrainian or independent Russian outlets promote it more
than usual for the group (Poisson ``P(X >= promoting) < crossover_p_value`` [0.05] with expected
``n * (baseline promoting + 0.5) / (baseline total + 1)``: a first promoting article where there
were none passes, the odd misclassified article in a group that sometimes promotes it does not),
or it appears (any stance) in another group for the first time ever.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from narrative_tracker.storage.models.trends import SourceNarrativeDay
from narrative_tracker.trends.alerts.record import AlertRecord
from narrative_tracker.trends.alerts.rules.base import RuleContext
from narrative_tracker.trends.alerts.stats import poisson_upper_tail
from narrative_tracker.trends.alerts.window import previous_days
from narrative_tracker.trends.alerts.wording import articles, promote
from narrative_tracker.vocabulary import NO_COUNTS, PUSHING_GROUP, SourceGroup

#: Groups whose promoting coverage counts as a crossover.
CROSSOVER_GROUPS = (SourceGroup.WESTERN, SourceGroup.UKRAINIAN, SourceGroup.INDEPENDENT_RUSSIAN)
PUSH_DAYS = 7


def crossovers(ctx: RuleContext, day: date, *, with_first_appearance: bool) -> list[AlertRecord]:
    w, t = ctx.window, ctx.thresholds
    found: list[AlertRecord] = []
    for narrative, group in w.group_keys.get(day, ()):
        counts = w.narrative_group[(narrative, group, day)]
        if group == PUSHING_GROUP or counts.flagged == 0:
            continue
        promoting, p = 0, None
        if group in CROSSOVER_GROUPS and counts.promotes:
            p = _promoting_tail(ctx, narrative, group, day, counts.promotes)
            if p < t.crossover_p_value:
                promoting = counts.promotes
        first = with_first_appearance and _first_in_group(ctx, narrative, group, day)
        if not promoting and not first:
            continue
        pushed = _pushed(ctx, narrative, day)
        if pushed < t.crossover_push_min:
            continue
        parts = [f"Russian state media promoted it in {articles(pushed)} over the last {PUSH_DAYS} days"]
        if promoting:
            parts.append(
                f"on {day} {articles(promoting, group)} {promote(promoting)} it, unusual for the group "
                f"(Poisson P(X >= {promoting}) = {p:.1e} from its promoting share over the previous "
                f"{t.baseline_days} days)"
            )
        if first:
            parts.append(f"it appears in {group} outlets for the first time ({articles(counts.flagged)})")
        numbers = {
            "russian_state_promotes_7d": pushed,
            "promotes": counts.promotes,
            "refutes": counts.refutes,
            "reports": counts.reports,
            "flagged": counts.flagged,
            "first_in_group": first,
            "promoting_p_value": p,
        }
        found.append(
            AlertRecord(
                day,
                "crossover",
                f"{narrative}|{group}",
                narrative,
                float(promoting or counts.flagged),
                "; ".join(parts),
                numbers,
                group=group,
            )
        )
    return found


def _pushed(ctx: RuleContext, narrative: str, day: date) -> int:
    days = [day - timedelta(days=n) for n in range(PUSH_DAYS)]
    return sum(ctx.window.narrative_group.get((narrative, PUSHING_GROUP, d), NO_COUNTS).promotes for d in days)


def _promoting_tail(ctx: RuleContext, narrative: str, group: str, day: date, promoting: int) -> float:
    """P(X >= promoting) under the group's promoting share over the baseline (0.5 prior, as for spikes)."""
    w = ctx.window
    baseline = previous_days(day, ctx.thresholds.baseline_days)
    base_x = sum(w.narrative_group.get((narrative, group, d), NO_COUNTS).promotes for d in baseline)
    base_n = sum(w.group_total.get((group, d), 0) for d in baseline)
    expected = w.group_total.get((group, day), 0) * (base_x + 0.5) / (base_n + 1)
    return poisson_upper_tail(promoting, expected)


def _first_in_group(ctx: RuleContext, narrative: str, group: str, day: date) -> bool:
    w = ctx.window
    if any(w.narrative_group.get((narrative, group, d), NO_COUNTS).flagged for d in w.days_before(day)):
        return False
    members = [source_id for source_id, source in w.sources.items() if source.group == group]
    # The window holds only the last weeks; "for the first time ever" needs the older rows too.
    earlier = ctx.session.scalar(
        select(SourceNarrativeDay.day)
        .where(
            SourceNarrativeDay.narrative_id == narrative,
            SourceNarrativeDay.source_id.in_(members),
            SourceNarrativeDay.day < w.start,
        )
        .limit(1)
    )
    return earlier is None
