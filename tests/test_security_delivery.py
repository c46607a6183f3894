"""Issue 13, item 9: a webhook redirect is a failed delivery; SMTP never logs in without TLS unless allowed."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import Database
from narrative_tracker.trends.config import DigestSettings
from narrative_tracker.trends.digest import produce
from narrative_tracker.trends.digest.content import Digest
from narrative_tracker.trends.digest.delivery import deliver

from helpers.alerts_history import NOW, TODAY
from helpers.world import World


class RedirectingHook(BaseHTTPRequestHandler):
    status = 302
    seen: ClassVar[list[tuple[str, str]]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path))
        if self.path == "/hook":
            self.send_response(self.status)
            self.send_header("Location", "/elsewhere")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_hook() -> Iterator[tuple[type[RedirectingHook], str]]:
    handler = type("Hook", (RedirectingHook,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def _digest(database: Database) -> Digest:
    World(database).source("rs", "russian-state")
    return produce(database, load_settings(None), TODAY, now=NOW)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_webhook_redirect_is_a_failed_delivery_and_is_not_followed(
    sqlite_database: Database, redirecting_hook: tuple[type[RedirectingHook], str], status: int
) -> None:
    handler, url = redirecting_hook
    handler.status = status
    channel = DigestSettings.model_validate({"webhook": {"url": url, "timeout": 5}, "max_attempts": 3})
    [result] = deliver(sqlite_database, _digest(sqlite_database), channel, None, backoff=0.001)
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.error is not None and f"HTTP {status}" in result.error and "redirect" in result.error
    assert handler.seen == [("POST", "/hook")]  # /elsewhere was never requested


def test_smtp_refuses_to_log_in_without_tls_unless_allowed(sqlite_database: Database) -> None:
    password = "never-in-clear"
    accepted: list[socket.socket] = []
    with socket.socket() as listener:  # anything that connects here would receive the password
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        smtp = {"host": "127.0.0.1", "port": port, "security": "none", "username": "tracker", "timeout": 2}
        channel = DigestSettings.model_validate({"recipients": ["a@example.org"], "smtp": smtp, "max_attempts": 2})
        [result] = deliver(sqlite_database, _digest(sqlite_database), channel, password, backoff=0.001)
        with contextlib.suppress(TimeoutError):
            accepted.append(listener.accept()[0])
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.error is not None and "allow_login_without_tls" in result.error
    assert password not in result.error
    assert not accepted  # refused before connecting
    for connection in accepted:
        connection.close()


def test_the_explicit_setting_is_a_known_key_defaulting_to_false() -> None:
    smtp = DigestSettings.model_validate({"smtp": {"host": "h", "security": "none"}}).smtp
    assert smtp is not None and smtp.allow_login_without_tls is False
