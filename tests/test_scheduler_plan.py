"""First runs and catch-up after downtime, decided from the run history with the clock given, not slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from narrative_tracker.jobs.config import JobSettings
from narrative_tracker.jobs.schedule import plan_job

PARIS = ZoneInfo("Europe/Paris")
DIGEST = JobSettings(cron="0 7 * * *")
CRAWL = JobSettings(every="30m")


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=PARIS)


def test_a_daily_digest_missed_during_a_night_outage_runs_once_at_start() -> None:
    last = paris(10, 7, 0) + timedelta(seconds=2)  # yesterday's digest
    plan = plan_job("digest", DIGEST, PARIS, now=paris(11, 9, 30), last_start=last, history_start=paris(1, 0))
    assert plan is not None and plan.catch_up
    assert plan.first_run == paris(11, 9, 30)
    # and afterwards the regular schedule: tomorrow 07:00 Paris time
    assert plan.trigger.get_next_fire_time(plan.first_run, plan.first_run) == paris(12, 7)


def test_several_missed_days_still_give_one_catch_up_run() -> None:
    plan = plan_job("digest", DIGEST, PARIS, now=paris(14, 9), last_start=paris(10, 7), history_start=paris(1, 0))
    assert plan is not None and plan.catch_up and plan.first_run == paris(14, 9)


def test_a_restart_before_the_fire_time_waits_for_it() -> None:
    plan = plan_job("digest", DIGEST, PARIS, now=paris(11, 6, 50), last_start=paris(10, 7), history_start=paris(1, 0))
    assert plan is not None and not plan.catch_up
    assert plan.first_run == paris(11, 7)


def test_cron_times_are_read_in_the_digest_time_zone() -> None:
    now = datetime(2026, 3, 11, 5, 0, tzinfo=UTC)  # 06:00 in Paris
    plan = plan_job("digest", DIGEST, PARIS, now=now, last_start=None, history_start=None)
    assert plan is not None
    assert plan.first_run == datetime(2026, 3, 11, 6, 0, tzinfo=UTC)  # 07:00 Paris


def test_a_fresh_install_catches_up_nothing() -> None:
    now = paris(11, 9)
    digest = plan_job("digest", DIGEST, PARIS, now=now, last_start=None, history_start=None)
    crawl = plan_job("crawl", CRAWL, PARIS, now=now, last_start=None, history_start=None)
    assert digest is not None and not digest.catch_up and digest.first_run == paris(12, 7)
    assert crawl is not None and not crawl.catch_up and crawl.first_run == now + timedelta(minutes=30)


def test_a_job_that_never_ran_catches_up_a_fire_time_since_the_history_began() -> None:
    plan = plan_job("digest", DIGEST, PARIS, now=paris(11, 9), last_start=None, history_start=paris(10, 12))
    assert plan is not None and plan.catch_up


@pytest.mark.parametrize(
    ("minutes_ago", "catch_up", "first_in_minutes"),
    [(10, False, 20), (29, False, 1), (31, True, 0), (600, True, 0)],
)
def test_an_interval_job_keeps_its_rhythm_across_a_restart(
    minutes_ago: int, catch_up: bool, first_in_minutes: int
) -> None:
    now = paris(11, 9)
    plan = plan_job(
        "crawl", CRAWL, PARIS, now=now, last_start=now - timedelta(minutes=minutes_ago), history_start=paris(1, 0)
    )
    assert plan is not None
    assert plan.catch_up is catch_up
    assert plan.first_run == now + timedelta(minutes=first_in_minutes)


def test_a_job_without_schedule_has_no_plan() -> None:
    assert plan_job("classify", JobSettings(), PARIS, now=paris(11, 9), last_start=None, history_start=None) is None
