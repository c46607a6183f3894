"""``trends``, ``alerts`` and ``digest``: what the monitoring team reads."""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import echo_json, summary
from narrative_tracker.errors import ConfigError, DeliveryError, UsageError
from narrative_tracker.vocabulary import GROUPS

SPARKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 56
DATE = click.DateTime(formats=["%Y-%m-%d"])


def _day(value: datetime | None, timezone: str) -> date:
    """The --date given (not in the future), or today in the digest time zone."""
    from narrative_tracker.trends.digest import today_in

    today = today_in(timezone)
    if value is not None and value.date() > today:
        raise UsageError(f"--date {value.date()} is in the future (today is {today} in {timezone})")
    return value.date() if value is not None else today


def sparkline(values: list[int]) -> str:
    """One character per value, scaled to the largest; zero is the lowest bar."""
    top = max(values, default=0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, round(v / top * (len(SPARKS) - 1)))] for v in values)


@click.command()
@click.option("--narrative", "narrative_id", metavar="ID", help="One narrative (fine or coarse id).")
@click.option("--group", type=click.Choice(GROUPS), help="One source group.")
@click.option("--days", type=click.IntRange(1, 3650), default=28, show_default=True, help="Days up to today.")
@click.option("--json", "as_json", is_flag=True, help="Rows as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Rows as CSV.")
@click.pass_obj
def trends(
    app: AppContext, narrative_id: str | None, group: str | None, days: int, as_json: bool, as_csv: bool
) -> None:
    """Daily counts of flagged articles per narrative, source group and language.

    Brings the trends up to date first (only the days touched since the last run). On a
    terminal: a sparkline per narrative and group; with --narrative, one line per day.
    Rows (--json, --csv) have day, narrative_id, group, lang, flagged, total (all articles of
    that group and language that day), share, promotes, refutes, reports and model_version.
    """
    from narrative_tracker.trends.daily import TREND_FIELDS, read_trends, update_trends

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    timezone = app.settings.digest.timezone
    stats = update_trends(app.database, timezone)
    summary(f"Trends up to date: {stats['days_recomputed']} days recomputed, {stats['articles_added']} new articles.")
    end = _day(None, timezone)
    start = end - timedelta(days=days - 1)
    rows = read_trends(app.database, start, end, narrative_id=narrative_id, group=group)
    if as_json:
        echo_json(rows)
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=TREND_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        what = f"narrative {narrative_id!r}" if narrative_id else "any narrative"
        click.echo(f"No article flagged for {what} from {start} to {end}.")
        return
    if narrative_id:
        _print_days(rows, start, end)
    else:
        _print_sparklines(rows, start, end)


