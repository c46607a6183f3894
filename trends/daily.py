"""Daily trends, computed incrementally: only the days touched since the last run are recomputed.

A day is the publication date in ``[digest] timezone`` (the fetch date when the publication date
is missing or more than a day after the fetch, which only a wrong feed date can be). A day is
touched when an article of that day is stored, when the active model classifies an article of
that day, and, after a model promotion, for the last ``RECOMPUTE_DAYS_AFTER_PROMOTION`` days. A
time zone change rebuilds everything.

Duplicates count once per outlet: a copy of a story (``duplicate_of``) that the same outlet has
already published is not counted; a copy in another outlet is (who republishes whom is a signal).

Only the active model's classifications count. For a coarse narrative, an article counts once,
with the stance of its highest-scoring sub-narrative (or of the coarse row, when the model stores one).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from narrative_tracker.errors import StorageError
from narrative_tracker.interrupt import JobInterrupted, StopFlag, stop_requested
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, Classification, Source, table_of
from narrative_tracker.storage.models.trends import ArticleDay, DailyTrend, SourceDay, SourceNarrativeDay, TrendState
from narrative_tracker.storage.queries import active_model_version
from narrative_tracker.vocabulary import StanceCounts, coarse_of

log = logging.getLogger(__name__)

#: Days recomputed when the active model changes (the baseline of alerts plus a week).
RECOMPUTE_DAYS_AFTER_PROMOTION = 35
#: Article ids re-scanned below the watermark, so that articles committed out of id order by concurrent
#: writers (PostgreSQL sequences) are not missed; the anti-join makes the re-scan cheap and exact.
WATERMARK_MARGIN = 10_000
CHUNK = 10_000
INSERT_BATCH = 1_000


#: (article_id, source_id, lang, narrative_id, score, stance) of one classification.
ClassifiedRow: TypeAlias = Row[int, int, str, str, float, str]


def day_classifications(session: Session, day: date, active: str) -> list[ClassifiedRow]:
    """The active model's classifications of the articles counted on ``day`` (not near-duplicates,
    not excluded)."""
    return list(
        session.execute(
            select(
                ArticleDay.article_id,
                ArticleDay.source_id,
                ArticleDay.lang,
                Classification.narrative_id,
                Classification.score,
                Classification.stance,
            )
            .join(Classification, Classification.article_id == ArticleDay.article_id)
            .where(ArticleDay.day == day, ArticleDay.counted.is_(True), Classification.model_version == active)
        ).all()
    )


def article_day(published_at: datetime | None, fetched_at: datetime, zone: ZoneInfo) -> date:
    """The day an article belongs to: its publication date in ``zone``, else its fetch date."""
    moment = published_at if published_at is not None and published_at <= fetched_at + timedelta(days=1) else fetched_at
    return moment.astimezone(zone).date()


@dataclass
class _State:
    articles: int = 0
    classifications: int = 0
    model: str = ""
    timezone: str = ""


def _load_state(session: Session) -> _State:
    rows = {row.name: row for row in session.scalars(select(TrendState))}
    state = _State()
    if "articles" in rows:
        state.articles = rows["articles"].number
    if "classifications" in rows:
        state.classifications = rows["classifications"].number
        state.model = rows["classifications"].text
    if "timezone" in rows:
        state.timezone = rows["timezone"].text
    return state


def _save_state(session: Session, state: _State) -> None:
    now = datetime.now(UTC)
    values = {
        "articles": (state.articles, ""),
        "classifications": (state.classifications, state.model),
        "timezone": (0, state.timezone),
    }
    for name, (number, text) in values.items():
        row = session.get(TrendState, name)
        if row is None:
            session.add(TrendState(name=name, number=number, text=text, updated_at=now))
        else:
            row.number, row.text, row.updated_at = number, text, now


def _rebuild_from_scratch(session: Session) -> None:
    for table in (DailyTrend, SourceNarrativeDay, SourceDay, ArticleDay):
        session.execute(delete(table))


def _add_new_articles(
    database: Database, zone: ZoneInfo, state: _State, stop: StopFlag | None
) -> tuple[set[date], int]:
    """Give every article not yet in ``article_days`` its day; return the days touched and the count."""
    touched: set[date] = set()
    added = 0
    low = max(0, state.articles - WATERMARK_MARGIN)
    columns = (
        Article.id,
        Article.source_id,
        Article.lang,
        Article.published_at,
        Article.fetched_at,
        Article.duplicate_of_id,
    )
    while True:
        if stop_requested(stop):
            raise JobInterrupted("trends stopped while adding articles")
        with database.session() as session:
            rows = session.execute(
                select(*columns)
                .outerjoin(ArticleDay, ArticleDay.article_id == Article.id)
                .where(Article.id > low, ArticleDay.article_id.is_(None))
                .order_by(Article.id)
                .limit(CHUNK)
            ).all()
            if not rows:
                break
            roots = {row.duplicate_of_id for row in rows if row.duplicate_of_id is not None}
            seen = _outlets_with_story(session, roots)
            records = []
            for row in rows:
                root = row.duplicate_of_id if row.duplicate_of_id is not None else row.id
                counted = (root, row.source_id) not in seen
                seen.add((root, row.source_id))
                day = article_day(row.published_at, row.fetched_at, zone)
                touched.add(day)
                records.append(
                    {
                        "article_id": row.id,
                        "day": day,
                        "source_id": row.source_id,
                        "lang": row.lang or "und",
                        "root_id": root,
                        "counted": counted,
                    }
                )
            for start in range(0, len(records), INSERT_BATCH):
                session.connection().execute(insert(table_of(ArticleDay)), records[start : start + INSERT_BATCH])
            low = rows[-1].id
            added += len(rows)
            state.articles = max(state.articles, low)
    return touched, added


def _outlets_with_story(session: Session, roots: set[int]) -> set[tuple[int, int]]:
    """(story root, outlet) pairs already counted, for the roots given."""
    seen: set[tuple[int, int]] = set()
    ordered = sorted(roots)
    for start in range(0, len(ordered), 500):
        part = ordered[start : start + 500]
        query = select(ArticleDay.root_id, ArticleDay.source_id).where(ArticleDay.root_id.in_(part))
        seen.update((root, source) for root, source in session.execute(query))
    return seen


def _days_with_new_classifications(session: Session, active: str, state: _State) -> set[date]:
    high = session.scalar(select(func.max(Classification.id))) or 0
    if high <= state.classifications or not active:
        state.classifications = max(state.classifications, high)
        return set()
    # Strictly above the watermark: classifications are written by one classify run at a time
    # (the scheduler never overlaps runs), so their ids commit in order.
    low = state.classifications
    query = (
        select(ArticleDay.day)
        .join(Classification, Classification.article_id == ArticleDay.article_id)
        .where(Classification.id > low, Classification.id <= high, Classification.model_version == active)
        .distinct()
    )
    days = set(session.scalars(query))
    state.classifications = high
    return days


def _article_narratives(rows: Iterable[ClassifiedRow]) -> dict[int, dict[str, tuple[float, str]]]:
    """article id -> narrative id (fine and coarse) -> (score, stance), one entry per narrative."""
    best: dict[int, dict[str, tuple[float, str]]] = defaultdict(dict)
    for row in rows:
        found = best[row.article_id]
        previous = found.get(row.narrative_id)
        if previous is None or row.score > previous[0]:
            found[row.narrative_id] = (row.score, row.stance)
    for found in best.values():
        derived: dict[str, tuple[float, str]] = {}
        for narrative_id, value in found.items():
            coarse = coarse_of(narrative_id)
            # The model's own coarse row wins; otherwise the best-scoring sub-narrative speaks for it.
            if coarse == narrative_id or coarse in found:
                continue
            if coarse not in derived or value[0] > derived[coarse][0]:
                derived[coarse] = value
        found.update(derived)
    return best


def recompute_day(session: Session, day: date, active: str, groups: dict[int, str]) -> int:
    """Rebuild the day's rows of source_days, source_narrative_days and daily_trends; return the trend rows."""
    for table in (SourceDay, SourceNarrativeDay, DailyTrend):
        session.execute(delete(table).where(table.day == day))
    totals = session.execute(
        select(ArticleDay.source_id, ArticleDay.lang, func.count())
        .where(ArticleDay.day == day, ArticleDay.counted.is_(True))
        .group_by(ArticleDay.source_id, ArticleDay.lang)
    ).all()
    if not totals:
        return 0
    # Core inserts (not the ORM's bulk path): several times faster for these plain rows.
    connection = session.connection()
    connection.execute(
        insert(table_of(SourceDay)), [{"day": day, "source_id": s, "lang": lang, "total": n} for s, lang, n in totals]
    )
    group_totals: dict[tuple[str, str], int] = defaultdict(int)
    for source_id, lang, count in totals:
        group_totals[(groups.get(source_id, "other"), lang)] += count
    if not active:
        return 0
    rows = day_classifications(session, day, active)
    where = {row.article_id: (row.source_id, row.lang) for row in rows}
    per_source: dict[tuple[int, str, str], StanceCounts] = defaultdict(StanceCounts)
    for article_id, narratives in _article_narratives(rows).items():
        source_id, lang = where[article_id]
        for narrative_id, (_score, stance) in narratives.items():
            per_source[(source_id, narrative_id, lang)].count(stance)
    per_group: dict[tuple[str, str, str], StanceCounts] = defaultdict(StanceCounts)
    records = []
    for (source_id, narrative_id, lang), counts in per_source.items():
        records.append(
            {"day": day, "source_id": source_id, "narrative_id": narrative_id, "lang": lang, **counts.as_dict()}
        )
        per_group[(narrative_id, groups.get(source_id, "other"), lang)].add(counts)
    for start in range(0, len(records), INSERT_BATCH):
        connection.execute(insert(table_of(SourceNarrativeDay)), records[start : start + INSERT_BATCH])
    trends = [
        {
            "day": day,
            "narrative_id": narrative_id,
            "group": group,
            "lang": lang,
            **counts.as_dict(),
            "total": group_totals[(group, lang)],
            "model_version": active,
        }
        for (narrative_id, group, lang), counts in per_group.items()
    ]
    for start in range(0, len(trends), INSERT_BATCH):
        connection.execute(insert(table_of(DailyTrend)), trends[start : start + INSERT_BATCH])
    return len(trends)


