"""**source-health**, volume (outlet): an outlet publishes far fewer articles than usual.

Its volume falls below ``volume_drop_ratio`` [0.25] of its daily average over the baseline
(``baseline_days`` [28], from its first article; outlets averaging ``volume_min_daily`` [10] a day
or more, Poisson lower tail below ``spike_p_value`` [0.001]); today is compared with the part of
the day elapsed.
"""

from __future__ import annotations

from datetime import date

from narrative_tracker.trends.alerts.record import AlertRecord
from narrative_tracker.trends.alerts.rules.base import RuleContext
from narrative_tracker.trends.alerts.stats import poisson_lower_tail
from narrative_tracker.trends.alerts.window import previous_days
from narrative_tracker.trends.alerts.wording import articles


def low_volume(ctx: RuleContext, day: date, fraction: float) -> list[AlertRecord]:
    """The outlets publishing too little on ``day``, of which ``fraction`` has elapsed."""
    w, t = ctx.window, ctx.thresholds
    found: list[AlertRecord] = []
    for source_id, source in w.sources.items():
        first_day = w.first_article_day.get(source_id)
        if first_day is None:
            continue
        baseline = [d for d in previous_days(day, t.baseline_days) if d >= first_day]
        if len(baseline) < t.min_history_days:
            continue
        mean = sum(w.source_total.get((source_id, d), 0) for d in baseline) / len(baseline)
        if mean < t.volume_min_daily:
            continue
        expected = mean * fraction
        x = w.source_total.get((source_id, day), 0)
        p = poisson_lower_tail(x, expected)
        if x >= t.volume_drop_ratio * expected or p >= t.spike_p_value:
            continue
        shortfall = round(100 * (1 - x / expected)) if expected else 0
        so_far = " so far" if fraction < 1 else ""
        reason = (
            f"{source.name} ({source.group}) published {articles(x)} on {day}{so_far}, against {mean:.1f} a day "
            f"over the previous {len(baseline)} days (expected {expected:.1f}; Poisson P(X <= {x}) = {p:.1e})"
        )
        numbers = {
            "articles": x,
            "baseline_daily_mean": round(mean, 2),
            "expected": round(expected, 2),
            "p_value": p,
            "shortfall_percent": shortfall,
        }
        found.append(
            AlertRecord(
                day,
                "source-health",
                f"volume|{source.slug}",
                None,
                float(shortfall),
                reason,
                numbers,
                group=source.group,
                source=source.slug,
            )
        )
    return found
