"""Settings of ``[service]``, ``[jobs.*]`` and ``[retention]``: when the scheduler runs what.

``[service]`` and ``[jobs.<name>]`` (``every``, ``cron``, ``enabled``) are a public contract. The
``[digest]`` and ``[alerts]`` settings live with the stage that uses them, in ``trends/config.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator, model_validator

from narrative_tracker.configmodel import Section

JOB_NAMES = ("crawl", "classify", "trends", "digest", "retrain", "retention")

_EVERY = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_every(text: str) -> timedelta:
    """``"30m"`` -> 30 minutes. Units: s, m, h, d."""
    match = _EVERY.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not an interval: write a positive number and a unit s, m, h or d, e.g. '30m'")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class ServiceSettings(Section):
    bind: str = "127.0.0.1"
    #: Health and metrics endpoint port; 0 disables it.
    port: int = Field(default=8686, ge=0, le=65535)
    #: Seconds a running job may take to finish after SIGTERM before its child process is stopped
    #: (keep it below systemd's TimeoutStopSec minus ~10 s).
    shutdown_grace: float = Field(default=20.0, ge=0, le=3600)
    #: Seconds between a standby's attempts to become leader (takeover happens within this).
    standby_poll: float = Field(default=5.0, gt=0, le=60)


class JobSettings(Section):
    every: str | None = None
    cron: str | None = None
    enabled: bool = True
    #: Seconds a run may start late and still run (APScheduler ``misfire_grace_time``).
    misfire_grace_time: int = Field(default=600, ge=1)
    #: Seconds a run may take before it is stopped (crawl and retrain run in child processes).
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("every")
    @classmethod
    def _check_every(cls, value: str | None) -> str | None:
        if value is not None:
            parse_every(value)
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday): {exc}") from exc
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> JobSettings:
        if self.every and self.cron:
            raise ValueError("give either 'every' or 'cron', not both")
        return self


DEFAULT_JOBS: dict[str, dict[str, object]] = {
    "crawl": {"every": "30m"},
    "classify": {"every": "30m"},
    "trends": {"every": "1h"},
    "digest": {"cron": "0 7 * * *"},
    "retrain": {"cron": "0 3 * * 0", "enabled": False},
    "retention": {"cron": "30 2 * * *"},
}


def merge_job_tables(user: dict[str, object]) -> dict[str, dict[str, object]]:
    """Lay the user's ``[jobs.*]`` tables over the defaults; a user schedule replaces the default one."""
    unknown = sorted(set(user) - set(JOB_NAMES))
    if unknown:
        raise ValueError(f"unknown job {unknown[0]!r}; jobs are: {', '.join(JOB_NAMES)}")
    merged: dict[str, dict[str, object]] = {}
    for name, default in DEFAULT_JOBS.items():
        table = dict(default)
        given = user.get(name) or {}
        if not isinstance(given, dict):
            raise ValueError(f"[jobs.{name}] must be a table")
        if "every" in given or "cron" in given:
            table.pop("every", None)
            table.pop("cron", None)
        table.update(given)
        merged[name] = table
    return merged


class RetentionSettings(Section):
    #: Days of job-run history kept.
    job_runs_days: int = Field(default=90, ge=1)
    #: Days of delivered digests kept in the database.
    digests_days: int = Field(default=365, ge=1)


class QueueSettings(Section):
    """``[queue]``: where crawl and classify tasks go. ``broker_url`` is a public contract."""

    #: RabbitMQ URL, e.g. ``amqp://guest:guest@127.0.0.1:5672//``; empty: crawl and classify run
    #: embedded, in the calling process (the single-machine default, no broker at all).
    broker_url: str = ""
    # Keys below are this project's own additions (not part of the public contract).
    #: Deliveries of one task (redeliveries after a worker died included) before it is parked.
    max_deliveries: int = Field(default=3, ge=1, le=20)
    #: Retries of a task that raised (with back-off), before it is recorded as failed.
    max_retries: int = Field(default=3, ge=0, le=20)
    #: Article ids per classify task (default: ``[classifier] batch_size``).
    classify_batch: int | None = Field(default=None, ge=1, le=100_000)
    #: Seconds ``crawl`` and ``classify`` wait for their tasks (and the scheduler's jobs) before giving up waiting.
    wait_timeout: float = Field(default=3600.0, gt=0)
