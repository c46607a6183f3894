"""History of job runs (scheduled or manual) and the scheduler processes that are alive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from narrative_tracker.storage.models.base import Base, UTCDateTime, utc_now


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    #: scheduled | manual | catch-up | chained
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: running | success | failed | interrupted | skipped
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    #: host:pid of the process that ran it, to tell an interrupted run from one still going.
    runner: Mapped[str] = mapped_column(String(200), default="")


class SchedulerInstance(Base):
    """One ``scheduler run`` process, refreshed by its heartbeat; read by ``scheduler status``.

    Only the leader runs jobs; it also publishes the next run time of each job here, since the
    schedule lives in its memory (jobs are declared in code, not stored).
    """

    __tablename__ = "scheduler_instances"

    #: host:pid
    runner: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: leader | standby
    role: Mapped[str] = mapped_column(String(16), default="standby")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: Where its /healthz answers, or "" when the endpoint is disabled.
    health_url: Mapped[str] = mapped_column(Text, default="")
    #: job name -> ISO 8601 time of its next run (None: paused or disabled); leader only.
    next_runs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
