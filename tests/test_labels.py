"""Label import and export: errors name the line, imports are idempotent, unknown stays unknown."""

from __future__ import annotations

import io
import json

import pytest

from narrative_tracker.classifier.labels import gold_records, import_records, iter_stored_records, store_analyst_label
from narrative_tracker.classifier.records import read_records, write_records
from narrative_tracker.classifier.taxonomy import load_taxonomy
from narrative_tracker.errors import UsageError
from narrative_tracker.storage.models import Article, Source

NAZI = "discrediting-ukraine/ukraine-is-associated-with-nazism"
GOOD = {
    "id": "a",
    "lang": "en",
    "title": "T",
    "text": "Kyiv is ruled by neo-Nazis.",
    "narratives": [NAZI],
    "stance": {NAZI: "promotes"},
}


def _file(tmp_path, lines):
    path = tmp_path / "labels.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n", encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        (
            {**GOOD, "id": "b", "narratives": ["no-such-narrative"], "stance": {}},
            "unknown narrative id 'no-such-narrative'",
        ),
        ({**GOOD, "id": "b", "stance": {NAZI: "supports"}}, "stance 'supports'"),
        ({**GOOD, "id": "b", "text": ""}, 'has no "text"'),
        ({**GOOD, "id": "b", "stance": {"hidden-plots": "promotes"}}, "not in its narratives"),
        ({**GOOD, "id": "b", "narratives": "hidden-plots"}, '"narratives" must be a list'),
        (GOOD, "already used on line 1"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_import_errors_name_the_file_and_line(tmp_path, bad, message):
    path = _file(tmp_path, [GOOD, "", bad])
    with pytest.raises(UsageError, match="line 3") as error:
        read_records(path, load_taxonomy())
    assert message in str(error.value) and str(path) in str(error.value)


def test_import_export_round_trip_and_reimport_replaces(database, tmp_path):
    taxonomy = load_taxonomy()
    other = {
        "id": "b",
        "lang": "fr",
        "text": "Le conseil municipal a voté.",
        "narratives": [],
        "stance": {},
        "complete": False,
        "negatives": ["hidden-plots"],
    }
    records = read_records(_file(tmp_path, [GOOD, other]), taxonomy)
    assert import_records(database, records, dataset="d", labeller="ana")["created"] == 2
    out = io.StringIO()
    write_records((r for _, r in iter_stored_records(database)), out)
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert exported[0] == {
        "id": "a",
        "lang": "en",
        "title": "T",
        "text": GOOD["text"],
        "narratives": [NAZI],
        "stance": {NAZI: "promotes"},
    }
    assert exported[1]["complete"] is False and exported[1]["negatives"] == ["hidden-plots"]
    changed = read_records(_file(tmp_path, [{**GOOD, "narratives": [], "stance": {}}]), taxonomy)
    counts = import_records(database, changed, dataset="d", labeller="ana")
    assert (counts["created"], counts["updated"]) == (0, 1)
    stored = {r.id: r for _, r in iter_stored_records(database)}
    assert stored["a"].positives == {} and stored["a"].complete


def test_labels_of_narratives_the_taxonomy_dropped_are_kept_but_not_trained_on(sqlite_database, tmp_path):
    records = read_records(_file(tmp_path, [GOOD]), None)
    records[0].positives["retired-narrative"] = "promotes"
    import_records(sqlite_database, records, dataset="d", labeller="x")
    assert "retired-narrative" in next(iter_stored_records(sqlite_database))[1].positives
    assert gold_records(sqlite_database, load_taxonomy())[0].positives == {NAZI: "promotes"}


def test_an_analyst_label_on_an_article_replaces_the_earlier_verdict(sqlite_database):
    with sqlite_database.session() as session:
        source = Source(slug="s", name="S", group="western", country="FR", languages=["fr"], domains=["x"])
        session.add(Article(source=source, url="https://x/1", url_hash="1" * 40, title="T", text="Texte.", lang="fr"))
    store_analyst_label(sqlite_database, 1, "hidden-plots", positive=True, stance="refutes", labeller="ana")
    store_analyst_label(sqlite_database, 1, "hidden-plots", positive=False, stance=None, labeller="ana")
    ((dataset, record),) = list(iter_stored_records(sqlite_database))
    assert dataset == "analyst" and record.negatives == {"hidden-plots"} and not record.complete
    assert record.group == "article:1"
