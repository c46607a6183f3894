"""The crawl job: one crawl of the whole catalogue in a child process (see ``crawler.runner``)."""

from __future__ import annotations

from typing import Any

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.jobs.base import JobContext, JobInterrupted


def run(ctx: JobContext) -> dict[str, Any]:
    """Crawl every source once; stats for the run history. Honours ``ctx.stop`` and the job timeout."""
    job = ctx.settings.jobs.get("crawl")
    timeout = job.timeout if job is not None and job.timeout else ctx.settings.crawler.crawl_timeout
    stats = run_crawl(ctx.settings, database=ctx.database, stop=ctx.stop, timeout=timeout, progress=ctx.progress)
    if stats.get("interrupted"):
        raise JobInterrupted(f"crawl stopped after storing {stats.get('new_articles', 0)} new articles", stats=stats)
    return stats
