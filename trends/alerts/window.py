"""The per-day counts the rules read, loaded once for the baseline plus the repeat lookback."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import SupportsInt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from narrative_tracker.storage.models import Source
from narrative_tracker.storage.models.trends import SourceDay, SourceNarrativeDay
from narrative_tracker.vocabulary import StanceCounts


@dataclass
class Window:
    """Everything the rules read, for the days from ``start`` to the alert day."""

    start: date
    day: date
    # (narrative, group, day) -> counts
    narrative_group: dict[tuple[str, str, date], StanceCounts]
    # (narrative, source id, day) -> counts, on the alert day only, only where the outlet promoted it
    narrative_source: dict[tuple[str, int, date], StanceCounts]
    # (narrative, group) on the alert day -> language -> flagged
    languages: dict[tuple[str, str], dict[str, int]]
    group_total: dict[tuple[str, date], int]
    source_total: dict[tuple[int, date], int]
    sources: dict[int, Source]
    first_article_day: dict[int, date]
    # day -> the (narrative, group) and (narrative, source id) keys with rows that day
    group_keys: dict[date, list[tuple[str, str]]] = field(default_factory=dict)
    source_keys: dict[date, list[tuple[str, int]]] = field(default_factory=dict)
    # (narrative, source id) that the outlet promoted on a window day before the alert day
    promoted_before: set[tuple[str, int]] = field(default_factory=set)

    def days_before(self, day: date) -> list[date]:
        """The window's days before ``day``."""
        return [self.start + timedelta(days=n) for n in range((day - self.start).days)]


def previous_days(end: date, count: int) -> list[date]:
    """The ``count`` days before ``end``, oldest first."""
    return [end - timedelta(days=n) for n in range(count, 0, -1)]


def _summed(flagged: SupportsInt, promotes: SupportsInt, refutes: SupportsInt, reports: SupportsInt) -> StanceCounts:
    # SUM()'s result type is the database driver's choice; the counts are compared and stored as ints.
    return StanceCounts(flagged=int(flagged), promotes=int(promotes), refutes=int(refutes), reports=int(reports))


def load_window(session: Session, start: date, day: date) -> Window:
    sources = {source.id: source for source in session.scalars(select(Source))}
    group_of = {source_id: source.group for source_id, source in sources.items()}
    narrative_group: dict[tuple[str, str, date], StanceCounts] = {}
    narrative_source: dict[tuple[str, int, date], StanceCounts] = {}
    languages: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    # Summed in the database (per group; per outlet only where it promoted): a month of per-outlet
    # rows is tens of thousands at a million articles, the sums a few thousand.
    snd, src = SourceNarrativeDay.__table__.c, Source.__table__.c
    joined = SourceNarrativeDay.__table__.join(Source.__table__, src.id == snd.source_id)
    sums = (func.sum(snd.flagged), func.sum(snd.promotes), func.sum(snd.refutes), func.sum(snd.reports))
    in_window = (snd.day >= start) & (snd.day <= day)
    per_group = (
        select(snd.day, snd.narrative_id, src.group, *sums)
        .select_from(joined)
        .where(in_window)
        .group_by(snd.day, snd.narrative_id, src.group)
    )
    for when, narrative_id, group, *counts in session.execute(per_group):
        narrative_group[(narrative_id, group, when)] = _summed(*counts)
    # Per outlet, the rules need the alert day's counts and whether it promoted the narrative on an
    # earlier day of the window: reading every outlet's every day (38,000 rows at a million
    # articles) took a third of an alert evaluation.
    per_source = (
        select(snd.day, snd.narrative_id, snd.source_id, *sums)
        .where(snd.day == day, snd.promotes > 0)
        .group_by(snd.day, snd.narrative_id, snd.source_id)
    )
    for when, narrative_id, source_id, *counts in session.execute(per_source):
        narrative_source[(narrative_id, source_id, when)] = _summed(*counts)
    promoted_earlier = (
        select(snd.narrative_id, snd.source_id).where(snd.day >= start, snd.day < day, snd.promotes > 0).distinct()
    )
    promoted_before = {(narrative_id, source_id) for narrative_id, source_id in session.execute(promoted_earlier)}
    per_language = (
        select(snd.narrative_id, src.group, snd.lang, func.sum(snd.flagged))
        .select_from(joined)
        .where(snd.day == day)
        .group_by(snd.narrative_id, src.group, snd.lang)
    )
    for narrative_id, group, lang, flagged in session.execute(per_language):
        languages[(narrative_id, group)][lang] = int(flagged)
    group_total: dict[tuple[str, date], int] = defaultdict(int)
    source_total: dict[tuple[int, date], int] = defaultdict(int)
    totals = select(SourceDay.source_id, SourceDay.day, SourceDay.total).where(
        SourceDay.day >= start, SourceDay.day <= day
    )
    for source_id, when, total in session.execute(totals):
        group_total[(group_of.get(source_id, "other"), when)] += total
        source_total[(source_id, when)] += total
    first = dict(
        session.execute(select(SourceDay.source_id, func.min(SourceDay.day)).group_by(SourceDay.source_id))
        .tuples()
        .all()
    )
    window = Window(start, day, narrative_group, narrative_source, languages, group_total, source_total, sources, first)
    window.promoted_before = promoted_before
    for narrative, group, when in narrative_group:
        window.group_keys.setdefault(when, []).append((narrative, group))
    for narrative, source_id, when in narrative_source:
        window.source_keys.setdefault(when, []).append((narrative, source_id))
    return window
