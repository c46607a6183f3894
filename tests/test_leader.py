"""Real `scheduler run` processes: one leader per database, takeover, SIGTERM mid-job, SIGKILL and restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from narrative_tracker.jobs import history
from narrative_tracker.storage.database import Database

from helpers.jobs import read_calls, write_config
from helpers.polling import wait_for

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

#: Runs the real Service with a test job in place of the crawl (the CLI cannot be given test jobs).
HARNESS = """
import logging, sys
from narrative_tracker.jobs import logs
from narrative_tracker.jobs.service import Service
from narrative_tracker.settings import load_settings
from helpers.jobs import endless_job, registry
logs.configure(logging.INFO)
sys.exit(Service(load_settings(sys.argv[1]), registry=registry(crawl=endless_job)).serve())
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return None


class Processes:
    """Started processes, all stopped at the end of the test whatever happens."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, args: list[str]) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.started.append(process)
        return process

    def scheduler(self, config: Path) -> subprocess.Popen[str]:
        return self.start([sys.executable, "-m", "narrative_tracker", "--config", str(config), "scheduler", "run"])

    def harness(self, config: Path) -> subprocess.Popen[str]:
        return self.start([sys.executable, "-c", HARNESS, str(config)])

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            if process.stderr:
                process.stderr.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop_all()


def stop(process: subprocess.Popen[str], limit: float = 30) -> tuple[int, float, str]:
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(limit + 10)
    took = time.monotonic() - began
    return code, took, process.stderr.read() if process.stderr else ""


def test_two_schedulers_elect_one_leader_and_the_standby_takes_over(
    tmp_path: Path, db_url: str, database: Database, processes: Processes
) -> None:
    ports = free_port(), free_port()
    configs = []
    for name, port in zip("ab", ports, strict=True):
        (tmp_path / name).mkdir()
        configs.append(write_config(tmp_path / name, db_url, "[jobs.retention]\nevery = '1s'\n", port=port))
    first = processes.scheduler(configs[0])
    wait_for(lambda: (healthz(ports[0]) or {}).get("leader") is True, 30, "the first scheduler to lead")
    second = processes.scheduler(configs[1])
    standby = wait_for(lambda: healthz(ports[1]), 30, "the second scheduler's endpoint")
    time.sleep(2)  # the standby has had time to try the lock twice
    standby = healthz(ports[1]) or {}
    assert standby["leader"] is False
    assert set(standby["jobs"]) == {"crawl", "classify", "trends", "digest", "retrain", "retention"}
    assert (healthz(ports[0]) or {})["leader"] is True
    runners = {run.runner.split(":")[1] for run in history.list_runs(database, limit=1000)}
    assert runners == {str(first.pid)}, "only the leader runs jobs"

    code, took, logs = stop(first)
    assert code == 0 and took < 30, logs
    wait_for(lambda: (healthz(ports[1]) or {}).get("leader") is True, 30, "the standby to take over")
    wait_for(
        lambda: any(run.runner.endswith(f":{second.pid}") for run in history.list_runs(database, limit=5)),
        15,
        "a job run by the new leader",
    )
    code, _, logs = stop(second)
    assert code == 0, logs
    assert "standby" in logs and "leader" in logs


def test_sigterm_mid_job_stops_the_child_records_interrupted_and_exits_0(
    tmp_path: Path, db_url: str, database: Database, processes: Processes
) -> None:
    config = write_config(tmp_path, db_url, "[jobs.crawl]\nevery = '1s'\n")
    service = processes.harness(config)
    home = Path(os.environ["NARRATIVE_TRACKER_HOME"])
    wait_for(lambda: any(c[:2] == ("endless", "start") for c in read_calls(home)), 40, "the job to start")
    code, took, logs = stop(service)
    assert code == 0, logs
    assert took < 3 + 5 + 5  # shutdown_grace = 3, then the child's stop
    [run] = [run for run in history.list_runs(database) if run.job == "crawl"]
    assert run.status == "interrupted"
    assert run.error == "stopped before it finished (shutdown or Ctrl-C) (stopped by the service)"
    assert [c[1] for c in read_calls(home)] == ["start", "stopped"]


def test_after_sigkill_the_restarted_service_marks_the_run_interrupted(
    tmp_path: Path, db_url: str, database: Database, processes: Processes
) -> None:
    config = write_config(tmp_path, db_url, "[jobs.crawl]\nevery = '1s'\n")
    service = processes.harness(config)
    home = Path(os.environ["NARRATIVE_TRACKER_HOME"])
    wait_for(lambda: any(c[:2] == ("endless", "start") for c in read_calls(home)), 40, "the job to start")
    service.kill()
    service.wait(10)
    child = read_calls(home)[0][3]
    # The orphaned job process notices its parent is gone and stops.
    wait_for(lambda: any(c[:2] == ("endless", "stopped") for c in read_calls(home)), 15, "the orphan to stop")
    wait_for(lambda: not _alive(child), 20, "the orphan to exit")
    assert [run.status for run in history.list_runs(database)] == ["running"]

    restarted = processes.scheduler(write_config(tmp_path, db_url, "[jobs.retention]\nevery = '1h'\n"))
    wait_for(lambda: history.list_runs(database)[0].status == "interrupted", 30, "the dead run to be marked")
    [run] = history.list_runs(database)
    assert "its process died" in (run.error or "")
    code, _, logs = stop(restarted)
    assert code == 0, logs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_manual_run_while_the_service_runs_the_job_is_skipped(
    tmp_path: Path, db_url: str, database: Database, processes: Processes
) -> None:
    config = write_config(tmp_path, db_url, "[jobs.crawl]\nevery = '1s'\n")
    service = processes.harness(config)
    home = Path(os.environ["NARRATIVE_TRACKER_HOME"])
    wait_for(lambda: any(c[:2] == ("endless", "start") for c in read_calls(home)), 40, "the job to start")
    manual = subprocess.run(
        [sys.executable, "-m", "narrative_tracker", "--config", str(config), "jobs", "run", "crawl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert manual.returncode == 1
    assert f"another crawl run was in progress (run 1 by {socket_host()}:{service.pid}" in manual.stderr
    code, _, logs = stop(service)
    assert code == 0, logs
    assert [(run.trigger, run.status) for run in history.list_runs(database)] == [
        ("manual", "skipped"),
        ("scheduled", "interrupted"),
    ]


def socket_host() -> str:
    import socket

    return socket.gethostname()
