"""One alert: what fired, on which day, for whom, why in words and in numbers, and its evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

#: The alert kinds, in the order a digest lists them.
KINDS = ("crossover", "spike", "new-outlet", "source-health")


@dataclass
class AlertRecord:
    day: date
    kind: str
    key: str
    narrative_id: str | None
    magnitude: float
    reason: str
    # JSON-ready values that differ by kind (counts, shares, p-values, per-feed details).
    numbers: dict[str, Any]
    group: str | None = None
    source: str | None = None
    evidence_article_ids: list[int] = field(default_factory=list)
    repeat: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "kind": self.kind,
            "key": self.key,
            "narrative_id": self.narrative_id,
            "group": self.group,
            "source": self.source,
            "magnitude": self.magnitude,
            "reason": self.reason,
            "numbers": self.numbers,
            "evidence_article_ids": self.evidence_article_ids,
            "repeat": self.repeat,
        }


def sort_key(alert: AlertRecord) -> tuple[int, float, str]:
    """Kind order first, then the largest magnitude, then the key for a stable order."""
    return (KINDS.index(alert.kind), -alert.magnitude, alert.key)
