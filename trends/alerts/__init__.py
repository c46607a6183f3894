"""Alerts for a day, each with its reason in numbers and its evidence articles.

Four kinds, one rule module each under ``rules/`` (thresholds in ``[alerts]``; each module
describes its rule and the defaults):

- **spike** (narrative x group, ``rules/spike.py``): a narrative takes an unusual share of a
  group's articles (Poisson upper tail against the group's baseline share);
- **crossover** (narrative x group, ``rules/crossover.py``): a narrative Russian state media pushed
  this week is promoted unusually often in Western, Ukrainian or independent Russian outlets, or
  appears in another group for the first time ever;
- **new-outlet** (narrative x outlet, ``rules/new_outlet.py``): an established outlet promotes a
  narrative for the first time ever;
- **source-health** (outlet): its feeds keep failing (``rules/feeds.py``) or its volume collapses
  (``rules/volume.py``).

A condition that held the day before too is a repeat, recorded but not reported unless it grew,
and a coarse narrative's alert gives way to its sub-narrative's (``repeats.py``). ``evaluate.py``
runs the rules over a loaded ``window.py``; ``reporting.py`` stores the alerts and remembers which
ones a digest has shown.
"""

from narrative_tracker.trends.alerts.evaluate import evaluate_alerts
from narrative_tracker.trends.alerts.record import KINDS, AlertRecord, sort_key
from narrative_tracker.trends.alerts.reporting import digest_shown, mark_reported, unreported
from narrative_tracker.trends.alerts.stats import poisson_lower_tail, poisson_upper_tail

__all__ = [
    "KINDS",
    "AlertRecord",
    "digest_shown",
    "evaluate_alerts",
    "mark_reported",
    "poisson_lower_tail",
    "poisson_upper_tail",
    "sort_key",
    "unreported",
]
