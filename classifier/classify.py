"""Classifying stored articles with the active model, in batches, one transaction per batch.

An article is done for a model version once it has a ``ClassifiedArticle`` row (whether or not
anything was flagged), so re-running picks up only what is new and a crash loses at most the
batch in flight. ``since`` redoes the articles published (or fetched) since a date.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select

from narrative_tracker.classifier.dataset import compose_document
from narrative_tracker.classifier.inference import analyse
from narrative_tracker.classifier.registry import LoadedModel
from narrative_tracker.classifier.taxonomy import Taxonomy
from narrative_tracker.interrupt import StopFlag, stop_requested
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, Classification, ClassifiedArticle, utc_now

if TYPE_CHECKING:
    from sqlalchemy import Select


def _selection(version: str, since: datetime | None) -> ColumnElement[bool]:
    if since is not None:
        return or_(Article.published_at >= since, and_(Article.published_at.is_(None), Article.fetched_at >= since))
    done = exists().where(ClassifiedArticle.article_id == Article.id, ClassifiedArticle.model_version == version)
    return ~done


def count_pending(db: Database, version: str, since: datetime | None = None) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Article).where(_selection(version, since))) or 0


def _batch_query(version: str, since: datetime | None, after: int, size: int) -> Select[int, str, str, str]:
    return (
        select(Article.id, Article.title, Article.text, Article.lang)
        .where(_selection(version, since), Article.id > after)
        .order_by(Article.id)
        .limit(size)
    )


def classify_stored(
    db: Database,
    model: LoadedModel,
    taxonomy: Taxonomy | None,
    *,
    batch_size: int = 500,
    since: datetime | None = None,
    stop: StopFlag | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Classify every pending article; returns counts (articles, flagged articles, flags by narrative)."""
    started = time.perf_counter()
    total = count_pending(db, model.version, since)
    done = flagged = flags = 0
    by_narrative: dict[str, int] = {}
    after = 0
    while True:
        if stop_requested(stop):
            break
        with db.session() as session:
            rows = session.execute(_batch_query(model.version, since, after, batch_size)).all()
            if not rows:
                break
            after = rows[-1][0]
            ids = [row[0] for row in rows]
            predictions = analyse(
                model.pipeline,
                [compose_document(title, text) for _, title, text, _ in rows],
                explainer=model.explainer,
                taxonomy=taxonomy,
                languages=[lang or "und" for *_, lang in rows],
            )
            now = utc_now()
            # Redo (``since``) replaces what this version said before; normally there is nothing to delete.
            if since is not None:
                session.execute(
                    delete(Classification).where(
                        Classification.model_version == model.version, Classification.article_id.in_(ids)
                    )
                )
                session.execute(
                    delete(ClassifiedArticle).where(
                        ClassifiedArticle.model_version == model.version, ClassifiedArticle.article_id.in_(ids)
                    )
                )
            found: list[dict[str, Any]] = [
                {
                    "article_id": article_id,
                    "model_version": model.version,
                    "narrative_id": flag.id,
                    "score": flag.score,
                    "stance": flag.stance,
                    "evidence": flag.evidence,
                    "terms": [[term, weight] for term, weight in flag.terms],
                    "created_at": now,
                }
                for article_id, prediction in zip(ids, predictions, strict=True)
                for flag in prediction
            ]
            if found:
                session.execute(insert(Classification), found)
            session.execute(
                insert(ClassifiedArticle),
                [{"article_id": i, "model_version": model.version, "classified_at": now} for i in ids],
            )
        done += len(ids)
        flagged += sum(1 for p in predictions if p)
        flags += len(found)
        for row in found:
            by_narrative[row["narrative_id"]] = by_narrative.get(row["narrative_id"], 0) + 1
        if progress:
            progress(done, total)
    seconds = time.perf_counter() - started
    return {
        "model": model.version,
        "articles": done,
        "flagged_articles": flagged,
        "flags": flags,
        "by_narrative": dict(sorted(by_narrative.items(), key=lambda kv: -kv[1])),
        "seconds": round(seconds, 2),
        "articles_per_second": round(done / seconds, 1) if seconds > 0 and done else None,
        "interrupted": stop_requested(stop) and done < total,
    }


def classify_ids(db: Database, model: LoadedModel, taxonomy: Taxonomy | None, ids: list[int]) -> dict[str, Any]:
    """Classify the named articles with ``model``, each at most once per model version, in one transaction.

    The ``classified_articles`` rows are claimed first (``ON CONFLICT DO NOTHING``): a batch delivered
    twice, even to two workers at once, classifies each article once (the second claim waits for the
    first transaction and then finds the rows taken). Ids of deleted articles are skipped.
    """
    started = time.perf_counter()
    with db.session() as session:
        dialect = session.get_bind().dialect.name
        insert_of = _dialect_insert(dialect)
        now = utc_now()
        existing = set(session.scalars(select(Article.id).where(Article.id.in_(ids))))
        claim = (
            insert_of(ClassifiedArticle)
            .values([{"article_id": i, "model_version": model.version, "classified_at": now} for i in sorted(existing)])
            .on_conflict_do_nothing(index_elements=["article_id", "model_version"])
            .returning(ClassifiedArticle.article_id)
        )
        claimed = sorted(session.scalars(claim)) if existing else []
        rows = (
            session.execute(select(Article.id, Article.title, Article.text).where(Article.id.in_(claimed))).all()
            if claimed
            else []
        )
        predictions = (
            analyse(
                model.pipeline,
                [compose_document(title, text) for _, title, text in rows],
                explainer=model.explainer,
                taxonomy=taxonomy,
            )
            if rows
            else []
        )
        found = [
            {
                "article_id": article_id,
                "model_version": model.version,
                "narrative_id": flag.id,
                "score": flag.score,
                "stance": flag.stance,
                "evidence": flag.evidence,
                "terms": [[term, weight] for term, weight in flag.terms],
                "created_at": now,
            }
            for (article_id, _, _), prediction in zip(rows, predictions, strict=True)
            for flag in prediction
        ]
        if found:
            session.execute(insert(Classification), found)
    return {
        "model": model.version,
        "articles": len(rows),
        "already_classified": len(existing) - len(claimed),
        "flagged_articles": sum(1 for p in predictions if p),
        "flags": len(found),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _dialect_insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def pending_ids(db: Database, version: str, *, after: int = 0, limit: int = 10_000) -> list[int]:
    """Ids of articles not yet classified by ``version``, in id order, after ``after``."""
    with db.session() as session:
        query = select(Article.id).where(_selection(version, None), Article.id > after)
        return list(session.scalars(query.order_by(Article.id).limit(limit)))
