"""``crawl`` and ``sources``: collect articles now, and look at the outlets catalogue."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import echo_json, summary

if TYPE_CHECKING:
    from narrative_tracker.crawler.runner import SourceCheck


def format_summary(stats: dict[str, Any]) -> str:
    """The closing line of a crawl, e.g. ``Feeds: 12 fetched, 3 not modified, 1 failed. ...``."""
    parts = [
        f"Feeds: {stats.get('feeds_fetched', 0)} fetched, {stats.get('feeds_not_modified', 0)} not modified, "
        f"{stats.get('feeds_failed', 0)} failed"
        + (f", {stats['feeds_postponed']} postponed" if stats.get("feeds_postponed") else "")
        + ".",
        f"Articles: {stats.get('new_articles', 0)} new ({stats.get('duplicates', 0)} duplicates), "
        f"{stats.get('already_stored', 0)} already stored.",
    ]
    if stats.get("skipped"):
        parts.append("Skipped: " + ", ".join(f"{n} {reason}" for reason, n in stats["skipped"].items()) + ".")
    if stats.get("errors"):
        parts.append("Errors: " + ", ".join(f"{n} {kind}" for kind, n in stats["errors"].items()) + ".")
    if stats.get("timed_out"):
        parts.append("Stopped at the time limit ([crawler] crawl_timeout).")
    parts.append(f"{stats.get('seconds', 0):.1f} s.")
    return " ".join(parts)


class _ProgressLine:
    """A one-line counter on a terminal (the total grows as feeds reveal their articles)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, done: int, total: int | None) -> None:
        if self.enabled:
            click.echo(f"\rCrawling: {done}/{total or 0} article pages", err=True, nl=False)
            self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)


@click.command()
@click.option("--source", "sources", multiple=True, metavar="SLUG", help="Crawl only this outlet (repeatable).")
@click.option("--max-articles", type=click.IntRange(min=1), help="Request at most N article pages in this crawl.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--no-wait", is_flag=True, help="With a broker: return once the crawl tasks are queued.")
@click.pass_obj
def crawl(app: AppContext, sources: tuple[str, ...], max_articles: int | None, as_json: bool, no_wait: bool) -> None:
    """Crawl the outlets of the sources catalogue once, now.

    Feeds, news sitemaps and listing pages are polled (conditional requests), new article pages
    are fetched politely (robots.txt, delays, size limits), their text extracted, their language
    told and copies linked, and the articles stored. Exit status 0 when the crawl ran, even if
    some feeds failed; 1 when it could not run at all.
    """
    if app.settings.queue.broker_url:
        _crawl_on_workers(app, sources, max_articles, as_json, no_wait)
        return
    from narrative_tracker.crawler.runner import run_crawl
    from narrative_tracker.jobs.locks import job_lock

    database = app.database  # an unreachable database is reported as such, not as a taken lock
    line = _ProgressLine()
    try:
        with job_lock(app.settings.database_url, app.settings.home, "crawl", command="crawl"):
            stats = run_crawl(
                app.settings, database=database, sources=sources, max_articles=max_articles, progress=line
            )
    finally:
        line.close()
    if as_json:
        echo_json(stats)
    summary(format_summary(stats))


def _crawl_on_workers(
    app: AppContext, sources: tuple[str, ...], max_articles: int | None, as_json: bool, no_wait: bool
) -> None:
    """One crawl task per source to the workers; wait for them unless ``no_wait``."""
    from narrative_tracker.errors import UsageError
    from narrative_tracker.jobs.dispatch import enqueue_crawl, wait_for

    if max_articles is not None:
        raise UsageError("--max-articles applies to an embedded crawl only; workers crawl whole sources")
    batch = enqueue_crawl(app.settings, app.database, sources)
    if no_wait:
        if as_json:
            echo_json({"batch": batch.id, "queued": batch.tasks})
        summary(f"queued {batch.tasks} crawl tasks (see `narrative-tracker workers status`)")
        return
    line = _TaskLine("Crawling")
    try:
        stats = wait_for(app.database, batch, timeout=app.settings.queue.wait_timeout, progress=line)
    finally:
        line.close()
    if as_json:
        echo_json(stats)
    tasks = stats["tasks"]
    summary(
        format_summary(stats)
        + f" Tasks: {tasks.get('done', 0)} done, {tasks.get('failed', 0)} failed, {tasks.get('parked', 0)} parked"
        + (" (still running: stopped waiting at [queue] wait_timeout)." if stats["timed_out"] else ".")
    )


