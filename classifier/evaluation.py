"""Metrics of predictions against labelled records, per narrative, per level and per language.

Fine level: the ids as labelled (sub-narratives, and coarse narratives without subs such as
``hidden-plots``). Coarse level: the part before ``/``. Micro-F1 pools every decision; macro-F1
averages F1 over the narratives present in the gold labels. Stance accuracy counts the gold
(record, narrative) pairs with a stance that the model flagged (at that id or its coarse
narrative) and compares the stance given there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from narrative_tracker.classifier.dataset import Record
from narrative_tracker.vocabulary import coarse_of


@dataclass
class Flag:
    id: str
    score: float
    stance: str
    evidence: list[str] = field(default_factory=list)
    terms: list[tuple[str, float]] = field(default_factory=list)


Prediction = list[Flag]


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1


def _level(gold: list[set[str]], predicted: list[set[str]]) -> tuple[dict[str, dict[str, float]], float, float]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    for g, p in zip(gold, predicted, strict=True):
        for narrative in g & p:
            counts[narrative][0] += 1
        for narrative in p - g:
            counts[narrative][1] += 1
        for narrative in g - p:
            counts[narrative][2] += 1
    table = {}
    for narrative, (tp, fp, fn) in sorted(counts.items()):
        precision, recall, f1 = _prf(tp, fp, fn)
        table[narrative] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    micro = _prf(tp, fp, fn)[2]
    supported = [row["f1"] for row in table.values() if row["support"] > 0]
    macro = sum(supported) / len(supported) if supported else 0.0
    return table, micro, macro


def _gold_sets(record: Record) -> tuple[set[str], set[str]]:
    fine = {n for n in record.positives if n != "*"}
    return fine, {coarse_of(n) for n in fine}


def _predicted_sets(prediction: Prediction, with_subs: set[str]) -> tuple[set[str], set[str]]:
    ids = {flag.id for flag in prediction}
    fine = {n for n in ids if "/" in n or n not in with_subs}
    return fine, {coarse_of(n) for n in ids}


def _stance_pairs(records: Sequence[Record], predictions: Sequence[Prediction]) -> tuple[int, int]:
    right = total = 0
    for record, prediction in zip(records, predictions, strict=True):
        flagged = {flag.id: flag.stance for flag in prediction}
        for narrative, stance in record.positives.items():
            if not stance or narrative == "*":
                continue
            given = flagged.get(narrative) or flagged.get(coarse_of(narrative))
            if given is None:
                continue
            total += 1
            right += given == stance
    return right, total


def _metrics(records: Sequence[Record], predictions: Sequence[Prediction], with_subs: set[str]) -> dict[str, Any]:
    gold = [_gold_sets(r) for r in records]
    predicted = [_predicted_sets(p, with_subs) for p in predictions]
    fine_table, fine_micro, fine_macro = _level([g[0] for g in gold], [p[0] for p in predicted])
    coarse_table, coarse_micro, coarse_macro = _level([g[1] for g in gold], [p[1] for p in predicted])
    right, total = _stance_pairs(records, predictions)
    return {
        "micro_f1": round(fine_micro, 4),
        "macro_f1": round(fine_macro, 4),
        "coarse": {"micro_f1": round(coarse_micro, 4), "macro_f1": round(coarse_macro, 4)},
        "per_narrative": {**coarse_table, **fine_table},
        "stance_accuracy": round(right / total, 4) if total else None,
        "stance_pairs": total,
        "records": len(records),
    }


def score_predictions(
    records: Sequence[Record], predictions: Sequence[Prediction], coarse_with_subs: set[str] | None = None
) -> dict[str, Any]:
    """The evaluation report: ``micro_f1``, ``macro_f1``, ``coarse``, ``per_narrative``,
    ``per_language`` and ``stance_accuracy`` (None when no flagged pair had a gold stance)."""
    if len(records) != len(predictions):
        raise ValueError(f"{len(records)} records but {len(predictions)} predictions")
    if coarse_with_subs is None:
        ids = {n for r in records for n in r.positives} | {f.id for p in predictions for f in p}
        coarse_with_subs = {coarse_of(n) for n in ids if "/" in n}
    report = _metrics(records, predictions, coarse_with_subs)
    by_language: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        by_language[record.lang].append(i)
    report["per_language"] = {}
    for lang, rows in sorted(by_language.items()):
        part = _metrics([records[i] for i in rows], [predictions[i] for i in rows], coarse_with_subs)
        del part["per_narrative"]
        report["per_language"][lang] = part
    return report
