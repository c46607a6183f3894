"""Politeness for the whole installation: per-domain concurrency and delay shared by every crawl
process (every worker on every machine), kept in PostgreSQL.

- Concurrency: a request to a domain holds one of ``concurrent_requests_per_domain`` session
  advisory locks (one per place) on a connection of its own while it is in flight. The database
  frees a lock whose holder died with its connection: a SIGKILLed worker never keeps a place.
- Delay: the ``domain_pace`` row of a domain says when its next request may start; each request
  moves it ``download_delay`` on, atomically, and waits until its own start.

Within one crawl process the places it holds are handed from a finished request straight to the
next one waiting for the same domain, without a round trip, for up to ``HOLD_SECONDS``; then the
place goes back to the database, where every process can take it (each polls at the same pace,
so a released place goes to any of them). One
request per domain and process asks the database for a free place at a time (polling with
back-off); the others wait in the process for a place or their turn. Without that, a busy domain
cost two to three round trips per request plus up to eight per poll every 20 ms, for each waiting
request: three times the CPU of the crawl itself (bench/README.md, "Workers").

The database calls run off the reactor thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

#: High bits of every domain-place lock key (single-bigint form; jobs.locks uses the two-int form).
_KEY_TAG = 0x4E54_0000_0000_0000
#: Seconds between two tries for a place on a busy domain: the first, doubling up to the last.
POLL_SECONDS = 0.02
MAX_POLL_SECONDS = 0.1
#: Seconds a place is handed from request to request within a process before it goes back to the
#: database for any process to take (a place then sits free for half a poll on average).
HOLD_SECONDS = 2.0
#: Meta key of a request that holds a place.
LEASE_KEY = "nt_domain_lease"

_PACE = text(
    "INSERT INTO domain_pace (domain, next_at) VALUES (:domain, clock_timestamp() + make_interval(secs => :delay)) "
    "ON CONFLICT (domain) DO UPDATE SET next_at = "
    "GREATEST(domain_pace.next_at, clock_timestamp()) + make_interval(secs => :delay) "
    "RETURNING EXTRACT(EPOCH FROM (domain_pace.next_at - clock_timestamp())) - :delay"
)


def place_key(domain: str, place: int) -> int:
    return _KEY_TAG | (zlib.crc32(domain.lower().encode()) << 8) | place


@dataclass
class Lease:
    domain: str
    key: int
    connection: Connection
    #: When this place was taken from the database.
    since: float = field(default_factory=time.monotonic)


class SharedLimiter:
    """Installation-wide places and pace per domain (blocking calls; see the module's docstring)."""

    def __init__(self, database_url: str, *, per_domain: int, delay: float, max_connections: int) -> None:
        self.per_domain = per_domain
        self.delay = delay
        # A connection per request in flight; autocommit, so that the pace update is its own transaction.
        self._engine = create_engine(
            make_url(database_url), pool_size=max_connections, max_overflow=4, isolation_level="AUTOCOMMIT"
        )
        self._lock = threading.Lock()

    def try_acquire(self, domain: str, *, skip: frozenset[int] = frozenset()) -> Lease | None:
        """A place on ``domain`` if one is free, else None; the keys in ``skip`` (held by this
        process already) are not tried."""
        connection = self._engine.connect()
        try:
            for place in range(self.per_domain):
                key = place_key(domain, place)
                if key in skip:
                    continue
                if connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
                    return Lease(domain, key, connection)
        except SQLAlchemyError:
            connection.close()
            raise
        connection.close()
        return None

    def pace(self, domain: str) -> float:
        """Reserve the domain's next start; seconds to wait until it (0 when due now)."""
        if self.delay <= 0:
            return 0.0
        with self._engine.connect() as connection:
            wait = connection.scalar(_PACE, {"domain": domain.lower(), "delay": self.delay})
        return max(0.0, float(wait or 0.0))

    def release(self, lease: Lease) -> None:
        try:
            lease.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lease.key})
        except SQLAlchemyError:
            log.debug("could not unlock a domain place (the connection is closed below)", exc_info=True)
            with contextlib.suppress(SQLAlchemyError):
                lease.connection.invalidate()
        finally:
            with contextlib.suppress(SQLAlchemyError):
                lease.connection.close()

    def dispose(self) -> None:
        self._engine.dispose()


