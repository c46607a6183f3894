"""Analyst labels in the database: import, export, and the records training reads from them.

Imported files and the labelling queue write ``LabelledText`` + ``Label`` rows. Labels keep
narrative ids as text, so a taxonomy change never breaks them: ids the current taxonomy does
not know are kept in the database and left out of training. Weak labels from the taxonomy's
patterns are computed from stored articles at training time and never stored as gold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from sqlalchemy import delete, insert, select

from narrative_tracker.classifier.dataset import WEAK_WEIGHT, Record
from narrative_tracker.classifier.taxonomy import Taxonomy
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, Label, LabelledText, utc_now

BATCH = 1_000
#: Dataset name of the labels given in the labelling queue.
ANALYST_DATASET = "analyst"
PATTERN_SCAN_LIMIT = 20_000


def import_records(db: Database, records: Sequence[Record], *, dataset: str, labeller: str) -> dict[str, int]:
    """Store records (replacing the labels of records already imported under the same id)."""
    created = updated = labels = 0
    with db.session() as session:
        existing = dict(
            session.execute(
                select(LabelledText.external_id, LabelledText.id).where(LabelledText.dataset == dataset)
            ).all()
        )
        for start in range(0, len(records), BATCH):
            batch = records[start : start + BATCH]
            stale = [existing[r.id] for r in batch if r.id in existing]
            if stale:
                session.execute(delete(Label).where(Label.text_id.in_(stale)))
                for record in batch:
                    if record.id in existing:
                        row = session.get(LabelledText, existing[record.id])
                        assert row is not None
                        row.lang, row.title, row.text, row.complete = (
                            record.lang,
                            record.title,
                            record.text,
                            record.complete,
                        )
            fresh = [r for r in batch if r.id not in existing]
            if fresh:
                now = utc_now()
                session.execute(
                    insert(LabelledText),
                    [
                        {
                            "dataset": dataset,
                            "external_id": r.id,
                            "lang": r.lang,
                            "title": r.title,
                            "text": r.text,
                            "complete": r.complete,
                            "created_at": now,
                        }
                        for r in fresh
                    ],
                )
                ids = dict(
                    session.execute(
                        select(LabelledText.external_id, LabelledText.id).where(
                            LabelledText.dataset == dataset, LabelledText.external_id.in_([r.id for r in fresh])
                        )
                    ).all()
                )
                existing.update(ids)
            rows = _label_rows(batch, existing, labeller)
            if rows:
                session.execute(insert(Label), rows)
            created += len(fresh)
            updated += len(batch) - len(fresh)
            labels += len(rows)
    return {"records": len(records), "created": created, "updated": updated, "labels": labels}


def _label_rows(batch: Sequence[Record], ids: dict[str, int], labeller: str) -> list[dict[str, object]]:
    now = utc_now()
    rows: list[dict[str, object]] = []
    for record in batch:
        for narrative, stance in record.positives.items():
            rows.append(
                {
                    "text_id": ids[record.id],
                    "narrative_id": narrative,
                    "positive": True,
                    "stance": stance or None,
                    "weight": record.weight,
                    "labeller": labeller,
                    "created_at": now,
                }
            )
        for narrative in record.negatives - set(record.positives):
            rows.append(
                {
                    "text_id": ids[record.id],
                    "narrative_id": narrative,
                    "positive": False,
                    "stance": None,
                    "weight": record.weight,
                    "labeller": labeller,
                    "created_at": now,
                }
            )
    return rows


def iter_stored_records(db: Database) -> Iterator[tuple[str, Record]]:
    """Every labelled text with its labels, as (dataset, record), in storage order."""
    with db.session() as session:
        last = 0
        while True:
            texts = session.scalars(
                select(LabelledText).where(LabelledText.id > last).order_by(LabelledText.id).limit(BATCH)
            ).all()
            if not texts:
                return
            last = texts[-1].id
            by_text: dict[int, list[Label]] = defaultdict(list)
            for label in session.scalars(select(Label).where(Label.text_id.in_([t.id for t in texts]))):
                by_text[label.text_id].append(label)
            for text in texts:
                labels = by_text.get(text.id, [])
                record = Record(
                    id=text.external_id,
                    text=text.text,
                    title=text.title,
                    lang=text.lang,
                    complete=text.complete,
                    positives={lb.narrative_id: lb.stance or "" for lb in labels if lb.positive},
                    negatives={lb.narrative_id for lb in labels if not lb.positive},
                    group=f"article:{text.article_id}" if text.article_id else "",
                )
                yield text.dataset, record


def gold_records(db: Database, taxonomy: Taxonomy) -> list[Record]:
    """Stored labelled texts as training/evaluation records, restricted to the taxonomy's ids."""
    known = set(taxonomy.narratives)
    records = []
    for _dataset, record in iter_stored_records(db):
        record.positives = {n: s for n, s in record.positives.items() if n in known}
        record.negatives = {n for n in record.negatives if n in known}
        if record.positives or record.negatives or record.complete:
            records.append(record)
    return records


def pattern_records(db: Database, taxonomy: Taxonomy, *, exclude_articles: set[int] | None = None) -> list[Record]:
    """Weak records: recent stored articles where a narrative's analyst pattern matches."""
    exclude = exclude_articles or set()
    patterned = [(n, taxonomy.patterns_of(n)) for n in taxonomy.narratives if taxonomy.patterns_of(n)]
    if not patterned:
        return []
    records = []
    with db.session() as session:
        rows = session.execute(
            select(Article.id, Article.title, Article.text, Article.lang)
            .order_by(Article.id.desc())
            .limit(PATTERN_SCAN_LIMIT)
        )
        for article_id, title, text, lang in rows:
            if article_id in exclude:
                continue
            document = f"{title}\n{text}"
            found = {n: "" for n, patterns in patterned if any(p.search(document) for p in patterns)}
            if found:
                records.append(
                    Record(
                        id=f"pattern:{article_id}",
                        text=text or title,
                        title=title,
                        lang=lang,
                        positives=found,
                        complete=False,
                        weight=WEAK_WEIGHT,
                        gold=False,
                        group=f"article:{article_id}",
                    )
                )
    return records


def labelled_article_ids(db: Database) -> set[int]:
    with db.session() as session:
        return set(session.scalars(select(LabelledText.article_id).where(LabelledText.article_id.is_not(None))))


def store_analyst_label(
    db: Database, article_id: int, narrative: str, *, positive: bool, stance: str | None, labeller: str
) -> None:
    """Record an analyst's verdict on one narrative of a stored article (replacing an earlier one)."""
    with db.session() as session:
        text = session.scalar(
            select(LabelledText).where(
                LabelledText.dataset == ANALYST_DATASET, LabelledText.external_id == f"article-{article_id}"
            )
        )
        if text is None:
            article = session.get(Article, article_id)
            if article is None:
                raise LookupError(f"no stored article {article_id}")
            text = LabelledText(
                dataset=ANALYST_DATASET,
                external_id=f"article-{article_id}",
                article_id=article_id,
                lang=article.lang,
                title=article.title,
                text=article.text,
                complete=False,
            )
            session.add(text)
            session.flush()
        session.execute(delete(Label).where(Label.text_id == text.id, Label.narrative_id == narrative))
        session.add(
            Label(
                text_id=text.id,
                narrative_id=narrative,
                positive=positive,
                stance=stance if positive else None,
                weight=1.0,
                labeller=labeller,
            )
        )
