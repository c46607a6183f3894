"""Naming why a request failed: a skip reason or an error kind, for the crawl summary."""

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
from twisted.internet.error import ConnectError, ConnectionLost, DNSLookupError, TimeoutError
from twisted.python.failure import Failure

from narrative_tracker.crawler.middlewares import SkippedRequest


def classify_failure(failure: Failure) -> tuple[str, bool]:
    """(kind, is_skip): a skip is a page deliberately not fetched (robots, off-domain, too large)."""
    error = failure.value
    if isinstance(error, SkippedRequest):
        return error.reason, True
    if isinstance(error, HttpError):
        return f"http-{error.response.status}", False
    if isinstance(error, DownloadCancelledError) or "DOWNLOAD_MAXSIZE" in str(error):
        return "too-large", True
    if isinstance(error, IgnoreRequest):
        return ("robots", True) if "robots.txt" in str(error) else ("ignored", True)
    if isinstance(error, DownloadTimeoutError | TimeoutError):
        return "timeout", False
    if isinstance(error, CannotResolveHostError | DNSLookupError):
        return "dns", False
    if isinstance(error, DownloadConnectionRefusedError | ConnectError | ConnectionLost | ResponseDataLossError):
        return "connection", False
    return type(error).__name__, False
