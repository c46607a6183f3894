"""Downloader middleware that keeps a crawl on the web it was asked to crawl.

Every request (feeds, robots.txt, article pages, and each hop of a redirect, since redirected
requests come through again) must be http(s); article pages must be on their source's domains;
host names must resolve, and to public addresses unless ``[crawler] allow_private_addresses`` is
on. The host is resolved here without blocking the reactor (``resolver.lookup``), so that a request
that cannot be sent says why; the connection itself only ever gets the addresses the crawl's
``GuardedResolver`` allows (the check that holds against DNS rebinding).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future

from narrative_tracker.crawler.resolver import Lookup, lookup
from narrative_tracker.crawler.urls import host_of, is_http, on_domains


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
