"""Issue 13, item 7: manual crawl, classify and digest --send take their job's run lock; a failed
digest channel is claimed by a conditional update."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from narrative_tracker.cli import cli
from narrative_tracker.jobs.locks import close, make_lock
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models.trends import DigestDelivery
from narrative_tracker.trends.digest import produce
from narrative_tracker.trends.digest.delivery import _claim

from helpers.alerts_history import NOW, TODAY
from helpers.world import World


@pytest.mark.parametrize(
    ("job", "args"),
    [
        ("crawl", ["crawl"]),
        ("classify", ["classify"]),
        ("digest", ["digest", "--send"]),
    ],
)
def test_a_manual_command_refuses_to_run_beside_its_job(tmp_path: Path, job: str, args: list[str]) -> None:
    config = tmp_path / "config.toml"
    digests = tmp_path / "digests"
    config.write_text(f'[digest.folder]\npath = "{digests}"\n', encoding="utf-8")
    settings = load_settings(config)
    lock = make_lock(settings.database_url, settings.home, f"job-{job}")  # a scheduled run holds it
    assert lock.try_acquire()
    try:
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
    finally:
        close(lock)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, Exception) and f"the {job} job is running now" in str(result.exception)
    assert not digests.exists()  # nothing delivered


def test_only_one_of_many_racing_claims_of_a_failed_channel_wins(database: Database) -> None:
    World(database).source("rs", "russian-state")
    digest = produce(database, load_settings(None), TODAY, now=NOW)
    with database.session() as session:
        session.add(DigestDelivery(day=digest.day, channel="webhook", status="failed", attempts=4))
    for _ in range(5):
        barrier = threading.Barrier(6)
        results: list[object] = []

        def claim(barrier: threading.Barrier = barrier, results: list[object] = results) -> None:
            barrier.wait()
            results.append(_claim(database, digest, "webhook"))

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sum(1 for r in results if r is None) == 1, results
        with database.session() as session:
            row = session.scalars(select(DigestDelivery)).one()
            assert row is not None and row.status == "sending"
            row.status = "failed"
