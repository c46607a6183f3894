"""Issue 13, item 6: the crawl process and its workers die with the process that started them,
and a stopped crawl job ends its whole process tree within the job's grace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from narrative_tracker.crawler import runner
from narrative_tracker.jobs import crawl as crawl_job
from narrative_tracker.jobs.runner import CHILD_STOP_SECONDS
from narrative_tracker.newsweb import NewsWeb, Page

from sites.news import Site, write_catalogue, write_config

PARENT = """
import sys
from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.settings import load_settings
run_crawl(load_settings(sys.argv[1]), timeout=120)
"""


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every process we can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat[0] != "Z":
            found[int(entry.name)] = (int(stat[1]), int(stat[2]), cmdline)
    return found


def _wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_killed_parent_takes_the_crawl_and_its_workers_with_it(tmp_path: Path) -> None:
    with NewsWeb() as web:
        web.site["/robots.txt"] = Page(b"User-agent: *\n", "text/plain")
        web.site["/slow/rss.xml"] = Page(b"<rss/>", "application/rss+xml", delay=30.0)  # keeps the crawl busy
        catalogue = write_catalogue(tmp_path / "sources.toml", Site(web, feeds={"west": web.url("/slow/rss.xml")}))
        config = write_config(
            tmp_path / "home",
            catalogue,
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            download_timeout=60,
            extraction_workers=2,
        )
        parent = subprocess.Popen([sys.executable, "-c", PARENT, str(config)])
        try:
            crawl: list[int] = []

            def crawl_started() -> bool:
                procs = _processes()
                crawl[:] = [p for p, (pp, _, cmd) in procs.items() if pp == parent.pid and "crawler.child" in cmd]
                # The crawl process, its fork server and the workers share its process group.
                return bool(crawl) and sum(1 for _, group, _ in procs.values() if group == crawl[0]) >= 3

            assert _wait_for(crawl_started, 60), "the crawl process and its workers did not start"
            assert _wait_for(lambda: bool(web.requests_for("/slow/rss.xml")), 30)
            group = crawl[0]
            parent.send_signal(signal.SIGKILL)
            parent.wait(timeout=10)
            assert _wait_for(lambda: not [p for p, (_, g, _) in _processes().items() if g == group], 15), [
                cmd for _, g, cmd in _processes().values() if g == group
            ]
        finally:
            if parent.poll() is None:
                parent.kill()
            for pid, (_, g, _) in _processes().items():
                if crawl and g == crawl[0]:
                    os.kill(pid, signal.SIGKILL)


def test_the_crawl_jobs_stop_grace_fits_in_the_jobs_own() -> None:
    assert crawl_job.STOP_GRACE_SECONDS + 1.0 < CHILD_STOP_SECONDS
    assert runner.STOP_GRACE_SECONDS >= crawl_job.STOP_GRACE_SECONDS  # the CLI keeps its longer grace
