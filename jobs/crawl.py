"""The crawl job: one crawl of the whole catalogue in a child process (see ``crawler.runner``), or, with
a broker, one crawl task per source for the workers (see ``jobs.dispatch``)."""

from __future__ import annotations

from typing import Any

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.jobs.base import JobContext, JobInterrupted

#: Seconds the crawl process gets to store what it has once the job is stopped. Shorter than the
#: job process's own grace (jobs.runner.CHILD_STOP_SECONDS, 12 s), so that a stopped job ends its
#: whole process tree before it is killed; were it killed first, the crawl dies with it anyway.
#: (4 s was too short for Scrapy to close and store on a loaded two-core machine.)
STOP_GRACE_SECONDS = 10.0


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
    stats = run_crawl(
        ctx.settings,
        database=ctx.database,
        stop=ctx.stop,
        timeout=timeout,
        progress=ctx.progress,
        stop_grace=STOP_GRACE_SECONDS,
    )
    if stats.get("interrupted"):
        raise JobInterrupted(f"crawl stopped after storing {stats.get('new_articles', 0)} new articles", stats=stats)
    return stats