class _TaskLine(_ProgressLine):
    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def __call__(self, done: int, total: int | None) -> None:
        if self.enabled:
            click.echo(f"\r{self.what}: {done}/{total or 0} tasks done", err=True, nl=False)
            self.shown = True


@click.group()
def sources() -> None:
    """The outlets catalogue: list it, check it."""


def _feed_health(app: AppContext) -> dict[str, dict[str, Any]]:
    """Healthy and unhealthy feeds per source from the last crawls, and the unhealthy ones by cause
    of their last failure (``dns``, ``refused`` ...); empty before the first crawl."""
    from sqlalchemy import func, select
    from sqlalchemy.engine import make_url

    from narrative_tracker.storage.models import Feed, Source

    url = make_url(app.settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return {}  # nothing crawled yet: do not create a database just to list the catalogue

    from narrative_tracker.vocabulary import failure_cause

    query = (
        select(Source.slug, Feed.healthy, Feed.last_error, func.count())
        .join(Feed, Feed.source_id == Source.id)
        .group_by(Source.slug, Feed.healthy, Feed.last_error)
    )
    health: dict[str, dict[str, Any]] = {}
    with app.database.session() as session:
        for slug, healthy, last_error, count in session.execute(query):
            entry = health.setdefault(slug, {"healthy": 0, "unhealthy": 0, "unhealthy_by_cause": {}})
            entry["healthy" if healthy else "unhealthy"] += count
            cause = None if healthy else failure_cause(last_error)
            if cause:
                entry["unhealthy_by_cause"][cause] = entry["unhealthy_by_cause"].get(cause, 0) + count
    return health


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
@click.option("--group", help="Only outlets of this group.")
@click.pass_obj
def list_sources(app: AppContext, as_json: bool, group: str | None) -> None:
    """List the outlets: slug, group, languages, entry points and feed health from the last crawls."""
    from narrative_tracker.crawler.sources import load_sources

    catalogue = load_sources(app.settings.sources_file)
    if group:
        catalogue = [spec for spec in catalogue if spec.group == group]
    health = _feed_health(app)
    if as_json:
        echo_json(
            [
                {
                    **spec.model_dump(mode="json"),
                    "feed_health": health.get(spec.slug, {"healthy": 0, "unhealthy": 0, "unhealthy_by_cause": {}}),
                }
                for spec in catalogue
            ]
        )
        return
    width = max((len(spec.slug) for spec in catalogue), default=4)
    click.echo(f"{'SLUG':<{width}}  {'GROUP':<19}  {'LANG':<8}  FEEDS  SITEMAPS  LISTING  CHANNELS  UNHEALTHY")
    for spec in catalogue:
        bad = health.get(spec.slug, {}).get("unhealthy", 0)
        click.echo(
            f"{spec.slug:<{width}}  {spec.group:<19}  {','.join(spec.languages):<8}  {len(spec.feeds):>5}  "
            f"{len(spec.sitemaps):>8}  {'yes' if spec.listing else 'no':>7}  {len(spec.telegram):>8}  {bad:>9}"
        )
    summary(f"{len(catalogue)} sources in {app.settings.sources_file}.")
    causes: dict[str, int] = {}
    for spec in catalogue:
        for cause, count in health.get(spec.slug, {}).get("unhealthy_by_cause", {}).items():
            causes[cause] = causes.get(cause, 0) + count
    if causes:
        from narrative_tracker.vocabulary import FETCH_FAILURE_CAUSES

        summary(
            "Unhealthy feeds by cause of their last failure: "
            + ", ".join(f"{n} {FETCH_FAILURE_CAUSES[c][0]}" for c, n in sorted(causes.items(), key=lambda i: -i[1]))
            + "."
        )


@sources.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", "slugs", multiple=True, metavar="SLUG", help="Check only this outlet (repeatable).")
@click.option("--no-fetch", is_flag=True, help="Only validate the file; fetch nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one record per entry point as JSON.")
@click.pass_obj
def check_sources(app: AppContext, path: Path | None, slugs: tuple[str, ...], no_fetch: bool, as_json: bool) -> int:
    """Validate a catalogue (default: the configured one), then fetch each feed once.

    Reports, per feed, sitemap, listing page and Telegram channel: status, item (post) count and
    newest item date (a channel without a public preview fails).
    Nothing is stored. Exit status 2 when the file is invalid (naming the source and field), 1
    when an entry point failed, 0 otherwise.
    """
    from collections import Counter

    from narrative_tracker.crawler.runner import check_sources as fetch_all
    from narrative_tracker.crawler.sources import load_sources

    target = path.resolve() if path else app.settings.sources_file
    catalogue = load_sources(target)
    groups = Counter(spec.group for spec in catalogue)
    feeds = sum(len(spec.feeds) for spec in catalogue)
    channels = sum(len(spec.telegram) for spec in catalogue)
    click.echo(
        f"{target}: {len(catalogue)} sources, {feeds} feeds"
        + (f", {channels} Telegram channels; " if channels else "; ")
        + ", ".join(f"{count} {name}" for name, count in sorted(groups.items()))
        + ".",
        err=as_json,
    )
    if no_fetch:
        return 0
    results = sorted(fetch_all(app.settings, path=target, sources=slugs), key=lambda r: (r["slug"], r["url"]))
    if as_json:
        echo_json(results)
    else:
        width = max((len(r["slug"]) for r in results), default=4)
        click.echo(f"{'SLUG':<{width}}  {'KIND':<8}  {'STATUS':<6}  {'ITEMS':>5}  {'NEWEST':<25}  URL / ERROR")
        for r in results:
            items = "" if r["items"] is None else str(r["items"])
            detail = r["url"] + (f"  ({r['error']})" if r["error"] else "")
            newest = (r["newest"] or "")[:25]
            click.echo(f"{r['slug']:<{width}}  {r['kind']:<8}  {r['status']:<6}  {items:>5}  {newest:<25}  {detail}")
    failed = sum(r["status"] != "ok" for r in results)
    summary(f"{len(results) - failed} of {len(results)} entry points answered with readable content.")
    causes = failures_by_cause(results)
    if causes:
        summary(causes)
    return 1 if failed else 0


def failures_by_cause(results: list[SourceCheck]) -> str:
    """One line: the entry points that got no answer, by cause, with what to look at, e.g.
    ``37 feeds: name not resolved — is this machine offline?``."""
    from collections import Counter

    from narrative_tracker.vocabulary import FETCH_FAILURE_CAUSES

    failed = [r for r in results if r.get("cause")]
    if not failed:
        return ""
    everything_unresolved = all(r.get("cause") == "dns" for r in results)
    parts = []
    for cause, count in Counter(str(r["cause"]) for r in failed).most_common():
        label, hint = FETCH_FAILURE_CAUSES[cause]
        if cause == "dns" and everything_unresolved:
            hint = "is this machine offline?"  # not one host answered: the network, not the catalogue
        kinds = {r["kind"] for r in failed if r.get("cause") == cause}
        noun = "feed" if kinds == {"feed"} else "entry point"
        parts.append(f"{count} {noun}{'' if count == 1 else 's'}: {label} — {hint}")
    return "; ".join(parts) + "."
