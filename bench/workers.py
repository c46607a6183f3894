"""Crawl on workers through RabbitMQ against the embedded crawl, on the same cores.

    python bench/workers.py [--quick] [--sources N] [--workers W]

Serves the synthetic news web of ``bench/crawl.py`` (one feed of 100 articles per source, all on
127.0.0.1: one domain, so both crawls run under the same politeness: robots.txt, no delay,
``concurrent_requests_per_domain`` 8) and crawls it twice into fresh PostgreSQL databases:

- embedded: ``crawler.runner.run_crawl`` in this process, as ``narrative-tracker crawl`` without
  a broker;
- workers: W ``narrative-tracker worker`` processes (started and warm before the clock starts, as
  a deployment's are), one crawl task per source sent through RabbitMQ, timed until every task is
  done (``crawl`` with a broker).

``ratio`` is the workers' articles per second over the embedded crawl's. Each worker keeps one
crawl process for all its tasks (``crawler.server``), set up before the worker registers, so
outside the clock (the embedded crawl's process start is inside it: it starts one per crawl).
Then every source is crawled again on the workers (feeds answer 304, nothing new):
that time per task, times the workers, is the per-task overhead (the task recorded and
acknowledged, the source lock, the catalogue synchronised, one crawl in the warm crawl process).
CPU seconds of each side (this process and its children for the embedded crawl; the worker
processes and their crawl processes for the workers) and the load average are reported too,
since wall time on a shared machine depends on the load. The last line is one JSON object.

Needs RabbitMQ (NARRATIVE_TRACKER_BENCH_BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//)
and PostgreSQL (NARRATIVE_TRACKER_BENCH_POSTGRES_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres, used to create and drop the bench databases).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from crawl import FEED_SIZE, SyntheticWeb
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from narrative_tracker.newsweb import NewsWeb

BROKER = os.environ.get("NARRATIVE_TRACKER_BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES = os.environ.get(
    "NARRATIVE_TRACKER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CONCURRENCY = 8


def _database(admin: Any) -> str:
    name = f"nt_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


def _drop(admin: Any, url: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def _setup(workdir: Path, web: SyntheticWeb, database_url: str, broker: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    blocks = [
        f'[[source]]\nslug = "s{k}"\nname = "S{k}"\ngroup = "western"\ncountry = "GB"\nlanguages = ["en"]\n'
        f'feeds = ["{url}"]\ndomains = ["127.0.0.1"]\n'
        for k, url in enumerate(web.feed_urls())
    ]
    (workdir / "sources.toml").write_text("\n".join(blocks))
    config = workdir / "config.toml"
    config.write_text(
        f'[storage]\ndatabase_url = "{database_url}"\n[crawler]\nsources = "sources.toml"\n'
        f"allow_private_addresses = true\ndownload_delay = 0\nconcurrent_requests_per_domain = {CONCURRENCY}\n"
        f'autothrottle = false\nextraction_workers = 1\n[queue]\nbroker_url = "{broker}"\n'
    )
    return config


def _count(database_url: str) -> int:
    from narrative_tracker.storage.database import open_database
    from narrative_tracker.storage.models import Article

    db = open_database(database_url)
    try:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(Article)) or 0
    finally:
        db.dispose()


def _own_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the embedded crawl's
    process; its extraction workers' CPU comes in the crawl's stats)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a live process, of its ended children and, recursively, of its live children."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # Each thread lists the children it started (a worker's crawl processes: its task threads').
        children = [c for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the command name.
    total = sum(int(value) for value in fields[11:15]) / tick
    return total + sum(_tree_cpu(int(child)) for child in children)


def run_embedded(web: SyntheticWeb, workdir: Path, database_url: str) -> tuple[int, float, float]:
    from narrative_tracker.crawler.runner import run_crawl
    from narrative_tracker.settings import load_settings
    from narrative_tracker.storage.database import open_database

    config = _setup(workdir, web, database_url, "")
    settings = load_settings(config)
    open_database(settings.database_url).dispose()  # created and migrated before the clock starts
    started, cpu = time.perf_counter(), _own_cpu()
    stats = run_crawl(settings)
    cpu = _own_cpu() - cpu + float(stats.get("worker_cpu_seconds") or 0)
    return _count(database_url), time.perf_counter() - started, cpu


def run_workers(web: SyntheticWeb, workdir: Path, database_url: str, workers: int) -> dict[str, Any]:
    from narrative_tracker.jobs.dispatch import enqueue_crawl, wait_for
    from narrative_tracker.settings import load_settings
    from narrative_tracker.storage.database import open_database

    config = _setup(workdir, web, database_url, BROKER)
    settings = load_settings(config)
    db = open_database(settings.database_url)
    from narrative_tracker.jobs.queue import make_broker

    broker = make_broker(settings, db)
    for queue in ("crawl", "crawl.DQ"):
        broker.flush(queue)  # left-overs of an interrupted earlier run
    broker.close()
    log = (workdir / "workers.log").open("ab")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "narrative_tracker", "--config", str(config), "worker", "--queues", "crawl"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 120
        while _live(db) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        started, cpu = time.perf_counter(), sum(_tree_cpu(proc.pid) for proc in procs)
        sender_cpu = _own_cpu()
        batch = enqueue_crawl(settings, db)
        sent = time.perf_counter() - started
        stats = wait_for(db, batch, timeout=3600)
        seconds = time.perf_counter() - started
        cpu = sum(_tree_cpu(proc.pid) for proc in procs) - cpu
        sender_cpu = _own_cpu() - sender_cpu
        articles = _count(database_url)
        again = time.perf_counter()
        wait_for(db, enqueue_crawl(settings, db), timeout=3600)
        idle = time.perf_counter() - again
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=120)
        db.dispose()
    return {
        "articles": articles,
        "seconds": seconds,
        "tasks": batch.tasks,
        "tasks_done": stats["tasks"].get("done", 0),
        "send_seconds": sent,
        "recrawl_seconds": idle,
        "cpu_seconds": cpu,
        "sender_cpu_seconds": sender_cpu,
    }


def _live(db: Any) -> int:
    from narrative_tracker.storage.models import QueueWorker

    with db.session() as session:
        return session.scalar(select(func.count()).select_from(QueueWorker)) or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 sources of 100 articles (about a minute)")
    parser.add_argument("--sources", type=int, help="sources of 100 articles (default 40; 8 with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    sources = args.sources or (8 if args.quick else 40)
    port: list[int] = [0]
    site = SyntheticWeb(sources * FEED_SIZE, port)
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with tempfile.TemporaryDirectory() as tmp, NewsWeb(site) as web:  # type: ignore[arg-type]
        port[0] = web.port
        embedded_db, workers_db = _database(admin), _database(admin)
        try:
            embedded_articles, embedded_seconds, embedded_cpu = run_embedded(site, Path(tmp) / "embedded", embedded_db)
            result = run_workers(site, Path(tmp) / "workers", workers_db, args.workers)
        finally:
            _drop(admin, embedded_db)
            _drop(admin, workers_db)
    embedded_rate = embedded_articles / embedded_seconds
    workers_rate = result["articles"] / result["seconds"]
    per_task = result["recrawl_seconds"] * args.workers / max(result["tasks"], 1)
    figures = {
        "sources": sources,
        "articles_expected": sources * FEED_SIZE,
        "embedded_articles": embedded_articles,
        "embedded_seconds": round(embedded_seconds, 2),
        "embedded_articles_per_second": round(embedded_rate, 1),
        "embedded_cpu_seconds": round(embedded_cpu, 1),
        "workers": args.workers,
        "workers_articles": result["articles"],
        "workers_seconds": round(result["seconds"], 2),
        "workers_articles_per_second": round(workers_rate, 1),
        "workers_cpu_seconds": round(result["cpu_seconds"], 1),
        "sender_cpu_seconds": round(result["sender_cpu_seconds"], 1),
        "tasks": result["tasks"],
        "send_ms_per_task": round(result["send_seconds"] * 1000 / max(result["tasks"], 1), 2),
        "per_task_overhead_seconds": round(per_task, 2),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "ratio": round(workers_rate / embedded_rate, 3),
    }
    print(
        f"embedded: {embedded_articles} articles in {embedded_seconds:.1f} s ({embedded_rate:.0f}/s), "
        f"{embedded_cpu:.1f} s of CPU"
    )
    print(
        f"{args.workers} workers: {result['articles']} articles in {result['seconds']:.1f} s ({workers_rate:.0f}/s), "
        f"{result['cpu_seconds']:.1f} s of CPU in the workers, "
        f"{result['tasks']} tasks, {figures['send_ms_per_task']} ms to send each, "
        f"{per_task:.2f} s of overhead per task (a re-crawl with nothing new)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
