"""The labelling queue's turns, and the report's reliability table and stance confusion."""

from __future__ import annotations

import numpy as np

from narrative_tracker.classifier.dataset import Record
from narrative_tracker.classifier.evaluation import Flag, reliability, stance_confusion
from narrative_tracker.classifier.queue import record_value, take_turns


def test_the_queue_takes_turns_across_buckets_most_uncertain_first() -> None:
    items = [(0.9, "a"), (0.95, "a"), (0.5, "b"), (0.8, "a"), (0.7, "c")]
    assert take_turns(items, 4) == [1, 4, 2, 0]
    assert take_turns(items, 10) == [1, 4, 2, 0, 3]
    assert take_turns([], 3) == []


def _record(positives: dict[str, str]) -> Record:
    return Record(id="r", text="t", positives=positives)


def test_reliability_bins_flags_by_score_with_the_share_right_and_a_brier_score() -> None:
    records = [_record({"a/x": "promotes"}), _record({}), _record({"b": "refutes"})]
    predictions = [
        [Flag("a", 0.9, "promotes"), Flag("a/x", 0.85, "promotes")],
        [Flag("a", 0.3, "promotes"), Flag("a/y", 0.3, "promotes")],
        [Flag("b", 0.1, "refutes")],
    ]
    table = reliability(records, predictions)
    assert table["coarse"]["flags"] == 3
    assert [(b["range"], b["flags"], b["right"]) for b in table["coarse"]["bins"]] == [
        ("0.0-0.2", 1, 1.0),
        ("0.2-0.4", 1, 0.0),
        ("0.8-1.0", 1, 1.0),
    ]
    assert abs(table["coarse"]["brier"] - ((0.1**2) + (0.3**2) + (0.9**2)) / 3) < 1e-9
    # Fine level: sub-narratives and coarse narratives without a flagged sub ("b").
    assert table["fine"]["flags"] == 3


def test_stance_confusion_counts_gold_against_predicted_stances() -> None:
    records = [_record({"a/x": "reports"}), _record({"b": "refutes"}), _record({"c": "promotes"})]
    predictions = [[Flag("a", 0.9, "promotes")], [Flag("b", 0.5, "refutes")], []]
    assert stance_confusion(records, predictions) == {"reports": {"promotes": 1}, "refutes": {"refutes": 1}}


def test_the_queue_values_a_record_near_several_thresholds_above_one_near_a_single_one() -> None:
    # Per label: 1 at the threshold, 0 at certainty, -1 without a classifier (counts nothing).
    uncertainty = np.array([[0.9, 0.0, -1.0], [0.6, 0.5, -1.0], [0.0, 0.0, -1.0]])
    assert record_value(uncertainty).tolist() == [0.9, 1.1, 0.0]
