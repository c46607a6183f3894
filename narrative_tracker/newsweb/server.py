"""The HTTP server behind :mod:`narrative_tracker.newsweb`: HTTP/1.1 with keep-alive, on asyncio.

One event loop in a background thread answers every connection. Python's ``http.server`` (a
thread and an ``email`` header parser per connection) cost about 0.2 ms of CPU per request: on a
two-core machine that was 5% of what a crawl benchmarked against it could use.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import threading
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import lru_cache
from http import HTTPStatus
from types import TracebackType
from urllib.parse import urlsplit

#: Longest a page may be delayed; keeps every test request loop bounded.
MAX_DELAY_SECONDS = 30.0
#: Longest request head (request line and headers) accepted; a longer one is answered 431.
MAX_HEAD_BYTES = 64 * 1024
#: Pending connections the listening socket holds: the default of 5 dropped the SYNs of a crawler
#: opening 16 connections at once, and each dropped SYN costs a 1 s (then 2 s, 4 s...) retransmission.
LISTEN_BACKLOG = 128


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


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    #: Header names as the client wrote them (what ``RecordedRequest`` keeps).
    headers: dict[str, str]
    #: The same, by lower-case name (HTTP header names are case-insensitive).
    by_name: dict[str, str]
    keep_alive: bool


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


def _parse_head(head: bytes) -> _Request:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(HTTPStatus.BAD_REQUEST)
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(HTTPStatus.BAD_REQUEST)
        headers[name] = value.strip()
    by_name = {name.lower(): value for name, value in headers.items()}
    connection = by_name.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    return _Request(method, target, headers, by_name, keep_alive)


@lru_cache(maxsize=64)
def _http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


def _response(status: int, body: bytes, headers: Mapping[str, str], *, send_body: bool, close: bool) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {_http_date(int(time.time()))}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if send_body else head


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
        # Bound now, so that the port is known (and taken) before the server starts.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind(("127.0.0.1", port))
            self._socket.listen(LISTEN_BACKLOG)
        except OSError:
            self._socket.close()
            raise
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[_Connection] = set()

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        """The URL of ``path``; ``host="localhost"`` gives the same server under another host name."""
        return f"http://{host}:{self.port}{path}"

    def start(self) -> NewsWeb:
        if self._thread is None:
            ready = threading.Event()
            self._thread = threading.Thread(target=self._serve, args=(ready,), name="newsweb", daemon=True)
            self._thread.start()
            ready.wait(timeout=10)
        return self

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> NewsWeb:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def requests_for(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    # -- the event loop's thread ---------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(loop.create_server(lambda: _Connection(self), sock=self._socket))
            ready.set()
            loop.run_forever()
            server.close()
            for connection in list(self._connections):
                connection.abort()
            late = asyncio.all_tasks(loop)  # delayed answers still waiting
            for task in late:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*late, return_exceptions=True))
        finally:
            ready.set()
            loop.close()

    def _lookup(self, request: _Request) -> Page | None:
        """Record the request and find its page."""
        self._record(RecordedRequest(request.target, request.headers, request.by_name.get("host", ""), time.time()))
        return self.site.get(request.target) or self.site.get(urlsplit(request.target).path or "/")

    def _render(self, request: _Request, page: Page | None) -> bytes:
        send_body = request.method != "HEAD"
        close = not request.keep_alive
        if page is None:
            return _response(404, b"not found", {"Content-Type": "text/plain"}, send_body=send_body, close=close)
        if page.redirect_to is not None:
            status = page.status if 300 <= page.status < 400 else 301
            headers = {"Location": page.redirect_to, **page.headers}
            return _response(status, b"", headers, send_body=send_body, close=close)
        headers = {"Content-Type": page.content_type, **page.headers}
        body = page.body
        if page.conditional and page.status == 200:
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'  # noqa: S324 - a cache tag, not security
            modified = _http_date(page.last_modified)
            headers.setdefault("ETag", etag)
            headers.setdefault("Last-Modified", modified)
            if_none_match = request.by_name.get("if-none-match")
            modified_since = request.by_name.get("if-modified-since")
            if if_none_match == etag or (if_none_match is None and modified_since == modified):
                return _response(304, b"", {"ETag": etag}, send_body=send_body, close=close)
        if page.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return _response(page.status, body, headers, send_body=send_body, close=close)

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


class _Connection(asyncio.Protocol):
    """One client connection: its requests are answered in order, one at a time (a slow page holds
    up the requests sent after it on the same connection, as on a real HTTP/1.1 server)."""

    def __init__(self, web: NewsWeb) -> None:
        self.web = web
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        #: A delayed answer is being waited for: what arrives meanwhile waits in the buffer.
        self.waiting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.web._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        # The client may hang up at any time (a size limit, a timeout): that is its right.
        self.web._connections.discard(self)
        self.transport = None
        if self.waiting is not None:
            self.waiting.cancel()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiting is None:
            self._answer_buffered()

    def _answer_buffered(self) -> None:
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self._fail(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return
            try:
                request = _parse_head(bytes(self.buffer[:end]))
            except _BadRequest as exc:
                self._fail(exc.status)
                return
            length = request.by_name.get("content-length", "0")
            consumed = end + 4 + (int(length) if length.isdigit() else 0)  # a body nobody here reads
            if len(self.buffer) < consumed:
                return
            del self.buffer[:consumed]
            if request.method not in ("GET", "HEAD"):
                self._send(request, _response(501, b"", {}, send_body=False, close=not request.keep_alive))
                continue
            self.web._enter()
            page = self.web._lookup(request)
            if page is not None and page.delay:
                self.waiting = asyncio.get_running_loop().create_task(self._answer_late(request, page))
                return
            self._send(request, self.web._render(request, page))
            self.web._leave()

    async def _answer_late(self, request: _Request, page: Page) -> None:
        try:
            await asyncio.sleep(min(page.delay, MAX_DELAY_SECONDS))
            self._send(request, self.web._render(request, page))
        finally:
            self.web._leave()
            self.waiting = None
        self._answer_buffered()

    def _send(self, request: _Request, response: bytes) -> None:
        if self.transport is None:
            return
        self.transport.write(response)
        if not request.keep_alive:
            self.transport.close()
            self.transport = None

    def _fail(self, status: HTTPStatus) -> None:
        if self.transport is not None:
            self.transport.write(_response(status, b"", {}, send_body=False, close=True))
            self.transport.close()
            self.transport = None
