"""Reliability of the shown scores in grouped cross-validation, with the fold models kept on disk.

    python bench/calibration.py [--dataset PATH] [--folds 5] [--cache DIR] [--refit]

Fits the product model in grouped folds of ``cases-dev.jsonl`` (the same folds as
``classifier.report``: ``GroupKFold(shuffle=True, random_state=0)``, the taxonomy's examples and
stance cues in every training fold), once: each fold's Pipeline is saved in ``--cache`` (skops, as
the registry saves models) with the inputs its calibration was fitted on (the out-of-fold scores of
threshold tuning, the targets and the thresholds). Every later run refits only the calibration, with
the current ``NarrativeClassifier._fit_calibration``, and scores the held-out folds: a change to the
calibration is measured in seconds instead of the hour the report takes.

Prints the reliability table and Brier score per level (``classifier.evaluation.reliability``),
the coarse macro-F1 (calibration must not change the flags) and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from narrative_tracker.classifier.dataset import example_records, group_key, label_ids, stance_cue_records
from narrative_tracker.classifier.evaluation import Prediction, reliability, score_predictions
from narrative_tracker.classifier.model import NarrativeClassifier
from narrative_tracker.classifier.records import read_records
from narrative_tracker.classifier.registry import load_model, save_model
from narrative_tracker.classifier.service import predict_records
from narrative_tracker.classifier.taxonomy import load_taxonomy
from narrative_tracker.classifier.training import fit_model

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "euvsdisinfo" / "cases-dev.jsonl"
# Inside the checkout (build/ is ignored by git). The fold models are saved and loaded as the product
# saves its models (skops, trusted types only); the calibration inputs as plain arrays (no pickles).
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / "build" / "calibration-cache"


def fit_fold(records: list[Any], labels: list[str]) -> tuple[Any, tuple[np.ndarray, ...]]:
    """A fitted Pipeline and the arguments its ``_fit_calibration`` was called with."""
    captured: list[tuple[np.ndarray, ...]] = []
    original = NarrativeClassifier._fit_calibration

    def capture(self: NarrativeClassifier, *args: Any) -> Any:
        captured.append(tuple(np.array(a, copy=True) for a in args))
        return original(self, *args)

    NarrativeClassifier._fit_calibration = capture  # type: ignore[method-assign]
    try:
        model = fit_model(records, labels)
    finally:
        NarrativeClassifier._fit_calibration = original  # type: ignore[method-assign]
    if not captured:
        raise SystemExit("the model fitted no calibration (fewer than 2,000 training records?)")
    return model, captured[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="folder of the fitted fold models")
    parser.add_argument("--refit", action="store_true", help="fit the fold models again")
    args = parser.parse_args()
    if not args.dataset.exists():
        parser.error(f"{args.dataset} is absent: pass --dataset with the path of cases-dev.jsonl")
    taxonomy = load_taxonomy()
    labels = label_ids(taxonomy)
    gold = read_records(args.dataset, taxonomy)
    always = example_records(taxonomy) + stance_cue_records(taxonomy)
    groups = np.array([group_key(r) for r in gold])
    args.cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    predictions: list[Prediction | None] = [None] * len(gold)
    started, cpu_started = time.perf_counter(), time.process_time()
    splitter = GroupKFold(n_splits=args.folds, shuffle=True, random_state=0)
    for k, (train, test) in enumerate(splitter.split(np.zeros(len(gold)), groups=groups)):
        version = f"{args.dataset.stem}-fold{k}-of{args.folds}"
        arrays = args.cache / f"{version}.npz"
        if args.refit or not arrays.exists():
            print(f"fitting fold {k + 1} of {args.folds}...", file=sys.stderr)
            fitted, fitted_inputs = fit_fold([gold[i] for i in train] + always, labels)
            shutil.rmtree(args.cache / version, ignore_errors=True)
            save_model(args.cache, version, fitted, {"bench": "calibration"})
            np.savez(arrays, *fitted_inputs)
        model = load_model(args.cache, version).pipeline
        with np.load(arrays) as saved:  # allow_pickle stays False: arrays only
            inputs = tuple(saved[f"arr_{i}"] for i in range(len(saved.files)))
        classifier = model.named_steps["classifier"]
        classifier.calibration_ = classifier._fit_calibration(*inputs)
        for i, prediction in zip(test, predict_records(model, [gold[i] for i in test]), strict=True):
            predictions[i] = prediction
    done = [p for p in predictions if p is not None]
    table = reliability(gold, done)
    for level, result in table.items():
        for row in result["bins"]:
            print(
                f"{level:6} {row['range']}  flags {row['flags']:5}  mean score {row['mean_score']:.3f}"
                f"  right {row['right']:.3f}"
            )
        print(f"{level:6} Brier {result['brier']:.4f} over {result['flags']} flags")
    metrics = score_predictions(gold, done)
    print(
        json.dumps(
            {
                "dataset": args.dataset.name,
                "folds": args.folds,
                "coarse_macro_f1": metrics["coarse"]["macro_f1"],
                "brier": {level: round(result["brier"], 4) for level, result in table.items()},
                "reliability": {
                    level: [
                        [row["range"], row["flags"], round(row["mean_score"], 3), round(row["right"], 3)]
                        for row in result["bins"]
                    ]
                    for level, result in table.items()
                },
                "seconds": round(time.perf_counter() - started, 1),
                "cpu_seconds": round(time.process_time() - cpu_started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
