"""The threaded HTTP server behind :mod:`narrative_tracker.newsweb`."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import threading
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

#: Longest a page may be delayed; keeps every test request loop bounded.
MAX_DELAY_SECONDS = 30.0


@dataclass
class Page:
    """One response. ``body`` is sent as is (encode it in the charset you want to test)."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (a slow server).
    delay: float = 0.0
    #: Answer with a redirect to this path or URL (status 301 unless ``status`` is a 3xx).
    redirect_to: str | None = None
    #: Send the body gzip-compressed with Content-Encoding: gzip.
    gzip: bool = False
    #: Answer conditional requests (ETag from the body, a fixed Last-Modified) with 304.
    conditional: bool = True
    last_modified: float = 1_750_000_000.0


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    host: str
    at: float


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK of the headers (~40 ms per response on a keep-alive connection).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read ``NewsWeb.requests`` instead."""

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        web = self.server.web
        web._enter()
        try:
            self._answer_page(web, send_body=send_body)
        finally:
            web._leave()

    def _answer_page(self, web: NewsWeb, *, send_body: bool) -> None:
        path = urlsplit(self.path).path or "/"
        web._record(RecordedRequest(self.path, dict(self.headers.items()), self.headers.get("Host", ""), time.time()))
        page = web.site.get(self.path) or web.site.get(path)
        if page is None:
            self._send(404, b"not found", {"Content-Type": "text/plain"}, send_body)
            return
        if page.delay:
            time.sleep(min(page.delay, MAX_DELAY_SECONDS))
        if page.redirect_to is not None:
            status = page.status if 300 <= page.status < 400 else 301
            self._send(status, b"", {"Location": page.redirect_to, **page.headers}, send_body)
            return
        headers = {"Content-Type": page.content_type, **page.headers}
        body = page.body
        if page.conditional and page.status == 200:
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'  # noqa: S324 - a cache tag, not security
            modified = formatdate(page.last_modified, usegmt=True)
            headers.setdefault("ETag", etag)
            headers.setdefault("Last-Modified", modified)
            if self.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == modified
            ):
                self._send(304, b"", {"ETag": etag}, send_body)
                return
        if page.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(page.status, body, headers, send_body)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str], send_body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            # The client may give up (a size limit, a timeout): that is its right.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default listen backlog of 5 drops the SYNs of a crawler opening 16 connections at once,
    # and each dropped SYN costs a 1 s (then 2 s, 4 s...) retransmission.
    request_queue_size = 128
    web: NewsWeb

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a size limit, a timeout) is normal here; other errors are printed."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class NewsWeb:
    """Serve ``site`` (path -> Page) on 127.0.0.1 on a free port, in a background thread.

    ``site`` may be changed while serving (add tomorrow's articles, break a feed).
    """

    def __init__(self, site: MutableMapping[str, Page] | None = None, *, port: int = 0) -> None:
        self.site: MutableMapping[str, Page] = site if site is not None else {}
        self.requests: list[RecordedRequest] = []
        #: Most requests ever being answered at once (a crawler's concurrency, seen by the site).
        self.peak_concurrency = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.web = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        """The URL of ``path``; ``host="localhost"`` gives the same server under another host name."""
        return f"http://{host}:{self.port}{path}"

    def start(self) -> NewsWeb:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="newsweb", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> NewsWeb:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]
