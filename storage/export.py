"""Streaming export of stored articles with the active model's narratives.

Rows are read in key-ordered pages, so memory stays flat however many articles there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from narrative_tracker.storage.models import Article, Classification, Source
from narrative_tracker.storage.queries import active_model_version

PAGE_SIZE = 1000

#: The fields of an exported record, in order (a public contract: analysts' tools read them).
FIELDS = (
    "url",
    "source",
    "group",
    "title",
    "text",
    "lang",
    "published_at",
    "fetched_at",
    "duplicate_of",
    "views",
    "forwarded_from",
    "narratives",
)


class NarrativeScore(TypedDict):
    id: str
    score: float
    stance: str


class ForwardedFrom(TypedDict):
    channel: str | None  # the channel a Telegram post was reposted from (None: its author is hidden)
    url: str | None  # the original post's URL, when public


class ArticleRecord(TypedDict):
    """One exported article: the keys of ``FIELDS``, in that order."""

    url: str
    source: str  # the outlet's slug
    group: str
    title: str
    text: str
    lang: str
    published_at: str | None  # ISO 8601
    fetched_at: str | None
    duplicate_of: str | None  # URL of the first-seen copy
    views: int | None  # a Telegram post's views when it was read (None for web articles)
    forwarded_from: ForwardedFrom | None  # a reposted Telegram post's origin
    narratives: list[NarrativeScore]  # the active model's flags, highest score first


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def iter_article_records(session: Session, *, since: datetime | None = None) -> Iterator[ArticleRecord]:
    """Yield one export record per article, oldest first."""
    model = active_model_version(session)
    original = aliased(Article)
    query = (
        select(
            Article.id,
            Article.url,
            Source.slug,
            Source.group,
            Article.title,
            Article.text,
            Article.lang,
            Article.published_at,
            Article.fetched_at,
            original.url,
            Article.views,
            Article.forwarded_from_channel,
            Article.forwarded_from_url,
        )
        .join(Source, Source.id == Article.source_id)
        .outerjoin(original, original.id == Article.duplicate_of_id)
        .order_by(Article.id)
        .limit(PAGE_SIZE)
    )
    if since is not None:
        query = query.where(Article.fetched_at >= since)
    last_id = 0
    while True:
        rows = session.execute(query.where(Article.id > last_id)).all()
        if not rows:
            return
        narratives = _narratives_for(session, model, [row[0] for row in rows])
        for row in rows:
            yield ArticleRecord(
                url=row[1],
                source=row[2],
                group=row[3],
                title=row[4],
                text=row[5],
                lang=row[6],
                published_at=_iso(row[7]),
                fetched_at=_iso(row[8]),
                duplicate_of=row[9],
                views=row[10],
                forwarded_from=(
                    ForwardedFrom(channel=row[11], url=row[12]) if row[11] is not None or row[12] is not None else None
                ),
                narratives=narratives.get(row[0], []),
            )
        last_id = rows[-1][0]
        session.expunge_all()


def _narratives_for(session: Session, model: str | None, ids: list[int]) -> dict[int, list[NarrativeScore]]:
    found: dict[int, list[NarrativeScore]] = defaultdict(list)
    if model is None or not ids:
        return found
    rows = session.execute(
        select(Classification.article_id, Classification.narrative_id, Classification.score, Classification.stance)
        .where(Classification.model_version == model, Classification.article_id.in_(ids))
        .order_by(Classification.article_id, Classification.score.desc())
    )
    for article_id, narrative_id, score, stance in rows:
        found[article_id].append(NarrativeScore(id=narrative_id, score=round(score, 4), stance=stance))
    return found
