"""A local "news web": a real HTTP server on 127.0.0.1 that stands in for news outlets.

Tests, benchmarks and the offline demo serve feeds and article pages from it, with the faults
real sites have (slow answers, errors, redirects, odd encodings, oversized pages)::

    site = {"/feed.xml": Page(rss_bytes, "application/rss+xml"), "/a1.html": Page(html, delay=2.0)}
    with NewsWeb(site) as web:
        crawl(web.url("/feed.xml"))
        assert web.requests_for("/feed.xml")[1].headers["If-None-Match"]
"""

from narrative_tracker.newsweb.server import NewsWeb, Page, RecordedRequest

__all__ = ["NewsWeb", "Page", "RecordedRequest"]
