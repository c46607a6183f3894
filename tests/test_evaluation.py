"""Metrics on a small fixture whose every figure is worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from narrative_tracker.classifier.dataset import Record, group_key, language_weights, targets
from narrative_tracker.classifier.evaluation import Flag, score_predictions

RECORDS = [
    Record(id="r1", lang="en", text="t1", positives={"a/x": "promotes"}),
    Record(id="r2", lang="fr", text="t2", positives={"b": "refutes"}),
    Record(id="r3", lang="fr", text="t3", positives={"a/y": "refutes"}),
    Record(id="r4", lang="en", text="t4"),
]
PREDICTIONS = [
    [Flag("a/x", 0.9, "promotes"), Flag("a", 0.9, "promotes")],
    [Flag("b", 0.8, "promotes")],
    [Flag("a/x", 0.7, "refutes"), Flag("a", 0.7, "refutes")],
    [Flag("b", 0.6, "promotes")],
]


def test_exact_metrics_on_a_small_fixture():
    report = score_predictions(RECORDS, PREDICTIONS, coarse_with_subs={"a"})
    # fine: a/x tp 1 fp 1; b tp 1 fp 1; a/y fn 1
    assert report["micro_f1"] == pytest.approx(4 / 7, abs=1e-4)
    assert report["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3, abs=1e-4)
    # coarse: a tp 2; b tp 1 fp 1
    assert report["coarse"] == {"micro_f1": pytest.approx(6 / 7, abs=1e-4), "macro_f1": pytest.approx(5 / 6, abs=1e-4)}
    assert report["per_narrative"]["a/x"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}
    assert report["per_narrative"]["a/y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_narrative"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    # stance: r1 right; r2 wrong; r3 judged at the coarse level, right
    assert report["stance_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    en, fr = report["per_language"]["en"], report["per_language"]["fr"]
    assert (en["micro_f1"], en["macro_f1"], en["stance_accuracy"]) == (0.6667, 1.0, 1.0)
    assert (fr["micro_f1"], fr["macro_f1"], fr["stance_accuracy"]) == (0.5, 0.5, 0.5)
    assert fr["coarse"] == {"micro_f1": 1.0, "macro_f1": 1.0}


def test_no_flagged_stance_pair_means_no_stance_accuracy():
    report = score_predictions(RECORDS[:1], [[]])
    assert report["stance_accuracy"] is None
    assert report["micro_f1"] == 0.0


def test_missing_narratives_are_unknown_unless_the_record_is_complete():
    labels = ["a", "a/x", "a/y", "b"]
    records = [
        Record(id="complete", text="x", positives={"a/x": "promotes"}),
        Record(id="partial", text="x", positives={"a/x": "refutes"}, complete=False),
        Record(id="negative-coarse", text="x", negatives={"a"}, complete=False),
    ]
    Y, S = targets(records, labels)
    assert Y.tolist() == [[1, 1, 0, 0], [1, 1, -1, -1], [0, 0, 0, -1]]
    assert S[1].tolist() == ["refutes", "refutes", "", ""]


def test_the_two_records_of_a_case_share_a_group():
    summary = Record(id="1-summary", title="The West started the war", text="Claim.")
    disproof = Record(id="1-disproof", title="The West started the war", text="No evidence.")
    assert group_key(summary) == group_key(disproof)
    assert group_key(Record(id="x", text="Other text")) != group_key(summary)


def test_every_language_weighs_the_same_up_to_a_cap():
    weights = language_weights(["en"] * 8 + ["fr"] * 2)
    assert weights[:8].sum() == pytest.approx(weights[8:].sum())
    capped = language_weights(["en"] * 1000 + ["ru"])
    assert capped[-1] == 8.0 and np.isclose(capped[0], 1001 / 2 / 1000)
