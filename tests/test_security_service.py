"""Issue 13, item 13: /metrics reuses its database figures; the health server bounds its clients."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from narrative_tracker.jobs.health import FIGURES_TTL, HealthServer, Metrics
from narrative_tracker.storage.database import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _counting(database: Database) -> list[str]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(" in statement.lower():
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    return statements


def test_metrics_scrapes_reuse_the_database_figures_until_they_age(sqlite_database: Database) -> None:
    clock = Clock()
    metrics = Metrics(sqlite_database, ["crawl"], lambda: True, clock=clock)
    counts = _counting(sqlite_database)
    first = metrics.render()
    queried = len(counts)
    assert queried >= 1 and b"narrative_tracker_articles_stored 0.0" in first
    for _ in range(5):
        metrics.render()
    assert len(counts) == queried  # five more scrapes, no more count(*)
    clock.now += FIGURES_TTL
    metrics.render()
    assert len(counts) == 2 * queried


@pytest.fixture
def server(sqlite_database: Database) -> Iterator[HealthServer]:
    metrics = Metrics(sqlite_database, ["crawl"], lambda: True)
    health = HealthServer(
        "127.0.0.1", 0, lambda: (200, {"status": "ok"}), metrics, request_timeout=3.0, max_connections=2
    )
    health.start()
    try:
        yield health
    finally:
        health.stop()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=10)
    return client


def test_a_client_that_sends_nothing_is_dropped(server: HealthServer) -> None:
    with _connect(server.url) as idle:
        # Before the fix the server waited forever; the client's own 10 s timeout then failed this.
        assert idle.recv(1024) == b""


def test_connections_beyond_the_bound_get_503(server: HealthServer) -> None:
    idle = [_connect(server.url) for _ in range(2)]  # both slots held by clients that send nothing
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "/healthz", timeout=10)
        assert refused.value.code == 503
    finally:
        for client in idle:
            client.close()
    # Once the idle clients are gone (or timed out), requests are served again.
    for _ in range(50):
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=10) as answer:
                assert answer.status == 200
                break
        except urllib.error.HTTPError:
            time.sleep(0.1)
    else:
        pytest.fail("the server never served again")