def source_groups(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Source.id, Source.group)).tuples().all())


def update_trends(
    database: Database,
    timezone: str,
    *,
    now: datetime | None = None,
    stop: StopFlag | None = None,
    attempts: int = 3,
) -> dict[str, Any]:
    """Bring the trend tables up to date; return stats for the run history.

    The scheduler never runs two trends jobs at once, but a ``digest`` or ``alerts`` command can
    update the trends while the job does: the loser of such a race meets the winner's rows (a
    unique-key error, or SQLite's stale snapshot) and simply tries again, finding less to do.
    """
    for attempt in range(1, attempts + 1):
        try:
            return _update_trends(database, timezone, now=now, stop=stop)
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts:
                raise StorageError(f"trends could not be updated in {database.url}: {exc.orig or exc}") from exc
            log.info("trends update met a concurrent writer (%s); trying again", type(exc.orig or exc).__name__)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _update_trends(database: Database, timezone: str, *, now: datetime | None, stop: StopFlag | None) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    with database.session() as session:
        state = _load_state(session)
        rebuilt = bool(state.timezone) and state.timezone != timezone
        if rebuilt:
            log.info("time zone changed from %s to %s: rebuilding all trends", state.timezone, timezone)
            _rebuild_from_scratch(session)
            state = _State()
        state.timezone = timezone
        active = active_model_version(session) or ""
        _save_state(session, state)
    touched, added = _add_new_articles(database, zone, state, stop)
    with database.session() as session:
        touched |= _days_with_new_classifications(session, active, state)
        # A first model needs no window: its classifications touch their days anyway.
        promoted = bool(state.model) and state.model != active
        if promoted:
            log.info(
                "active model is now %r (was %r): recomputing the last %d days",
                active,
                state.model,
                RECOMPUTE_DAYS_AFTER_PROMOTION,
            )
            touched |= {today - timedelta(days=n) for n in range(RECOMPUTE_DAYS_AFTER_PROMOTION)}
        groups = source_groups(session)
    trend_rows = 0
    ordered = sorted(touched)
    for start in range(0, len(ordered), 30):
        if stop_requested(stop):
            raise JobInterrupted("trends stopped while recomputing days")
        with database.session() as session:
            for day in ordered[start : start + 30]:
                trend_rows += recompute_day(session, day, active, groups)
    state.model = active
    with database.session() as session:
        _save_state(session, state)
    return {
        "articles_added": added,
        "days_recomputed": len(ordered),
        "first_day": ordered[0].isoformat() if ordered else None,
        "last_day": ordered[-1].isoformat() if ordered else None,
        "trend_rows": trend_rows,
        "model_version": active or None,
        "model_changed": promoted,
        "rebuilt": rebuilt,
    }


