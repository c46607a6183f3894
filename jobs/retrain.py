"""Job: train a candidate on the current labels and promote it if it is not worse.

The candidate is compared with the active model on the fixed evaluation set; a worse one stays a
candidate (an analyst can still ``models promote --force`` it).
"""

from __future__ import annotations

import logging
from typing import Any

from narrative_tracker.errors import ModelError
from narrative_tracker.jobs.base import JobContext, JobInterrupted

log = logging.getLogger(__name__)


def run(ctx: JobContext) -> dict[str, Any]:
    from narrative_tracker.classifier import service

    if ctx.stop.is_set():
        raise JobInterrupted("retrain stopped before it started")
    result = service.train(ctx.settings, ctx.database, cv_folds=0, notes="retrain job", notify=log.info)
    stats: dict[str, Any] = {
        "version": result["version"],
        "records": result["counts"]["records"],
        "seconds": result["seconds"],
        "promoted": False,
    }
    try:
        promotion = service.promote(ctx.settings, ctx.database, result["version"])
    except ModelError as exc:
        log.warning("%s", exc)
        stats["refused"] = str(exc)
    else:
        stats["promoted"] = True
        stats["previous"] = promotion["previous"]
        stats["compared"] = promotion["compared"]
    return stats
