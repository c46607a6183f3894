"""One answer to "which model is active", at most one active row, and model files of the first release."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sqlalchemy import column, create_engine, insert, select, table, text
from sqlalchemy.exc import IntegrityError

from narrative_tracker.classifier.features import prepare_words
from narrative_tracker.classifier.legacy import RENAMED_MODULES
from narrative_tracker.classifier.registry import (
    METADATA_FILE,
    MODEL_FILE,
    load_model,
    register,
    rollback,
    save_model,
    set_active,
    sha256_file,
)
from narrative_tracker.errors import ModelError
from narrative_tracker.storage.database import Database, upgrade
from narrative_tracker.storage.models import ModelVersion
from narrative_tracker.storage.queries import active_model_version


def _register(database: Database, *versions: str) -> None:
    for version in versions:
        register(database, version, {})


def _statuses(database: Database) -> dict[str, str]:
    with database.session() as session:
        return dict(session.execute(select(ModelVersion.version, ModelVersion.status)).tuples().all())


def test_the_database_refuses_a_second_active_model(database: Database) -> None:
    _register(database, "m1", "m2")
    set_active(database, "m1")
    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(ModelVersion.__table__.update().where(ModelVersion.version == "m2").values(status="active"))


def test_activation_retires_the_previous_model_and_rollback_restores_it(database: Database) -> None:
    _register(database, "m1", "m2")
    assert set_active(database, "m1") is None
    assert set_active(database, "m2") == "m1"
    assert _statuses(database) == {"m1": "retired", "m2": "active"}
    with database.session() as session:
        assert active_model_version(session) == "m2"
    assert rollback(database) == ("m2", "m1")
    with database.session() as session:
        assert active_model_version(session) == "m1"


def test_activations_racing_leave_exactly_one_active_model(database: Database) -> None:
    versions = [f"m{n}" for n in range(6)]
    _register(database, *versions)
    start, errors = threading.Barrier(len(versions)), []

    def activate(version: str) -> None:
        start.wait()
        try:
            set_active(database, version)
        except ModelError as exc:  # a loser that kept losing says so; it never leaves two active
            errors.append(str(exc))

    threads = [threading.Thread(target=activate, args=(version,)) for version in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    active = [version for version, status in _statuses(database).items() if status == "active"]
    assert len(active) == 1
    assert all("could not be activated" in error for error in errors)


REVISION_0001_COLUMNS = {
    "version",
    "status",
    "created_at",
    "promoted_at",
    "taxonomy_hash",
    "data_hash",
    "metrics",
    "notes",
}


def test_the_migration_keeps_the_latest_of_two_active_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    now = datetime.now(UTC)
    rows = [
        {"version": "older", "promoted_at": now - timedelta(days=1)},
        {"version": "newer", "promoted_at": now},
    ]
    with engine.begin() as connection:
        connection.execute(
            # The table as revision 0001 made it (later revisions added columns).
            insert(
                table(
                    "model_versions",
                    *(
                        column(c.name, c.type)
                        for c in ModelVersion.__table__.columns
                        if c.name in REVISION_0001_COLUMNS
                    ),
                )
            ),
            [
                {
                    **row,
                    "status": "active",
                    "created_at": now,
                    "taxonomy_hash": "",
                    "data_hash": "",
                    "metrics": {},
                    "notes": "",
                }
                for row in rows
            ],
        )
    upgrade(engine)
    with engine.connect() as connection:
        statuses = dict(connection.execute(text("SELECT version, status FROM model_versions")).tuples().all())
    engine.dispose()
    assert statuses == {"older": "retired", "newer": "active"}


def _tiny_pipeline() -> Pipeline:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["arms deliveries paused", "the west is weak", "weather is sunny", "football match tonight"]
    pipeline = Pipeline([("tfidf", TfidfVectorizer(preprocessor=prepare_words)), ("classifier", LogisticRegression())])
    return pipeline.fit(texts, [1, 1, 0, 0])


def _as_first_release(path: Path, renames: dict[str, str]) -> None:
    """Rewrite a model file as the first release wrote it: its types named by their old module paths."""
    with zipfile.ZipFile(path) as source:
        files = {info.filename: source.read(info) for info in source.infolist()}
    schema = files["schema.json"].decode()
    for old, new in renames.items():
        schema = schema.replace(f'"__module__": "{new}"', f'"__module__": "{old}"')
    files["schema.json"] = schema.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name, payload in files.items():
            target.writestr(name, payload)
    path.write_bytes(buffer.getvalue())
    metadata_file = path.parent / METADATA_FILE
    metadata = json.loads(metadata_file.read_text())
    metadata["model_sha256"] = sha256_file(path)
    metadata_file.write_text(json.dumps(metadata))


def test_a_model_file_of_the_first_release_loads_through_the_renamed_modules(tmp_path: Path) -> None:
    save_model(tmp_path, "m-old", _tiny_pipeline(), {})
    path = tmp_path / "m-old" / MODEL_FILE
    _as_first_release(path, RENAMED_MODULES)
    assert b'"__module__": "classifier.features"' in zipfile.ZipFile(path).read("schema.json").replace(b"\n", b"")
    loaded = load_model(tmp_path, "m-old")
    assert loaded.pipeline.named_steps["tfidf"].preprocessor is prepare_words
    assert list(loaded.pipeline.predict(["arms deliveries paused again"])) == [1]


def test_a_model_file_naming_an_unknown_module_is_refused_with_what_to_do(tmp_path: Path) -> None:
    save_model(tmp_path, "m-odd", _tiny_pipeline(), {})
    renames = {"classifier.elsewhere": "narrative_tracker.classifier.features"}
    _as_first_release(tmp_path / "m-odd" / MODEL_FILE, renames)
    with pytest.raises(ModelError, match=r"outside the trusted list: classifier\.elsewhere\.prepare_words.*retrain"):
        load_model(tmp_path, "m-odd")