TREND_FIELDS = (
    "day",
    "narrative_id",
    "group",
    "lang",
    "flagged",
    "total",
    "share",
    "promotes",
    "refutes",
    "reports",
    "model_version",
)


def read_trends(
    database: Database,
    start: date,
    end: date,
    *,
    narrative_id: str | None = None,
    group: str | None = None,
) -> list[dict[str, Any]]:
    """Stored trend rows from ``start`` to ``end`` (inclusive), oldest first; share = flagged / total."""
    query = select(DailyTrend).where(DailyTrend.day >= start, DailyTrend.day <= end)
    if narrative_id:
        query = query.where(DailyTrend.narrative_id == narrative_id)
    if group:
        query = query.where(DailyTrend.group == group)
    query = query.order_by(DailyTrend.day, DailyTrend.narrative_id, DailyTrend.group, DailyTrend.lang)
    with database.session() as session:
        return [
            {
                "day": row.day.isoformat(),
                "narrative_id": row.narrative_id,
                "group": row.group,
                "lang": row.lang,
                "flagged": row.flagged,
                "total": row.total,
                "share": round(row.flagged / row.total, 6) if row.total else 0.0,
                "promotes": row.promotes,
                "refutes": row.refutes,
                "reports": row.reports,
                "model_version": row.model_version,
            }
            for row in session.scalars(query)
        ]
