"""The Today page's content, gathered once per change of what it is built from.

Gathering a day's digest (alerts with evidence, the narrative table, the charts' series) took
about 160 ms at 1M articles, on every request, although it only changes when the trends job or
an alert evaluation stores something. Each request now reads a fingerprint of those inputs (a
handful of indexed look-ups) and gathers again only when it changed:

- the day's alerts: their count, highest id and newest ``created_at`` (an evaluation replaces the
  day's rows, so ids alone could repeat after a delete);
- the trends: the newest ``updated_at`` of the trends job's watermarks (saved at the start and at
  the end of every run, after the trend tables were written);
- the active model (the evidence stances are its classifications);
- the feeds' count and how many are unhealthy (shown under the table);
- the taxonomy's names (edited file, new names).

Whatever else the page shows (an article's title edited in place, a reposted copy) is at most
``MAX_AGE_SECONDS`` old: an entry is gathered again after that even if its fingerprint holds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func, select

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Feed, ModelVersion
from narrative_tracker.storage.models.trends import Alert, TrendState

#: Trends job watermarks (``trends/daily.py``); the digest markers in the same table are not trends.
TREND_WATERMARKS = ("articles", "classifications", "timezone")
MAX_AGE_SECONDS = 300.0
#: Days kept (a user paging through the date picker should not grow the cache without bound).
MAX_DAYS = 32

T = TypeVar("T")


def fingerprint(database: Database, day: date) -> tuple[Any, ...]:
    """What the day's Today content is built from, as cheap aggregates (one round trip)."""
    alerts = select(func.count(), func.max(Alert.id), func.max(Alert.created_at)).where(Alert.day == day)
    trends = select(func.max(TrendState.updated_at)).where(TrendState.name.in_(TREND_WATERMARKS))
    model = select(ModelVersion.version, ModelVersion.promoted_at).where(ModelVersion.status == "active")
    feeds = select(func.count(), func.count().filter(Feed.healthy.is_(False))).select_from(Feed)
    with database.session() as session:
        return (
            tuple(session.execute(alerts).one()),
            session.scalar(trends),
            tuple(session.execute(model).all()),
            tuple(session.execute(feeds).one()),
        )


class TodayCache:
    """Per-app, thread-safe: the gathered content of recent days with the fingerprint it had."""

    def __init__(self, *, max_age: float = MAX_AGE_SECONDS, max_days: int = MAX_DAYS) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[date, tuple[tuple[Any, ...], float, Any]] = OrderedDict()
        self.max_age = max_age
        self.max_days = max_days
        #: Gatherings done (a test reads it to see that a change was noticed).
        self.builds = 0

    def get(self, day: date, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        """The content for ``day`` under ``key`` (the fingerprint plus anything else it depends on),
        from the cache or built now. Two requests missing at once may both build; the later one's
        result is kept, which is as fresh."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(day)
            if entry is not None and entry[0] == key and now - entry[1] < self.max_age:
                self._entries.move_to_end(day)
                return entry[2]
        value = build()
        with self._lock:
            self.builds += 1
            self._entries[day] = (key, now, value)
            self._entries.move_to_end(day)
            while len(self._entries) > self.max_days:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
