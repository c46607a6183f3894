"""``workers status``: live workers and what they run, queue depths, tasks failed in the last hour."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from narrative_tracker.jobs.queue import QUEUES, make_broker
from narrative_tracker.jobs.worker import LIVE_WITHIN
from narrative_tracker.storage.models import QueueTask, QueueWorker, utc_now

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

log = logging.getLogger(__name__)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def queue_depths(settings: Settings, database: Database) -> dict[str, dict[str, int] | None]:
    """Per queue: ``ready`` (waiting), ``delayed`` (retries waiting their back-off), ``dead``; None
    for every queue when the broker does not answer."""
    try:
        broker = make_broker(settings, database)
    except Exception as exc:
        log.warning("cannot read queue depths: %s", exc)
        return dict.fromkeys(QUEUES)
    depths: dict[str, dict[str, int] | None] = {}
    try:
        for queue in QUEUES:
            try:
                ready, delayed, dead = broker.get_queue_message_counts(queue)
                depths[queue] = {"ready": ready, "delayed": delayed, "dead": dead}
            except Exception as exc:
                log.warning("cannot read the depth of queue %s: %s", queue, exc)
                depths[queue] = None
    finally:
        broker.close()
    return depths


def task_counts(database: Database) -> dict[str, dict[str, int]]:
    """Tasks per queue and status, over the whole recorded history."""
    with database.session() as session:
        rows = session.execute(
            select(QueueTask.queue, QueueTask.status, func.count()).group_by(QueueTask.queue, QueueTask.status)
        ).all()
    counts: dict[str, dict[str, int]] = {queue: {} for queue in QUEUES}
    for queue, status, count in rows:
        counts.setdefault(queue, {})[status] = count
    return counts


def live_worker_count(database: Database) -> int:
    with database.session() as session:
        query = select(func.count()).select_from(QueueWorker).where(QueueWorker.heartbeat_at >= utc_now() - LIVE_WITHIN)
        return session.scalar(query) or 0


def workers_status(settings: Settings, database: Database) -> dict[str, Any]:
    now = utc_now()
    with database.session() as session:
        workers = session.scalars(
            select(QueueWorker).where(QueueWorker.heartbeat_at >= now - LIVE_WITHIN).order_by(QueueWorker.worker)
        ).all()
        running = session.scalars(select(QueueTask).where(QueueTask.status == "running")).all()
        failed = session.scalars(
            select(QueueTask)
            .where(QueueTask.status.in_(("failed", "parked")), QueueTask.finished_at >= now - timedelta(hours=1))
            .order_by(QueueTask.finished_at.desc())
        ).all()
        live = [
            {
                "worker": w.worker,
                "host": w.host,
                "pid": w.pid,
                "queues": w.queues.split(","),
                "concurrency": w.concurrency,
                "started_at": _iso(w.started_at),
                "heartbeat_at": _iso(w.heartbeat_at),
                "current_tasks": [
                    {"id": t.message_id, "queue": t.queue, "subject": t.subject, "since": _iso(t.started_at)}
                    for t in running
                    if t.worker == w.worker
                ],
            }
            for w in workers
        ]
        failures = [
            {
                "id": t.message_id,
                "queue": t.queue,
                "subject": t.subject,
                "status": t.status,
                "deliveries": t.deliveries,
                "error": t.error,
                "finished_at": _iso(t.finished_at),
            }
            for t in failed
        ]
    return {"workers": live, "queues": queue_depths(settings, database), "failed_last_hour": failures}
