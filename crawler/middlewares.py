"""Downloader middleware that keeps a crawl on the web it was asked to crawl.

Every request (feeds, robots.txt, article pages, and each hop of a redirect, since redirected
requests come through again) must be http(s); article pages must be on their source's domains;
host names must resolve to public addresses unless ``[crawler] allow_private_addresses`` is on.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from narrative_tracker.crawler.urls import host_of, is_http, on_domains, resolves_to_public_addresses


class SkippedRequest(IgnoreRequest):
    """A request refused before it was sent; ``reason`` is the summary's skip reason."""

    reason = "skipped"


class NotHttpRequest(SkippedRequest):
    reason = "not-http"


class OffDomainRequest(SkippedRequest):
    reason = "off-domain"


class PrivateAddressRequest(SkippedRequest):
    reason = "private-address"


class SafetyMiddleware:
    def __init__(self, allow_private_addresses: bool) -> None:
        self.allow_private_addresses = allow_private_addresses

    @classmethod
    def from_crawler(cls, crawler: Any) -> SafetyMiddleware:
        return cls(crawler.settings.getbool("NT_ALLOW_PRIVATE_ADDRESSES"))

    def process_request(self, request: Request, spider: Any = None) -> None:
        url = request.url
        if not is_http(url):
            raise NotHttpRequest(f"{url}: only http and https URLs are fetched")
        domains = request.meta.get("nt_domains")
        if domains is not None and not on_domains(url, domains):
            raise OffDomainRequest(f"{url}: not on the source's domains {', '.join(domains)}")
        if not self.allow_private_addresses and not resolves_to_public_addresses(host_of(url)):
            raise PrivateAddressRequest(
                f"{url}: the host is not a public address (set [crawler] allow_private_addresses to crawl it)"
            )
        return None
