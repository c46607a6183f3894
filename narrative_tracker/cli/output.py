"""Output helpers shared by the commands: JSON, progress bars and summaries."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, TypeVar

import click

T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(data: Any, *, indent: int | None = 2) -> str:
    return json.dumps(data, ensure_ascii=False, indent=indent, default=_default)


def echo_json(data: Any) -> None:
    click.echo(to_json(data))


def progress(items: Iterable[T], *, label: str, length: int | None = None) -> Iterator[T]:
    """A progress bar on a terminal (stderr), a plain pass-through otherwise."""
    if not sys.stderr.isatty():
        yield from items
        return
    with click.progressbar(items, length=length, label=label, file=sys.stderr) as bar:
        yield from bar


def summary(line: str) -> None:
    """The one-line summary a long task ends with (stderr, so stdout stays machine-readable)."""
    click.echo(line, err=True)