@dataclass
class _Domain:
    """One domain's places within this process: the requests waiting, the keys held."""

    waiting: deque[asyncio.Future[Lease]] = field(default_factory=deque)
    held: set[int] = field(default_factory=set)
    #: The task asking the database for places (kept here: the loop holds tasks weakly).
    poller: asyncio.Task[None] | None = None


class SharedPolitenessMiddleware:
    """Downloader middleware: a request takes a place on its domain (and its turn) before it is sent."""

    def __init__(self, limiter: SharedLimiter) -> None:
        self.limiter = limiter
        self._domains: dict[str, _Domain] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> SharedPolitenessMiddleware:
        from scrapy import signals

        settings = crawler.settings
        limiter = SharedLimiter(
            settings.get("NT_SHARED_LIMITS_DATABASE"),
            per_domain=settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
            delay=settings.getfloat("NT_SHARED_DOWNLOAD_DELAY"),
            max_connections=settings.getint("CONCURRENT_REQUESTS"),
        )
        middleware = cls(limiter)
        crawler.signals.connect(middleware.closed, signal=signals.spider_closed)
        return middleware

    def closed(self, spider: Any = None) -> None:
        for state in self._domains.values():
            for waiter in state.waiting:
                waiter.cancel()
        self.limiter.dispose()  # closes every connection: the database frees their places

    async def process_request(self, request: Any, spider: Any = None) -> None:
        from urllib.parse import urlsplit

        if LEASE_KEY in request.meta:  # a retry of a request that still holds its place
            return None
        domain = (urlsplit(request.url).hostname or "").lower()
        request.meta[LEASE_KEY] = await self._take(domain)
        wait = await asyncio.to_thread(self.limiter.pace, domain)
        if wait > 0:
            await asyncio.sleep(wait)
        return None

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        self._release(request)
        return response

    def process_exception(self, request: Any, exception: BaseException, spider: Any = None) -> None:
        self._release(request)
        return None

    def _release(self, request: Any) -> None:
        lease = request.meta.pop(LEASE_KEY, None)
        if lease is not None:
            self._give_back(lease)

    async def _take(self, domain: str) -> Lease:
        """A place on ``domain``: handed over by a request of this process, or from the database."""
        state = self._domains.setdefault(domain, _Domain())
        waiter: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        state.waiting.append(waiter)
        if state.poller is None or state.poller.done():
            state.poller = asyncio.get_running_loop().create_task(self._poll(domain, state))
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled after the place was handed to it: the place goes on to the next request.
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())
            raise

    async def _poll(self, domain: str, state: _Domain) -> None:
        """Ask the database for places while requests of this process wait for one."""
        delay = POLL_SECONDS
        while _drop_cancelled(state.waiting):
            try:
                lease = await asyncio.to_thread(self.limiter.try_acquire, domain, skip=frozenset(state.held))
            except SQLAlchemyError as exc:
                log.warning("shared politeness: cannot reach the database (%s); trying again", exc)
                lease = None
            if lease is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_POLL_SECONDS)
                continue
            delay = POLL_SECONDS
            state.held.add(lease.key)
            if _drop_cancelled(state.waiting):  # the requests may have been cancelled meanwhile
                self._hand(lease, state)
            else:
                state.held.discard(lease.key)
                self.limiter.release(lease)

    def _give_back(self, lease: Lease) -> None:
        """A request is done with its place: to the next request waiting here, or to the database."""
        state = self._domains.get(lease.domain)
        fresh = time.monotonic() - lease.since < HOLD_SECONDS
        if state is not None and fresh and _drop_cancelled(state.waiting):
            self._hand(lease, state)
            return
        if state is not None:
            state.held.discard(lease.key)
        # One quick round trip, on the reactor thread so the place is free before the next request.
        self.limiter.release(lease)

    def _hand(self, lease: Lease, state: _Domain) -> None:
        waiter = state.waiting.popleft()
        waiter.set_result(lease)


def _drop_cancelled(waiting: deque[asyncio.Future[Lease]]) -> bool:
    """Whether a request still waits (the cancelled ones at the head are dropped)."""
    while waiting and waiting[0].done():
        waiting.popleft()
    return bool(waiting)
