"""What the pages and the API show, read from storage. Plain data: escaping happens in templates."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from narrative_tracker.storage import search
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.export import NarrativeScore, _narratives_for
from narrative_tracker.storage.models import (
    Alert,
    Article,
    Classification,
    DailyTrend,
    Feed,
    Label,
    LabelledText,
    Source,
)
from narrative_tracker.storage.models.trends import SourceDay, SourceNarrativeDay
from narrative_tracker.storage.queries import active_model_version
from narrative_tracker.trends.alerts import AlertRecord, sort_key
from narrative_tracker.vocabulary import GROUPS, group_rank

PAGE = 50
MAX_PAGE = 200


def stored_alerts(database: Database, day: date, *, repeats: bool = False) -> list[AlertRecord]:
    """The alerts the trends job stored for ``day`` (no evaluation here: pages only read)."""
    with database.session() as session:
        rows = session.scalars(select(Alert).where(Alert.day == day)).all()
    records = []
    for row in rows:
        details = row.details or {}
        records.append(
            AlertRecord(
                day=row.day,
                kind=row.kind,
                key=row.key,
                narrative_id=row.narrative_id,
                magnitude=row.magnitude,
                reason=str(details.get("reason", "")),
                numbers=details.get("numbers") or {},
                group=details.get("group"),
                source=details.get("source"),
                evidence_article_ids=[int(i) for i in details.get("evidence_article_ids") or []],
                repeat=row.repeat,
            )
        )
    return sorted((r for r in records if repeats or not r.repeat), key=sort_key)


def latest_alert_day(database: Database) -> date | None:
    with database.session() as session:
        return session.scalar(select(func.max(Alert.day)))


def daily_series(
    session: Session, narrative_id: str, start: date, end: date, *, by: str = "group"
) -> tuple[list[date], dict[str, list[int]]]:
    """Flagged articles per day of one narrative, split by source group, stance or language."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    index = {d: n for n, d in enumerate(days)}
    where = (DailyTrend.narrative_id == narrative_id, DailyTrend.day >= start, DailyTrend.day <= end)
    series: dict[str, list[int]] = {}
    if by == "stance":
        stance_rows = session.execute(
            select(DailyTrend.day, func.sum(DailyTrend.promotes), func.sum(DailyTrend.refutes),
                   func.sum(DailyTrend.reports)).where(*where).group_by(DailyTrend.day)
        ).all()
        for name in ("promotes", "refutes", "reports"):
            series[name] = [0] * len(days)
        for when, promotes, refutes, reports in stance_rows:
            for name, value in zip(("promotes", "refutes", "reports"), (promotes, refutes, reports), strict=True):
                series[name][index[when]] = int(value or 0)
        return days, series
    column = DailyTrend.lang if by == "lang" else DailyTrend.group
    rows = session.execute(
        select(DailyTrend.day, column, func.sum(DailyTrend.flagged)).where(*where).group_by(DailyTrend.day, column)
    ).all()
    for when, key, flagged in rows:
        series.setdefault(str(key), [0] * len(days))[index[when]] = int(flagged or 0)
    order = sorted(series, key=lambda g: (group_rank(g), g)) if by == "group" else sorted(series)
    return days, {k: series[k] for k in order}


def sparklines(session: Session, end: date, days: int = 28) -> dict[str, list[int]]:
    start = end - timedelta(days=days - 1)
    rows = session.execute(
        select(DailyTrend.narrative_id, DailyTrend.day, func.sum(DailyTrend.flagged))
        .where(DailyTrend.day >= start, DailyTrend.day <= end)
        .group_by(DailyTrend.narrative_id, DailyTrend.day)
    ).all()
    found: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for narrative_id, when, flagged in rows:
        found[narrative_id][(when - start).days] = int(flagged or 0)
    return dict(found)


def top_outlets(session: Session, narrative_id: str, start: date, end: date, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Source.name, Source.slug, Source.group, func.sum(SourceNarrativeDay.promotes).label("p"),
               func.sum(SourceNarrativeDay.flagged))
        .join(Source, Source.id == SourceNarrativeDay.source_id)
        .where(SourceNarrativeDay.narrative_id == narrative_id, SourceNarrativeDay.day >= start,
               SourceNarrativeDay.day <= end)
        .group_by(Source.name, Source.slug, Source.group)
        .order_by(func.sum(SourceNarrativeDay.promotes).desc(), Source.slug)
        .limit(limit)
    ).all()
    return [{"outlet": n, "slug": s, "group": g, "promotes": int(p or 0), "flagged": int(f or 0)}
            for n, s, g, p, f in rows]


def alert_history(session: Session, narrative_id: str, limit: int = 30) -> list[Alert]:
    like = narrative_id + "/%"
    return list(session.scalars(
        select(Alert).where(or_(Alert.narrative_id == narrative_id, Alert.narrative_id.like(like)))
        .order_by(Alert.day.desc(), Alert.id).limit(limit)
    ))


