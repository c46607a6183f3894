"""**spike** (narrative x group): a narrative takes an unusual share of a group's articles.

The day's flagged count ``x`` out of ``n`` articles of the group is tested against the group's
share over the previous ``baseline_days`` [28] days with a Poisson upper tail: expected
``lambda = n * (base_flagged + 0.5) / (base_total + 1)`` (the 0.5 keeps a never-seen narrative
testable), alert when ``P(X >= x) < spike_p_value`` [0.001], ``x >= spike_min_count`` [5] and the
share is at least ``spike_min_ratio`` [2] times the baseline share. Testing the share rather than
the count makes a busy news day no spike, and a day still in progress is judged on the articles it
has so far.
"""

from __future__ import annotations

import math
from datetime import date

from narrative_tracker.trends.alerts.record import AlertRecord
from narrative_tracker.trends.alerts.rules.base import RuleContext
from narrative_tracker.trends.alerts.stats import poisson_upper_tail
from narrative_tracker.trends.alerts.window import previous_days
from narrative_tracker.vocabulary import NO_COUNTS


def spikes(ctx: RuleContext, day: date) -> list[AlertRecord]:
    w, t = ctx.window, ctx.thresholds
    found: list[AlertRecord] = []
    baseline = previous_days(day, t.baseline_days)
    for narrative, group in w.group_keys.get(day, ()):
        counts = w.narrative_group[(narrative, group, day)]
        if counts.flagged < t.spike_min_count:
            continue
        x, n = counts.flagged, w.group_total.get((group, day), 0)
        base_x = sum(w.narrative_group.get((narrative, group, d), NO_COUNTS).flagged for d in baseline)
        base_n = sum(w.group_total.get((group, d), 0) for d in baseline)
        rate = (base_x + 0.5) / (base_n + 1)
        expected = rate * n
        p = poisson_upper_tail(x, expected)
        share = x / n if n else 0.0
        base_share = base_x / base_n if base_n else 0.0
        ratio = share / base_share if base_share else math.inf
        if p >= t.spike_p_value or ratio < t.spike_min_ratio:
            continue
        reason = (
            f"{x} of {n} {group} articles ({share:.1%}) carried it on {day}, against {base_share:.2%} "
            f"({base_x} of {base_n}) over the previous {t.baseline_days} days: expected {expected:.1f}, "
            f"Poisson P(X >= {x}) = {p:.1e}"
        )
        numbers = {
            "flagged": x,
            "total": n,
            "share": round(share, 6),
            "baseline_flagged": base_x,
            "baseline_total": base_n,
            "baseline_share": round(base_share, 6),
            "expected": round(expected, 3),
            "p_value": p,
            "ratio": None if math.isinf(ratio) else round(ratio, 2),
            "promotes": counts.promotes,
            "refutes": counts.refutes,
            "reports": counts.reports,
        }
        found.append(
            AlertRecord(day, "spike", f"{narrative}|{group}", narrative, float(x), reason, numbers, group=group)
        )
    return found
