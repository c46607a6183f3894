"""The local news web answers like a real site: conditional GET, redirects, gzip, errors, delays."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request

import pytest

from narrative_tracker.newsweb import NewsWeb, Page


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def test_serves_pages_and_records_requests():
    with NewsWeb({"/a.html": Page(b"<p>hello</p>")}) as web:
        status, headers, body = _get(web.url("/a.html?utm_source=x"))
        assert (status, body) == (200, b"<p>hello</p>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert [r.path for r in web.requests_for("/a.html")] == ["/a.html?utm_source=x"]
        assert _get(web.url("/missing"))[0] == 404


def test_conditional_requests_get_304():
    with NewsWeb({"/feed.xml": Page(b"<rss/>", "application/rss+xml")}) as web:
        _, headers, _ = _get(web.url("/feed.xml"))
        assert _get(web.url("/feed.xml"), {"If-None-Match": headers["ETag"]})[0] == 304
        assert _get(web.url("/feed.xml"), {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
        assert _get(web.url("/feed.xml"), {"If-None-Match": '"other"'})[0] == 200


def test_redirects_errors_and_gzip():
    site = {
        "/old": Page(redirect_to="/new"),
        "/new": Page(b"moved here"),
        "/boom": Page(b"oops", status=500),
        "/big": Page(b"x" * 10_000, gzip=True),
    }
    with NewsWeb(site) as web:
        assert _get(web.url("/old"))[2] == b"moved here"
        assert _get(web.url("/boom"))[0] == 500
        request = urllib.request.Request(web.url("/big"), headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()) == b"x" * 10_000


def test_a_slow_page_is_slow():
    with NewsWeb({"/slow": Page(b"late", delay=2)}) as web, pytest.raises(TimeoutError):
        urllib.request.urlopen(web.url("/slow"), timeout=0.5)
