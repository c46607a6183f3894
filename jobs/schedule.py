"""Triggers from ``[jobs.*]`` and the first run of each job, including catch-up after downtime.

Cron expressions are read in the ``[digest] timezone`` (one zone for every cron job, so that
"0 7 * * *" means 07:00 where the monitoring team reads its digest); ``every`` intervals do not
depend on a zone.

Catch-up is decided from the run history, not from stored scheduler state: a job is due at once
when its schedule had a fire time after the start of its newest run (or, for a job that never
ran, after the oldest run in the history, i.e. since the service has been in use) that is already
past. It then runs once, however many fire times were missed (coalescing), and the regular
schedule continues. An ``every`` job also keeps its rhythm across restarts: its first run is one
interval after its newest run, not one interval after the restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from narrative_tracker.jobs.config import JobSettings, parse_every


@dataclass(frozen=True)
class JobPlan:
    name: str
    trigger: BaseTrigger
    #: When the first run happens.
    first_run: datetime
    #: True when the first run is a catch-up for a fire time missed while the service was down.
    catch_up: bool


def plan_job(
    name: str,
    job: JobSettings,
    zone: tzinfo,
    *,
    now: datetime,
    last_start: datetime | None,
    history_start: datetime | None,
) -> JobPlan | None:
    """The trigger and first run of an enabled, scheduled job (None when it has no schedule)."""
    reference = last_start or history_start
    if job.every:
        interval = parse_every(job.every)
        if reference is None:
            first, catch_up = now + interval, False
        else:
            due = reference + interval
            catch_up = due <= now
            first = now if catch_up else due
        trigger = IntervalTrigger(seconds=interval.total_seconds(), start_date=first, timezone=zone)
        return JobPlan(name, trigger, first, catch_up)
    if job.cron:
        trigger = CronTrigger.from_crontab(job.cron, timezone=zone)
        missed_fire = (
            trigger.get_next_fire_time(None, reference + timedelta(microseconds=1)) if reference is not None else None
        )
        if missed_fire is not None and missed_fire <= now:
            return JobPlan(name, trigger, now, True)
        upcoming = trigger.get_next_fire_time(None, now)
        if upcoming is None:
            return None
        return JobPlan(name, trigger, upcoming, False)
    return None
