"""``export``: stream stored data out as JSON Lines or CSV."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import summary

if TYPE_CHECKING:
    from narrative_tracker.storage.export import ArticleRecord


@click.group()
def export() -> None:
    """Export stored data for analysts and other tools."""


def _parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: write YYYY-MM-DD") from None


@export.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--since", callback=_parse_day, metavar="YYYY-MM-DD", help="Only articles fetched on or after.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.pass_obj
def articles(app: AppContext, fmt: str, since: datetime | None, out: Path | None) -> None:
    """Stream every stored article with its narratives from the active model.

    Each record has url, source, group, title, text, lang, published_at, fetched_at,
    duplicate_of, views and forwarded_from (a Telegram post's views, and the {channel, url} it
    was reposted from) and narratives (a list of {id, score, stance}).
    """
    from narrative_tracker.storage.export import FIELDS, iter_article_records

    with app.database.session() as session:
        handle: TextIO = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            count = _write(handle, fmt, iter_article_records(session, since=since), FIELDS)
        finally:
            if out:
                handle.close()
    if out:
        summary(f"Exported {count:,} articles to {out}.")


#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: crawled titles are written by the outlets we
    watch, and ``=HYPERLINK(...)`` or ``=cmd|...`` in one would run when an analyst opens the file.
    A leading apostrophe (OWASP's advice) makes it text; the JSON Lines export stays verbatim."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _write(handle: TextIO, fmt: str, records: Iterator[ArticleRecord], fields: tuple[str, ...]) -> int:
    count = 0
    if fmt == "jsonl":
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(handle, fieldnames=list(fields))
    writer.writeheader()
    for record in records:
        forwarded = record.get("forwarded_from")
        row = {
            **record,
            "narratives": json.dumps(record["narratives"], ensure_ascii=False),
            "forwarded_from": json.dumps(forwarded, ensure_ascii=False) if forwarded is not None else "",
        }
        writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
        count += 1
    return count
