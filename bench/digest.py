"""Benchmark: trends plus digest for one day over a large SQLite database.

Builds a database of N articles (default 1,000,000 over 365 days, 30 outlets, 5% near-duplicate
copies) with 3 classifications per article on average (3,000,000), brings the trends up to date
once (the one-off initial build, reported but not judged; the full-text search index is built
after the rows are loaded, ``search_index_s``), then stores one more day of articles
and classifications (with an injected spike and crossover, so the digest has alerts and charts)
and measures, in a fresh process:

- ``trends_s``: the incremental trends update for that day;
- ``digest_s``: alerts, the digest gathered, its charts drawn and every format rendered (HTML
  file and email, text, Markdown, JSON);
- ``count_query_s``: one indexed count query on the same database (classifications of one
  narrative by the active model, through ``ix_classifications_model_narrative_article``), best of 5;
- ``peak_rss_mb``: the measuring process's peak resident memory.

``ratio`` = (trends_s + digest_s) / count_query_s. Targets at 1M articles: under 2 s, under 500 MB.

    python bench/digest.py [--quick] [--articles N] [--days D] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

GROUPS = ["russian-state"] * 8 + ["western"] * 10 + ["ukrainian"] * 4 + ["independent-russian"] * 3
GROUPS += ["fact-checker"] * 3 + ["other"] * 2
NARRATIVES = [
    f"{coarse}/{fine}"
    for coarse, fines in {
        "amplifying-war-related-fears": ["risk-of-world-war-iii", "nato-will-intervene", "nuclear-weapons-may-be-used"],
        "blaming-others-for-the-war": ["ukraine-is-the-aggressor", "the-west-are-the-aggressors"],
        "discrediting-ukraine": [
            "ukrainian-government-and-officials",
            "ukrainian-military",
            "situation-in-ukraine-is-hopeless",
            "ukraine-is-a-puppet-of-the-west",
            "ukraine-is-associated-with-nazism",
        ],
        "discrediting-the-west": [
            "diplomacy-does-not-work",
            "the-eu-is-divided",
            "the-west-is-weak",
            "west-is-tired-of-ukraine",
            "western-arms-pause-is-russian-victory",
        ],
        "distrust-towards-media": ["ukrainian-media-cannot-be-trusted", "western-media-is-propaganda"],
        "negative-consequences-for-the-west": ["sanctions-will-backfire", "refugee-flows-to-europe"],
        "praise-of-russia": ["praise-of-putin", "russian-military-might", "russia-is-a-guarantor-of-peace"],
        "russia-is-the-victim": ["russia-acts-in-self-defence", "the-west-is-russophobic"],
        "speculating-war-outcomes": ["russian-army-is-collapsing", "ukrainian-army-is-collapsing"],
    }.items()
    for fine in fines
] + ["hidden-plots"]
STANCES = ("promotes", "refutes", "reports")
MODEL = "bench-model"
SPIKE = "discrediting-the-west/western-arms-pause-is-russian-victory"
#: Narratives that rise in Russian state media on the measured day (each gives an alert and a chart).
SPIKES = (SPIKE, "praise-of-russia/russian-military-might", "russia-is-the-victim/the-west-is-russophobic")
TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).strftime(TIMESTAMP)


def create(path: Path, articles: int, days: int, today: date, seed: int = 7) -> dict[str, float]:
    """Create and fill the database; return generation and initial-build timings."""
    from narrative_tracker.storage.database import open_database

    started = time.perf_counter()
    database = open_database(f"sqlite:///{path}")
    database.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    now = _stamp(datetime.now(UTC))
    connection.executemany(
        'INSERT INTO sources (id, slug, name, "group", country, languages, domains, created_at) '
        "VALUES (?, ?, ?, ?, 'XX', '[\"en\"]', '[]', ?)",
        [(n + 1, f"outlet-{n + 1}", f"Outlet {n + 1}", group, now) for n, group in enumerate(GROUPS)],
    )
    connection.execute(
        "INSERT INTO model_versions (version, status, created_at, promoted_at, taxonomy_hash, data_hash, metrics, "
        "notes) VALUES (?, 'active', ?, ?, '', '', '{}', '')",
        (MODEL, now, now),
    )
    connection.commit()
    rng = random.Random(seed)
    per_day = articles // days
    first_day = today - timedelta(days=days)
    next_id = 1
    # A bulk load: the full-text index (migration 0007) is built once after the rows are in, as
    # the migration builds it for a database with articles, not row by row by its trigger.
    index_trigger = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'articles_fts_insert'"
    ).fetchone()
    if index_trigger:
        connection.execute("DROP TRIGGER articles_fts_insert")
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        next_id = _fill_day(connection, rng, day, per_day, next_id, spike=False)
    connection.commit()
    index_started, index_cpu = time.perf_counter(), time.process_time()
    if index_trigger:
        connection.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
        connection.execute(index_trigger[0])
        connection.commit()
    index_built = time.perf_counter() - index_started, time.process_time() - index_cpu
    connection.execute("ANALYZE")
    connection.close()
    generated = time.perf_counter() - started

    from narrative_tracker.trends.daily import update_trends

    database = open_database(f"sqlite:///{path}")
    started = time.perf_counter()
    update_trends(database, "UTC", now=datetime.combine(today, datetime.min.time(), tzinfo=UTC))
    initial = time.perf_counter() - started
    database.dispose()

    # The measured day: one more day of articles, with a spike and a crossover in it.
    connection = sqlite3.connect(path)
    _fill_day(connection, rng, today, per_day, next_id, spike=True)
    connection.commit()
    connection.close()
    return {
        "generate_s": round(generated, 2),
        "search_index_s": round(index_built[0], 2),
        "search_index_cpu_s": round(index_built[1], 2),
        "initial_trends_s": round(initial, 2),
        "articles_per_day": per_day,
    }


def _fill_day(
    connection: sqlite3.Connection, rng: random.Random, day: date, count: int, next_id: int, *, spike: bool
) -> int:
    articles, labels, done = [], [], []
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for _ in range(count):
        article_id = next_id
        next_id += 1
        source = rng.randrange(len(GROUPS)) + 1
        published = midnight + timedelta(seconds=rng.randrange(86_400))
        duplicate = (
            rng.randrange(max(1, article_id - 2000), article_id) if article_id > 1 and rng.random() < 0.05 else None
        )
        articles.append(
            (
                article_id,
                source,
                f"https://outlet-{source}.example/{article_id}",
                f"{article_id:040x}",
                f"Headline number {article_id}",
                "Body text.",
                "en",
                _stamp(published),
                _stamp(published + timedelta(minutes=20)),
                duplicate,
            )
        )
        done.append((article_id, MODEL, _stamp(published + timedelta(minutes=30))))
        flagged = rng.sample(NARRATIVES, rng.randrange(7))
        group = GROUPS[source - 1]
        if spike and group == "russian-state":
            flagged += [n for n in SPIKES if n not in flagged and rng.random() < 0.4]
        for narrative in flagged:
            stance = "promotes" if spike and narrative in SPIKES else rng.choice(STANCES)
            labels.append((article_id, MODEL, narrative, round(rng.random(), 3), stance, '["An evidence sentence."]'))
    connection.executemany(
        "INSERT INTO articles (id, source_id, url, url_hash, title, text, lang, published_at, fetched_at, "
        "summary_only, duplicate_of_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        articles,
    )
    connection.executemany(
        "INSERT INTO classified_articles (article_id, model_version, classified_at) VALUES (?, ?, ?)", done
    )
    created = _stamp(datetime.now(UTC))
    connection.executemany(
        "INSERT INTO classifications (article_id, model_version, narrative_id, score, stance, evidence, terms, "
        f"created_at) VALUES (?, ?, ?, ?, ?, ?, '[]', '{created}')",
        labels,
    )
    return next_id


def _names() -> dict[str, str]:
    """Narrative names from the shipped taxonomy, as the digest job reads them."""

    from narrative_tracker.classifier.taxonomy import narrative_names

    try:
        from narrative_tracker.classifier.taxonomy import DEFAULT_TAXONOMY_FILE
    except ImportError:
        return {}
    return narrative_names(DEFAULT_TAXONOMY_FILE)


def measure(path: Path, today: date) -> dict[str, float]:
    """Run in a fresh process: the incremental trends, the digest, and the count query."""
    from sqlalchemy import func, select

    from narrative_tracker.storage.database import open_database
    from narrative_tracker.storage.models import Classification
    from narrative_tracker.trends.alerts import evaluate_alerts
    from narrative_tracker.trends.config import AlertSettings
    from narrative_tracker.trends.daily import update_trends
    from narrative_tracker.trends.digest.charts import render_charts
    from narrative_tracker.trends.digest.content import build_digest
    from narrative_tracker.trends.digest.delivery import build_message
    from narrative_tracker.trends.digest.render import render_html, render_json, render_markdown, render_text

    database = open_database(f"sqlite:///{path}")
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23)
    started, cpu_started = time.perf_counter(), time.process_time()
    stats = update_trends(database, "UTC", now=now)
    trends_s, trends_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started

    started, cpu_started = time.perf_counter(), time.process_time()
    alerts = evaluate_alerts(database, today, AlertSettings(), "UTC", now=now)
    digest = build_digest(database, today, alerts, timezone="UTC", names=_names(), now=now)
    digest.charts = render_charts(digest.series)
    sizes = {
        "html": len(render_html(digest)),
        "email": len(build_message(digest, "bench@example.org", ["team@example.org"]).as_bytes()),
        "text": len(render_text(digest)),
        "markdown": len(render_markdown(digest)),
        "json": len(render_json(digest)),
    }
    digest_s, digest_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started

    query = select(func.count()).where(Classification.model_version == MODEL, Classification.narrative_id == SPIKE)
    timings = []
    with database.engine.connect() as connection:
        for _ in range(5):
            started = time.perf_counter()
            connection.execute(query).scalar_one()
            timings.append(time.perf_counter() - started)
    database.dispose()
    return {
        "trends_s": round(trends_s, 3),
        "digest_s": round(digest_s, 3),
        # CPU seconds of this process: on a shared machine the wall times above include waiting.
        "trends_cpu_s": round(trends_cpu_s, 3),
        "digest_cpu_s": round(digest_cpu_s, 3),
        "count_query_s": round(min(timings), 5),
        "days_recomputed": stats["days_recomputed"],
        "alerts": len(digest.alerts),
        "charts": len(digest.charts),
        "html_bytes": sizes["html"],
        "email_bytes": sizes["email"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 articles (under a minute)")
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--db", type=Path, help="Keep the database here (default: a temporary folder)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--today", help=argparse.SUPPRESS)
    args = parser.parse_args()
    today = date.fromisoformat(args.today) if args.today else datetime.now(UTC).date()
    if args.measure:
        print(json.dumps(measure(args.measure, today)))
        return
    articles = args.articles or (100_000 if args.quick else 1_000_000)
    folder = Path(tempfile.mkdtemp(prefix="bench-digest-"))
    path = args.db or folder / "bench.db"
    if path.exists():
        path.unlink()
    print(f"building {articles:,} articles over {args.days} days in {path} ...", file=sys.stderr)
    built = create(path, articles, args.days, today)
    with sqlite3.connect(path) as connection:
        counts = {
            "articles": connection.execute("SELECT count(*) FROM articles").fetchone()[0],
            "classifications": connection.execute("SELECT count(*) FROM classifications").fetchone()[0],
        }
    print(f"built: {built}, {counts}", file=sys.stderr)
    child = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--today", today.isoformat()],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    total = measured["trends_s"] + measured["digest_s"]
    result = {
        **counts,
        **built,
        **measured,
        "trends_plus_digest_s": round(total, 3),
        "ratio": round(total / measured["count_query_s"], 1) if measured["count_query_s"] else None,
        "target_s": 2.0,
        "target_rss_mb": 500,
    }
    if not args.db:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
