"""Memory of the crawl: the proportional set size (PSS) of the crawl process and its workers.

The extraction workers are forked from one server process that has loaded trafilatura and the
language model, so they share those pages; summing their resident sizes would count the shared
pages once per worker. PSS charges each shared page to its sharers in proportion, so the sum over
the process tree is the memory the crawl really holds. Linux only (``/proc``); elsewhere the
crawl process's own peak resident size stands in.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_tree_mb(root: int | None = None) -> float:
    """Total PSS of ``root`` (default: this process) and all its descendants, in MB."""
    pids, queue = [], [root or os.getpid()]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue += _children(pid)
    total = sum(_pss_kb(pid) for pid in pids)
    if total == 0:  # no /proc: the peak resident size of this process alone
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return total / 1024


class PeakMemory:
    """The largest total seen by ``sample`` (called every 2 s during a crawl)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0

    def sample(self) -> None:
        self.peak_mb = max(self.peak_mb, process_tree_mb())
