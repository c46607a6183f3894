"""The model registry: model files in ``<home>/models/<version>/`` and ModelVersion rows.

Each version directory holds ``model.skops`` (the fitted Pipeline, saved with skops) and
``metadata.json`` (created, taxonomy and training-data hashes, counts per narrative and
language, library versions, cross-validated metrics, the file's SHA-256). The SHA-256 is also
recorded in the ModelVersion row at registration: a registered model loads only when its file
matches the row (the copy beside the file could be rewritten with it), and a metadata.json
without a hash is refused. Loading also checks the library versions and the types the file asks
for against ``TRUSTED_TYPES``: nothing outside that list is ever loaded, and pickle is never used.

Statuses: ``candidate`` (trained, not serving), ``active`` (exactly one serves), ``retired``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from narrative_tracker.classifier.legacy import upgrade_model_bytes
from narrative_tracker.errors import ModelError, ModelNotFoundError
from narrative_tracker.privatefiles import PRIVATE_DIR_MODE, make_private, private_dir, write_private
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import ModelVersion, utc_now
from narrative_tracker.storage.queries import ACTIVE

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from narrative_tracker.classifier.inference import Explainer

log = logging.getLogger(__name__)

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
ACTIVATION_ATTEMPTS = 3
# Everything a saved model may contain beyond what skops trusts by default (numpy, scipy arrays,
# scikit-learn estimators): our own estimator and text preprocessors, and sparse weight matrices.
TRUSTED_TYPES = [
    "narrative_tracker.classifier.crosslingual.CrossLingualTerms",
    "narrative_tracker.classifier.features.prepare_body",
    "narrative_tracker.classifier.features.prepare_chars",
    "narrative_tracker.classifier.features.prepare_words",
    "narrative_tracker.classifier.model.NarrativeClassifier",
    "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._csr.csr_matrix",
]


def library_versions() -> dict[str, str]:
    import numpy
    import scipy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def new_version_name() -> str:
    return datetime.now(UTC).strftime("m%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class LoadedModel:
    version: str
    pipeline: Pipeline
    metadata: dict[str, Any]
    _explainer: Explainer | None = field(default=None, repr=False)

    @property
    def labels(self) -> list[str]:
        return [str(label) for label in self.pipeline.named_steps["classifier"].classes_]

    @property
    def explainer(self) -> Explainer:
        if self._explainer is None:
            from narrative_tracker.classifier.inference import Explainer

            self._explainer = Explainer(self.pipeline)
        return self._explainer


def save_model(models_dir: Path, version: str, pipeline: Pipeline, metadata: dict[str, Any]) -> Path:
    """Write a version directory atomically (a half-written version never appears)."""
    import skops.io

    target = models_dir / version
    if target.exists():
        raise ModelError(f"model version {version} exists already in {models_dir}")
    private_dir(models_dir)
    staging = models_dir / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=PRIVATE_DIR_MODE)
    try:
        skops.io.dump(pipeline, staging / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
        make_private(staging / MODEL_FILE)
        metadata = {
            **metadata,
            "version": version,
            "libraries": library_versions(),
            "model_sha256": sha256_file(staging / MODEL_FILE),
        }
        write_private(staging / METADATA_FILE, json.dumps(metadata, indent=2, ensure_ascii=False))
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read_metadata(models_dir: Path, version: str) -> dict[str, Any]:
    folder = models_dir / version
    if not folder.is_dir():
        raise ModelNotFoundError(f"model version {version!r} has no directory {folder}")
    path = folder / METADATA_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model {version}: {path} is missing; retrain with `narrative-tracker train`") from None
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"model {version}: {path} cannot be read ({exc}); retrain with `narrative-tracker train`"
        ) from None
    if not isinstance(metadata, dict):
        raise ModelError(f"model {version}: {path} is not a metadata object")
    return metadata


def load_model(models_dir: Path, version: str, *, expected_sha256: str | None = None) -> LoadedModel:
    """Load and check one version; ModelError says what is wrong and what to do.

    ``expected_sha256`` is the hash recorded in the database (see ``load_registered``); without it
    the file is checked against its metadata.json only."""
    import skops.io

    metadata = read_metadata(models_dir, version)
    path = models_dir / version / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"model {version}: {path} is missing; retrain with `narrative-tracker train`")
    made_with = metadata.get("libraries", {}).get("scikit-learn", "?")
    installed = library_versions()["scikit-learn"]
    if _minor(made_with) != _minor(installed):
        raise ModelError(
            f"model {version} was made with scikit-learn {made_with} but {installed} is installed: "
            "retrain it with `narrative-tracker train --promote`"
        )
    recorded = metadata.get("model_sha256")
    if not isinstance(recorded, str) or not recorded:
        raise ModelError(
            f"model {version}: {METADATA_FILE} has no model_sha256, so {path} cannot be checked; "
            "retrain with `narrative-tracker train --promote`"
        )
    actual = sha256_file(path)
    if actual != recorded:
        raise ModelError(f"model {version}: {path} is corrupt (its checksum does not match {METADATA_FILE})")
    if expected_sha256 and actual != expected_sha256:
        raise ModelError(
            f"model {version}: {path} is not the file that was registered (its SHA-256 differs from the "
            "one recorded in the database); restore it from a backup or retrain with `narrative-tracker train`"
        )
    try:
        data = upgrade_model_bytes(path.read_bytes())
        untrusted = skops.io.get_untrusted_types(data=data)
        unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if unexpected:
            raise ModelError(
                f"model {version}: {path} asks for types outside the trusted list: {', '.join(unexpected)}; "
                "retrain with `narrative-tracker train --promote`"
            )
        pipeline = skops.io.loads(data, trusted=TRUSTED_TYPES)
    except ModelError:
        raise
    except Exception as exc:  # skops raises many kinds on damaged or foreign files
        raise ModelError(f"model {version}: {path} cannot be loaded ({type(exc).__name__}: {exc})") from None
    if not hasattr(pipeline, "named_steps") or "classifier" not in pipeline.named_steps:
        raise ModelError(f"model {version}: {path} does not hold a narrative Pipeline")
    return LoadedModel(version=version, pipeline=pipeline, metadata=metadata)


class ModelCache:
    """Loaded models by (directory, version): versions never change once written, and a model
    already loaded keeps serving even if its file is damaged later."""

    def __init__(self) -> None:
        self._models: dict[tuple[Path, str], LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, models_dir: Path, version: str, *, expected_sha256: str | None = None) -> LoadedModel:
        key = (models_dir.resolve(), version)
        with self._lock:
            if key not in self._models:
                self._models[key] = load_model(models_dir, version, expected_sha256=expected_sha256)
                for other in [k for k in self._models if k[0] == key[0] and k != key][:-2]:
                    del self._models[other]  # keep a few recent versions only
            return self._models[key]


CACHE = ModelCache()


def load_registered(db: Database, models_dir: Path, version: str, *, cache: ModelCache | None = CACHE) -> LoadedModel:
    """Load a registered version, checking its file against the hash recorded in the database.

    A row registered before hashes were recorded (revision 0006) has none: its metadata.json's
    hash is checked and then recorded, so that later changes to the file are caught."""
    with db.session() as session:
        row = session.get(ModelVersion, version)
        expected = row.model_sha256 if row is not None else None
    if row is None:
        raise ModelNotFoundError(f"no model version {version!r}: see `narrative-tracker models list`")
    loaded = (
        cache.get(models_dir, version, expected_sha256=expected)
        if cache is not None
        else load_model(models_dir, version, expected_sha256=expected)
    )
    if not expected:
        with db.session() as session:
            stored = session.get(ModelVersion, version)
            if stored is not None and not stored.model_sha256:
                stored.model_sha256 = str(loaded.metadata["model_sha256"])
                log.warning("model %s: recorded the SHA-256 of its file, registered before hashes were kept", version)
    return loaded


# ---------------------------------------------------------------- database rows
def register(db: Database, version: str, metadata: dict[str, Any], *, model_file: Path | None = None) -> None:
    """Add a candidate row; ``model_file`` (the saved model.skops) has its SHA-256 recorded."""
    cv = metadata.get("cv") or {}
    sha256 = sha256_file(model_file) if model_file is not None else str(metadata.get("model_sha256") or "")
    with db.session() as session:
        session.add(
            ModelVersion(
                version=version,
                status="candidate",
                taxonomy_hash=metadata.get("taxonomy_hash", ""),
                data_hash=metadata.get("data_hash", ""),
                metrics={
                    "cv": {k: cv.get(k) for k in ("micro_f1", "macro_f1", "coarse", "stance_accuracy")} if cv else None,
                    "evaluation": metadata.get("evaluation"),
                },
                notes=metadata.get("notes", ""),
                model_sha256=sha256,
            )
        )


def get_version(session: Session, version: str) -> ModelVersion:
    row = session.get(ModelVersion, version)
    if row is None:
        raise ModelNotFoundError(f"no model version {version!r}: see `narrative-tracker models list`")
    return row


class VersionSummary(TypedDict):
    """A row of ``models list``."""

    version: str
    status: str
    created_at: datetime
    promoted_at: datetime | None
    taxonomy_hash: str  # its first 12 hex digits
    metrics: dict[str, Any]
    notes: str


def list_versions(db: Database) -> list[VersionSummary]:
    with db.session() as session:
        rows = session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc())).all()
        return [
            VersionSummary(
                version=row.version,
                status=row.status,
                created_at=row.created_at,
                promoted_at=row.promoted_at,
                taxonomy_hash=row.taxonomy_hash[:12],
                metrics=row.metrics,
                notes=row.notes,
            )
            for row in rows
        ]


def set_active(db: Database, version: str) -> str | None:
    """Make ``version`` the active model in one transaction; returns the one it replaces.

    The database holds at most one active row (a partial unique index): when two activations
    race, the loser's transaction fails on the index and is tried again, retiring the winner's.
    """
    for attempt in range(1, ACTIVATION_ATTEMPTS + 1):
        try:
            with db.session() as session:
                return _activate(session, version)
        except IntegrityError:
            if attempt == ACTIVATION_ATTEMPTS:
                raise ModelError(
                    f"model {version} could not be activated: another activation kept winning; try again"
                ) from None
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def _activate(session: Session, version: str) -> str | None:
    row = get_version(session, version)
    previous = session.scalars(select(ModelVersion).where(ModelVersion.status == ACTIVE)).all()
    for old in previous:
        if old.version != version:
            old.status = "retired"
    # The old row must be retired before the new one turns active: one flush orders its updates
    # by primary key, which could activate first and trip the one-active index.
    session.flush()
    row.status = ACTIVE
    row.promoted_at = utc_now()
    session.flush()
    return next((old.version for old in previous if old.version != version), None)


def rollback(db: Database) -> tuple[str, str]:
    """Re-activate the model that served before the active one; returns (from, to)."""
    with db.session() as session:
        current = session.scalars(select(ModelVersion).where(ModelVersion.status == ACTIVE)).first()
        if current is None:
            raise ModelError("no active model to roll back from: see `narrative-tracker models list`")
        earlier = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.version != current.version, ModelVersion.promoted_at.is_not(None))
            .order_by(ModelVersion.promoted_at.desc())
        ).first()
        if earlier is None:
            raise ModelError(f"model {current.version} is the only one ever promoted: nothing to roll back to")
        current.status = "retired"
        current.promoted_at = None  # a rolled-back version is not a rollback target again
        current.notes = (current.notes + " rolled back").strip()
        session.flush()  # retired before the earlier one turns active (the one-active index)
        earlier.status = ACTIVE
        earlier.promoted_at = utc_now()
        return current.version, earlier.version
