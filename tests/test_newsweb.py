"""The local news web answers like a real site: conditional GET, redirects, gzip, errors, delays."""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import urllib.error
import urllib.request

import pytest

from narrative_tracker.newsweb import NewsWeb, Page

from helpers.polling import wait_for


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


def test_keep_alive_connection_answers_in_order():
    site = {"/a": Page(b"first"), "/b": Page(b"second", delay=0.2), "/c": Page(b"third")}
    with NewsWeb(site) as web:
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        try:
            bodies = []
            for path in ("/a", "/b", "/c"):
                connection.request("GET", path, headers={"X-Probe": path})
                bodies.append(connection.getresponse().read())
            connection.request("HEAD", "/a")
            head = connection.getresponse()
            assert (head.status, head.getheader("Content-Length"), head.read()) == (200, "5", b"")
        finally:
            connection.close()
        assert bodies == [b"first", b"second", b"third"]
        assert [r.headers.get("X-Probe") for r in web.requests] == ["/a", "/b", "/c", None]
        assert web.requests_for("/b")[0].host == f"127.0.0.1:{web.port}"


def test_a_slow_page_does_not_hold_up_other_clients():
    with NewsWeb({"/slow": Page(b"late", delay=1.0), "/fast": Page(b"now")}) as web:
        slow = threading.Thread(target=_get, args=(web.url("/slow"),))
        slow.start()
        wait_for(lambda: web.requests_for("/slow"), 5, "the slow request to arrive", interval=0.01)
        assert _get(web.url("/fast"))[2] == b"now"
        assert slow.is_alive()  # the fast page came while the slow one was still being waited for
        slow.join(timeout=5)
        assert web.peak_concurrency == 2


def test_broken_requests_get_an_error_and_the_connection_closed():
    with NewsWeb({"/a": Page(b"ok")}) as web:
        for raw, status in (
            (b"NONSENSE\r\n\r\n", b"400"),
            (b"GET /a HTTP/1.1\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n", b"431"),
            (b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", b"501"),
        ):
            with socket.create_connection(("127.0.0.1", web.port), timeout=5) as client:
                client.sendall(raw)
                answer = client.recv(1024)
                assert answer.split(b" ")[1] == status, answer
        assert _get(web.url("/a"))[2] == b"ok"  # the server goes on


def test_pipelined_requests_are_answered_in_order():
    with NewsWeb({"/a": Page(b"first", delay=0.2), "/b": Page(b"second")}) as web:
        with socket.create_connection(("127.0.0.1", web.port), timeout=5) as client:
            client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        assert answer.count(b"HTTP/1.1 200 OK") == 2
        assert answer.index(b"first") < answer.index(b"second")
