"""The workers' tests: a news web of several sources, a PostgreSQL database of the test's own,
worker processes started and stopped, and the broker's queues emptied first."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from narrative_tracker.newsweb import NewsWeb, Page

from sites.news import article_html, rss, write_config

BROKER_URL = os.environ.get("NARRATIVE_TRACKER_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def paragraphs(source: int, n: int) -> list[str]:
    return [
        f"Report {n} of outlet {source} covers the council vote number {n * 13 + source} in district {n % 7}.",
        f"According to the outlet {source}, the plan number {n} costs {n * 1000 + source} euros over {n + 2} months.",
        f"Residents of area {source * 100 + n} described the change and asked how the money of {n} would be used.",
    ]


def build_web(web: NewsWeb, sources: int, articles: int, *, delay: float) -> list[str]:
    """``sources`` outlets with one feed of ``articles`` pages each; returns every article URL."""
    urls: list[str] = []
    for s in range(sources):
        items = []
        for n in range(articles):
            path = f"/s{s}/{n}.html"
            web.site[path] = Page(article_html(f"Outlet {s} story {n}", paragraphs(s, n)).encode(), delay=delay)
            items.append((f"Outlet {s} story {n}", web.url(path), ""))
            urls.append(web.url(path))
        web.site[f"/s{s}/rss.xml"] = Page(rss(items), "application/rss+xml")
    return urls


def write_setup(
    tmp_path: Path, web: NewsWeb, sources: int, database_url: str, *, broker_url: str = BROKER_URL, **crawler: object
) -> Path:
    catalogue = tmp_path / "sources.toml"
    catalogue.write_text(
        "".join(
            f'[[source]]\nslug = "s{s}"\nname = "Outlet {s}"\ngroup = "western"\ncountry = "GB"\n'
            f'languages = ["en"]\nfeeds = ["{web.url(f"/s{s}/rss.xml")}"]\ndomains = ["127.0.0.1"]\n\n'
            for s in range(sources)
        )
    )
    options: dict[str, object] = {"extraction_workers": 0, "download_timeout": 10.0, **crawler}
    config = write_config(tmp_path / "home", catalogue, database_url, **options)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[queue]\nbroker_url = "{broker_url}"\nmax_retries = 1\n')
    return config


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """A database of its own on the test session's server."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"nt_w_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def broker_and_fresh_postgres(server_url: str) -> Iterator[str]:
    """Empty queues on the machine's broker and a database of its own: a test's shared-store setup.
    Without a broker the test is skipped, except under CI=true, where that is a failure."""
    try:
        purge_queues()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"RabbitMQ at 127.0.0.1:5672 did not answer: {exc}")
    with fresh_postgres(server_url) as url:
        yield url


def purge_queues() -> None:
    """Empty this application's queues on the shared broker (left-overs of an earlier test run)."""
    import pika

    from narrative_tracker.jobs.queue import amqp_url

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url(BROKER_URL)))
    try:
        channel = connection.channel()
        for queue in ("crawl", "crawl.DQ", "crawl.XQ", "classify", "classify.DQ", "classify.XQ"):
            try:
                channel.queue_purge(queue)
            except Exception:
                channel = connection.channel()
    finally:
        connection.close()


def cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "narrative_tracker", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NARRATIVE_TRACKER_CONFIG": str(config)},
    )


def start_worker(config: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "narrative_tracker", "--config", str(config), "worker", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def stop_workers(workers: list[subprocess.Popen[bytes]], *, timeout: float = 60) -> list[int | None]:
    """SIGTERM each live worker and wait for it; their exit statuses (SIGKILLed ones as they were)."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    statuses: list[int | None] = []
    for worker in workers:
        try:
            statuses.append(worker.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            worker.kill()
            statuses.append(None)
    return statuses


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to the broker that can be cut (every connection closed, nothing
    accepted) and resumed on the same port: a broker outage without stopping the shared RabbitMQ."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self.upstream = upstream
        self.port = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> CuttableProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    resume = start

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
