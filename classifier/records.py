"""Reading and writing labelled records as JSONL (the format of ../shared/data/euvsdisinfo/).

One JSON object per line: ``{"id", "lang", "text", "title"?, "narratives": [ids],
"stance": {id: stance}}``, plus optional ``"negatives": [ids]`` (narratives checked absent) and
``"complete": false`` when the record was not checked against the whole taxonomy. Errors name
the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from narrative_tracker.classifier.dataset import Record
from narrative_tracker.classifier.taxonomy import Taxonomy
from narrative_tracker.errors import UsageError
from narrative_tracker.vocabulary import STANCES


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}")


def parse_record(data: Any, where: str, taxonomy: Taxonomy | None) -> Record:
    if not isinstance(data, dict):
        raise _fail(where, "expected a JSON object")
    record_id = data.get("id")
    if not isinstance(record_id, str | int) or str(record_id) == "":
        raise _fail(where, 'missing "id"')
    text, title = data.get("text"), data.get("title") or ""
    if not isinstance(text, str) or not text.strip():
        raise _fail(where, f'record {record_id!r} has no "text"')
    if not isinstance(title, str):
        raise _fail(where, f'record {record_id!r}: "title" must be a string')
    lang = data.get("lang") or "und"
    if not isinstance(lang, str):
        raise _fail(where, f'record {record_id!r}: "lang" must be a language code such as "en"')
    narratives = data.get("narratives", [])
    negatives = data.get("negatives", [])
    stance = data.get("stance") or {}
    if not isinstance(narratives, list) or not all(isinstance(n, str) for n in narratives):
        raise _fail(where, f'record {record_id!r}: "narratives" must be a list of narrative ids')
    if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
        raise _fail(where, f'record {record_id!r}: "negatives" must be a list of narrative ids')
    if not isinstance(stance, dict):
        raise _fail(where, f'record {record_id!r}: "stance" must be an object {{narrative id: stance}}')
    if taxonomy is not None:
        for narrative in [*narratives, *negatives]:
            if narrative not in taxonomy.narratives:
                raise _fail(
                    where,
                    f"record {record_id!r}: unknown narrative id {narrative!r} (not in the taxonomy {taxonomy.path})",
                )
    for narrative, value in stance.items():
        if value not in STANCES:
            raise _fail(
                where, f"record {record_id!r}: stance {value!r} for {narrative!r} must be one of {', '.join(STANCES)}"
            )
        if narrative not in narratives:
            raise _fail(where, f"record {record_id!r}: stance given for {narrative!r}, which is not in its narratives")
    complete = data.get("complete", True)
    if not isinstance(complete, bool):
        raise _fail(where, f'record {record_id!r}: "complete" must be true or false')
    return Record(
        id=str(record_id),
        text=text,
        lang=lang.lower(),
        title=title,
        positives={n: stance.get(n, "") for n in narratives},
        negatives=set(negatives),
        complete=complete,
    )


def read_records(path: Path, taxonomy: Taxonomy | None = None) -> list[Record]:
    """Every record of a JSONL file; a UsageError names the line at fault. Blank lines are skipped."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    records: list[Record] = []
    seen: dict[str, int] = {}  # record id -> line number
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path}, line {number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _fail(where, f"not valid JSON ({exc.msg})") from None
                record = parse_record(data, where, taxonomy)
                if record.id in seen:
                    raise _fail(where, f"record id {record.id!r} already used on line {seen[record.id]}")
                seen[record.id] = number
                records.append(record)
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not UTF-8 text") from None
    return records


def record_to_json(record: Record) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record.id, "lang": record.lang}
    if record.title:
        data["title"] = record.title
    data["text"] = record.text
    data["narratives"] = sorted(record.positives)
    data["stance"] = {n: s for n, s in sorted(record.positives.items()) if s}
    if record.negatives:
        data["negatives"] = sorted(record.negatives)
    if not record.complete:
        data["complete"] = False
    return data


def write_records(records: Iterable[Record], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record_to_json(record), ensure_ascii=False) + "\n")
        count += 1
    return count