# ---------------------------------------------------------------- articles
@dataclass
class ArticleFilters:
    q: str = ""
    narrative: str = ""
    stance: str = ""
    group: str = ""
    source: str = ""
    lang: str = ""
    since: date | None = None
    until: date | None = None

    def as_query(self) -> dict[str, str]:
        values = {k: v for k, v in vars(self).items() if v}
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items()}


def parse_day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}={value!r}: write the date as YYYY-MM-DD") from None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        before = int(value["before"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("cursor: not a cursor this API returned; start again without it") from None
    return before


def search_articles(
    database: Database, filters: ArticleFilters, *, cursor: int | None = None, limit: int = PAGE
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of articles, newest first (keyset on id), and the id to continue before (or None)."""
    limit = max(1, min(limit, MAX_PAGE))
    with database.session() as session:
        model = active_model_version(session)
        original = aliased(Article)
        query = (
            select(Article.id, Article.url, Source.slug, Source.group, Article.title, Article.text, Article.lang,
                   Article.published_at, Article.fetched_at, original.url, Source.name)
            .join(Source, Source.id == Article.source_id)
            .outerjoin(original, original.id == Article.duplicate_of_id)
            .order_by(Article.id.desc())
            .limit(limit + 1)
        )
        words = search.query_words(filters.q)
        position: ColumnElement[int] | InstrumentedAttribute[int] = Article.id
        if words and session.get_bind().dialect.name == "sqlite":
            # The index drives: it walks its matches newest first (by rowid, which is articles.id)
            # and stops once the page is full, however many articles match.
            position = search.fts_table.c.rowid
            query = query.join(search.fts_table, search.fts_table.c.rowid == Article.id).where(
                search.sqlite_match(words, filters.lang)
            ).order_by(None).order_by(position.desc())
        elif words:
            query = query.where(search.postgres_match(words))
        if cursor is not None:
            query = query.where(position < cursor)
        if filters.group:
            query = query.where(Source.group == filters.group)
        if filters.source:
            query = query.where(Source.slug == filters.source)
        if filters.lang:
            query = query.where(Article.lang == filters.lang)
        if filters.since:
            query = query.where(Article.published_at >= datetime.combine(filters.since, datetime.min.time(), UTC))
        if filters.until:
            end = datetime.combine(filters.until + timedelta(days=1), datetime.min.time(), UTC)
            query = query.where(Article.published_at < end)
        if filters.narrative and not (words or filters.group or filters.source or filters.lang or filters.since
                                      or filters.until):
            # Only a narrative (and maybe a stance): walk its index backwards from the cursor instead
            # of testing every article against every flag of the narrative.
            ids = _recent_flagged(session, model or "", filters.narrative, filters.stance, cursor, limit + 1)
            query = query.where(Article.id.in_(ids))
        elif filters.narrative or filters.stance:
            flagged = select(Classification.article_id).where(Classification.model_version == (model or ""))
            if filters.narrative:
                flagged = flagged.where(or_(Classification.narrative_id == filters.narrative,
                                            Classification.narrative_id.like(filters.narrative + "/%")))
            if filters.stance:
                flagged = flagged.where(Classification.stance == filters.stance)
            if words:
                # The search index walks its matches newest first: test each against the flags
                # (ix_classifications_article_model) and stop at a full page, instead of listing
                # every article the narrative ever flagged (0.9 s for a common one at 1M articles).
                query = query.where(flagged.where(Classification.article_id == Article.id).exists())
            else:
                query = query.where(Article.id.in_(flagged))
        if words and session.get_bind().dialect.name == "postgresql":
            rows = _postgres_search_rows(session, query, cursor, limit + 1)
        else:
            rows = list(session.execute(query).all())
        more = len(rows) > limit
        rows = rows[:limit]
        narratives = _narratives_for(session, model, [r[0] for r in rows])
    articles = [_record(row, narratives.get(row[0], [])) for row in rows]
    return articles, (rows[-1][0] if more and rows else None)


#: PostgreSQL search: the newest articles tried by walking the primary key before the GIN index.
SEARCH_WINDOW = 2000


def _postgres_search_rows(session: Session, query: Any, cursor: int | None, wanted: int) -> list[Any]:
    """A search page on PostgreSQL, whether the words are common or rare.

    The planner cannot tell: walking the newest articles backwards (testing each) is instant for a
    word in most of them and reads the whole table for a rare one (0.8 s at 100k), while the GIN
    index lists every match first, slow for a word in every article. So: the newest
    ``SEARCH_WINDOW`` articles first; only if they do not fill the page (the word is in fewer than
    one in 40), the older ones through the index, ordered by ``id + 0`` so that the planner cannot
    walk the primary key again."""
    older = select(Article.id).order_by(Article.id.desc()).offset(SEARCH_WINDOW - 1).limit(1)
    if cursor is not None:
        older = older.where(Article.id < cursor)
    boundary = session.scalar(older)
    if boundary is None:  # fewer articles than the window: one query
        return list(session.execute(query).all())
    rows = list(session.execute(query.where(Article.id >= boundary)).all())
    if len(rows) < wanted:
        rest = query.where(Article.id < boundary).order_by(None).order_by((Article.id + 0).desc())
        rows += session.execute(rest.limit(wanted - len(rows))).all()
    return rows


def _recent_flagged(
    session: Session, model: str, narrative: str, stance: str, before: int | None, limit: int
) -> list[int]:
    """The newest ``limit`` article ids flagged with the narrative or one of its sub-narratives."""
    known = session.scalars(
        select(DailyTrend.narrative_id)
        # "narrative/..." as a range ("0" follows "/"), so the index is searched, not scanned.
        .where(or_(DailyTrend.narrative_id == narrative,
                   and_(DailyTrend.narrative_id > narrative + "/", DailyTrend.narrative_id < narrative + "0")))
        .distinct()
    ).all()
    found: set[int] = set()
    for narrative_id in {narrative, *known}:
        query = (
            select(Classification.article_id)
            .where(Classification.model_version == model, Classification.narrative_id == narrative_id)
            .order_by(Classification.article_id.desc())
            .limit(limit)
        )
        if stance:
            query = query.where(Classification.stance == stance)
        if before is not None:
            query = query.where(Classification.article_id < before)
        found.update(session.scalars(query))
    return sorted(found, reverse=True)[:limit]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _record(row: Any, narratives: list[NarrativeScore]) -> dict[str, Any]:
    return {
        "id": row[0],
        "url": row[1],
        "source": row[2],
        "group": row[3],
        "title": row[4],
        "text": row[5],
        "lang": row[6],
        "published_at": _iso(row[7]),
        "fetched_at": _iso(row[8]),
        "duplicate_of": row[9],
        "narratives": narratives,
        "outlet": row[10],
    }


def article_record(database: Database, article_id: int) -> dict[str, Any] | None:
    with database.session() as session:
        model = active_model_version(session)
        original = aliased(Article)
        row = session.execute(
            select(Article.id, Article.url, Source.slug, Source.group, Article.title, Article.text, Article.lang,
                   Article.published_at, Article.fetched_at, original.url, Source.name)
            .join(Source, Source.id == Article.source_id)
            .outerjoin(original, original.id == Article.duplicate_of_id)
            .where(Article.id == article_id)
        ).first()
        if row is None:
            return None
        narratives = _narratives_for(session, model, [article_id])
        record = _record(row, narratives.get(article_id, []))
        evidence = session.execute(
            select(Classification.narrative_id, Classification.evidence)
            .where(Classification.article_id == article_id, Classification.model_version == (model or ""))
        ).all()
        record["evidence"] = {n: [str(s) for s in (e or [])] for n, e in evidence}
        root = session.scalar(select(Article.duplicate_of_id).where(Article.id == article_id)) or article_id
        copies = session.execute(
            select(Article.id, Article.title, Source.name, Source.group)
            .join(Source, Source.id == Article.source_id)
            .where(or_(Article.duplicate_of_id == root, Article.id == root), Article.id != article_id)
            .order_by(Article.id).limit(20)
        ).all()
        record["copies"] = [{"id": i, "title": t, "outlet": o, "group": g} for i, t, o, g in copies]
        labels = session.execute(
            select(Label.narrative_id, Label.positive, Label.stance, Label.labeller, LabelledText.dataset)
            .join(LabelledText, LabelledText.id == Label.text_id)
            .where(LabelledText.article_id == article_id)
            .order_by(Label.narrative_id)
        ).all()
        record["labels"] = [
            {"narrative": n, "positive": p, "stance": s, "labeller": who, "dataset": d} for n, p, s, who, d in labels
        ]
    return record


# ---------------------------------------------------------------- sources
def sources_overview(database: Database, end: date, days: int = 28) -> list[dict[str, Any]]:
    start = end - timedelta(days=days - 1)
    with database.session() as session:
        sources = session.scalars(select(Source)).all()
        feeds: dict[int, list[Feed]] = defaultdict(list)
        for feed in session.scalars(select(Feed).order_by(Feed.url)):
            feeds[feed.source_id].append(feed)
        volume: dict[int, list[int]] = defaultdict(lambda: [0] * days)
        for source_id, when, total in session.execute(
            select(SourceDay.source_id, SourceDay.day, func.sum(SourceDay.total))
            .where(SourceDay.day >= start, SourceDay.day <= end)
            .group_by(SourceDay.source_id, SourceDay.day)
        ):
            volume[source_id][(when - start).days] = int(total or 0)
        ordered = sorted(sources, key=lambda s: (group_rank(s.group), s.name))
        return [
            {"source": s, "feeds": feeds.get(s.id, []), "volume": volume[s.id]}
            for s in ordered
        ]


def known_groups() -> tuple[str, ...]:
    return GROUPS
