"""Benchmark of the classifier: ``classify`` over stored articles against a bare ``pipeline.predict``.

    python bench/classify.py [--quick] [--articles N] [--train-docs N]

Seeds a temporary SQLite database with synthetic articles written from the taxonomy's example
and neutral sentences (EN/FR/RU), installs the out-of-the-box model, then measures in one run:
- bare: ``pipeline.predict`` on the same composed documents, in the same batches;
- classify: the code path of ``narrative-tracker classify`` (database read, features, scores,
  stance, evidence and terms, database write, one transaction per batch);
- training time of the narrative Pipeline on N synthetic labelled documents (wall and CPU time;
  the per-label fits run in two worker processes).
The last line is one JSON object with the figures and ``ratio`` (classify / bare throughput).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from joblib.externals.loky import get_reusable_executor  # type: ignore[import-untyped]
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from narrative_tracker.classifier.classify import classify_stored
from narrative_tracker.classifier.dataset import (
    Record,
    compose_document,
    example_records,
    label_ids,
    stance_cue_records,
)
from narrative_tracker.classifier.registry import CACHE, register, save_model, set_active
from narrative_tracker.classifier.taxonomy import Taxonomy, load_taxonomy
from narrative_tracker.classifier.training import fit_model
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article, Source

LANGS = ("en", "fr", "ru")


def synthetic_articles(taxonomy: Taxonomy, n: int, seed: int = 7) -> list[tuple[str, str, str, dict[str, str]]]:
    """(lang, title, text, narratives) tuples: about 10-16 sentences, half of them carrying narratives."""
    rng = random.Random(seed)
    neutral = {lang: [e.text for e in taxonomy.neutral if e.lang == lang] for lang in LANGS}
    carrying = {
        lang: [(e.text, n.id, e.stance) for n in taxonomy.narratives.values() for e in n.examples if e.lang == lang]
        for lang in LANGS
    }
    out = []
    for i in range(n):
        lang = LANGS[i % 3]
        sentences = rng.choices(neutral[lang], k=rng.randint(8, 12))
        narratives: dict[str, str] = {}
        if rng.random() < 0.5:
            for text, narrative, stance in rng.sample(carrying[lang], k=rng.randint(2, 4)):
                sentences.insert(rng.randrange(len(sentences) + 1), text)
                narratives.setdefault(narrative, stance)
        title = sentences[0].rstrip(".")
        out.append((lang, title, " ".join(sentences[1:]), narratives))
    return out


def seed_database(db, articles) -> None:
    with db.session() as session:
        sources = {}
        for lang in LANGS:
            source = Source(
                slug=f"bench-{lang}",
                name=f"Bench {lang}",
                group="other",
                country="XX",
                languages=[lang],
                domains=["127.0.0.1"],
            )
            session.add(source)
            session.flush()
            sources[lang] = source.id
    start = datetime(2025, 7, 1, tzinfo=UTC)
    rows = [
        {
            "source_id": sources[lang],
            "url": f"http://127.0.0.1/a/{i}",
            "url_hash": f"{i:040d}",
            "title": title,
            "text": text,
            "lang": lang,
            "published_at": start + timedelta(minutes=i),
            "fetched_at": start,
        }
        for i, (lang, title, text, _) in enumerate(articles)
    ]
    for k in range(0, len(rows), 1000):
        with db.session() as session:
            session.execute(insert(Article), rows[k : k + 1000])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--articles", type=int)
    parser.add_argument("--train-docs", type=int)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    n_articles = args.articles or (2_000 if args.quick else 20_000)
    n_train = args.train_docs or (400 if args.quick else 20_000)
    taxonomy = load_taxonomy()
    labels = label_ids(taxonomy)

    with tempfile.TemporaryDirectory(prefix="bench-classify-") as tmp:
        workdir = Path(tmp)
        db = open_database(f"sqlite:///{workdir / 'bench.db'}")
        articles = synthetic_articles(taxonomy, n_articles)
        seed_database(db, articles)
        print(f"seeded {n_articles} articles", file=sys.stderr)

        started = time.perf_counter()
        pipeline = fit_model(example_records(taxonomy) + stance_cue_records(taxonomy), labels)
        ootb_seconds = time.perf_counter() - started
        save_model(workdir / "models", "bench", pipeline, {"labels": labels})
        register(db, "bench", {})
        set_active(db, "bench")
        model = CACHE.get(workdir / "models", "bench")
        documents = [compose_document(title, text) for _, title, text, _ in articles]
        model.pipeline.predict(documents[:50])  # warm up
        model.explainer.names  # noqa: B018  (built once per loaded model, outside the timing)

        def bare() -> float:
            t = time.perf_counter()
            for k in range(0, len(documents), args.batch):
                model.pipeline.predict(documents[k : k + args.batch])
            return len(documents) / (time.perf_counter() - t)

        bare_rates = [bare()]
        t = time.perf_counter()
        stats = classify_stored(db, model, taxonomy, batch_size=args.batch)
        classify_rate = stats["articles"] / (time.perf_counter() - t)
        bare_rates.append(bare())
        bare_rate = statistics.mean(bare_rates)
        print(
            f"bare predict {bare_rate:.0f} docs/s; classify {classify_rate:.0f} articles/s "
            f"({stats['flagged_articles']} of {stats['articles']} flagged)",
            file=sys.stderr,
        )
        db.dispose()

        training = [
            Record(id=str(i), text=text, title=title, lang=lang, positives=narratives)
            for i, (lang, title, text, narratives) in enumerate(synthetic_articles(taxonomy, n_train, seed=11))
        ]
        t, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        fit_model(training, labels)
        train_seconds = time.perf_counter() - t
        # CPU time of the fit in this process and in its worker processes (stopped here so that
        # their time is counted): on a shared machine it says what the wall time would be on two
        # idle cores (about half of it).
        get_reusable_executor().shutdown(wait=True)
        train_cpu_seconds = time.process_time() - cpu + _children_cpu() - children
        print(
            f"trained on {n_train} documents in {train_seconds:.1f} s ({train_cpu_seconds:.1f} s of CPU)",
            file=sys.stderr,
        )

    print(
        json.dumps(
            {
                "articles": n_articles,
                "bare_predict_docs_per_s": round(bare_rate, 1),
                "classify_articles_per_s": round(classify_rate, 1),
                "flagged_articles": stats["flagged_articles"],
                "train_docs": n_train,
                "train_seconds": round(train_seconds, 1),
                "train_cpu_seconds": round(train_cpu_seconds, 1),
                "ootb_train_seconds": round(ootb_seconds, 1),
                "ratio": round(classify_rate / bare_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
