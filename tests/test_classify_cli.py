"""The classifier commands end to end through the CLI: JSON shapes, classify in batches, the
labelling queue fed from standard input, promote/rollback, and the jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from narrative_tracker.classifier.registry import read_metadata
from narrative_tracker.cli import cli
from narrative_tracker.errors import ModelError
from narrative_tracker.jobs.base import JobContext
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article, Classification, ClassifiedArticle, Label, ModelVersion, Source

from helpers.models import install_model, ootb_pipeline

ARMS = "discrediting-the-west/western-arms-pause-is-russian-victory"
RU = (
    "Приостановка поставок американского оружия Киеву показывает, что Вашингтон уступил требованиям Кремля. "
    "Эксперты называют это стратегической победой России."
)
FR = (
    "Les médias russes ont présenté la pause de certaines livraisons d'armes américaines comme une capitulation de "
    "Washington. En réalité, la pause était logistique et l'aide militaire continue."
)
NEUTRAL = "Le conseil municipal a voté le budget des cantines scolaires."


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A config, a migrated SQLite database with an installed out-of-the-box model."""
    home = tmp_path / "home"
    monkeypatch.setenv("NARRATIVE_TRACKER_HOME", str(home))
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndatabase_url = "sqlite:///{tmp_path / "t.db"}"\n\n[classifier]\nbatch_size = 2\n')
    settings = load_settings(config)
    db = open_database(settings.database_url)
    install_model(settings.models_dir, db, "m-base")
    yield settings, db, config
    db.dispose()


def run(config: Path, *args: str, input: str | None = None):
    result = CliRunner().invoke(cli, ["--config", str(config), *args], input=input, catch_exceptions=False)
    return result


def _articles(db, texts):
    with db.session() as session:
        ru = Source(slug="ria", name="RIA", group="russian-state", country="RU", languages=["ru"], domains=["ria.ru"])
        fr = Source(
            slug="lemonde", name="Le Monde", group="western", country="FR", languages=["fr"], domains=["lemonde.fr"]
        )
        for n, (lang, text) in enumerate(texts):
            session.add(
                Article(
                    source=ru if lang == "ru" else fr,
                    url=f"https://x/{n}",
                    url_hash=f"{n:040d}",
                    title=text.split(".")[0],
                    text=text,
                    lang=lang,
                    published_at=datetime(2025, 7, 5 + n, tzinfo=UTC),
                )
            )


def test_classify_text_json_shape(app, tmp_path):
    _settings, _db, config = app
    (tmp_path / "a.txt").write_text(FR, encoding="utf-8")
    result = run(config, "classify-text", str(tmp_path / "a.txt"), "--json")
    data = json.loads(result.stdout)
    assert list(data) == ["lang", "narratives"] and data["lang"] == "fr"
    assert data["narratives"][0]["id"] in (ARMS, "discrediting-the-west")
    for flag in data["narratives"]:
        assert list(flag) == ["id", "name", "score", "stance", "evidence"]
        assert flag["stance"] in ("refutes", "reports")
    assert [f["score"] for f in data["narratives"]] == sorted((f["score"] for f in data["narratives"]), reverse=True)
    assert json.loads(run(config, "classify-text", "-", "--json", input=NEUTRAL).stdout)["narratives"] == []
    human = run(config, "classify-text", "-", input=RU).output
    assert ARMS in human and "terms:" in human


def test_evaluate_json_and_predictions(app, tmp_path):
    _settings, _db, config = app
    dataset = tmp_path / "ds.jsonl"
    dataset.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"id": "a", "lang": "ru", "text": RU, "narratives": [ARMS], "stance": {ARMS: "promotes"}},
                {"id": "b", "lang": "fr", "text": NEUTRAL, "narratives": [], "stance": {}},
            ]
        ),
        encoding="utf-8",
    )
    out = tmp_path / "pred.jsonl"
    data = json.loads(run(config, "evaluate", "--dataset", str(dataset), "--json", "--predictions", str(out)).stdout)
    assert list(data) == ["micro_f1", "macro_f1", "coarse", "per_narrative", "per_language", "stance_accuracy"]
    assert data["coarse"] == {"micro_f1": 1.0, "macro_f1": 1.0} and data["stance_accuracy"] == 1.0
    assert set(data["per_language"]) == {"ru", "fr"}
    assert data["per_narrative"][ARMS] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"] and lines[1]["narratives"] == []
    assert set(lines[0]["narratives"][0]) == {"id", "score", "stance"}


