"""The task queue's shared state: tasks (for waiting, poison counting, status), live workers, and
the installation-wide pace of each crawled domain.

The broker carries the messages; PostgreSQL records what became of them, because the broker
forgets a message once it is acknowledged and counts nothing about a worker that died.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from narrative_tracker.storage.models.base import Base, UTCDateTime, utc_now


class QueueTask(Base):
    """One task sent to the broker, by its message id."""

    __tablename__ = "queue_tasks"
    __table_args__ = (
        Index("ix_queue_tasks_batch", "batch"),
        Index("ix_queue_tasks_status_finished", "status", "finished_at"),
    )

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: crawl | classify
    queue: Mapped[str] = mapped_column(String(40))
    #: What it works on, for people: a source slug, or "articles 12-511".
    subject: Mapped[str] = mapped_column(Text, default="")
    #: The enqueuing run (one ``crawl`` command, one scheduled job), to wait for its tasks.
    batch: Mapped[str] = mapped_column(String(64))
    #: queued | running | retrying | done | failed | parked
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: Times a worker started it (a redelivery after a worker died counts).
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    #: host:pid of the worker running it (or that ran it last).
    worker: Mapped[str] = mapped_column(String(200), default="")
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class QueueWorker(Base):
    """One ``narrative-tracker worker`` process, refreshed by its heartbeat."""

    __tablename__ = "queue_workers"

    #: host:pid
    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    #: Comma-separated queue names.
    queues: Mapped[str] = mapped_column(String(200))
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class DomainPace(Base):
    """When the next request to a domain may start, for every crawl process of the installation."""

    __tablename__ = "domain_pace"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
