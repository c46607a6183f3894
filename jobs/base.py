"""What every job function receives, and how it says it was stopped.

A job function is ``run(ctx: JobContext) -> dict`` (the stats recorded in the run history). The
scheduler and ``narrative-tracker jobs run NAME`` call the same functions. A job may be called in
the scheduler's process or in a child process: it must not assume either. Work that needs its own
process (the Scrapy crawl) starts a child itself and terminates it when ``ctx.stop`` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from narrative_tracker.interrupt import JobInterrupted, StopFlag

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database


@dataclass
class JobContext:
    settings: Settings
    database: Database
    #: Set when the job must end now (service shutting down after its grace period).
    stop: StopFlag = field(default_factory=threading.Event)
    #: scheduled | manual | catch-up | chained
    trigger: str = "manual"
    #: Called with (done, total) by long jobs that can tell their progress; None when nobody listens.
    progress: Callable[[int, int | None], None] | None = None


__all__ = ["JobContext", "JobFunction", "JobInterrupted"]

JobFunction = Callable[[JobContext], dict[str, Any]]
