"""Functions for worker processes that die on some inputs: an extraction that dies on pages whose
URL says "kill" (a worker killed for memory, or crashed in a C library, on a hostile page), and
a classifier fit that dies on one label."""

from __future__ import annotations

import os
from typing import Any

from narrative_tracker.classifier.fitpool import fit_label
from narrative_tracker.crawler.extract import PageInput


def extract_or_die(pages: list[PageInput]) -> list[str]:
    if any("kill" in page.url for page in pages):
        os._exit(1)
    return [f"extracted {page.url}" for page in pages]


def fit_or_die(task: Any, solver: Any) -> tuple[Any, float]:
    """A per-label fit for ``classifier.fitpool.fit_all`` whose worker process dies on a label
    with a single positive (a worker killed for memory in the middle of a training)."""
    if int(task.y.sum()) == 1:
        os._exit(1)
    return fit_label(task, solver)
