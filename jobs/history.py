"""The run history: every run of every job, scheduled or manual, in the ``job_runs`` table."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import JobRun, utc_now

FINISHED = ("success", "failed", "interrupted", "skipped")


def this_runner() -> str:
    """``host:pid`` of this process, written into the runs it records."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class RunRecord:
    """A run as commands and the health endpoint show it."""

    id: int
    job: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict[str, Any]
    error: str | None
    runner: str

    @property
    def duration(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "trigger": self.trigger,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration": self.duration,
            "stats": self.stats,
            "error": self.error,
            "runner": self.runner,
        }


def _record(row: JobRun) -> RunRecord:
    return RunRecord(
        id=row.id,
        job=row.job,
        trigger=row.trigger,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        stats=dict(row.stats or {}),
        error=row.error,
        runner=row.runner,
    )


def start_run(database: Database, job: str, trigger: str, *, now: datetime | None = None) -> int:
    """Record a run as ``running``; returns its id."""
    with database.session() as session:
        row = JobRun(job=job, trigger=trigger, status="running", started_at=now or utc_now(), runner=this_runner())
        session.add(row)
        session.flush()
        return row.id


def finish_run(
    database: Database, run_id: int, status: str, *, stats: dict[str, Any] | None = None, error: str | None = None
) -> None:
    if status not in FINISHED:
        raise ValueError(f"unknown run status {status!r}")
    with database.session() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(status=status, finished_at=utc_now(), stats=stats or {}, error=error)
        )


def record_skipped(database: Database, job: str, trigger: str, reason: str) -> int:
    """A run that did not start (another run of the job was going): recorded so nobody wonders."""
    run_id = start_run(database, job, trigger)
    finish_run(database, run_id, "skipped", error=reason)
    return run_id


def interrupt_stale_runs(database: Database, job: str, reason: str) -> int:
    """Mark ``running`` runs of ``job`` as interrupted. Call only while holding the job's run lock:
    then no live process can be running it, so any such row was left by a runner that died."""
    with database.session() as session:
        result = session.execute(
            update(JobRun)
            .where(JobRun.job == job, JobRun.status == "running")
            .values(status="interrupted", finished_at=utc_now(), error=reason)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]


def running_run(database: Database, job: str) -> RunRecord | None:
    """The newest run of ``job`` still marked running, if any."""
    with database.session() as session:
        row = session.scalars(
            select(JobRun).where(JobRun.job == job, JobRun.status == "running").order_by(JobRun.id.desc()).limit(1)
        ).first()
        return _record(row) if row else None


def list_runs(database: Database, *, job: str | None = None, limit: int = 20) -> list[RunRecord]:
    """Newest first."""
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
    if job:
        query = query.where(JobRun.job == job)
    with database.session() as session:
        return [_record(row) for row in session.scalars(query)]


@dataclass(frozen=True)
class JobSummary:
    """What the health endpoint and ``scheduler status`` say about one job."""

    last_status: str | None = None
    last_started: datetime | None = None
    last_success: datetime | None = None


def summaries(database: Database, jobs: list[str]) -> dict[str, JobSummary]:
    """Per job: the newest run's status and start, and the end of the newest successful run.

    Skipped runs do not count as "the last run": they say another run was going.
    """
    result: dict[str, JobSummary] = {}
    with database.session() as session:
        success = dict(
            session.execute(
                select(JobRun.job, func.max(JobRun.finished_at))
                .where(JobRun.status == "success", JobRun.job.in_(jobs))
                .group_by(JobRun.job)
            ).all()
        )
        newest = (
            select(JobRun.job, func.max(JobRun.id).label("id"))
            .where(JobRun.status != "skipped", JobRun.job.in_(jobs))
            .group_by(JobRun.job)
            .subquery()
        )
        newest_rows = select(JobRun.job, JobRun.status, JobRun.started_at).join(newest, JobRun.id == newest.c.id)
        last = {row.job: row for row in session.execute(newest_rows)}
    for job in jobs:
        row = last.get(job)
        finished = success.get(job)
        result[job] = JobSummary(
            last_status=row.status if row else None,
            last_started=_aware(row.started_at) if row else None,
            last_success=_aware(finished),
        )
    return result


def last_start(database: Database, job: str) -> datetime | None:
    """When the newest non-skipped run of ``job`` started (for catch-up)."""
    with database.session() as session:
        value = session.scalar(select(func.max(JobRun.started_at)).where(JobRun.job == job, JobRun.status != "skipped"))
    return _aware(value)


def first_start(database: Database) -> datetime | None:
    """When the history begins: the oldest run of any job."""
    with database.session() as session:
        return _aware(session.scalar(select(func.min(JobRun.started_at))))


def _aware(value: Any) -> datetime | None:
    """Aggregates (max/min) bypass the column type on SQLite and come back naive or as text."""
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
