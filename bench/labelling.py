"""Benchmark of the labelling loop: the labelling queue's picks against random picks.

    python bench/labelling.py [--quick] [--rounds 5] [--batch 100] [--random-draws 3] [--dataset PATH]

Simulates an analyst on ``cases-dev.jsonl`` (the gold labels are the oracle). A grouped part of
the file (a third of its groups; the two records of a case stay together) is held out for scoring;
the rest is the unlabelled pool. Both arms start from the out-of-the-box model (taxonomy examples
and stance cues). Each round, an arm picks ``--batch`` pool records, "labels" them with their
gold labels, retrains, and is scored on the held-out part (coarse macro-F1):

- queue: the records the current model is least sure about, by the labelling queue's own
  choice (``classifier.queue``: per label the score's distance to its threshold, summed over the
  labels; the most valuable record of each narrative, its most uncertain label, in turn), one per
  group;
- random: records drawn at random from the pool; its curve is the mean over ``--random-draws``
  independent draws (each draw's curve is printed too): what random picking gives on average,
  not one lucky or unlucky draw.

The last line is one JSON object with both curves and ``ratio``: the queue's mean coarse macro-F1
over the rounds divided by random's (> 1: the queue is worth the analyst's time). CPU seconds
count the fits' worker processes too.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
from joblib.externals.loky import get_reusable_executor  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from narrative_tracker.classifier.dataset import Record, example_records, group_key, label_ids, stance_cue_records
from narrative_tracker.classifier.evaluation import score_predictions
from narrative_tracker.classifier.queue import label_uncertainty, record_value, take_turns
from narrative_tracker.classifier.records import read_records
from narrative_tracker.classifier.service import predict_records
from narrative_tracker.classifier.taxonomy import load_taxonomy
from narrative_tracker.classifier.training import fit_model

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "euvsdisinfo" / "cases-dev.jsonl"


def split(records: list[Record], seed: int) -> tuple[list[Record], list[Record]]:
    """(pool, held out): a third of the groups held out."""
    groups = sorted({group_key(r) for r in records})
    random.Random(seed).shuffle(groups)
    held = set(groups[: len(groups) // 3])
    return [r for r in records if group_key(r) not in held], [r for r in records if group_key(r) in held]


def queue_picks(model: object, pool: list[Record], k: int) -> list[int]:
    """Indices of the ``k`` most uncertain pool records, one per group."""
    classifier = model.named_steps["classifier"]  # type: ignore[attr-defined]
    features = model[:-1].transform([r.document for r in pool])  # type: ignore[index]
    uncertainty = label_uncertainty(classifier, classifier.raw_scores(features))
    best = uncertainty.argmax(axis=1)
    value = record_value(uncertainty)
    # As the queue does (one outlet and language here): turns across the narratives asked about.
    order = take_turns([(float(value[i]), int(best[i])) for i in range(len(pool))], len(pool))
    picks: list[int] = []
    seen: set[str] = set()
    for i in order:
        if group_key(pool[i]) in seen:
            continue
        seen.add(group_key(pool[i]))
        picks.append(i)
        if len(picks) == k:
            break
    return picks


def run_arm(
    name: str,
    start: Pipeline,
    base: list[Record],
    pool: list[Record],
    held: list[Record],
    labels: list[str],
    rounds: int,
    batch: int,
    draw: int = 1,
) -> list[float]:
    rng = random.Random(draw)
    pool = list(pool)
    labelled: list[Record] = []
    model = start
    curve = []
    for round_ in range(1, rounds + 1):
        picks = queue_picks(model, pool, batch) if name == "queue" else rng.sample(range(len(pool)), batch)
        chosen = set(picks)
        labelled += [pool[i] for i in picks]
        pool = [r for i, r in enumerate(pool) if i not in chosen]
        model = fit_model(base + labelled, labels)
        f1 = score_predictions(held, predict_records(model, held))["coarse"]["macro_f1"]
        curve.append(round(float(f1), 4))
        print(f"{name} round {round_}: {len(labelled)} labels, coarse macro-F1 {f1:.3f}", file=sys.stderr)
    return curve


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-draws", type=int, default=3, help="random arms averaged (default 3)")
    args = parser.parse_args()
    if not args.dataset.exists():
        parser.error(f"{args.dataset} is absent: pass --dataset with the path of cases-dev.jsonl")
    rounds = args.rounds or (3 if args.quick else 5)
    batch = args.batch or (40 if args.quick else 100)
    taxonomy = load_taxonomy()
    labels = label_ids(taxonomy)
    records = read_records(args.dataset, taxonomy)
    pool, held = split(records, args.seed)
    if args.quick:  # a smaller pool and held-out part: the same loop, fewer documents to score
        pool = random.Random(args.seed).sample(pool, min(len(pool), 600))
        held = random.Random(args.seed).sample(held, min(len(held), 400))
    base = example_records(taxonomy) + stance_cue_records(taxonomy)
    started, cpu_started = time.perf_counter(), time.process_time() + _children_cpu()
    # Both arms start from the same out-of-the-box model: fitted once.
    start = fit_model(base, labels)
    queue = run_arm("queue", start, base, pool, held, labels, rounds, batch)
    draws = [
        run_arm("random", start, base, pool, held, labels, rounds, batch, draw)
        for draw in range(1, max(1, args.random_draws) + 1)
    ]
    curves = {"queue": queue, "random": [round(float(np.mean(column)), 4) for column in zip(*draws, strict=True)]}
    gains = [q - r for q, r in zip(curves["queue"], curves["random"], strict=True)]
    get_reusable_executor().shutdown(wait=True)  # so that the workers' CPU time is counted
    print(
        json.dumps(
            {
                "dataset": args.dataset.name,
                "pool": len(pool),
                "held_out": len(held),
                "rounds": rounds,
                "batch": batch,
                "queue": curves["queue"],
                "random": curves["random"],
                "random_draws": draws,
                "queue_beats_random_every_round": all(g > 0 for g in gains),
                "seconds": round(time.perf_counter() - started, 1),
                "cpu_seconds": round(time.process_time() + _children_cpu() - cpu_started, 1),
                "ratio": round(float(np.mean(curves["queue"]) / max(1e-9, np.mean(curves["random"]))), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
