"""Naming why a request failed: a skip reason or an error kind, for the crawl summary, and a message.

Failures before any answer have a cause of their own (``vocabulary.FETCH_FAILURE_CAUSES``): the
name did not resolve, it resolves only to private or loopback addresses, the connection was
refused, or it timed out. A connection that ``GuardedResolver`` left without an address fails as a
DNS lookup error; the resolver's last answer for the host tells which of the first two it was.
"""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure

from narrative_tracker.crawler.middlewares import (
    SkippedRequest,
    UnresolvedHostRequest,
    not_resolved_message,
    private_address_message,
)
from narrative_tracker.crawler.resolver import Lookup, recent
from narrative_tracker.crawler.urls import host_of, is_public_address


def _request_url(failure: Failure) -> str:
    request = getattr(failure, "request", None)
    return str(getattr(request, "url", ""))


def _blocked_lookup(failure: Failure) -> Lookup | None:
    """The resolver's answer when it left the connection no address because none was public."""
    answer = recent(host_of(_request_url(failure)))
    if answer is not None and answer.resolved and not all(is_public_address(a) for a in answer.addresses):
        return answer
    return None


def classify_failure(failure: Failure) -> tuple[str, bool]:
    """(kind, is_skip): a skip is a page deliberately not fetched (robots, off-domain, too large)."""
    error = failure.value
    if isinstance(error, SkippedRequest):
        return error.reason, True
    if isinstance(error, UnresolvedHostRequest):
        return error.reason, False
    if isinstance(error, HttpError):
        return f"http-{error.response.status}", False
    if isinstance(error, DownloadCancelledError) or "DOWNLOAD_MAXSIZE" in str(error):
        return "too-large", True
    if isinstance(error, IgnoreRequest):
        return ("robots", True) if "robots.txt" in str(error) else ("ignored", True)
    if isinstance(error, DownloadTimeoutError | TimeoutError | TCPTimedOutError):
        return "timeout", False
    if isinstance(error, CannotResolveHostError | DNSLookupError):
        return ("private-address", True) if _blocked_lookup(failure) else ("dns", False)
    if isinstance(error, DownloadConnectionRefusedError | ConnectionRefusedError):
        return "refused", False
    if isinstance(error, ConnectError | ConnectionLost | ResponseDataLossError):
        return "connection", False
    return type(error).__name__, False


def explain_failure(failure: Failure) -> str:
    """The failure's message, with the resolver's own words when the connection found no address."""
    error = failure.value
    if isinstance(error, CannotResolveHostError | DNSLookupError):
        url = _request_url(failure)
        blocked = _blocked_lookup(failure)
        if blocked is not None:
            return private_address_message(url, blocked)
        answer = recent(host_of(url))
        if answer is not None and not answer.resolved:
            return not_resolved_message(url, answer)
    return failure.getErrorMessage()
