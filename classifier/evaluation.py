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
from itertools import pairwise
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


RELIABILITY_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0 + 1e-9)


def reliability(records: Sequence[Record], predictions: Sequence[Prediction]) -> dict[str, dict[str, Any]]:
    """Per level: flags binned by score with the share of them that were right, and the Brier
    score of the flags (mean squared gap between a flag's score and 1 if right, else 0).

    Fine level: flags of sub-narratives and of coarse narratives without subs, right when the id is
    in the gold labels; coarse level: every flag read as its coarse narrative.
    """
    out: dict[str, dict[str, Any]] = {}
    pairs: dict[str, list[tuple[float, bool]]] = {"fine": [], "coarse": []}
    for record, prediction in zip(records, predictions, strict=True):
        fine, coarse = _gold_sets(record)
        best_coarse: dict[str, float] = {}
        for flag in prediction:
            if "/" in flag.id or not any(f.id.startswith(flag.id + "/") for f in prediction):
                pairs["fine"].append((flag.score, flag.id in fine))
            key = coarse_of(flag.id)
            best_coarse[key] = max(best_coarse.get(key, 0.0), flag.score)
        pairs["coarse"] += [(score, key in coarse) for key, score in best_coarse.items()]
    for level, items in pairs.items():
        bins = []
        for low, high in pairwise(RELIABILITY_BINS):
            inside = [(s, r) for s, r in items if low <= s < high]
            if inside:
                bins.append(
                    {
                        "range": f"{low:.1f}-{min(high, 1.0):.1f}",
                        "flags": len(inside),
                        "mean_score": sum(s for s, _ in inside) / len(inside),
                        "right": sum(r for _, r in inside) / len(inside),
                    }
                )
        brier = sum((s - r) ** 2 for s, r in items) / len(items) if items else None
        out[level] = {"flags": len(items), "brier": brier, "bins": bins}
    return out


def stance_confusion(records: Sequence[Record], predictions: Sequence[Prediction]) -> dict[str, dict[str, int]]:
    """gold stance -> predicted stance -> count, over the pairs ``stance_accuracy`` judges."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record, prediction in zip(records, predictions, strict=True):
        flagged = {flag.id: flag.stance for flag in prediction}
        for narrative, stance in record.positives.items():
            if not stance or narrative == "*":
                continue
            given = flagged.get(narrative) or flagged.get(coarse_of(narrative))
            if given is not None:
                table[stance][given] += 1
    return {gold: dict(row) for gold, row in table.items()}
