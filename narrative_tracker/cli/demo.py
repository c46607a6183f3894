"""``narrative-tracker demo``: the whole pipeline, offline, over a bundled world of invented outlets."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from narrative_tracker.cli.output import echo_json, summary

if TYPE_CHECKING:
    from narrative_tracker.demo.pipeline import DemoPaths, StepReport
    from narrative_tracker.demo.site import DemoSite
    from narrative_tracker.demo.summary import DemoSummary
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database
    from narrative_tracker.web.server import BackgroundServer

DEFAULT_OUT = Path("narrative-tracker-demo")
#: The web app's demo account (an admin; its password is made anew on each run and printed).
DEMO_USER = "demo"


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for the digest files; the demo's data directory is its 'data' subfolder (replaced on each run).",
)
@click.option(
    "--days",
    type=click.IntRange(8, 60),
    default=28,
    show_default=True,
    help="Days of news in the demo world, up to today.",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Afterwards, keep the news web (with new articles arriving), the scheduler and the web app "
    "running until Ctrl-C.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(out: Path, days: int, keep_running: bool, as_json: bool) -> int:
    """Run the real pipeline offline over a bundled demo news web, and write a digest.

    Twelve invented outlets (Russian state, Western, Ukrainian, independent Russian and
    fact-checkers, in English, French and Russian) are served on 127.0.0.1 with RSS and Atom
    feeds and DAYS days of articles. The demo imports the analyst labels shipped with it, crawls
    the outlets, classifies the articles (training the out-of-the-box model first), computes
    trends and alerts and writes today's digest to OUT as <date>.html, <date>.md and <date>.json.
    Your own settings and data are not used.
    """
    from narrative_tracker.demo import pipeline
    from narrative_tracker.settings import load_settings
    from narrative_tracker.storage.database import open_database

    began = time.monotonic()
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # Each job's outcome is printed below with its figures: the runner's own lines would repeat it.
        logging.getLogger("narrative_tracker.jobs.runner").setLevel(logging.WARNING)
    paths = pipeline.prepare_folders(out)
    summary(f"Building the demo world ({days} days of news) ...")
    site, web = pipeline.build_site(days)
    stop = threading.Event()
    try:
        site.write_catalogue(paths.sources)
        health_port = pipeline.free_port() if keep_running else 0
        pipeline.write_config(paths, service_port=health_port, telegram_base_url=site.telegram_base_url)
        articles = site.articles
        summary(
            f"Serving {len(articles)} articles of {len({a.outlet.slug for a in articles})} invented outlets "
            f"on {web.base_url}; data directory {paths.data}"
        )
        with pipeline.demo_environment(paths.data):
            settings = load_settings(paths.config)
            database = open_database(settings.database_url)
            try:
                labels = pipeline.import_analyst_labels(settings, database, paths)
                summary(
                    f"Imported {labels} analyst labels for the first training ({paths.data / 'analyst-labels.jsonl'})"
                )
                with _stopping_on_signals(stop):
                    reports = pipeline.run_jobs(settings, database, stop, on_step=_show_step)
                digest_runs = [r for r in reports if r.name == "digest"]
                day = str(digest_runs[0].stats.get("date")) if digest_runs else pipeline.today_utc()
                files = pipeline.digest_files(paths.out, day)
                from narrative_tracker.demo.summary import summarize

                result = summarize(database, paths.out / f"{day}.json")
            finally:
                database.dispose()
        if stop.is_set():
            summary(f"Demo interrupted; what it did so far is in {paths.data}.")
            return 130
        ok = bool(reports) and all(r.status == "success" for r in reports) and len(files) == 3
        if as_json:
            echo_json(
                {
                    **result.as_json(),
                    "ok": ok,
                    "date": day,
                    "files": [str(f) for f in files],
                    "data_directory": str(paths.data),
                    "config": str(paths.config),
                    "health_url": f"http://127.0.0.1:{health_port}/healthz" if keep_running else None,
                    "steps": [
                        {"job": r.name, "status": r.status, "seconds": round(r.seconds, 1), "error": r.error}
                        for r in reports
                    ],
                    "seconds": round(time.monotonic() - began, 1),
                }
            )
        else:
            _print_summary(result, files, paths)
        summary(f"Demo {'finished' if ok else 'FAILED'} in {time.monotonic() - began:.0f} s.")
        if not ok:
            return 1
        if keep_running:
            return _keep_running(site, paths)
        return 0
    finally:
        stop.set()
        web.stop()


@contextlib.contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C or SIGTERM while the jobs run: stop the running job cleanly (recorded as interrupted)."""

    def on_signal(signum: int, _frame: object) -> None:
        summary(f"{signal.Signals(signum).name}: stopping the demo ...")
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _show_step(report: StepReport) -> None:
    stats = report.stats
    detail = {
        "crawl": f"{stats.get('new_articles', 0)} new articles, {stats.get('duplicates', 0)} duplicates",
        "classify": f"{stats.get('classified', stats.get('articles', '?'))} articles classified",
        "trends": f"{stats.get('days', stats.get('days_recomputed', '?'))} days of trends",
        "digest": f"{stats.get('alerts', 0)} alerts",
    }.get(report.name, "")
    if report.error:
        detail = report.error
    summary(f"  {report.name:<8} {report.status} in {report.seconds:.1f} s{': ' + detail if detail else ''}")


