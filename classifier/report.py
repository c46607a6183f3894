"""The model report (``docs/model-report.md``): grouped cross-validation of the product model
next to a plain baseline in the same folds, per narrative and per language.

    python -m narrative_tracker.classifier.report --dataset ../shared/data/euvsdisinfo/cases-dev.jsonl \\
        [--extra ../shared/data/euvsdisinfo/titles-dev.jsonl] --out docs/model-report.md

The baseline is the reference the issue names: word + character TF-IDF, one-vs-rest logistic
regression (balanced class weights) with the default threshold 0.5, coarse level derived from the
fine predictions, a logistic-regression stance model on the same features. ``--extra`` records are added to every
training fold (never tested on); those sharing a group (same normalised title) with a test
record are dropped from that fold, so the cross-validation stays honest.

Short texts (Telegram posts of one to five sentences) are measured apart: both models are trained
on the whole dataset (and ``--extra``) and tested on ``--posts``, a small labelled set of posts
written for this project in Russian, English and French (``classifier/data/posts-eval.jsonl``;
no real post is copied). ``--posts-only`` re-measures just that section of an existing report.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from narrative_tracker.classifier.dataset import (
    Record,
    compose_document,
    example_records,
    group_key,
    label_ids,
    stance_cue_records,
)
from narrative_tracker.classifier.evaluation import (
    Flag,
    Prediction,
    reliability,
    score_predictions,
    stance_confusion,
)
from narrative_tracker.classifier.inference import analyse
from narrative_tracker.classifier.records import read_records
from narrative_tracker.classifier.registry import library_versions
from narrative_tracker.classifier.service import predict_records
from narrative_tracker.classifier.taxonomy import Taxonomy, load_taxonomy
from narrative_tracker.classifier.training import fit_model
from narrative_tracker.vocabulary import coarse_of

UNSEEN = Path(__file__).resolve().parents[1] / "tests" / "data"


def baseline_predict(train: Sequence[Record], test: Sequence[Record]) -> list[Prediction]:
    """The plain reference: TF-IDF words + chars, one-vs-rest logistic regression, threshold 0.5."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_union
    from sklearn.preprocessing import MultiLabelBinarizer

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    text = lambda r: f"{r.title}\n{r.text}" if r.title else r.text  # noqa: E731
    X = features.fit_transform([text(r) for r in train])
    T = features.transform([text(r) for r in test])
    binarizer = MultiLabelBinarizer()
    Y = binarizer.fit_transform([sorted(r.positives) for r in train])
    keep = Y.sum(axis=0) > 0
    # Balanced class weights: without them this reference flags almost nothing at 0.5 on rare
    # narratives (coarse macro-F1 about 0.11 here), a strawman rather than a baseline.
    stance_rows = [(i, s) for i, r in enumerate(train) for s in set(r.positives.values()) if s]
    # One BLAS thread, as in the model's own fits: L-BFGS steps are small, and on a shared machine
    # a multi-threaded BLAS spends most of the report's time spinning (no effect on the results).
    with threadpool_limits(limits=1, user_api="blas"):
        model = OneVsRestClassifier(LogisticRegression(max_iter=1000, class_weight="balanced")).fit(X, Y[:, keep])
        stance = LogisticRegression(max_iter=1000).fit(X[[i for i, _ in stance_rows]], [s for _, s in stance_rows])
    flags = model.predict(T)
    ids = binarizer.classes_[keep]
    stances = stance.predict(T)
    out = []
    for i in range(len(test)):
        fine = [str(ids[j]) for j in np.flatnonzero(flags[i])]
        found = {n: Flag(id=n, score=1.0, stance=str(stances[i])) for n in fine}
        for n in fine:
            found.setdefault(coarse_of(n), Flag(id=coarse_of(n), score=1.0, stance=str(stances[i])))
        out.append(list(found.values()))
    return out


