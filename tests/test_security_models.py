"""Issue 13, item 12: model hashes live in the database; a file that does not match is refused."""

from __future__ import annotations

import json
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sqlalchemy import update

from narrative_tracker.classifier.features import prepare_words
from narrative_tracker.classifier.registry import (
    MODEL_FILE,
    ModelCache,
    load_model,
    load_registered,
    register,
    save_model,
    sha256_file,
)
from narrative_tracker.errors import ModelError
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import ModelVersion

ROOT = Path(__file__).resolve().parents[1]


def _pipeline(labels: list[int]) -> Pipeline:
    texts = ["arms deliveries paused", "the west is weak", "weather is sunny", "football match tonight"]
    pipeline = Pipeline([("tfidf", TfidfVectorizer(preprocessor=prepare_words)), ("classifier", LogisticRegression())])
    return pipeline.fit(texts, labels)


def _registered(database: Database, models: Path, version: str = "m1") -> Path:
    folder = save_model(models, version, _pipeline([1, 1, 0, 0]), {})
    register(database, version, {}, model_file=folder / MODEL_FILE)
    return folder


def test_registration_records_the_file_hash_in_the_database(sqlite_database: Database, tmp_path: Path) -> None:
    folder = _registered(sqlite_database, tmp_path)
    with sqlite_database.session() as session:
        row = session.get(ModelVersion, "m1")
        assert row is not None and row.model_sha256 == sha256_file(folder / MODEL_FILE)
    assert load_registered(sqlite_database, tmp_path, "m1", cache=ModelCache()).version == "m1"


def test_a_swapped_file_with_rewritten_metadata_is_refused(sqlite_database: Database, tmp_path: Path) -> None:
    import skops.io

    folder = _registered(sqlite_database, tmp_path)
    # Someone who can write the models folder swaps the model and rewrites metadata.json to match.
    skops.io.dump(_pipeline([0, 0, 1, 1]), folder / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["model_sha256"] = sha256_file(folder / MODEL_FILE)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="not the file that was registered"):
        load_registered(sqlite_database, tmp_path, "m1", cache=ModelCache())


def test_metadata_without_a_hash_is_refused(tmp_path: Path) -> None:
    folder = save_model(tmp_path, "m1", _pipeline([1, 1, 0, 0]), {})
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata.pop("model_sha256")
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="has no model_sha256"):
        load_model(tmp_path, "m1")


def test_a_row_registered_before_hashes_were_kept_records_it_on_first_load(
    sqlite_database: Database, tmp_path: Path
) -> None:
    folder = _registered(sqlite_database, tmp_path)
    with sqlite_database.session() as session:
        session.execute(update(ModelVersion).values(model_sha256=""))
    load_registered(sqlite_database, tmp_path, "m1", cache=ModelCache())
    with sqlite_database.session() as session:
        row = session.get(ModelVersion, "m1")
        assert row is not None and row.model_sha256 == sha256_file(folder / MODEL_FILE)


def test_the_skops_floor_has_the_loader_fixes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [skops] = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "skops"]
    floor = min(Version(spec.version) for spec in skops.specifier if spec.operator == ">=")
    assert floor >= Version("0.13")
