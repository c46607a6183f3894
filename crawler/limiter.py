"""Politeness for the whole installation: per-domain concurrency and delay shared by every crawl
process (every worker on every machine), kept in PostgreSQL.

- Concurrency: a request to a domain holds one of ``concurrent_requests_per_domain`` session
  advisory locks (one per place) on a connection of its own while it is in flight. The database
  frees a lock whose holder died with its connection: a SIGKILLed worker never keeps a place.
- Delay: the ``domain_pace`` row of a domain says when its next request may start; each request
  moves it ``download_delay`` on, atomically, and waits until its own start.

The downloader middleware calls them off the reactor thread (``asyncio.to_thread``): each call is
one round trip to PostgreSQL, and waiting for a place polls, without holding a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

#: High bits of every domain-place lock key (single-bigint form; jobs.locks uses the two-int form).
_KEY_TAG = 0x4E54_0000_0000_0000
#: Seconds between two tries for a place on a busy domain.
POLL_SECONDS = 0.02
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

    def try_acquire(self, domain: str) -> Lease | None:
        """A place on ``domain`` if one is free, else None."""
        connection = self._engine.connect()
        try:
            for place in range(self.per_domain):
                key = place_key(domain, place)
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


class SharedPolitenessMiddleware:
    """Downloader middleware: a request takes a place on its domain (and its turn) before it is sent."""

    def __init__(self, limiter: SharedLimiter) -> None:
        self.limiter = limiter

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
        self.limiter.dispose()

    async def process_request(self, request: Any, spider: Any = None) -> None:
        from urllib.parse import urlsplit

        if LEASE_KEY in request.meta:  # a retry of a request that still holds its place
            return None
        domain = (urlsplit(request.url).hostname or "").lower()
        while True:
            lease = await asyncio.to_thread(self.limiter.try_acquire, domain)
            if lease is not None:
                break
            await asyncio.sleep(POLL_SECONDS)
        request.meta[LEASE_KEY] = lease
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
            # Unlocking is one quick round trip; done here so the place is free before the next request.
            self.limiter.release(lease)
