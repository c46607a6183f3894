"""Job: classify stored articles not yet classified by the active model.

Trains the out-of-the-box model from the taxonomy examples first when no model exists. Honours
``ctx.stop`` between batches (each batch is its own transaction, so stopping loses nothing).
"""

from __future__ import annotations

import logging
from typing import Any

from narrative_tracker.jobs.base import JobContext, JobInterrupted

log = logging.getLogger(__name__)


def run(ctx: JobContext) -> dict[str, Any]:
    from narrative_tracker.classifier.classify import classify_stored
    from narrative_tracker.classifier.service import ensure_model
    from narrative_tracker.classifier.taxonomy import load_taxonomy

    if ctx.settings.queue.broker_url:
        from narrative_tracker.jobs.dispatch import enqueue_classify, wait_for

        batch = enqueue_classify(ctx.settings, ctx.database)
        found = wait_for(
            ctx.database, batch, timeout=ctx.settings.queue.wait_timeout, stop=ctx.stop, progress=ctx.progress
        )
        if found["interrupted"]:
            raise JobInterrupted("stopped waiting for the classify batches (they go on in the workers)", stats=found)
        return found
    model = ensure_model(ctx.settings, ctx.database, notify=log.info)
    stats = classify_stored(
        ctx.database,
        model,
        load_taxonomy(ctx.settings.taxonomy_file),
        batch_size=ctx.settings.classifier.batch_size,
        stop=ctx.stop,
        progress=ctx.progress,
    )
    if stats["interrupted"]:
        raise JobInterrupted(f"classify stopped after {stats['articles']} articles", stats=stats)
    return stats
