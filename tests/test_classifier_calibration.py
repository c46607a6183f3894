"""Calibrated scores: each label's flags are mapped to the share of such flags that were right."""

from __future__ import annotations

import numpy as np

from narrative_tracker.classifier.model import NarrativeClassifier, _logit, _sigmoid

LABELS = ["a", "a/x", "b", "b/y", "c"]
# Share of out-of-fold flags that are right, whatever the score: "a/x" and "a" are poor labels.
RIGHT = {"a": 0.25, "a/x": 0.25, "b": 0.95, "b/y": 0.95, "c": 0.6}
THRESHOLD = 0.3


def _out_of_fold(rng: np.random.Generator, n: int = 1200) -> tuple[np.ndarray, np.ndarray]:
    """Scores above the threshold (all flagged) and targets right at each label's rate."""
    scores = rng.uniform(THRESHOLD, 0.95, size=(n, len(LABELS)))
    Y = np.column_stack([(rng.random(n) < RIGHT[label]).astype(np.int64) for label in LABELS])
    return scores, Y


def _fitted(calibration: dict[str, np.ndarray] | None = None) -> NarrativeClassifier:
    classifier = NarrativeClassifier(labels=LABELS, threshold_folds=3)
    classifier.classes_ = np.array(LABELS)
    classifier.thresholds_ = np.full(len(LABELS), THRESHOLD)
    classifier.trained_ = np.array([True, True, True, True, False])
    if calibration is None:
        scores, Y = _out_of_fold(np.random.default_rng(0))
        calibration = classifier._fit_calibration(scores, Y, classifier.thresholds_)
    classifier.calibration_ = calibration
    return classifier


def test_each_label_is_calibrated_to_its_own_share_of_right_flags() -> None:
    classifier = _fitted()
    shown = classifier.calibrated(np.full((1, len(LABELS)), 0.6))[0]
    by_label = dict(zip(LABELS, shown, strict=True))
    # One curve per level would show both labels of a level alike (about 0.6 here).
    assert abs(by_label["a/x"] - RIGHT["a/x"]) < 0.1
    assert abs(by_label["b/y"] - RIGHT["b/y"]) < 0.1
    assert abs(by_label["a"] - RIGHT["a"]) < 0.1
    assert abs(by_label["b"] - RIGHT["b"]) < 0.1
    # A label without a classifier keeps its raw score.
    assert by_label["c"] == 0.6


def test_calibrated_scores_rise_with_the_raw_score_of_a_label() -> None:
    classifier = _fitted()
    raw = np.linspace(0.05, 0.99, 30)
    shown = classifier.calibrated(np.tile(raw.reshape(-1, 1), (1, len(LABELS))))
    for j in range(4):
        assert np.all(np.diff(shown[:, j]) >= -1e-12), LABELS[j]


def test_a_model_saved_with_one_curve_per_level_still_maps_its_scores() -> None:
    curves = {"fine": np.array([1.2, -0.4]), "coarse": np.array([0.8, 0.1])}
    classifier = _fitted(curves)
    scores = np.full((1, len(LABELS)), 0.6)
    shown = classifier.calibrated(scores)[0]
    margin = float(_logit(np.array(0.6)) - _logit(np.array(THRESHOLD)))
    assert abs(shown[1] - _sigmoid(np.array(1.2 * margin - 0.4))) < 1e-9
    assert abs(shown[0] - _sigmoid(np.array(0.8 * margin + 0.1))) < 1e-9
    assert shown[4] == 0.6


def test_too_few_flags_leave_scores_uncalibrated() -> None:
    classifier = NarrativeClassifier(labels=LABELS)
    classifier.classes_ = np.array(LABELS)
    scores, Y = _out_of_fold(np.random.default_rng(1), n=10)
    assert classifier._fit_calibration(scores, Y, np.full(len(LABELS), THRESHOLD)) == {}
