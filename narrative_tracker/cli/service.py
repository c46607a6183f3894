"""``jobs run | history`` and ``scheduler run | status``: the service and its run history."""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from datetime import datetime
from typing import Any

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import echo_json, summary
from narrative_tracker.jobs.config import JOB_NAMES

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain(text: Any, width: int | None = None) -> str:
    """One line without control characters (error texts can quote crawled pages)."""
    line = _CONTROL.sub(" ", str(text))
    return line if width is None or len(line) <= width else line[: width - 1] + "…"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _stats_line(stats: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in stats.items() if not isinstance(value, dict | list))


class _ProgressLine:
    """One self-rewriting line on a terminal: ``crawl: 120/400``."""

    def __init__(self) -> None:
        self.active = False

    def __call__(self, job: str, done: int, total: int | None) -> None:
        text = f"{job}: {done}/{total}" if total else f"{job}: {done}"
        click.echo(f"\r\x1b[2K{text}", nl=False, err=True)
        self.active = True

    def close(self) -> None:
        if self.active:
            click.echo("\r\x1b[2K", nl=False, err=True)
            self.active = False


@click.group()
def jobs() -> None:
    """Run one job now, or read the run history."""


@jobs.command("run")
@click.argument("name", type=click.Choice(JOB_NAMES))
@click.option(
    "--chain", is_flag=True, help="After a success, also run the jobs that follow it (crawl -> classify -> trends)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.pass_obj
def run_command(app: AppContext, name: str, chain: bool, as_json: bool) -> int:
    """Run job NAME now, through the same path as the scheduler (recorded with trigger "manual").

    The run is skipped if another run of NAME is going (here, in the service, or on another
    machine sharing the database). Ctrl-C stops it and records it as interrupted.
    """
    from narrative_tracker.jobs.runner import LogSetup, run_chain, run_job

    settings, database = app.settings, app.database
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        click.echo(f"{signal.Signals(signum).name}: stopping {name}...", err=True)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    logs = LogSetup(logging.getLogger().level)
    shown = _ProgressLine() if sys.stderr.isatty() else None
    try:
        if chain:
            outcomes = run_chain(settings, database, name, trigger="manual", stop=stop, logs=logs, progress=shown)
        else:
            outcomes = [run_job(settings, database, name, trigger="manual", stop=stop, logs=logs, progress=shown)]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if shown is not None:
            shown.close()
    if as_json:
        echo_json(
            [
                {
                    "job": o.job,
                    "run_id": o.run_id,
                    "trigger": o.trigger,
                    "status": o.status,
                    "stats": o.stats,
                    "error": o.error,
                    "duration": round(o.duration, 3),
                }
                for o in outcomes
            ]
        )
    for outcome in outcomes:
        detail = _plain(outcome.error) if outcome.error else _stats_line(outcome.stats)
        took = f"{outcome.duration:.1f} s"
        summary(f"{outcome.job}: {outcome.status} in {took} (run {outcome.run_id}){': ' + detail if detail else ''}")
    statuses = {outcome.status for outcome in outcomes}
    if "interrupted" in statuses:
        return 130
    return 0 if statuses == {"success"} else 1


@jobs.command("history")
@click.option("--job", type=click.Choice(JOB_NAMES), help="Only this job.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True, help="Newest runs shown.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of runs.")
@click.pass_obj
def history_command(app: AppContext, job: str | None, limit: int, as_json: bool) -> None:
    """Recent runs, newest first: job, trigger, status, start, duration, stats or error."""
    from narrative_tracker.jobs.history import list_runs

    runs = list_runs(app.database, job=job, limit=limit)
    if as_json:
        echo_json([run.as_json() for run in runs])
        return
    if not runs:
        summary("no runs recorded yet")
        return
    click.echo(f"{'id':>6}  {'job':<9} {'trigger':<9} {'status':<11} {'started':<19} {'took':>7}  details")
    for run in runs:
        took = f"{run.duration:.1f}s" if run.duration is not None else "-"
        detail = _plain(run.error, 100) if run.error else _plain(_stats_line(run.stats), 100)
        started = _when(run.started_at)
        click.echo(f"{run.id:>6}  {run.job:<9} {run.trigger:<9} {run.status:<11} {started:<19} {took:>7}  {detail}")


@click.group()
def scheduler() -> None:
    """The scheduler service: run it (under systemd), or ask how it is doing."""


@scheduler.command("run")
@click.option(
    "--log-format",
    type=click.Choice(["plain", "json"]),
    default="plain",
    show_default=True,
    help="Logs on stderr: plain lines or one JSON object per line.",
)
@click.pass_obj
def scheduler_run(app: AppContext, log_format: str) -> int:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C.

    One process on a database is the leader and runs the jobs of [jobs.*]; others started on the
    same database wait on standby and take over when it stops. Health and metrics are served on
    [service] bind and port (GET /healthz, GET /metrics).
    """
    from narrative_tracker.jobs import logs
    from narrative_tracker.jobs.runner import LogSetup
    from narrative_tracker.jobs.service import Service

    level = logging.getLogger().level
    logs.configure(level, log_format)
    try:
        service = Service(app.settings, logs=LogSetup(level, log_format))
    except OSError as exc:
        from narrative_tracker.errors import ConfigError

        raise ConfigError(
            f"[service] cannot listen on {app.settings.service.bind}:{app.settings.service.port}: {exc.strerror}; "
            "choose another port, or 0 to disable the endpoint"
        ) from None
    return service.serve()


@scheduler.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def scheduler_status(app: AppContext, as_json: bool) -> None:
    """The leader and standbys alive now, and per job: schedule, next run, last run and last success."""
    from narrative_tracker.jobs.history import summaries
    from narrative_tracker.jobs.service import live_instances

    settings, database = app.settings, app.database
    instances = live_instances(database)
    leader = next((row for row in instances if row.role == "leader"), None)
    next_runs = leader.next_runs if leader else {}
    last = summaries(database, list(settings.jobs))
    report: dict[str, Any] = {
        "leader": leader.runner if leader else None,
        "instances": [
            {
                "runner": row.runner,
                "role": row.role,
                "started_at": row.started_at.isoformat(),
                "heartbeat_at": row.heartbeat_at.isoformat(),
                "health_url": row.health_url or None,
            }
            for row in instances
        ],
        "jobs": {
            name: {
                "enabled": job.enabled,
                "schedule": f"every {job.every}" if job.every else f"cron {job.cron}" if job.cron else None,
                "next_run": next_runs.get(name),
                "last_status": last[name].last_status,
                "last_started": _iso(last[name].last_started),
                "last_success": _iso(last[name].last_success),
            }
            for name, job in settings.jobs.items()
        },
    }
    if as_json:
        echo_json(report)
        return
    if leader:
        since, beat = _when(leader.started_at), _when(leader.heartbeat_at)
        click.echo(f"leader: {leader.runner} (since {since}, heartbeat {beat})")
    else:
        click.echo("leader: none - no scheduler is running on this database")
    for row in instances:
        if row.role != "leader":
            click.echo(f"standby: {row.runner} (heartbeat {_when(row.heartbeat_at)})")
    click.echo(f"{'job':<10} {'schedule':<22} {'next run':<19}  {'last run':<12} {'last success':<19}")
    for name, item in report["jobs"].items():
        schedule = item["schedule"] if item["enabled"] else "disabled"
        click.echo(
            f"{name:<10} {schedule or '-':<22} {_when(item['next_run']):<19}  {item['last_status'] or '-':<12} "
            f"{_when(item['last_success']):<19}"
        )
