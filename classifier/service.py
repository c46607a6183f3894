"""What the commands and jobs do with models: train, make sure one serves, evaluate, promote.

The CLI (``narrative_tracker/cli/classify.py``) and the jobs (``jobs/classify.py``,
``jobs/retrain.py``) call these functions, so that both paths behave the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from narrative_tracker.classifier.dataset import Record, example_records, group_key, label_ids, stance_cue_records
from narrative_tracker.classifier.evaluation import Prediction, score_predictions
from narrative_tracker.classifier.labels import gold_records, labelled_article_ids, pattern_records
from narrative_tracker.classifier.registry import (
    CACHE,
    MODEL_FILE,
    LoadedModel,
    load_registered,
    new_version_name,
    read_metadata,
    register,
    save_model,
    set_active,
)
from narrative_tracker.classifier.taxonomy import Taxonomy, load_taxonomy
from narrative_tracker.errors import ModelError, ModelNotFoundError, UsageError
from narrative_tracker.storage.database import Database

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from narrative_tracker.classifier.model import FitProgress
    from narrative_tracker.settings import Settings

Notify = Callable[[str], None]
PREDICT_BATCH = 500
# The fixed evaluation set: one group of gold records in HOLDOUT_EVERY, chosen by a hash of the
# group so that a record never moves in or out as data grows. Held out of training.
HOLDOUT_EVERY = 10
MIN_GROUPS_FOR_HOLDOUT = 50
# Promotion compares this figure on the fixed evaluation set.
PROMOTION_METRIC = ("coarse", "macro_f1")


def _quiet(_message: str) -> None:
    pass


@contextlib.contextmanager
def _explaining_missing_files(settings: Settings) -> Iterator[None]:
    """A version's folder missing from the models directory: say where it was looked for and which
    setting chose that place (the database names the version; the data directory holds its files)."""
    try:
        yield
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(
            f"{exc}; models are looked for in {settings.models_dir}, in the data directory decided by "
            f"{settings.home_origin or 'the settings'}: if the model was trained with other settings, point "
            "[storage] data_dir at the data directory it was trained in, or train one here with "
            "`narrative-tracker train --promote`"
        ) from None


def load_version(settings: Settings, db: Database, version: str, *, cached: bool = True) -> LoadedModel:
    """Model ``version`` from the configured models directory, checked against the hash recorded
    in the database (ModelError says what is wrong, and where the files were looked for)."""
    with _explaining_missing_files(settings):
        return load_registered(db, settings.models_dir, version, cache=CACHE if cached else None)


def version_metadata(settings: Settings, version: str) -> dict[str, Any]:
    """The metadata file of ``version`` in the configured models directory."""
    with _explaining_missing_files(settings):
        return read_metadata(settings.models_dir, version)


def is_holdout(record: Record) -> bool:
    return int(hashlib.sha256(group_key(record).encode()).hexdigest(), 16) % HOLDOUT_EVERY == 0


@dataclass
class TrainingData:
    taxonomy: Taxonomy
    gold: list[Record]
    holdout: list[Record]
    examples: list[Record]
    weak: list[Record]

    @property
    def training(self) -> list[Record]:
        return [*self.gold, *self.examples, *self.weak]

    def data_hash(self) -> str:
        digest = hashlib.sha256()
        for record in self.training:
            digest.update(
                repr(
                    (
                        record.id,
                        record.document,
                        sorted(record.positives.items()),
                        sorted(record.negatives),
                        record.complete,
                        record.weight,
                    )
                ).encode()
            )
        return digest.hexdigest()

    def counts(self) -> dict[str, Any]:
        per_narrative: dict[str, dict[str, int]] = {}
        for record in self.training:
            for narrative in record.positives:
                if narrative != "*":
                    per_narrative.setdefault(narrative, {"positive": 0})["positive"] += 1
        return {
            "records": len(self.training),
            "gold": len(self.gold),
            "holdout": len(self.holdout),
            "examples": len(self.examples),
            "weak": len(self.weak),
            "per_language": dict(sorted(Counter(r.lang for r in self.training).items())),
            "per_narrative": dict(sorted(per_narrative.items())),
        }


def split_holdout(gold: list[Record]) -> tuple[list[Record], list[Record]]:
    if len({group_key(r) for r in gold}) < MIN_GROUPS_FOR_HOLDOUT:
        return gold, []
    return [r for r in gold if not is_holdout(r)], [r for r in gold if is_holdout(r)]


def collect_training_data(db: Database, taxonomy: Taxonomy, *, weak: bool = True) -> TrainingData:
    train, holdout = split_holdout(gold_records(db, taxonomy))
    weak_records = pattern_records(db, taxonomy, exclude_articles=labelled_article_ids(db)) if weak else []
    examples = example_records(taxonomy) + stance_cue_records(taxonomy)
    return TrainingData(taxonomy, train, holdout, examples, weak_records)


def predict_records(model: LoadedModel | Pipeline, records: Sequence[Record]) -> list[Prediction]:
    from narrative_tracker.classifier.inference import analyse

    pipeline = model.pipeline if isinstance(model, LoadedModel) else model
    out: list[Prediction] = []
    for start in range(0, len(records), PREDICT_BATCH):
        batch = records[start : start + PREDICT_BATCH]
        out += analyse(pipeline, [r.document for r in batch], languages=[r.lang for r in batch])
    return out


def _metric(metrics: dict[str, Any]) -> float:
    section, key = PROMOTION_METRIC
    return float(metrics[section][key])


def train(
    settings: Settings,
    db: Database,
    *,
    cv_folds: int = 5,
    notes: str = "",
    notify: Notify = _quiet,
    progress: Callable[[int, int], None] | None = None,
    fit_progress: FitProgress | None = None,
) -> dict[str, Any]:
    """Fit a model on everything labelled (taxonomy examples, stored labels, weak pattern labels),
    cross-validate it on the gold labels, save it as a candidate; returns what was measured.

    ``progress`` is told (folds done, folds) during cross-validation; ``fit_progress`` how far each
    fit is (see ``FitProgress``), in the folds and the final fit."""
    from narrative_tracker.classifier.training import cross_validate, fit_model

    started = time.perf_counter()
    taxonomy = load_taxonomy(settings.taxonomy_file)
    data = collect_training_data(db, taxonomy)
    labels = label_ids(taxonomy)
    cv = None
    if cv_folds >= 2 and len({group_key(r) for r in data.gold}) >= max(10, cv_folds):
        notify(f"cross-validating on {len(data.gold)} labelled records ({cv_folds} grouped folds)...")
        cv = cross_validate(
            data.gold,
            [*data.examples, *data.weak],
            labels,
            folds=cv_folds,
            predict=predict_records,
            progress=progress,
            fit_progress=fit_progress,
        )
    notify(f"training on {len(data.training)} records...")
    pipeline = fit_model(data.training, labels, fit_progress=fit_progress)
    evaluation = score_predictions(data.holdout, predict_records(pipeline, data.holdout)) if data.holdout else None
    version = new_version_name()
    metadata = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "taxonomy_file": str(taxonomy.path),
        "taxonomy_hash": taxonomy.sha256,
        "data_hash": data.data_hash(),
        "counts": data.counts(),
        "labels": labels,
        "names": {n: taxonomy.name_of(n) for n in labels},
        "cv": cv,
        "evaluation": evaluation,
        # What the model learnt per language (records, positives per narrative, narratives it abstains
        # on below a raised threshold): `models show` prints it.
        "languages": pipeline.named_steps["classifier"].language_evidence(),
        "train_seconds": round(time.perf_counter() - started, 1),
        "notes": notes,
    }
    folder = save_model(settings.models_dir, version, pipeline, metadata)
    register(db, version, metadata, model_file=folder / MODEL_FILE)
    return {
        "version": version,
        "cv": cv,
        "evaluation": evaluation,
        "counts": metadata["counts"],
        "seconds": metadata["train_seconds"],
    }


def fixed_evaluation_set(db: Database, taxonomy: Taxonomy) -> list[Record]:
    return split_holdout(gold_records(db, taxonomy))[1]


def promote(settings: Settings, db: Database, version: str, *, force: bool = False) -> dict[str, Any]:
    """Make ``version`` the active model, unless it scores worse than the active one on the fixed
    evaluation set (``force`` skips the comparison). A model that cannot load is never promoted."""
    from narrative_tracker.storage.queries import active_model_version

    candidate = load_version(settings, db, version, cached=False)  # ModelError here leaves the active model alone
    with db.session() as session:
        current = active_model_version(session)
    result: dict[str, Any] = {"version": version, "previous": current, "compared": None}
    if current == version:
        result["unchanged"] = True
        return result
    if current and not force:
        holdout = fixed_evaluation_set(db, load_taxonomy(settings.taxonomy_file))
        if holdout:
            try:
                serving: LoadedModel | None = load_version(settings, db, current)
            except ModelError:
                serving = None  # the active model cannot load: anything loadable is better
            if serving is not None:
                new = _metric(score_predictions(holdout, predict_records(candidate, holdout)))
                old = _metric(score_predictions(holdout, predict_records(serving, holdout)))
                result["compared"] = {
                    "records": len(holdout),
                    "candidate": new,
                    "active": old,
                    "metric": ".".join(PROMOTION_METRIC),
                }
                if new + 1e-9 < old:
                    raise ModelError(
                        f"candidate {version} scores worse than the active model {current} on the fixed "
                        f"evaluation set ({len(holdout)} records, coarse macro-F1 {new:.3f} < {old:.3f}); "
                        "not promoted (use --force to promote anyway)"
                    )
    set_active(db, version)
    return result


def ensure_model(
    settings: Settings, db: Database, *, notify: Notify = _quiet, version: str | None = None
) -> LoadedModel:
    """The model to use: ``version``, else the active one; with none at all, train one from the
    taxonomy examples (and any stored labels), make it active and say so."""
    from narrative_tracker.storage.queries import active_model_version

    if version:
        return load_version(settings, db, version)
    with db.session() as session:
        current = active_model_version(session)
    if current is None:
        notify("No trained model yet: training one from the taxonomy examples (out of the box)...")
        trained = train(settings, db, cv_folds=0, notes="out of the box: taxonomy examples")
        set_active(db, trained["version"])
        notify(f"Model {trained['version']} trained in {trained['seconds']} s and made active.")
        current = trained["version"]
    return load_version(settings, db, current)


def evaluate_file(
    settings: Settings, db: Database, path: Path, *, version: str | None = None, notify: Notify = _quiet
) -> tuple[dict[str, Any], list[Record], list[Prediction], str]:
    from narrative_tracker.classifier.records import read_records

    taxonomy = load_taxonomy(settings.taxonomy_file)
    records = read_records(path, taxonomy)
    if not records:
        raise UsageError(f"{path} holds no records to evaluate")
    model = ensure_model(settings, db, notify=notify, version=version)
    predictions = predict_records(model, records)
    with_subs = {n.split("/")[0] for n in model.labels if "/" in n}
    return score_predictions(records, predictions, with_subs), records, predictions, model.version
