"""Benchmark: server time of the web app's main pages over the database of bench/digest.py.

Builds (or, with ``--db`` pointing at an existing file, reuses) the database of
``bench/digest.py`` (1M articles over 365 days, 3M classifications; ``--quick``: 40k over 120
days, the same articles per day, built in about 20 s of CPU), brings trends and the
day's alerts up to date, then serves the app in-process (Starlette's TestClient: no network, so
the time is the server's) and measures p50/p95 over ``--requests`` requests each of:

- ``today``: ``/`` for the measured day (alerts, evidence, charts, narrative table), its content
  from the cache after the warm-up request (what every visitor but the first after a trends run
  or an alert evaluation gets);
- ``today_uncached``: the same with the cache emptied before each request (the first visitor);
- ``narrative``: the spiking narrative's page (chart, top outlets, recent articles, history);
- ``search``: ``/articles?q=...`` (a word in every title: the first page fills at once);
- ``search_rare``: ``/articles?q=number 4242`` (words in a handful of titles: without an index
  the whole table is read to fill a page);
- ``api_articles``: ``GET /api/v1/articles`` (the first keyset page);
- ``count``: the same app answering one indexed count query (the yardstick).

Each page also has ``cpu_p50_ms``, the process's CPU time per request (median): on a shared
machine the wall times include waiting for a core. ``load_average`` is the machine's at the end.

``ratio`` = the slowest page's p95 / the count route's p95. Target: every page under 300 ms p95.

    python bench/web.py [--quick] [--db PATH] [--requests N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _digest_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_digest", HERE / "digest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _percentiles(samples: list[float], cpu: list[float]) -> dict[str, float]:
    """p50/p95 of the wall times, and the median CPU time of the process per request (the machine
    is shared: CPU time says what the request cost, wall time what the user waited)."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "cpu_p50_ms": round(statistics.median(cpu) * 1000, 1),
    }


def measure(path: Path, today: date, requests: int, spike: str) -> dict[str, Any]:
    from sqlalchemy import func, select
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from narrative_tracker.settings import load_settings
    from narrative_tracker.storage.database import open_database
    from narrative_tracker.storage.models import Classification
    from narrative_tracker.trends.alerts import evaluate_alerts
    from narrative_tracker.trends.config import AlertSettings
    from narrative_tracker.trends.daily import update_trends
    from narrative_tracker.web.accounts import Account, create_token
    from narrative_tracker.web.app import create_app
    from narrative_tracker.web.auth import guard

    started = time.perf_counter()
    database = open_database(f"sqlite:///{path}")  # migrates a database built before, e.g. its search index
    opened_s = time.perf_counter() - started
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23)
    update_trends(database, "UTC", now=now)
    evaluate_alerts(database, today, AlertSettings(), "UTC", now=now)
    token = create_token(database, f"bench-{time.time_ns()}", "viewer")
    app = create_app(load_settings(), database, secret="bench-secret-" + "x" * 40)

    @guard("read")
    async def count(request: Request, account: Account) -> Response:
        query = select(func.count()).where(Classification.narrative_id == spike)
        with database.session() as session:
            return JSONResponse({"count": session.scalar(query)})

    app.router.routes.insert(0, Route("/bench/count", count))
    client = TestClient(app, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {token}"})
    targets = {
        "today": f"/?date={today.isoformat()}",
        "today_uncached": f"/?date={today.isoformat()}",
        "narrative": f"/narratives/{spike}",
        "search": "/articles?q=Headline",
        "search_rare": "/articles?q=number+4242",
        "api_articles": "/api/v1/articles",
        "count": "/bench/count",
    }
    results: dict[str, Any] = {}
    for name, url in targets.items():
        # Today's content is cached until the trends or the day's alerts change; "today_uncached"
        # empties the cache before each request: what the first request after a trends run pays.
        uncached = name == "today_uncached"
        assert client.get(url).status_code == 200, url  # warm-up, and a check that it answers
        samples, cpu = [], []
        for _ in range(requests):
            if uncached and hasattr(app.state, "today_cache"):  # (an app without the cache: nothing to empty)
                app.state.today_cache.clear()
            started, cpu_started = time.perf_counter(), time.process_time()
            answer = client.get(url)
            samples.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            assert answer.status_code == 200, (url, answer.status_code)
        results[name] = _percentiles(samples, cpu)
    database.dispose()
    return {"open_and_migrate_s": round(opened_s, 2), **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40,000 articles over 120 days, 20 requests per page")
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--days", type=int, default=None, help="days of articles (365; --quick: 120)")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--db", type=Path, help="Build here, or reuse the database already there")
    args = parser.parse_args()
    bench = _digest_bench()
    today = datetime.now(UTC).date()
    # --quick keeps about the same articles per day (what Today and the alerts read) on a third of
    # the days: the initial trends build over the whole history was most of its time.
    articles = args.articles or (40_000 if args.quick else 1_000_000)
    days = args.days or (120 if args.quick else 365)
    requests = args.requests or (20 if args.quick else 40)  # 20: the p95 of 10 is their maximum
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    path = args.db or folder / "bench.db"
    built: dict[str, Any] = {"reused": True}
    if not path.exists():
        print(f"building {articles:,} articles over {days} days in {path} ...", file=sys.stderr)
        built = bench.create(path, articles, days, today)
    os.environ["NARRATIVE_TRACKER_HOME"] = str(folder / "home")
    spike = bench.SPIKES[0] if hasattr(bench, "SPIKES") else bench.SPIKE
    pages = measure(path, today, requests, spike)
    slowest = max(pages[name]["p95_ms"] for name in pages if name not in ("count", "open_and_migrate_s"))
    result = {
        **built,
        "requests_per_page": requests,
        **{name: values for name, values in pages.items()},
        "slowest_page_p95_ms": slowest,
        "ratio": round(slowest / pages["count"]["p95_ms"], 1) if pages["count"]["p95_ms"] else None,
        "target_p95_ms": 300,
        "load_average": [round(n, 2) for n in os.getloadavg()],
    }
    if not args.db:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
