"""A synthetic news world written straight into the database, for the trends, alerts and digest tests.

Rows go into the crawler's and classifier's tables exactly as those stages store them
(articles with their source and duplicate link; classifications of a model version), so the
trends, alerts and digest code under test reads them through its real queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, Classification, ClassifiedArticle, Feed, ModelVersion, Source

ARMS_PAUSE = "discrediting-the-west/western-arms-pause-is-russian-victory"
MILITARY_MIGHT = "praise-of-russia/russian-military-might"


class World:
    def __init__(self, database: Database, model: str = "m1") -> None:
        self.db = database
        self.model = model
        self.sources: dict[str, int] = {}
        self._next_article = 1
        self._batching = False
        self._pending: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]] = ([], [], [])
        with database.session() as session:
            session.add(ModelVersion(version=model, status="active", promoted_at=datetime(2025, 1, 1, tzinfo=UTC)))

    def source(self, slug: str, group: str, name: str | None = None) -> int:
        with self.db.session() as session:
            row = Source(slug=slug, name=name or slug.upper(), group=group, country="XX", languages=["en"], domains=[])
            session.add(row)
            session.flush()
            self.sources[slug] = row.id
        return row.id

    def feed(self, slug: str, url: str, *, failures: int = 0, healthy: bool = True) -> None:
        with self.db.session() as session:
            session.add(
                Feed(
                    source_id=self.sources[slug],
                    url=url,
                    consecutive_failures=failures,
                    healthy=healthy,
                    last_status="error" if failures else "200",
                )
            )

    def articles(
        self,
        slug: str,
        day: date,
        count: int = 1,
        *,
        narratives: dict[str, str] | None = None,
        lang: str = "en",
        title: str = "",
        text: str = "",
        url: str | None = None,
        evidence: str = "The evidence sentence.",
        hour: int = 12,
        published: datetime | None = None,
        fetched: datetime | None = None,
        duplicate_of: int | None = None,
        model: str | None = None,
        score: float = 0.9,
    ) -> list[int]:
        """Store ``count`` articles of outlet ``slug`` published on ``day``; classify them as given."""
        ids = []
        article_rows: list[dict[str, Any]] = []
        label_rows: list[dict[str, Any]] = []
        done_rows: list[dict[str, Any]] = []
        for _ in range(count):
            n = self._next_article
            self._next_article += 1
            when = published if published is not None else datetime.combine(day, time(hour), tzinfo=UTC)
            link = url or f"https://{slug}.example/{n}"
            article_rows.append(
                {
                    "id": n,
                    "source_id": self.sources[slug],
                    "url": link,
                    "url_hash": hashlib.sha1(f"{n}|{link}".encode(), usedforsecurity=False).hexdigest(),
                    "title": title or f"Article {n} of {slug}",
                    "text": text or "Body.",
                    "lang": lang,
                    "published_at": when,
                    "fetched_at": fetched or when + timedelta(minutes=5),
                    "summary_only": False,
                    "duplicate_of_id": duplicate_of,
                }
            )
            version = model or self.model
            done_rows.append({"article_id": n, "model_version": version, "classified_at": datetime.now(UTC)})
            for narrative_id, stance in (narratives or {}).items():
                label_rows.append(
                    {
                        "article_id": n,
                        "model_version": version,
                        "narrative_id": narrative_id,
                        "score": score,
                        "stance": stance,
                        "evidence": [evidence],
                        "terms": [],
                        "created_at": datetime.now(UTC),
                    }
                )
            ids.append(n)
        self._pending[0].extend(article_rows)
        self._pending[1].extend(done_rows)
        self._pending[2].extend(label_rows)
        if not self._batching:
            self.flush()
        return ids

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Store the articles of the block in one transaction (much faster on PostgreSQL)."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
        self.flush()

    def flush(self) -> None:
        articles, done, labels = self._pending
        with self.db.session() as session:
            for table, rows in ((Article, articles), (ClassifiedArticle, done), (Classification, labels)):
                for start in range(0, len(rows), 1000):
                    session.execute(insert(table), rows[start : start + 1000])
        self._pending = ([], [], [])

    def classify(self, article_id: int, narratives: dict[str, str], model: str) -> None:
        with self.db.session() as session:
            done = {"article_id": article_id, "model_version": model, "classified_at": datetime.now(UTC)}
            session.execute(insert(ClassifiedArticle), [done])
            if narratives:
                session.execute(
                    insert(Classification),
                    [
                        {
                            "article_id": article_id,
                            "model_version": model,
                            "narrative_id": narrative_id,
                            "score": 0.8,
                            "stance": stance,
                            "evidence": [],
                            "terms": [],
                            "created_at": datetime.now(UTC),
                        }
                        for narrative_id, stance in narratives.items()
                    ],
                )


def day_total(world: World, slug: str, day: date, flagged: int, total: int = 20) -> None:
    """Fill outlet ``slug``'s day up to ``total`` articles with unflagged news."""
    if total > flagged:
        world.articles(slug, day, total - flagged)
