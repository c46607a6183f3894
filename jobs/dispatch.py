"""Sending crawl and classify work to the workers, and waiting for it (``crawl`` and ``classify``
with a broker, and the scheduler's jobs of the same names).

The tasks are recorded in ``queue_tasks`` and committed before they are sent, so a worker never
starts a task the database does not know yet; waiting reads their status there.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from narrative_tracker.errors import QueueError
from narrative_tracker.interrupt import StopFlag, stop_requested
from narrative_tracker.jobs.queue import CLASSIFY_QUEUE, CRAWL_QUEUE, make_broker, send_with_backoff
from narrative_tracker.storage.models import QueueTask, utc_now

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "parked")
#: Seconds between two reads of a batch's progress.
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Batch:
    id: str
    queue: str
    tasks: int


def enqueue_crawl(settings: Settings, database: Database, sources: Sequence[str] = ()) -> Batch:
    """One crawl task per source of the catalogue (or per named source)."""
    from narrative_tracker.crawler.runner import select_sources
    from narrative_tracker.crawler.sources import load_sources
    from narrative_tracker.crawler.store import sync_catalogue

    catalogue = load_sources(settings.sources_file)
    selected = select_sources(catalogue, sources)
    sync_catalogue(database, catalogue)  # once here, before any worker looks the sources up
    broker = make_broker(settings, database)
    actor = broker.get_actor("crawl_source")
    return _send(broker, database, CRAWL_QUEUE, [(actor.message(spec.slug), spec.slug) for spec in selected])


def enqueue_classify(settings: Settings, database: Database, *, notify: Callable[[str], None] | None = None) -> Batch:
    """Batches of the ids of the articles the active model has not classified yet."""
    from narrative_tracker.classifier.classify import pending_ids
    from narrative_tracker.classifier.service import ensure_model

    model = ensure_model(settings, database, notify=notify or log.info)
    size = settings.queue.classify_batch or settings.classifier.batch_size
    broker = make_broker(settings, database)
    actor = broker.get_actor("classify_batch")
    messages: list[tuple[Any, str]] = []
    after = 0
    while ids := pending_ids(database, model.version, after=after, limit=size):
        after = ids[-1]
        messages.append((actor.message(ids, model.version), f"articles {ids[0]}-{ids[-1]} ({len(ids)})"))
    return _send(broker, database, CLASSIFY_QUEUE, messages)


#: Tries to send one task while the broker is away (back-off 1, 2, 4, 8, 16 s: half a minute).
SEND_ATTEMPTS = 6


def _send(broker: Any, database: Database, queue: str, messages: list[tuple[Any, str]]) -> Batch:
    """Record the tasks, then send them one by one (each retried with back-off while the broker is
    away). If sending stops (the broker stayed away, or an interrupt), the tasks not sent are
    recorded as failed, "never sent", so that nothing waits for them or shows them as queued; the
    ones sent run. Either way the next crawl or classify run sends its own tasks again."""
    batch = uuid.uuid4().hex
    with database.session() as session:
        session.add_all(
            QueueTask(message_id=m.message_id, queue=queue, subject=subject, batch=batch, stats={})
            for m, subject in messages
        )
    sent = 0
    try:
        for message, _ in messages:
            send_with_backoff(broker, message, attempts=SEND_ATTEMPTS)
            sent += 1
    except QueueError as exc:
        _never_sent(database, messages[sent:], "the broker was unreachable")
        raise QueueError(f"{exc} ({sent} of {len(messages)} {queue} tasks were sent)") from None
    except BaseException:  # Ctrl-C, a stopped job: the rest is not left "queued" forever
        _never_sent(database, messages[sent:], "sending was interrupted")
        raise
    finally:
        with contextlib.suppress(Exception):  # a broker that went away may fail to close
            broker.close()
    return Batch(batch, queue, len(messages))


def _never_sent(database: Database, messages: list[tuple[Any, str]], why: str) -> None:
    unsent = [m.message_id for m, _ in messages]
    if not unsent:
        return
    try:
        with database.session() as session:
            session.execute(
                update(QueueTask)
                .where(QueueTask.message_id.in_(unsent))
                .values(status="failed", finished_at=utc_now(), error=f"never sent: {why}")
            )
    except SQLAlchemyError as exc:
        log.warning("could not record %d unsent tasks as failed: %s", len(unsent), exc)


def batch_progress(database: Database, batch: str) -> dict[str, int]:
    with database.session() as session:
        rows = session.execute(
            select(QueueTask.status, func.count()).where(QueueTask.batch == batch).group_by(QueueTask.status)
        ).all()
    return {status: count for status, count in rows}


def wait_for(
    database: Database,
    batch: Batch,
    *,
    timeout: float,
    stop: StopFlag | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Wait until every task of ``batch`` is finished; their stats added up, with ``tasks`` counts.

    ``timed_out`` / ``interrupted`` say the wait ended early (the tasks go on in the workers).
    """
    deadline = time.monotonic() + timeout
    timed_out = interrupted = False
    while True:
        counts = batch_progress(database, batch.id)
        finished = sum(counts.get(s, 0) for s in FINISHED)
        if progress is not None:
            progress(finished, batch.tasks)
        if finished >= batch.tasks:
            break
        if stop_requested(stop):
            interrupted = True
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
        time.sleep(POLL_SECONDS)
    with database.session() as session:
        stats_rows = session.scalars(
            select(QueueTask.stats).where(QueueTask.batch == batch.id, QueueTask.status == "done")
        ).all()
    total = add_up([s for s in stats_rows if s])
    total["tasks"] = {"queued": batch.tasks, **counts}
    total["timed_out"] = timed_out
    total["interrupted"] = interrupted
    return total


def add_up(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Numbers summed, dicts of numbers summed by key; other values from the last task."""
    total: dict[str, Any] = {}
    for one in stats:
        for key, value in one.items():
            if isinstance(value, bool) or key in ("timed_out", "interrupted"):
                continue
            if isinstance(value, int | float):
                total[key] = round(total.get(key, 0) + value, 3)
            elif isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
                inner = total.setdefault(key, {})
                for k, v in value.items():
                    inner[k] = inner.get(k, 0) + v
            else:
                total[key] = value
    return total