def grouped_cv(
    gold: Sequence[Record], extra: Sequence[Record], taxonomy: Taxonomy, *, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    groups = np.array([group_key(r) for r in gold])
    always = example_records(taxonomy) + stance_cue_records(taxonomy)
    ours: list[Prediction | None] = [None] * len(gold)
    base: list[Prediction | None] = [None] * len(gold)
    started = time.perf_counter()
    timings = {"model": 0.0, "baseline": 0.0}
    for train, test in GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(gold, groups=groups):
        held = {groups[i] for i in test}
        train_records = [gold[i] for i in train] + [r for r in extra if group_key(r) not in held]
        test_records = [gold[i] for i in test]
        t = time.perf_counter()
        model = fit_model([*train_records, *always], label_ids(taxonomy), random_state=seed)
        for i, p in zip(test, predict_records(model, test_records), strict=True):
            ours[i] = p
        timings["model"] += time.perf_counter() - t
        t = time.perf_counter()
        for i, p in zip(test, baseline_predict(train_records, test_records), strict=True):
            base[i] = p
        timings["baseline"] += time.perf_counter() - t
    predicted = [p for p in ours if p is not None]
    return {
        "model": score_predictions(gold, predicted),
        "reliability": reliability(gold, predicted),
        "confusion": stance_confusion(gold, predicted),
        "baseline": score_predictions(gold, [p for p in base if p is not None]),
        "seconds": round(time.perf_counter() - started, 1),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "folds": folds,
        "records": len(gold),
        "groups": len(set(groups)),
        "extra": len(extra),
    }


#: The labelled short posts (written for the project, never copied from real channels).
DEFAULT_POSTS = Path(__file__).resolve().parent / "data" / "posts-eval.jsonl"
POSTS_HEADING = "## Short texts (Telegram posts)"


def posts_evaluation(
    train: Sequence[Record], posts: Sequence[Record], taxonomy: Taxonomy, *, seed: int = 0
) -> dict[str, Any]:
    """Both models trained on ``train`` (plus the taxonomy's examples), scored on ``posts``."""
    started = time.perf_counter()
    always = example_records(taxonomy) + stance_cue_records(taxonomy)
    model = fit_model([*train, *always], label_ids(taxonomy), random_state=seed)
    ours = predict_records(model, list(posts))
    # The same model without the block of concepts shared across languages: its effect per language.
    monolingual = fit_model([*train, *always], label_ids(taxonomy), random_state=seed, crosslingual=False)
    without = predict_records(monolingual, list(posts))
    base = baseline_predict(list(train), list(posts))
    words = sorted(len(r.text.split()) for r in posts)
    return {
        "model": score_predictions(posts, ours),
        "without_crosslingual": score_predictions(posts, without),
        "baseline": score_predictions(posts, base),
        "records": len(posts),
        "train": len(train),
        "median_words": words[len(words) // 2] if words else 0,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _posts_section(name: str, result: dict[str, Any]) -> list[str]:
    ours, base = result["model"], result["baseline"]
    lines = [
        POSTS_HEADING,
        "",
        f"{result['records']} posts of `{name}` (median {result['median_words']} words; one to three sentences, "
        f"in Russian, English and French, written for this report), scored after training on all "
        f"{result['train']} records; {result['seconds']} s. Read it with care: the set is small (about a dozen "
        "posts per language), and it was written by the team that wrote the taxonomy's example sentences, which "
        "train the model, in the narratives' typical wording; real posts are terser, allusive and full of "
        "emoji and slang, so these figures are an upper bound for short texts, not a forecast. The training data "
        "is English, which the Russian row shows.",
        "",
        "| figure | this model | baseline | difference |",
        "| --- | ---: | ---: | ---: |",
    ]
    rows = [
        ("coarse macro-F1", ours["coarse"]["macro_f1"], base["coarse"]["macro_f1"]),
        ("coarse micro-F1", ours["coarse"]["micro_f1"], base["coarse"]["micro_f1"]),
        ("fine macro-F1", ours["macro_f1"], base["macro_f1"]),
        ("fine micro-F1", ours["micro_f1"], base["micro_f1"]),
        ("stance accuracy", ours["stance_accuracy"], base["stance_accuracy"]),
    ]
    for label, a, b in rows:
        diff = "n/a" if a is None or b is None else f"{a - b:+.3f}"
        lines.append(f"| {label} | {_f(a)} | {_f(b)} | {diff} |")
    lines += [
        "",
        "Per language; the last two columns: the same model without the block of concepts shared by "
        "English, French and Russian (stems aligned on the taxonomy's translated examples, named entities "
        "across spellings), which shows what that block brings to each language, and the baseline.",
        "",
        "| language | posts | coarse macro-F1 | fine macro-F1 | stance accuracy | coarse macro-F1 without "
        "cross-lingual concepts | baseline coarse macro-F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    missing = {"coarse": {"macro_f1": 0.0}}
    for lang, part in ours["per_language"].items():
        other = base["per_language"].get(lang, missing)
        mono = result["without_crosslingual"]["per_language"].get(lang, missing)
        lines.append(
            f"| {lang} | {part['records']} | {part['coarse']['macro_f1']:.3f} | {part['macro_f1']:.3f} | "
            f"{_f(part['stance_accuracy'])} | {mono['coarse']['macro_f1']:.3f} | {other['coarse']['macro_f1']:.3f} |"
        )
    return [*lines, ""]


def replace_posts_section(report: str, section: list[str]) -> str:
    """``report`` with its short-text section replaced (or appended when it has none)."""
    start = report.find(POSTS_HEADING)
    if start < 0:
        return report.rstrip("\n") + "\n\n" + "\n".join(section)
    end = report.find("\n## ", start + len(POSTS_HEADING))
    tail = report[end + 1 :] if end >= 0 else ""
    return report[:start] + "\n".join(section) + ("\n" + tail if tail else "")


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _section(title: str, result: dict[str, Any], taxonomy: Taxonomy) -> list[str]:
    ours, base = result["model"], result["baseline"]
    lines = [
        f"## {title}",
        "",
        f"{result['records']} records in {result['groups']} groups, {result['folds']} grouped folds"
        + (f", plus {result['extra']} extra training records" if result["extra"] else "")
        + f"; {result['seconds']} s (model {result['timings']['model']} s, "
        f"baseline {result['timings']['baseline']} s).",
        "",
        "| figure | this model | baseline | difference |",
        "| --- | ---: | ---: | ---: |",
    ]
    rows = [
        ("coarse macro-F1", ours["coarse"]["macro_f1"], base["coarse"]["macro_f1"]),
        ("coarse micro-F1", ours["coarse"]["micro_f1"], base["coarse"]["micro_f1"]),
        ("fine macro-F1", ours["macro_f1"], base["macro_f1"]),
        ("fine micro-F1", ours["micro_f1"], base["micro_f1"]),
        ("stance accuracy", ours["stance_accuracy"], base["stance_accuracy"]),
    ]
    for name, a, b in rows:
        diff = "n/a" if a is None or b is None else f"{a - b:+.3f}"
        lines.append(f"| {name} | {_f(a)} | {_f(b)} | {diff} |")
    lines += ["", f"Stance pairs judged: {ours['stance_pairs']} (this model), {base['stance_pairs']} (baseline).", ""]
    lines += [
        "| narrative | support | P | R | F1 | baseline F1 | difference |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    coarse = [n for n in ours["per_narrative"] if "/" not in n]
    order = sorted(coarse) + sorted(n for n in ours["per_narrative"] if "/" in n)
    for narrative in order:
        row = ours["per_narrative"][narrative]
        if row["support"] == 0:
            continue
        b = base["per_narrative"].get(narrative, {"f1": 0.0})
        shown = f"**{narrative}**" if "/" not in narrative else narrative
        lines.append(
            f"| {shown} | {row['support']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
            f"{b['f1']:.3f} | {row['f1'] - b['f1']:+.3f} |"
        )
    false_alarms = [n for n, row in ours["per_narrative"].items() if row["support"] == 0]
    if false_alarms:
        lines += ["", "Flagged although absent from every gold record: " + ", ".join(sorted(false_alarms)) + "."]
    lines += [
        "",
        "Per language:",
        "",
        "| language | records | coarse macro-F1 | fine macro-F1 | stance accuracy |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for lang, part in ours["per_language"].items():
        lines.append(
            f"| {lang} | {part['records']} | {part['coarse']['macro_f1']:.3f} | {part['macro_f1']:.3f} | "
            f"{_f(part['stance_accuracy'])} |"
        )
    lines += ["", *_confusion_lines(result["confusion"]), "", *_reliability_lines(result["reliability"])]
    return [*lines, ""]


def _confusion_lines(confusion: dict[str, dict[str, int]]) -> list[str]:
    stances = ("promotes", "refutes", "reports")
    lines = [
        "Stance confusion (rows: gold, columns: predicted; pairs judged as for stance accuracy):",
        "",
        "| gold \\ predicted | " + " | ".join(stances) + " |",
        "| --- | " + " | ".join("---:" for _ in stances) + " |",
    ]
    for gold in stances:
        row = confusion.get(gold, {})
        if row:
            lines.append(f"| {gold} | " + " | ".join(str(row.get(s, 0)) for s in stances) + " |")
    return lines


def _reliability_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "Reliability of the shown scores (out-of-fold flags binned by score; right: share of them in the gold "
        "labels; Brier score of the flags per level, lower is better):",
        "",
        "| level | score range | flags | mean score | right |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for level, part in table.items():
        for b in part["bins"]:
            lines.append(f"| {level} | {b['range']} | {b['flags']} | {b['mean_score']:.3f} | {b['right']:.3f} |")
    lines.append("")
    for level, part in table.items():
        lines.append(f"Brier score, {level} level: {_f(part['brier'])} over {part['flags']} flags.")
    return lines


def unseen_check(models: list[tuple[str, Any]], folder: Path) -> list[str]:
    """The unseen texts (``unseen_ordinary.jsonl``: ordinary RU/FR news; ``unseen_reports.jsonl``:
    reports and refutations of narrative claims in EN/FR/RU), never used in training."""
    import json

    def load(name: str) -> list[dict[str, Any]]:
        text = (folder / name).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    ordinary, reports = load("unseen_ordinary.jsonl"), load("unseen_reports.jsonl")
    lines = [
        "## Unseen texts: ordinary Russian and French news, and reports of claims",
        "",
        f"Written for this project and kept apart from training (`tests/data`): {len(ordinary)} ordinary news "
        f"texts in Russian and French, {len(reports)} texts in EN/FR/RU that relay a narrative's claim without "
        "endorsing it (gold `reports`) or refute it (gold `refutes`). For a text the model does not flag, the "
        "shared stance model's answer is counted.",
        "",
        "| model | ordinary flagged (ru) | ordinary flagged (fr) | reports/refutes not `promotes` |",
        "| --- | ---: | ---: | ---: |",
    ]
    confusions = []
    for name, pipeline in models:
        docs = [compose_document(t["title"], t["text"]) for t in ordinary]
        flagged = [bool(p) for p in analyse(pipeline, docs, languages=[t["lang"] for t in ordinary])]
        per_lang = {
            lang: f"{sum(f for f, t in zip(flagged, ordinary, strict=True) if t['lang'] == lang)} of "
            f"{sum(t['lang'] == lang for t in ordinary)}"
            for lang in ("ru", "fr")
        }
        docs = [compose_document(t["title"], t["text"]) for t in reports]
        predictions = analyse(pipeline, docs, languages=[t["lang"] for t in reports])
        classifier = pipeline.named_steps["classifier"]
        shared = classifier.stance_classes_[classifier.stance_proba(pipeline[:-1].transform(docs)).argmax(axis=1)]
        confusion: dict[str, dict[str, int]] = {}
        good = 0
        for text, prediction, fallback in zip(reports, predictions, shared, strict=True):
            stances = [f.stance for f in prediction] or [str(fallback)]
            good += "promotes" not in stances
            row = confusion.setdefault(text["stance"], {})
            top = stances[0]
            row[top] = row.get(top, 0) + 1
        lines.append(f"| {name} | {per_lang['ru']} | {per_lang['fr']} | {good} of {len(reports)} |")
        confusions.append((name, confusion))
    for name, confusion in confusions:
        lines += ["", f"Stance of the unseen texts, {name} (top flag, or the shared model where none):", ""]
        lines += _confusion_lines(confusion)[2:]
    return [*lines, ""]


def render(
    dataset: Path, results: list[tuple[str, dict[str, Any]]], taxonomy: Taxonomy, extra_lines: Sequence[str] = ()
) -> str:
    versions = library_versions()
    lines = [
        "# Model report",
        "",
        "Generated by `python -m narrative_tracker.classifier.report` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC from `{dataset.name}` "
        f"(scikit-learn {versions['scikit-learn']}, Python {versions['python']}). Do not edit by hand: regenerate.",
        "",
        "How it is measured: grouped k-fold cross-validation. Records that share a normalised title (the claim "
        "summary and the disproof of one case, and repeated claims across cases) are one group, and a group is "
        "never split across folds. The taxonomy's own example sentences train every fold and are never tested. "
        "The baseline is fitted and scored in exactly the same folds. Fine level: the ids as labelled; coarse: "
        "the part before `/`. Macro-F1 averages over narratives present in the gold labels. Stance accuracy: "
        "gold (record, narrative) pairs with a stance that the model flagged, at that id or its coarse narrative.",
        "",
        "The baseline here is our re-implementation of the plain reference (word + character TF-IDF, one-vs-rest "
        "logistic regression with balanced class weights, threshold 0.5, coarse level derived from the fine one). "
        "The issue quotes its own run of that reference at coarse macro-F1 0.556 in grouped cross-validation on "
        "this file, and 0.535 (stance 0.946) on held-out cases; without class weights our re-implementation flags "
        "almost nothing on rare narratives (about 0.11), so the weighted variant is the fairer comparison.",
        "",
        "This data is English only, so the per-language table cannot show a language effect here; the model "
        "gives every language the same total weight in training, and a narrative learnt from English labels "
        "abstains below a score of 0.5 in a language where it has under a fifth of its English positives, and "
        "once some narrative has 30 positives in a language, a narrative with fewer than 30 in the text's "
        "language needs 0.35 there. The last two sections show the effect on unseen ordinary Russian and French "
        "news, on unseen reports of narrative claims in three languages, and on short posts per language, each "
        "also without the block of concepts shared by English, French and Russian (Snowball stems aligned on "
        "the taxonomy's translated examples, named entities across spellings such as Киев/Kyiv/Kiev).",
        "",
        "Scores are calibrated (models trained on at least 2,000 records): the reliability tables bin the "
        "out-of-fold flags by their shown score; in a calibrated model the share of right flags in a bin is "
        "close to its mean score.",
        "",
    ]
    for title, result in results:
        lines += _section(title, result, taxonomy)
    lines += extra_lines
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--extra", type=Path, help="More training records (e.g. titles-dev.jsonl)")
    parser.add_argument("--taxonomy", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--posts", type=Path, default=DEFAULT_POSTS, help="Labelled short posts (JSONL)")
    parser.add_argument(
        "--posts-only", action="store_true", help="Only re-measure the short-text section of the existing --out"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/model-report.md"))
    parser.add_argument(
        "--unseen", type=Path, default=UNSEEN, help="folder of the unseen texts (default: tests/data); '' to skip"
    )
    args = parser.parse_args(argv)
    taxonomy = load_taxonomy(args.taxonomy)
    gold = read_records(args.dataset, taxonomy)
    posts = read_records(args.posts, taxonomy)
    extra_records = read_records(args.extra, taxonomy) if args.extra else []
    short = posts_evaluation([*gold, *extra_records], posts, taxonomy)
    print("posts", {k: short[k]["coarse"]["macro_f1"] for k in ("model", "baseline")})
    section = _posts_section(args.posts.name, short)
    if args.posts_only:
        args.out.write_text(replace_posts_section(args.out.read_text(encoding="utf-8"), section), encoding="utf-8")
        return
    results = [(f"Trained on {args.dataset.name}", grouped_cv(gold, [], taxonomy, folds=args.folds))]
    if args.extra:
        extra = extra_records
        results.append(
            (
                f"Trained on {args.dataset.name} plus {args.extra.name}",
                grouped_cv(gold, extra, taxonomy, folds=args.folds),
            )
        )
    extra_lines: list[str] = []
    if str(args.unseen) and (args.unseen / "unseen_ordinary.jsonl").exists():
        always = example_records(taxonomy) + stance_cue_records(taxonomy)
        models = [
            ("out of the box", fit_model(always, label_ids(taxonomy))),
            (f"trained on {args.dataset.name}", fit_model([*gold, *always], label_ids(taxonomy))),
            (
                f"trained on {args.dataset.name}, without cross-lingual concepts",
                fit_model([*gold, *always], label_ids(taxonomy), crosslingual=False),
            ),
        ]
        extra_lines = unseen_check(models, args.unseen)
        print("\n".join(extra_lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        replace_posts_section(render(args.dataset, results, taxonomy, extra_lines), section), encoding="utf-8"
    )
    for title, result in results:
        print(
            title,
            {k: result[k]["coarse"]["macro_f1"] for k in ("model", "baseline")},
            "stance",
            result["model"]["stance_accuracy"],
        )


if __name__ == "__main__":
    main()