def test_classify_marks_every_article_once_and_redoes_with_since(app):
    _settings, db, config = app
    _articles(db, [("ru", RU), ("fr", FR), ("fr", NEUTRAL)])
    stats = json.loads(run(config, "classify", "--json").stdout)
    assert (stats["articles"], stats["flagged_articles"]) == (3, 2)
    with db.session() as session:
        rows = session.execute(
            select(
                Classification.article_id, Classification.narrative_id, Classification.stance, Classification.evidence
            )
        ).all()
        assert session.scalar(select(func.count()).select_from(ClassifiedArticle)) == 3
    stances = {(a, n): s for a, n, s, _ in rows}
    assert stances[(1, ARMS)] == "promotes" and stances[(2, ARMS)] in ("refutes", "reports")
    assert all(1 <= len(evidence) <= 3 for *_, evidence in rows)
    assert json.loads(run(config, "classify", "--json").stdout)["articles"] == 0
    redo = json.loads(run(config, "classify", "--since", "2025-07-06", "--json").stdout)
    assert redo["articles"] == 2
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Classification)) == len(rows)
    bad = CliRunner().invoke(cli, ["--config", str(config), "classify", "--since", "July"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in str(bad.exception)


def test_the_classify_job_calls_the_same_path(app):
    from narrative_tracker.jobs.classify import run as classify_job

    settings, db, _config = app
    _articles(db, [("ru", RU)])
    stats = classify_job(JobContext(settings=settings, database=db))
    assert stats["articles"] == 1 and stats["model"] == "m-base"


def test_without_a_model_the_first_command_trains_one_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("NARRATIVE_TRACKER_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["classify-text", "-", "--json"], input=RU)
    assert "No trained model yet" in result.stderr
    assert json.loads(result.stdout)["narratives"][0]["stance"] == "promotes"
    listed = json.loads(CliRunner().invoke(cli, ["models", "list", "--json"]).stdout)
    assert [row["status"] for row in listed] == ["active"]


def test_labels_import_export_and_the_label_queue_from_stdin(app, tmp_path):
    _settings, db, config = app
    path = tmp_path / "l.jsonl"
    path.write_text(
        json.dumps(
            {"id": "x", "lang": "ru", "text": RU, "narratives": [ARMS], "stance": {ARMS: "promotes"}},
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    assert json.loads(run(config, "labels", "import", str(path), "--json").stdout)["labels"] == 1
    exported = run(config, "labels", "export").stdout
    assert json.loads(exported)["narratives"] == [ARMS]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "y", "text": "t", "narratives": ["nope"]}\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "labels", "import", str(bad)])
    assert result.exit_code != 0 and "line 1" in str(result.exception)
    _articles(db, [("ru", RU), ("fr", FR), ("fr", NEUTRAL)])
    result = run(config, "label", "--limit", "3", "--labeller", "ana", input="a\n2\nr\n")
    assert result.exit_code == 0 and "1 rejected" in result.stderr and "2 accepted" in result.stderr
    assert "ria" in result.output and "lemonde" in result.output  # both outlets get asked about
    with db.session() as session:
        labels = session.execute(
            select(Label.positive, Label.stance, Label.labeller).where(Label.labeller == "ana")
        ).all()
    assert len(labels) == 3 and sum(not positive for positive, _, _ in labels) == 1
    assert "refutes" in {stance for _, stance, _ in labels}


def test_train_promote_refuse_worse_force_and_rollback(app, tmp_path):
    settings, db, config = app
    # Enough labelled groups for a fixed evaluation set.
    records = []
    for n in range(60):
        text, narratives, stance = (RU, [ARMS], {ARMS: "promotes"}) if n % 2 else (NEUTRAL, [], {})
        records.append(
            {
                "id": f"r{n}",
                "lang": "ru" if n % 2 else "fr",
                "title": f"case {n} title words",
                "text": f"{text} ({n})",
                "narratives": narratives,
                "stance": stance,
            }
        )
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    run(config, "labels", "import", str(path))
    trained = json.loads(run(config, "train", "--cv-folds", "0", "--promote", "--json").stdout)
    version = trained["version"]
    assert trained["promotion"]["previous"] == "m-base"
    assert read_metadata(settings.models_dir, version)["counts"]["gold"] > 0
    # A model that flags nothing is worse on the fixed evaluation set.
    empty = ootb_pipeline().__class__(ootb_pipeline().steps)  # same steps object, thresholds raised below
    import copy

    worse = copy.deepcopy(empty)
    worse.named_steps["classifier"].thresholds_[:] = 2.0
    install_model(settings.models_dir, db, "m-worse", pipeline=worse, active=False)
    result = CliRunner().invoke(cli, ["--config", str(config), "models", "promote", "m-worse"])
    assert result.exit_code != 0 and isinstance(result.exception, ModelError)
    assert "scores worse" in str(result.exception)
    with db.session() as session:
        assert session.get(ModelVersion, version).status == "active"
    run(config, "models", "promote", "m-worse", "--force")
    result = run(config, "models", "rollback")
    assert f"{version} is active again" in result.stderr
    shown = json.loads(run(config, "models", "show").stdout)
    assert shown["version"] == version and "cv" in shown


def test_a_corrupt_candidate_is_never_promoted(app):
    settings, db, config = app
    install_model(settings.models_dir, db, "m-bad", active=False)
    (settings.models_dir / "m-bad" / "model.skops").write_bytes(b"not a model")
    result = CliRunner().invoke(cli, ["--config", str(config), "models", "promote", "m-bad", "--force"])
    assert isinstance(result.exception, ModelError) and "corrupt" in str(result.exception)
    with db.session() as session:
        assert session.get(ModelVersion, "m-base").status == "active"


def test_the_retrain_job_trains_and_promotes(app):
    from narrative_tracker.jobs.retrain import run as retrain_job

    settings, db, _config = app
    stats = retrain_job(JobContext(settings=settings, database=db))
    assert stats["promoted"] and stats["previous"] == "m-base"


def test_a_taxonomy_change_keeps_labels_and_the_active_model_working(app, tmp_path):
    settings, _db, config = app
    from narrative_tracker.classifier.taxonomy import DEFAULT_TAXONOMY_FILE

    taxonomy = tmp_path / "narratives.toml"
    taxonomy.write_text(
        DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8")
        + (
            '\n[[narrative]]\nid = "grain-deal-blackmail"\nname = "Grain deal blackmail"\n'
            'description = "Food shortages blamed on Ukraine."\n'
            'examples.en = ["Ukraine starves Africa by blocking grain.", "Kyiv uses grain to blackmail the world."]\n'
        ),
        encoding="utf-8",
    )
    config.write_text(config.read_text() + f'taxonomy = "{taxonomy}"\n')
    path = tmp_path / "l.jsonl"
    path.write_text(
        json.dumps({"id": "g", "lang": "en", "text": "Ukraine starves Africa.", "narratives": ["grain-deal-blackmail"]})
        + "\n"
    )
    run(config, "labels", "import", str(path))
    data = json.loads(run(config, "classify-text", "-", "--json", input=RU).stdout)
    assert data["narratives"][0]["id"] in (ARMS, "discrediting-the-west")
    trained = json.loads(run(config, "train", "--cv-folds", "0", "--json").stdout)
    assert "grain-deal-blackmail" in read_metadata(settings.models_dir, trained["version"])["labels"]
