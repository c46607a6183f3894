"""Fitting the narrative Pipeline on records, and grouped cross-validation."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline

from narrative_tracker.classifier.crosslingual import build_lexicon, load_entities
from narrative_tracker.classifier.dataset import Record, group_key, language_weights, targets
from narrative_tracker.classifier.evaluation import Prediction, score_predictions
from narrative_tracker.classifier.model import UNKNOWN, FitProgress, make_model

# Datasets with fewer distinct words than this keep every word; larger ones drop words seen once.
SMALL_DATASET = 2_000
# Lowest decision threshold of a model trained on a small dataset (the out-of-the-box model: taxonomy
# examples and neutral news). Measured on the demo world's ordinary news: 9.3% of articles flagged
# without it, 0.8% with it and the richer neutral examples, every intended narrative still flagged.
SMALL_DATASET_THRESHOLD_FLOOR = 0.25


@dataclass
class FitInputs:
    documents: list[str]
    Y: np.ndarray
    stance: np.ndarray
    weight: np.ndarray
    stance_weight: np.ndarray
    groups: np.ndarray


def fit_inputs(records: Sequence[Record], labels: list[str]) -> FitInputs:
    Y, S = targets(records, labels)
    own = np.array([r.weight for r in records])
    # Narratives: each language weighs the same, so that no language alone defines a narrative.
    # Stance: cues are the same words whatever the topic; records keep their own weight.
    # Languages are counted over the records that teach a narrative: a stance cue (every narrative
    # unknown) teaches none, and counting it would shift every language's weight with each cue added.
    targeted = (Y != UNKNOWN).any(axis=1)
    weight = own.astype(np.float64)
    weight[targeted] *= language_weights(r.lang for r, t in zip(records, targeted, strict=True) if t)
    groups = np.array([group_key(r) for r in records])
    return FitInputs([r.document for r in records], Y, S, weight, own, groups)


def translation_groups(records: Sequence[Record]) -> list[dict[str, str]]:
    """The taxonomy's translated sentences among ``records``: language -> text, per example (the
    n-th example of a narrative and stance, or the n-th neutral sentence, in each language).
    Stance cues are not translations of each other, and are left out."""
    groups: dict[str, dict[str, str]] = {}
    for record in records:
        group = record.group
        if group.startswith("taxonomy:") and not group.startswith("taxonomy:stance:") and record.lang:
            groups.setdefault(group, {})[record.lang] = record.text
    return [group for group in groups.values() if len(group) > 1]


def fit_model(
    records: Sequence[Record],
    labels: list[str],
    *,
    random_state: int = 0,
    fit_progress: FitProgress | None = None,
    crosslingual: bool = True,
    **params: Any,
) -> Pipeline:
    """A fitted narrative Pipeline for ``labels`` (``fit_progress``: see ``FitProgress``); with
    ``crosslingual``, concepts shared by English, French and Russian are features too, their
    lexicon aligned on the translated taxonomy examples among ``records``."""
    if not records:
        raise ValueError("no training records")
    inputs = fit_inputs(records, labels)
    small = len(records) < SMALL_DATASET
    min_df = 1 if small else 2
    if small:
        params.setdefault("threshold_floor", SMALL_DATASET_THRESHOLD_FLOOR)
        # Out-of-fold flags on a few hand-written examples are nearly all right: a curve fitted on
        # them would show every flag on real news as almost certain.
        params.setdefault("calibrate", False)
    lexicon = build_lexicon(translation_groups(records), load_entities()) if crosslingual else None
    model = make_model(labels, word_min_df=min_df, random_state=random_state, lexicon=lexicon, **params)
    model.fit(
        inputs.documents,
        inputs.Y,
        classifier__sample_weight=inputs.weight,
        classifier__groups=inputs.groups,
        classifier__stance=inputs.stance,
        classifier__stance_weight=inputs.stance_weight,
        classifier__languages=[r.lang for r in records],
        classifier__progress=fit_progress,
    )
    return model


def cross_validate(
    gold: Sequence[Record],
    always: Sequence[Record],
    labels: list[str],
    *,
    folds: int = 5,
    random_state: int = 0,
    predict: Callable[[Pipeline, Sequence[Record]], list[Prediction]],
    progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Grouped k-fold cross-validation on ``gold``; ``always`` (examples, weak labels) trains every fold.

    Records of one group (the two records of a case, near-identical texts) never straddle folds.
    Returns the evaluation metrics over all out-of-fold predictions, plus timing.
    """
    groups = np.array([group_key(r) for r in gold])
    n_folds = min(folds, len(set(groups)))
    if n_folds < 2:
        raise ValueError("cross-validation needs at least two groups of labelled records")
    predictions: list[Prediction | None] = [None] * len(gold)
    started = time.perf_counter()
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for k, (train, test) in enumerate(splitter.split(np.zeros(len(gold)), groups=groups)):
        model = fit_model([gold[i] for i in train] + list(always), labels, random_state=random_state, **params)
        for i, prediction in zip(test, predict(model, [gold[i] for i in test]), strict=True):
            predictions[i] = prediction
        if progress:
            progress(k + 1, n_folds)
    metrics = score_predictions(gold, [p for p in predictions if p is not None])
    metrics["folds"] = n_folds
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return metrics
