"""What every rule reads: the session (for history older than the window), the window, the thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from narrative_tracker.trends.alerts.window import Window
from narrative_tracker.trends.config import AlertSettings


@dataclass(frozen=True)
class RuleContext:
    session: Session
    window: Window
    thresholds: AlertSettings