def _print_summary(result: DemoSummary, files: list[Path], paths: DemoPaths) -> None:
    click.echo("")
    columns = ("outlets", "articles", "flagged", "promotes", "refutes", "reports")
    header = f"{'group':<20} " + " ".join(f"{name:>8}" for name in columns)
    click.echo(header)
    click.echo("-" * len(header))
    for row in result.groups:
        values = (row.outlets, row.articles, row.flagged, row.promotes, row.refutes, row.reports)
        click.echo(f"{row.group:<20} " + " ".join(f"{value:>8}" for value in values))
    total = sum(r.articles for r in result.groups)
    flagged = sum(r.flagged for r in result.groups)
    click.echo("-" * len(header))
    click.echo(
        f"{'all':<20} {sum(r.outlets for r in result.groups):>8} {total:>8} {flagged:>8}   "
        f"narratives flagged: {result.narratives_flagged}, model {result.model_version or 'none'}"
    )
    click.echo("flagged: articles carrying a narrative; promotes/refutes/reports: their stance on the main one")
    click.echo("")
    click.echo(f"Alerts in today's digest: {len(result.alerts)}")
    for number, alert in enumerate(result.alerts, start=1):
        where = f" [{alert.group}]" if alert.group else ""
        click.echo(f"  {number}. {alert.kind}{where}: {alert.narrative or '-'}")
        click.echo(f"     {alert.reason}")
    click.echo("")
    for path in files:
        click.echo(f"Digest: {path}")
    click.echo(f"Settings: {paths.config}  (use it with --config to explore: trends, alerts, export ...)")


def _start_web(settings: Settings) -> tuple[BackgroundServer, Database, tuple[str, str]]:
    """The web app over the demo's data, with a demo admin whose password is made for this run."""
    import secrets

    from narrative_tracker.storage.database import open_database
    from narrative_tracker.web.accounts import add_user
    from narrative_tracker.web.server import BackgroundServer

    database = open_database(settings.database_url)
    password = secrets.token_urlsafe(9)
    add_user(database, DEMO_USER, "admin", password)
    return BackgroundServer(settings, database).start(), database, (DEMO_USER, password)


def _keep_running(site: DemoSite, paths: DemoPaths) -> int:
    """The scheduler in its own process and new articles on the news web, until Ctrl-C."""
    from narrative_tracker.demo import pipeline
    from narrative_tracker.demo.site import LivePublisher
    from narrative_tracker.settings import load_settings

    with pipeline.demo_environment(paths.data):
        settings = load_settings(paths.config)
    service = settings.service
    web, web_database, login = _start_web(settings)
    publisher = LivePublisher(site, pipeline.LIVE_PUBLISH_SECONDS).start()
    command = [sys.executable, "-P", "-m", "narrative_tracker", "--config", str(paths.config), "scheduler", "run"]
    scheduler = subprocess.Popen(command, env=pipeline.child_environment(paths.data))
    summary(f"Web app: {web.url}/ - sign in as {login[0]} with password {login[1]} (a demo admin)")
    summary(
        f"Running: a new article every {pipeline.LIVE_PUBLISH_SECONDS:.0f} s, a scheduled crawl every "
        f"{pipeline.LIVE_CRAWL_EVERY}; health at http://{service.bind}:{service.port}/healthz. "
        f"Watch: narrative-tracker --config {paths.config} jobs history. Ctrl-C stops."
    )
    try:
        return scheduler.wait()
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the scheduler too; a SIGINT sent to this process alone does
        # not. Either way it gets SIGTERM (it ignores a repeat) and stops its jobs by itself.
        scheduler.terminate()
        try:
            scheduler.wait(timeout=service.shutdown_grace + 30)
        except subprocess.TimeoutExpired:
            scheduler.kill()
            scheduler.wait()
        summary("Demo stopped.")
        return 0
    finally:
        publisher.stop()
        web.stop()
        web_database.dispose()
