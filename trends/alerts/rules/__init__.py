"""The alert rules, one module each; every rule reads a ``RuleContext`` and returns one day's alerts."""

from narrative_tracker.trends.alerts.rules.base import RuleContext
from narrative_tracker.trends.alerts.rules.crossover import crossovers
from narrative_tracker.trends.alerts.rules.feeds import failing_feeds
from narrative_tracker.trends.alerts.rules.new_outlet import new_outlets
from narrative_tracker.trends.alerts.rules.spike import spikes
from narrative_tracker.trends.alerts.rules.volume import low_volume

__all__ = ["RuleContext", "crossovers", "failing_feeds", "low_volume", "new_outlets", "spikes"]
