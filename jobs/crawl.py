"""The crawl job: one crawl of the whole catalogue in a child process (see ``crawler.runner``), or, with
a broker, one crawl task per source for the workers (see ``jobs.dispatch``)."""

from __future__ import annotations

from typing import Any

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.jobs.base import JobContext, JobInterrupted


def run(ctx: JobContext) -> dict[str, Any]:
    """Crawl every source once; stats for the run history. Honours ``ctx.stop`` and the job timeout."""
    job = ctx.settings.jobs.get("crawl")
    timeout = job.timeout if job is not None and job.timeout else ctx.settings.crawler.crawl_timeout
    if ctx.settings.queue.broker_url:
        from narrative_tracker.jobs.dispatch import enqueue_crawl, wait_for

        batch = enqueue_crawl(ctx.settings, ctx.database)
        stats = wait_for(ctx.database, batch, timeout=timeout, stop=ctx.stop, progress=ctx.progress)
        if stats["interrupted"]:
            raise JobInterrupted("stopped waiting for the crawl tasks (they go on in the workers)", stats=stats)
        return stats
    stats = run_crawl(ctx.settings, database=ctx.database, stop=ctx.stop, timeout=timeout, progress=ctx.progress)
    if stats.get("interrupted"):
        raise JobInterrupted(f"crawl stopped after storing {stats.get('new_articles', 0)} new articles", stats=stats)
    return stats
