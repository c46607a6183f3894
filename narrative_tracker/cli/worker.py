"""``worker`` and ``workers status``: run crawl and classify tasks from the broker, and watch them."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import echo_json, summary
from narrative_tracker.errors import ConfigError


def _require_broker(app: AppContext) -> None:
    if not app.settings.queue.broker_url:
        where = app.settings.config_file or "the settings"
        raise ConfigError(
            f"{where}: [queue] broker_url is empty: workers take their tasks from a broker, "
            'e.g. broker_url = "amqp://guest:guest@127.0.0.1:5672//" (see README, "Scaling out")'
        )


@click.command()
@click.option("--queues", default="crawl,classify", show_default=True, help="Queues to take tasks from.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True, help="Tasks at once.")
@click.pass_obj
def worker(app: AppContext, queues: str, concurrency: int) -> None:
    """Run crawl and classify tasks from the broker until SIGTERM (or Ctrl-C).

    On SIGTERM a running classify batch finishes, a running crawl stores what it fetched and goes
    back to the queue; then the worker exits with status 0.
    """
    import logging

    from narrative_tracker.jobs.worker import parse_queues, run_worker

    names = parse_queues(queues)
    _require_broker(app)
    logging.getLogger("pika").setLevel(logging.WARNING)  # a line per connection step at INFO
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run_worker(app.settings, app.database, queues=names, concurrency=concurrency, stop=stop)
    summary("worker stopped")


@click.group()
def workers() -> None:
    """The workers of a broker-backed installation."""


@workers.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def workers_status_command(app: AppContext, as_json: bool) -> None:
    """Live workers (host, pid, queues, current tasks), queue depths, tasks failed in the last hour."""
    from narrative_tracker.jobs.workers_status import workers_status

    _require_broker(app)
    status = workers_status(app.settings, app.database)
    if as_json:
        echo_json(status)
        return
    click.echo(f"{len(status['workers'])} live worker(s)")
    for w in status["workers"]:
        click.echo(f"  {w['host']} pid {w['pid']}  queues {','.join(w['queues'])}  since {w['started_at']}")
        for task in w["current_tasks"]:
            click.echo(f"    running {task['queue']} {click.style(task['subject'])} since {task['since']}")
    click.echo("queues:")
    for name, depth in status["queues"].items():
        shown = "broker unreachable" if depth is None else ", ".join(f"{k} {v}" for k, v in depth.items())
        click.echo(f"  {name}: {shown}")
    click.echo(f"{len(status['failed_last_hour'])} task(s) failed or parked in the last hour")
    for task in status["failed_last_hour"]:
        click.echo(f"  {task['status']} {task['queue']} {task['subject']}: {task['error']}")
