"""Running the real pipeline over the demo world: the code behind ``narrative-tracker demo``.

Nothing here stands in for a stage of the product. The demo writes a sources catalogue and a
settings file into a fresh data directory, imports the analyst labels shipped with it as
``narrative-tracker labels import`` does, then runs the jobs exactly as ``narrative-tracker jobs
run crawl --chain`` and the scheduler do (``jobs.runner``: run history, child processes; the
classify job trains the out-of-the-box model on the taxonomy examples and the stored labels),
and finally the scheduler's ``digest`` job, which delivers the digest to the ``[digest.folder]``
channel: the output folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from narrative_tracker.errors import UsageError
from narrative_tracker.interrupt import StopFlag

if TYPE_CHECKING:
    from narrative_tracker.demo.site import DemoSite
    from narrative_tracker.jobs.runner import RunOutcome
    from narrative_tracker.newsweb import NewsWeb
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

#: Marks a data directory as written by the demo, so that a new run may replace it.
MARKER = ".narrative-tracker-demo"
ENV_PREFIX = "NARRATIVE_TRACKER_"
#: How often the scheduler crawls when the demo is left running (an ``every`` interval).
LIVE_CRAWL_EVERY = "1m"
#: Seconds between two new articles on the news web when the demo is left running.
LIVE_PUBLISH_SECONDS = 20.0


@dataclass
class DemoPaths:
    out: Path
    data: Path
    config: Path
    sources: Path

    @classmethod
    def under(cls, out: Path) -> DemoPaths:
        data = out / "data"
        return cls(out=out, data=data, config=data / "config.toml", sources=data / "sources.toml")


@dataclass
class StepReport:
    name: str
    status: str
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def prepare_folders(out: Path) -> DemoPaths:
    """A fresh data directory under ``out``; refuses to touch a folder the demo did not make."""
    paths = DemoPaths.under(out.resolve())
    if paths.data.exists():
        if not (paths.data / MARKER).exists():
            raise UsageError(
                f"{paths.data} exists and was not made by the demo: choose another --out folder or remove it"
            )
        shutil.rmtree(paths.data)
    paths.data.mkdir(parents=True)
    (paths.data / MARKER).write_text("Written by `narrative-tracker demo`; replaced by the next run.\n")
    return paths


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(paths: DemoPaths, *, service_port: int = 0, telegram_base_url: str | None = None) -> Path:
    """The demo's settings: the local outlets, fast crawling of 127.0.0.1, the folder channel."""
    settings: dict[str, Any] = {
        "storage": {"database_url": f"sqlite:///{paths.data / 'tracker.db'}"},
        "crawler": {
            "sources": paths.sources.name,
            # The demo outlets live on 127.0.0.1: allowed here, refused by default.
            "allow_private_addresses": True,
            # One local server plays twelve outlets: politeness delays would only slow the demo.
            "download_delay": 0.0,
            "concurrent_requests_per_domain": 16,
            # Each feed lists its outlet's whole history: take it all in the first crawl.
            "max_articles_per_feed": 1000,
            # The demo channels' previews, on the local news web.
            **({"telegram_base_url": telegram_base_url} if telegram_base_url else {}),
        },
        "service": {"bind": "127.0.0.1", "port": service_port},
        "jobs": {
            "crawl": {"every": LIVE_CRAWL_EVERY},
            "classify": {"every": "10m"},
            "trends": {"every": "10m"},
            "digest": {"cron": "0 7 * * *"},
            "retrain": {"enabled": False},
        },
        # Publication dates of the demo world are laid out in UTC days.
        "digest": {"timezone": "UTC", "folder": {"path": str(paths.out)}},
    }
    header = (
        "# Settings written by `narrative-tracker demo` for its invented outlets on 127.0.0.1.\n"
        f"# Try: narrative-tracker --config {paths.config} trends --narrative "
        "discrediting-the-west/western-arms-pause-is-russian-victory\n\n"
    )
    paths.config.write_text(header + tomli_w.dumps(settings), encoding="utf-8")
    return paths.config


@contextlib.contextmanager
def demo_environment(home: Path) -> Iterator[None]:
    """The demo's own data directory, with no override from the environment reaching the demo.

    A NARRATIVE_TRACKER_DATABASE_URL meant for a real installation must never send the demo's
    invented articles into that database.
    """
    saved = {name: value for name, value in os.environ.items() if name.startswith(ENV_PREFIX)}
    for name in saved:
        del os.environ[name]
    os.environ[ENV_PREFIX + "HOME"] = str(home)
    try:
        yield
    finally:
        for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
            del os.environ[name]
        os.environ.update(saved)


def child_environment(home: Path) -> dict[str, str]:
    """The environment of a process the demo starts (the scheduler left running)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    env[ENV_PREFIX + "HOME"] = str(home)
    return env


LABELS_FILE = Path(__file__).resolve().parent / "data" / "analyst_labels.toml"
LABELS_DATASET = "demo-analyst-labels"


def import_analyst_labels(settings: Settings, database: Database, paths: DemoPaths) -> int:
    """Import the demo's analyst labels as ``narrative-tracker labels import`` does; returns the count.

    They are written to ``<data>/analyst-labels.jsonl`` first, the format analysts import, so
    that the file the model learnt from is there to read. None of their texts is a demo article.
    """
    import json
    import tomllib

    from narrative_tracker.classifier.labels import import_records
    from narrative_tracker.classifier.records import read_records
    from narrative_tracker.classifier.taxonomy import load_taxonomy

    with LABELS_FILE.open("rb") as handle:
        records = tomllib.load(handle)["record"]
    target = paths.data / "analyst-labels.jsonl"
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    parsed = read_records(target, load_taxonomy(settings.taxonomy_file))
    counts = import_records(database, parsed, dataset=LABELS_DATASET, labeller="narrative-tracker demo")
    return int(counts["records"])


def run_jobs(
    settings: Settings,
    database: Database,
    stop: StopFlag,
    on_step: Callable[[StepReport], None] | None = None,
) -> list[StepReport]:
    """Crawl, then (chained) classify and trends, then the digest job, as the scheduler runs them.

    Stops at the first job that does not succeed: the later ones would only report on nothing.
    """
    import logging

    from narrative_tracker.jobs.runner import LogSetup, run_chain, run_job

    logs = LogSetup(logging.getLogger().level)
    reports: list[StepReport] = []

    def record(outcome: RunOutcome) -> None:
        report = StepReport(outcome.job, outcome.status, outcome.duration, outcome.stats, outcome.error)
        reports.append(report)
        if on_step is not None:
            on_step(report)

    run_chain(settings, database, "crawl", trigger="manual", stop=stop, on_finish=record, logs=logs)
    chain_done = [r.name for r in reports] == ["crawl", "classify", "trends"]
    if chain_done and all(r.status == "success" for r in reports) and not stop.is_set():
        record(run_job(settings, database, "digest", trigger="manual", stop=stop, logs=logs))
    return reports


def digest_files(out: Path, day: str) -> list[Path]:
    return [path for path in (out / f"{day}.{ext}" for ext in ("html", "md", "json")) if path.exists()]


def today_utc() -> str:
    return datetime.now(UTC).date().isoformat()


def build_site(days: int) -> tuple[DemoSite, NewsWeb]:
    """The demo world planned and put on a started local news web; returns (site, web)."""
    from narrative_tracker.demo.site import DemoSite
    from narrative_tracker.demo.world import plan
    from narrative_tracker.newsweb import NewsWeb

    web = NewsWeb()
    site = DemoSite(web, plan(days))
    web.start()
    return site, web
