"""Alerts for a day, each with its reason in numbers and its evidence articles.

Rules (thresholds in ``[alerts]``, defaults in brackets; groups are source groups):

- **spike** (narrative x group): the day's flagged count ``x`` out of ``n`` articles of the group
  is tested against the group's share over the previous ``baseline_days`` [28] days with a Poisson
  upper tail: expected ``lambda = n * (base_flagged + 0.5) / (base_total + 1)`` (the 0.5 keeps a
  never-seen narrative testable), alert when ``P(X >= x) < spike_p_value`` [0.001],
  ``x >= spike_min_count`` [5] and the share is at least ``spike_min_ratio`` [2] times the
  baseline share. Testing the share rather than the count makes a busy news day no spike, and
  a day still in progress is judged on the articles it has so far.
- **crossover** (narrative x group): Russian state media promoted the narrative in at least
  ``crossover_push_min`` [3] articles over the last 7 days, and that day either Western,
  Ukrainian or independent Russian outlets promote it more than usual for the group (Poisson
  ``P(X >= promoting) < crossover_p_value`` [0.05] with expected
  ``n * (baseline promoting + 0.5) / (baseline total + 1)``: a first promoting article where there
  were none passes, the odd misclassified article in a group that sometimes promotes it does
  not), or it appears (any stance) in another group for the first time ever.
- **new-outlet** (narrative x outlet): an outlet with at least ``min_history_days`` [7] days of
  history promotes the narrative for the first time ever.
- **source-health** (outlet): its feeds fail (``feed_failures`` [3] consecutive failures, or
  marked unhealthy by the crawler; judged for today and yesterday only, as feed state has no
  history), or its volume falls below ``volume_drop_ratio`` [0.25] of its daily average over the
  baseline (outlets averaging ``volume_min_daily`` [10] a day or more, Poisson lower tail below
  ``spike_p_value``; today is compared with the part of the day elapsed).

No repeat: a condition that also held the day before is recorded with ``repeat = true`` and not
reported, unless its magnitude (a count of articles, failing feeds or the percentage shortfall)
exceeds the one last reported in the run of consecutive days. A coarse narrative's alert is
dropped when one of its sub-narratives has the same alert.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Feed, Source
from narrative_tracker.storage.models.trends import Alert, SourceDay, SourceNarrativeDay, TrendState
from narrative_tracker.storage.queries import active_model_version
from narrative_tracker.trends.config import AlertSettings
from narrative_tracker.trends.daily import day_classifications
from narrative_tracker.vocabulary import PUSHING_GROUP, SourceGroup, coarse_of

KINDS = ("crossover", "spike", "new-outlet", "source-health")
#: Groups whose promoting coverage counts as a crossover.
CROSSOVER_GROUPS = (SourceGroup.WESTERN, SourceGroup.UKRAINIAN, SourceGroup.INDEPENDENT_RUSSIAN)
PUSH_DAYS = 7
#: Days before the alert day whose conditions decide whether it is a repeat.
REPEAT_LOOKBACK = 7
EVIDENCE_LIMIT = 10
#: Of a crossover's evidence, the top promoting Russian state articles of the day shown after the group's own.
PUSHER_EVIDENCE = 3


@dataclass
class AlertRecord:
    day: date
    kind: str
    key: str
    narrative_id: str | None
    magnitude: float
    reason: str
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


def poisson_upper_tail(x: int, lam: float) -> float:
    """P(X >= x) for X ~ Poisson(lam), summed from x upwards so tiny tails keep their precision."""
    if x <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    term = math.exp(-lam + x * math.log(lam) - math.lgamma(x + 1))
    total, k = 0.0, x
    while term > 0 and k < x + 10_000:
        total += term
        if term < total * 1e-15:
            break
        k += 1
        term *= lam / k
    return min(1.0, total)


def poisson_lower_tail(x: int, lam: float) -> float:
    """P(X <= x) for X ~ Poisson(lam)."""
    if lam <= 0:
        return 1.0
    term = math.exp(-lam)
    total = term
    for k in range(1, x + 1):
        term *= lam / k
        total += term
    return min(1.0, total)


@dataclass
class _Window:
    """Everything the rules read, for the days from ``start`` to the alert day."""

    start: date
    day: date
    # (narrative, group, day) -> [flagged, promotes, refutes, reports]
    narrative_group: dict[tuple[str, str, date], list[int]]
    # (narrative, source id, day) -> [flagged, promotes, refutes, reports], where the outlet promoted it
    narrative_source: dict[tuple[str, int, date], list[int]]
    # (narrative, group) on the alert day -> language -> flagged
    languages: dict[tuple[str, str], dict[str, int]]
    group_total: dict[tuple[str, date], int]
    source_total: dict[tuple[int, date], int]
    sources: dict[int, Source]
    first_article_day: dict[int, date]
    # day -> the (narrative, group) and (narrative, source id) keys with rows that day
    group_keys: dict[date, list[tuple[str, str]]] = field(default_factory=dict)
    source_keys: dict[date, list[tuple[str, int]]] = field(default_factory=dict)

    def days_before(self, day: date) -> list[date]:
        """The window's days before ``day``."""
        return [self.start + timedelta(days=n) for n in range((day - self.start).days)]


