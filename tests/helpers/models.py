"""The classifier tests' model: one out-of-the-box model per test session.

Training from the taxonomy examples takes a few seconds, so the model is fitted once (cached in
this module, which is imported under the one name ``helpers.models``) and reused; tests that
need a registry install it instead of training again.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from narrative_tracker.classifier.dataset import example_records, label_ids, stance_cue_records
from narrative_tracker.classifier.registry import MODEL_FILE, register, save_model, set_active
from narrative_tracker.classifier.taxonomy import load_taxonomy
from narrative_tracker.classifier.training import fit_model
from narrative_tracker.storage.database import Database


@lru_cache(maxsize=1)
def ootb_pipeline() -> Any:
    taxonomy = load_taxonomy()
    return fit_model(example_records(taxonomy) + stance_cue_records(taxonomy), label_ids(taxonomy))


def install_model(
    models_dir: Path, db: Database, version: str = "m-test", *, pipeline: Any = None, active: bool = True
) -> str:
    """Save a fitted pipeline as ``version`` in the registry (active by default)."""
    taxonomy = load_taxonomy()
    metadata = {"taxonomy_hash": taxonomy.sha256, "labels": label_ids(taxonomy), "names": {}, "cv": None}
    folder = save_model(models_dir, version, pipeline if pipeline is not None else ootb_pipeline(), metadata)
    register(db, version, metadata, model_file=folder / MODEL_FILE)
    if active:
        set_active(db, version)
    return version
