"""Downloader middleware that keeps a crawl on the web it was asked to crawl.

Every request (feeds, robots.txt, article pages, and each hop of a redirect, since redirected
requests come through again) must be http(s); article pages must be on their source's domains;
host names must resolve, and to public addresses unless ``[crawler] allow_private_addresses`` is
on. The host is resolved here without blocking the reactor (``resolver.lookup``), so that a request
that cannot be sent says why; the connection itself only ever gets the addresses the crawl's
``GuardedResolver`` allows (the check that holds against DNS rebinding).
A 429 answer makes the host wait what it asked for (``RetryAfterMiddleware``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future

from narrative_tracker.crawler.resolver import Lookup, lookup
from narrative_tracker.crawler.urls import host_of, is_http, on_domains

logger = logging.getLogger(__name__)


class SkippedRequest(IgnoreRequest):
    """A request refused before it was sent; ``reason`` is the summary's skip reason."""

    reason = "skipped"


class NotHttpRequest(SkippedRequest):
    reason = "not-http"


class OffDomainRequest(SkippedRequest):
    reason = "off-domain"


class PrivateAddressRequest(SkippedRequest):
    reason = "private-address"


class UnresolvedHostRequest(IgnoreRequest):
    """The host name did not resolve: a failure of the request (cause "dns"), not a skip."""

    reason = "dns"


def not_resolved_message(url: str, answer: Lookup) -> str:
    return f"{url}: name not resolved: {answer.host}: {answer.error or 'no address'}"


def private_address_message(url: str, answer: Lookup) -> str:
    shown = ", ".join(answer.addresses[:3]) + (" ..." if len(answer.addresses) > 3 else "")
    return (
        f"{url}: the host resolves to {shown}, not a public address (set [crawler] allow_private_addresses to crawl it)"
    )


class SafetyMiddleware:
    def __init__(self, allow_private_addresses: bool) -> None:
        self.allow_private_addresses = allow_private_addresses

    @classmethod
    def from_crawler(cls, crawler: Any) -> SafetyMiddleware:
        return cls(crawler.settings.getbool("NT_ALLOW_PRIVATE_ADDRESSES"))

    async def process_request(self, request: Request, spider: Any = None) -> None:
        url = request.url
        if not is_http(url):
            raise NotHttpRequest(f"{url}: only http and https URLs are fetched")
        domains = request.meta.get("nt_domains")
        if domains is not None and not on_domains(url, domains):
            raise OffDomainRequest(f"{url}: not on the source's domains {', '.join(domains)}")
        answer = await maybe_deferred_to_future(lookup(host_of(url)))
        if not answer.resolved:
            raise UnresolvedHostRequest(not_resolved_message(url, answer))
        if not answer.allowed(self.allow_private_addresses):
            raise PrivateAddressRequest(private_address_message(url, answer))
        return None


class RetryAfterMiddleware:
    """A 429 answer (Telegram, or any site that rate-limits) waits ``Retry-After`` and asks again.

    The wait holds every request to that host, not just the refused one: the site asked the
    crawler, not the request, to slow down. A ``Retry-After`` longer than
    ``[crawler] max_retry_after``, or a third 429 in a row, gives the request up (``http-429``).
    """

    MAX_TIMES = 3
    #: Seconds waited when a 429 names no time.
    DEFAULT_WAIT = 30.0

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait
        self._blocked_until: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryAfterMiddleware:
        return cls(crawler.settings.getfloat("NT_MAX_RETRY_AFTER"))

    async def process_request(self, request: Request, spider: Any = None) -> None:
        wait = self._blocked_until.get(host_of(request.url), 0.0) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:
        if response.status != 429:
            return response
        tries = int(request.meta.get("nt_429_tries", 0))
        wait = retry_after_seconds(response.headers.get("Retry-After"), default=self.DEFAULT_WAIT)
        if tries >= self.MAX_TIMES or wait > self.max_wait:
            logger.warning("%s: 429 Too Many Requests (Retry-After %.0f s); given up", request.url, wait)
            return response
        host = host_of(request.url)
        self._blocked_until[host] = max(self._blocked_until.get(host, 0.0), time.monotonic() + wait)
        logger.info("%s: 429 Too Many Requests; waiting %.1f s before asking %s again", request.url, wait, host)
        await asyncio.sleep(wait)
        return request.replace(meta={**request.meta, "nt_429_tries": tries + 1}, dont_filter=True)


def retry_after_seconds(value: bytes | None, *, default: float) -> float:
    """Seconds of a ``Retry-After`` header (a number of seconds or an HTTP date); ``default`` when unreadable."""
    if not value:
        return default
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        return default
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