def _print_sparklines(rows: list[dict[str, Any]], start: date, end: date) -> None:
    days = (end - start).days + 1
    # At most SPARK_WIDTH characters: a long period is drawn in buckets of several days.
    bucket = -(-days // SPARK_WIDTH)
    width_days = -(-days // bucket)
    series: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * width_days)
    last: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        offset = (date.fromisoformat(row["day"]) - start).days
        key = (row["narrative_id"], row["group"])
        series[key][(offset + (width_days * bucket - days)) // bucket] += row["flagged"]
        if offset == days - 1:
            last[key] += row["flagged"]
    width = max(len(n) for n, _ in series)
    per = f" ({bucket} days per mark)" if bucket > 1 else ""
    period = f"{start} .. {end}{per}"
    click.echo(f"{'narrative':<{width}}  {'group':<19}  {period:<{width_days}}  {'total':>6}  {'today':>5}")
    for (narrative, group), values in sorted(series.items(), key=lambda item: (-sum(item[1]), item[0])):
        line = f"{narrative:<{width}}  {group:<19}  {sparkline(values):<{width_days}}"
        click.echo(f"{line}  {sum(values):>6}  {last[(narrative, group)]:>5}")


def _print_days(rows: list[dict[str, Any]], start: date, end: date) -> None:
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    totals: dict[tuple[str, str, str], int] = {}
    for row in rows:
        counts = per_day[row["day"]]
        for index, name in enumerate(("flagged", "promotes", "refutes", "reports")):
            counts[index] += row[name]
        totals[(row["day"], row["group"], row["lang"])] = row["total"]
    top = max((c[0] for c in per_day.values()), default=1) or 1
    click.echo(f"{'day':<10}  {'flagged':>7}  {'prom':>5}  {'refu':>5}  {'repo':>5}")
    day = start
    while day <= end:
        flagged, promotes, refutes, reports = per_day.get(day.isoformat(), [0, 0, 0, 0])
        bar = "█" * round(flagged / top * 40)
        click.echo(f"{day.isoformat():<10}  {flagged:>7}  {promotes:>5}  {refutes:>5}  {reports:>5}  {bar}")
        day += timedelta(days=1)


@click.command()
@click.option("--date", "when", type=DATE, metavar="YYYY-MM-DD", help="Day (default: today in [digest] timezone).")
@click.option("--json", "as_json", is_flag=True, help="Alerts as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Also ongoing conditions that are not reported again.")
@click.pass_obj
def alerts(app: AppContext, when: datetime | None, as_json: bool, show_all: bool) -> None:
    """The day's alerts (spike, crossover, new outlet, source health), each with its reason in numbers.

    Brings the trends up to date, evaluates the rules and records the alerts. JSON: a list of
    {day, kind, key, narrative_id, group, source, magnitude, reason, numbers,
    evidence_article_ids, repeat}.
    """
    from narrative_tracker.trends.alerts import evaluate_alerts
    from narrative_tracker.trends.daily import update_trends

    settings = app.settings
    timezone = settings.digest.timezone
    day = _day(when, timezone)
    update_trends(app.database, timezone)
    found = evaluate_alerts(app.database, day, settings.alerts, timezone)
    shown = [a for a in found if show_all or not a.repeat]
    if as_json:
        echo_json([a.as_dict() for a in shown])
        return
    if not shown:
        click.echo(f"No alerts for {day}.")
    for alert in shown:
        subject = alert.narrative_id or alert.source or ""
        where = " | ".join(x for x in (alert.group, alert.source if alert.narrative_id else None) if x)
        repeat = " (repeat)" if alert.repeat else ""
        click.echo(f"[{alert.kind}]{repeat} {subject}" + (f" | {where}" if where else ""))
        click.echo(f"    {alert.reason}")
        if alert.evidence_article_ids:
            click.echo(f"    evidence articles: {', '.join(map(str, alert.evidence_article_ids))}")
    repeats = sum(1 for a in found if a.repeat)
    summary(f"{len(shown)} alerts for {day} ({repeats} ongoing conditions not reported again).")


@click.command()
@click.option("--date", "when", type=DATE, metavar="YYYY-MM-DD", help="Day (default: today in [digest] timezone).")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Write <date>.html, <date>.md, <date>.json here."
)
@click.option("--send", is_flag=True, help="Deliver on the channels of [digest] (each at most once per date).")
@click.pass_obj
def digest(app: AppContext, when: datetime | None, out: Path | None, send: bool) -> None:
    """The daily alert digest: alerts with evidence, a table of all narratives, notes on model and crawl.

    Without --out or --send, prints the plain-text version.
    """
    from narrative_tracker.classifier.taxonomy import narrative_names
    from narrative_tracker.trends.digest import produce, record_shown
    from narrative_tracker.trends.digest.delivery import configured_channels, deliver, write_files
    from narrative_tracker.trends.digest.render import render_text

    settings = app.settings
    if send and not configured_channels(settings.digest):
        raise ConfigError(
            "digest --send: no delivery channel configured; add [digest.smtp] (with recipients), "
            "[digest.webhook] or [digest.folder] to the settings file"
        )
    day = _day(when, settings.digest.timezone)
    result = produce(app.database, settings, day, names=narrative_names(settings.taxonomy_file))
    if out is not None:
        for path in write_files(result, out):
            click.echo(str(path))
    if send:
        from narrative_tracker.jobs.locks import job_lock

        with job_lock(settings.database_url, settings.home, "digest", command="digest --send"):
            results = deliver(app.database, result, settings.digest, settings.smtp_password)
            if any(r.status == "sent" for r in results):
                record_shown(app.database, result)
        for r in results:
            click.echo(f"{r.channel}: {r.status}" + (f" ({r.error})" if r.error else ""))
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise DeliveryError(
                f"digest {day} not delivered on " + ", ".join(f"{r.channel} ({r.error})" for r in failed)
            )
    if out is None and not send:
        click.echo(render_text(result), nl=False)
    summary(f"Digest for {day}: {len(result.alerts)} alerts, {len(result.narratives)} narratives in the table.")