def _load_window(session: Session, start: date, day: date) -> _Window:
    sources = {source.id: source for source in session.scalars(select(Source))}
    group_of = {source_id: source.group for source_id, source in sources.items()}
    narrative_group: dict[tuple[str, str, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    narrative_source: dict[tuple[str, int, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
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
        narrative_group[(narrative_id, group, when)] = [int(c) for c in counts]
    per_source = (
        select(snd.day, snd.narrative_id, snd.source_id, *sums)
        .where(in_window, snd.promotes > 0)
        .group_by(snd.day, snd.narrative_id, snd.source_id)
    )
    for when, narrative_id, source_id, *counts in session.execute(per_source):
        narrative_source[(narrative_id, source_id, when)] = [int(c) for c in counts]
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
    window = _Window(
        start, day, narrative_group, narrative_source, languages, group_total, source_total, sources, first
    )
    for narrative, group, when in narrative_group:
        window.group_keys.setdefault(when, []).append((narrative, group))
    for narrative, source_id, when in narrative_source:
        window.source_keys.setdefault(when, []).append((narrative, source_id))
    return window


def _days(end: date, count: int) -> list[date]:
    """The ``count`` days before ``end``, oldest first."""
    return [end - timedelta(days=n) for n in range(count, 0, -1)]


class _Rules:
    """The alert rules, evaluated for one day at a time over a loaded window."""

    def __init__(self, session: Session, window: _Window, thresholds: AlertSettings):
        self.session = session
        self.w = window
        self.t = thresholds

    # -- spike -----------------------------------------------------------------------------
    def spikes(self, day: date) -> list[AlertRecord]:
        found = []
        baseline = _days(day, self.t.baseline_days)
        for narrative, group in self.w.group_keys.get(day, ()):
            counts = self.w.narrative_group[(narrative, group, day)]
            if counts[0] < self.t.spike_min_count:
                continue
            x, n = counts[0], self.w.group_total.get((group, day), 0)
            base_x = sum(self.w.narrative_group.get((narrative, group, d), (0,))[0] for d in baseline)
            base_n = sum(self.w.group_total.get((group, d), 0) for d in baseline)
            rate = (base_x + 0.5) / (base_n + 1)
            expected = rate * n
            p = poisson_upper_tail(x, expected)
            share = x / n if n else 0.0
            base_share = base_x / base_n if base_n else 0.0
            ratio = share / base_share if base_share else math.inf
            if p >= self.t.spike_p_value or ratio < self.t.spike_min_ratio:
                continue
            reason = (
                f"{x} of {n} {group} articles ({share:.1%}) carried it on {day}, against {base_share:.2%} "
                f"({base_x} of {base_n}) over the previous {self.t.baseline_days} days: expected {expected:.1f}, "
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
                "promotes": counts[1],
                "refutes": counts[2],
                "reports": counts[3],
            }
            found.append(
                AlertRecord(day, "spike", f"{narrative}|{group}", narrative, float(x), reason, numbers, group=group)
            )
        return found

    # -- crossover -------------------------------------------------------------------------
    def _pushed(self, narrative: str, day: date) -> int:
        window = [day - timedelta(days=n) for n in range(PUSH_DAYS)]
        return sum(self.w.narrative_group.get((narrative, PUSHING_GROUP, d), (0, 0))[1] for d in window)

    def crossovers(self, day: date, *, with_first_appearance: bool) -> list[AlertRecord]:
        found = []
        for narrative, group in self.w.group_keys.get(day, ()):
            counts = self.w.narrative_group[(narrative, group, day)]
            if group == PUSHING_GROUP or counts[0] == 0:
                continue
            promoting, p = 0, None
            if group in CROSSOVER_GROUPS and counts[1]:
                p = self._promoting_tail(narrative, group, day, counts[1])
                if p < self.t.crossover_p_value:
                    promoting = counts[1]
            first = with_first_appearance and self._first_in_group(narrative, group, day)
            if not promoting and not first:
                continue
            pushed = self._pushed(narrative, day)
            if pushed < self.t.crossover_push_min:
                continue
            parts = [f"Russian state media promoted it in {pushed} articles over the last {PUSH_DAYS} days"]
            if promoting:
                parts.append(
                    f"on {day} {promoting} {group} articles promote it, unusual for the group "
                    f"(Poisson P(X >= {promoting}) = {p:.1e} from its promoting share over the previous "
                    f"{self.t.baseline_days} days)"
                )
            if first:
                parts.append(f"it appears in {group} outlets for the first time ({counts[0]} articles)")
            numbers = {
                "russian_state_promotes_7d": pushed,
                "promotes": counts[1],
                "refutes": counts[2],
                "reports": counts[3],
                "flagged": counts[0],
                "first_in_group": first,
                "promoting_p_value": p,
            }
            found.append(
                AlertRecord(
                    day,
                    "crossover",
                    f"{narrative}|{group}",
                    narrative,
                    float(promoting or counts[0]),
                    "; ".join(parts),
                    numbers,
                    group=group,
                )
            )
        return found

    def _promoting_tail(self, narrative: str, group: str, day: date, promoting: int) -> float:
        """P(X >= promoting) under the group's promoting share over the baseline (0.5 prior, as for spikes)."""
        baseline = _days(day, self.t.baseline_days)
        base_x = sum(self.w.narrative_group.get((narrative, group, d), (0, 0))[1] for d in baseline)
        base_n = sum(self.w.group_total.get((group, d), 0) for d in baseline)
        expected = self.w.group_total.get((group, day), 0) * (base_x + 0.5) / (base_n + 1)
        return poisson_upper_tail(promoting, expected)

    def _first_in_group(self, narrative: str, group: str, day: date) -> bool:
        if any(self.w.narrative_group.get((narrative, group, d), (0,))[0] for d in self.w.days_before(day)):
            return False
        members = [source_id for source_id, source in self.w.sources.items() if source.group == group]
        earlier = self.session.scalar(
            select(SourceNarrativeDay.day)
            .where(
                SourceNarrativeDay.narrative_id == narrative,
                SourceNarrativeDay.source_id.in_(members),
                SourceNarrativeDay.day < self.w.start,
            )
            .limit(1)
        )
        return earlier is None

    # -- new outlet ------------------------------------------------------------------------
    def new_outlets(self, day: date) -> list[AlertRecord]:
        found = []
        for narrative, source_id in self.w.source_keys.get(day, ()):
            counts = self.w.narrative_source[(narrative, source_id, day)]
            if counts[1] == 0:
                continue
            first_day = self.w.first_article_day.get(source_id)
            if first_day is None or (day - first_day).days < self.t.min_history_days:
                continue
            if not self._first_promotion(narrative, source_id, day):
                continue
            source = self.w.sources[source_id]
            reason = f"{source.name} ({source.group}) promotes it for the first time: {counts[1]} articles on {day}"
            numbers = {"promotes": counts[1], "flagged": counts[0], "outlet_since": first_day.isoformat()}
            found.append(
                AlertRecord(
                    day,
                    "new-outlet",
                    f"{narrative}|{source.slug}",
                    narrative,
                    float(counts[1]),
                    reason,
                    numbers,
                    group=source.group,
                    source=source.slug,
                )
            )
        return found

    def _first_promotion(self, narrative: str, source_id: int, day: date) -> bool:
        if any(self.w.narrative_source.get((narrative, source_id, d), (0, 0))[1] for d in self.w.days_before(day)):
            return False
        earlier = self.session.scalar(
            select(SourceNarrativeDay.day)
            .where(
                SourceNarrativeDay.narrative_id == narrative,
                SourceNarrativeDay.source_id == source_id,
                SourceNarrativeDay.day < self.w.start,
                SourceNarrativeDay.promotes > 0,
            )
            .limit(1)
        )
        return earlier is None

    # -- source health ---------------------------------------------------------------------
    def low_volume(self, day: date, fraction: float) -> list[AlertRecord]:
        found = []
        for source_id, source in self.w.sources.items():
            first_day = self.w.first_article_day.get(source_id)
            if first_day is None:
                continue
            baseline = [d for d in _days(day, self.t.baseline_days) if d >= first_day]
            if len(baseline) < self.t.min_history_days:
                continue
            mean = sum(self.w.source_total.get((source_id, d), 0) for d in baseline) / len(baseline)
            if mean < self.t.volume_min_daily:
                continue
            expected = mean * fraction
            x = self.w.source_total.get((source_id, day), 0)
            p = poisson_lower_tail(x, expected)
            if x >= self.t.volume_drop_ratio * expected or p >= self.t.spike_p_value:
                continue
            shortfall = round(100 * (1 - x / expected)) if expected else 0
            so_far = " so far" if fraction < 1 else ""
            reason = (
                f"{source.name} ({source.group}) published {x} articles on {day}{so_far}, against {mean:.1f} a day "
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

    def failing_feeds(self, day: date) -> list[AlertRecord]:
        feeds = self.session.scalars(
            select(Feed).where(or_(Feed.healthy.is_(False), Feed.consecutive_failures >= self.t.feed_failures))
        ).all()
        by_source: dict[int, list[Feed]] = defaultdict(list)
        for feed in feeds:
            by_source[feed.source_id].append(feed)
        found = []
        for source_id, failing in by_source.items():
            source = self.w.sources.get(source_id)
            if source is None:
                continue
            total = self.session.scalar(select(func.count()).select_from(Feed).where(Feed.source_id == source_id))
            worst = max(failing, key=lambda feed: feed.consecutive_failures)
            reason = (
                f"{len(failing)} of {total} feeds of {source.name} failing; worst: {worst.url} with "
                f"{worst.consecutive_failures} consecutive failures (last: {worst.last_status or 'no status'})"
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


def _drop_coarse_duplicates(alerts: list[AlertRecord]) -> list[AlertRecord]:
    """A coarse narrative's alert adds nothing when a sub-narrative has the same alert."""
    fine = {
        (a.kind, coarse_of(a.narrative_id), a.key.split("|", 1)[1])
        for a in alerts
        if a.narrative_id and "/" in a.narrative_id
    }
    return [
        a
        for a in alerts
        if not (
            a.narrative_id and "/" not in a.narrative_id and (a.kind, a.narrative_id, a.key.split("|", 1)[1]) in fine
        )
    ]


def _mark_repeats(history: dict[date, list[AlertRecord]], day: date) -> list[AlertRecord]:
    """Walk the days in order; a condition that held the day before is a repeat unless it grew."""
    reported: dict[tuple[str, str], float] = {}
    previous: set[tuple[str, str]] = set()
    result: list[AlertRecord] = []
    for when in sorted(history):
        current = set()
        for alert in history[when]:
            ident = (alert.kind, alert.key)
            current.add(ident)
            if ident in previous and ident in reported and alert.magnitude <= reported[ident]:
                alert.repeat = True
            else:
                reported[ident] = alert.magnitude
        for ident in list(reported):
            if ident not in current:
                del reported[ident]
        previous = current
        if when == day:
            result = history[when]
    return result


def _stored_repeats(session: Session, alerts: list[AlertRecord], day: date) -> None:
    """Feed-health conditions have no history in the data: decide repeats from the stored alerts."""
    for alert in alerts:
        if not alert.key.startswith("feeds|"):
            continue
        rows = session.execute(
            select(Alert.day, Alert.magnitude, Alert.repeat)
            .where(Alert.kind == alert.kind, Alert.key == alert.key, Alert.day < day)
            .order_by(Alert.day.desc())
            .limit(REPEAT_LOOKBACK * 4)
        ).all()
        expected = day - timedelta(days=1)
        for when, magnitude, repeat in rows:
            if when != expected:
                break
            if not repeat:
                alert.repeat = alert.magnitude <= magnitude
                break
            expected -= timedelta(days=1)


def _first_articles(rows: list[Any], limit: int) -> list[int]:
    ids: list[int] = []
    for row in rows:
        if row.article_id not in ids:
            ids.append(row.article_id)
        if len(ids) >= limit:
            break
    return ids


def _evidence(session: Session, alerts: list[AlertRecord], day: date, active: str, window: _Window) -> None:
    """Attach the best-scoring articles behind each narrative alert.

    Promoting ones first for crossovers and new outlets; a crossover also shows the Russian state
    articles that pushed the narrative that day.
    """
    wanted = [alert for alert in alerts if alert.narrative_id]
    if not wanted or not active:
        return
    # One read of the day's classifications, shared by every alert (a day is a few thousand rows).
    rows = day_classifications(session, day, active)
    slug_to_id = {source.slug: source_id for source_id, source in window.sources.items()}
    for alert in wanted:
        narrative = alert.narrative_id or ""
        if alert.source:
            members = {slug_to_id[alert.source]}
        else:
            members = {source_id for source_id, source in window.sources.items() if source.group == alert.group}
        mine = [
            row
            for row in rows
            if row.source_id in members
            and (row.narrative_id == narrative or row.narrative_id.startswith(narrative + "/"))
        ]
        wants_promotes = alert.kind in ("crossover", "new-outlet")
        mine.sort(key=lambda r: (wants_promotes and r.stance != "promotes", -r.score, r.article_id))
        limit = EVIDENCE_LIMIT - PUSHER_EVIDENCE if alert.kind == "crossover" else EVIDENCE_LIMIT
        ids = _first_articles(mine, limit)
        if alert.kind == "crossover":
            # A crossover is about who picked the narrative up from whom: show the pushers too.
            pushers = {source_id for source_id, source in window.sources.items() if source.group == PUSHING_GROUP}
            pushing = [
                row
                for row in rows
                if row.source_id in pushers
                and row.stance == "promotes"
                and (row.narrative_id == narrative or row.narrative_id.startswith(narrative + "/"))
            ]
            pushing.sort(key=lambda r: (-r.score, r.article_id))
            ids += [i for i in _first_articles(pushing, PUSHER_EVIDENCE) if i not in ids]
        alert.evidence_article_ids = ids
        if alert.group:
            alert.numbers["languages"] = dict(sorted(window.languages.get((narrative, alert.group), {}).items()))


def evaluate_alerts(
    database: Database,
    day: date,
    thresholds: AlertSettings,
    timezone: str,
    *,
    now: datetime | None = None,
    store: bool = True,
) -> list[AlertRecord]:
    """The alerts for ``day`` (repeats included, marked), stored in the alerts table when ``store``.

    Two processes storing the same day's alerts at once (a command during the digest job) race
    on the table's unique key: the loser evaluates again and replaces the winner's rows.
    """
    for attempt in range(1, 4):
        try:
            return _evaluate(database, day, thresholds, timezone, now=now, store=store)
        except (IntegrityError, OperationalError):
            if attempt == 3:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _evaluate(
    database: Database,
    day: date,
    thresholds: AlertSettings,
    timezone: str,
    *,
    now: datetime | None,
    store: bool,
) -> list[AlertRecord]:
    zone = ZoneInfo(timezone)
    now = (now or datetime.now(UTC)).astimezone(zone)
    today = now.date()
    start = day - timedelta(days=thresholds.baseline_days + REPEAT_LOOKBACK)
    with database.session() as session:
        window = _load_window(session, start, day)
        active = active_model_version(session) or ""
        rules = _Rules(session, window, thresholds)
        history: dict[date, list[AlertRecord]] = {}
        for offset in range(REPEAT_LOOKBACK, -1, -1):
            when = day - timedelta(days=offset)
            # Volume is judged on the part of today elapsed; a future day has none.
            fraction = _fraction_elapsed(when, now, zone) if when >= today else 1.0
            found = rules.spikes(when) + rules.crossovers(when, with_first_appearance=when == day)
            if when == day:
                found += rules.new_outlets(when)
            if fraction > 0:
                found += rules.low_volume(when, fraction)
            history[when] = _drop_coarse_duplicates(found)
        alerts = _mark_repeats(history, day)
        if day >= today - timedelta(days=1):
            feed_alerts = rules.failing_feeds(day)
            _stored_repeats(session, feed_alerts, day)
            alerts += feed_alerts
        _evidence(session, alerts, day, active, window)
        alerts.sort(key=sort_key)
        if store:
            _store(session, alerts, day)
    return alerts


def _fraction_elapsed(day: date, now: datetime, zone: ZoneInfo) -> float:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return max(0.0, min(1.0, (now - start).total_seconds() / 86400))


def sort_key(alert: AlertRecord) -> tuple[Any, ...]:
    return (KINDS.index(alert.kind), -alert.magnitude, alert.key)


def _store(session: Session, alerts: Iterable[AlertRecord], day: date) -> None:
    """Replace the day's alerts, keeping when a digest first showed each of them."""
    query = select(Alert.kind, Alert.key, Alert.reported_at).where(Alert.day == day)
    shown = {(kind, key): at for kind, key, at in session.execute(query)}
    session.execute(delete(Alert).where(Alert.day == day))
    rows = [
        {
            "day": a.day,
            "kind": a.kind,
            "key": a.key[:300],
            "narrative_id": a.narrative_id,
            "magnitude": a.magnitude,
            "repeat": a.repeat,
            "details": {
                "reason": a.reason,
                "numbers": a.numbers,
                "group": a.group,
                "source": a.source,
                "evidence_article_ids": a.evidence_article_ids,
            },
            "created_at": datetime.now(UTC),
            "reported_at": shown.get((a.kind, a.key[:300])),
        }
        for a in alerts
    ]
    if rows:
        session.execute(insert(Alert), rows)


def _marker(day: date) -> str:
    return f"digest-shown:{day.isoformat()}"


def digest_shown(database: Database, day: date) -> datetime | None:
    """When a digest for ``day`` was first produced, or None."""
    with database.session() as session:
        row = session.get(TrendState, _marker(day))
        return row.updated_at if row is not None else None


def unreported(database: Database, alerts: list[AlertRecord]) -> list[AlertRecord]:
    """The reported (non-repeat) alerts that no digest has shown yet."""
    if not alerts:
        return []
    with database.session() as session:
        shown = {
            (kind, key)
            for kind, key in session.execute(
                select(Alert.kind, Alert.key).where(Alert.day == alerts[0].day, Alert.reported_at.is_not(None))
            )
        }
    return [a for a in alerts if not a.repeat and (a.kind, a.key[:300]) not in shown]


def mark_reported(database: Database, day: date, alerts: list[AlertRecord], when: datetime | None = None) -> None:
    """Record that a digest for ``day`` was produced and showed these alerts (the first time only)."""
    moment = when or datetime.now(UTC)
    with database.session() as session:
        if session.get(TrendState, _marker(day)) is None:
            session.add(TrendState(name=_marker(day), number=len(alerts), text="", updated_at=moment))
        for alert in alerts:
            row = session.scalar(
                select(Alert).where(Alert.day == alert.day, Alert.kind == alert.kind, Alert.key == alert.key[:300])
            )
            if row is not None and row.reported_at is None:
                row.reported_at = moment
