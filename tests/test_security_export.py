"""Issue 13, item 8: a crawled title or text that starts like a formula is written to CSV as text."""

from __future__ import annotations

import csv
import io
import json

import pytest

from narrative_tracker.cli.export import _write
from narrative_tracker.storage.export import FIELDS, ArticleRecord

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "=cmd|' /C calc'!A0"]


def _record(title: str) -> ArticleRecord:
    return ArticleRecord(
        url="https://example.org/a",
        source="west",
        group="western",
        title=title,
        text=title + " body",
        lang="en",
        published_at=None,
        fetched_at="2026-12-01T00:00:00+00:00",
        duplicate_of=None,
        narratives=[],
    )


@pytest.mark.parametrize("title", HOSTILE)
def test_csv_cells_starting_like_a_formula_are_neutralised(title: str) -> None:
    out = io.StringIO()
    assert _write(out, "csv", iter([_record(title)]), FIELDS) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["title"] == "'" + title
    assert row["text"] == "'" + title + " body"
    assert row["url"] == "https://example.org/a" and row["narratives"] == "[]"


def test_plain_titles_and_the_jsonl_export_are_unchanged() -> None:
    out = io.StringIO()
    _write(out, "csv", iter([_record("Ordinary title")]), FIELDS)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["title"] == "Ordinary title"
    lines = io.StringIO()
    _write(lines, "jsonl", iter([_record("=1+1")]), FIELDS)
    assert json.loads(lines.getvalue())["title"] == "=1+1"
