"""The retention job: prunes what is old enough to go, as the settings say.

- ``job_runs`` rows that finished more than ``[retention] job_runs_days`` ago (default 90; running
  runs are never touched);
- ``digest_deliveries`` rows created more than ``[retention] digests_days`` ago (default 365; the
  digest files written to ``[digest.folder]`` are left to the operator);
- the body text of articles fetched more than ``[storage] keep_article_text_days`` ago (default
  365; 0 keeps all text). The article row stays, with its URL, title, dates, language, duplicate
  link and classifications, so trends and exports keep counting it; only ``text`` becomes empty.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from narrative_tracker.jobs.base import JobContext, JobInterrupted
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, DigestDelivery, JobRun, utc_now

BATCH = 1000


def run(ctx: JobContext) -> dict[str, Any]:
    return prune(ctx, now=utc_now())


def prune(ctx: JobContext, *, now: datetime) -> dict[str, Any]:
    settings = ctx.settings
    runs_cutoff = now - timedelta(days=settings.retention.job_runs_days)
    digests_cutoff = now - timedelta(days=settings.retention.digests_days)
    with ctx.database.session() as session:
        runs = session.execute(delete(JobRun).where(JobRun.status != "running", JobRun.finished_at < runs_cutoff))
        deliveries = session.execute(delete(DigestDelivery).where(DigestDelivery.created_at < digests_cutoff))
    stats: dict[str, Any] = {
        "job_runs_deleted": runs.rowcount or 0,  # type: ignore[attr-defined]
        "digest_deliveries_deleted": deliveries.rowcount or 0,  # type: ignore[attr-defined]
        "article_texts_pruned": 0,
    }
    keep_days = settings.storage.keep_article_text_days
    if keep_days > 0:
        try:
            stats["article_texts_pruned"] = _prune_texts(ctx, ctx.database, now - timedelta(days=keep_days))
        except JobInterrupted as stopped:
            raise JobInterrupted(str(stopped), stats={**stats, **stopped.stats}) from None
    return stats


def _prune_texts(ctx: JobContext, database: Database, cutoff: datetime) -> int:
    """Empty old article texts in batches, so writers (a crawl) never wait on one long transaction."""
    pruned = 0
    while True:
        if ctx.stop.is_set():
            stats = {"article_texts_pruned": pruned}
            raise JobInterrupted(f"stopped after pruning {pruned} article texts", stats=stats)
        with database.session() as session:
            ids = list(
                session.scalars(select(Article.id).where(Article.fetched_at < cutoff, Article.text != "").limit(BATCH))
            )
            if not ids:
                return pruned
            session.execute(update(Article).where(Article.id.in_(ids)).values(text=""))
        pruned += len(ids)
