"""Sending tasks while the broker is away (issue 15, "broker outage during enqueue").

The broker is reached through a TCP proxy on 127.0.0.1 that the test cuts and resumes: the
machine's RabbitMQ is never stopped. Sending happens in this process (``enqueue_crawl``, as
``narrative-tracker crawl`` and the scheduler's crawl job call it), so the number of send attempts
can be made small instead of waiting out the half-minute of back-off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from narrative_tracker.errors import QueueError
from narrative_tracker.jobs import dispatch
from narrative_tracker.jobs.dispatch import enqueue_crawl
from narrative_tracker.newsweb import NewsWeb
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import QueueTask

from helpers.queue import (
    BROKER_URL,
    CuttableProxy,
    broker_and_fresh_postgres,
    build_web,
    write_setup,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url(postgres_server_url: str) -> Iterator[str]:
    with broker_and_fresh_postgres(postgres_server_url) as url:
        yield url


@pytest.fixture
def proxy() -> Iterator[CuttableProxy]:
    upstream = urlsplit(BROKER_URL)
    server = CuttableProxy((upstream.hostname or "127.0.0.1", upstream.port or 5672)).start()
    try:
        yield server
    finally:
        server.cut()


@pytest.fixture
def web() -> Iterator[NewsWeb]:
    server = NewsWeb().start()
    try:
        yield server
    finally:
        server.stop()


def _ready_in_crawl_queue() -> int:
    import pika

    from narrative_tracker.jobs.queue import amqp_url

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url(BROKER_URL)))
    try:
        return connection.channel().queue_declare("crawl", passive=True).method.message_count
    finally:
        connection.close()


def _statuses(db: Any) -> list[tuple[str, str | None]]:
    with db.session() as session:
        return sorted(session.execute(select(QueueTask.status, QueueTask.error)).tuples().all())


def test_enqueue_waits_out_a_broker_outage_and_sends_every_task(
    web: NewsWeb, pg_url: str, proxy: CuttableProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sources = 4
    build_web(web, sources, 1, delay=0)
    settings = load_settings(write_setup(tmp_path, web, sources, pg_url, broker_url=proxy.url))
    db = open_database(settings.database_url)
    proxy.cut()  # the broker is away when the crawl starts sending
    threading.Timer(2.5, proxy.resume).start()
    try:
        with caplog.at_level(logging.WARNING, logger="narrative_tracker.jobs.queue"):
            batch = enqueue_crawl(settings, db)
        assert batch.tasks == sources
        assert _statuses(db) == [("queued", None)] * sources
        assert _ready_in_crawl_queue() == sources  # each sent once, none lost
        assert any("broker unreachable" in r.getMessage() and "retrying in" in r.getMessage() for r in caplog.records)
    finally:
        db.dispose()


def test_a_broker_gone_mid_enqueue_fails_clearly_and_leaves_no_task_waiting_unsent(
    web: NewsWeb, pg_url: str, proxy: CuttableProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = 5
    build_web(web, sources, 1, delay=0)
    settings = load_settings(write_setup(tmp_path, web, sources, pg_url, broker_url=proxy.url))
    db = open_database(settings.database_url)
    real_send = dispatch.send_with_backoff
    sent: list[str] = []

    def send_then_lose_the_broker(broker: Any, message: Any, **options: Any) -> None:
        if len(sent) == 2:
            proxy.cut()  # gone for good after two tasks
        real_send(broker, message, **options)
        sent.append(message.message_id)

    monkeypatch.setattr(dispatch, "send_with_backoff", send_then_lose_the_broker)
    monkeypatch.setattr(dispatch, "SEND_ATTEMPTS", 2)  # one retry after 1 s, not half a minute
    try:
        with pytest.raises(QueueError) as raised:
            enqueue_crawl(settings, db)
        message = str(raised.value)
        assert "[queue] broker_url" in message and "after 2 attempts" in message
        assert "2 of 5 crawl tasks were sent" in message
        with db.session() as session:
            rows = {t.message_id: (t.status, t.error) for t in session.scalars(select(QueueTask))}
        # The two sent are queued for the workers; the three others are recorded as never sent,
        # so no wait and no status shows them queued (the next crawl run sends them again).
        assert [rows[m] for m in sent] == [("queued", None)] * 2
        unsent = [v for k, v in rows.items() if k not in sent]
        assert unsent == [("failed", "never sent: the broker was unreachable")] * 3
    finally:
        db.dispose()


def test_a_task_finished_already_is_acknowledged_unrun(pg_url: str) -> None:
    """A copy of a task sent twice (its publisher confirm lost in an outage) is not run again."""
    from dramatiq.middleware import SkipMessage

    from narrative_tracker.jobs.queue import _record_start

    db = open_database(pg_url)
    try:
        with db.session() as session:
            session.add(QueueTask(message_id="m1", queue="crawl", subject="s0", batch="b", status="done", deliveries=1))
        copy = SimpleNamespace(message_id="m1", options={}, queue_name="crawl", actor_name="crawl_source")
        with pytest.raises(SkipMessage):
            _record_start(db, copy, max_deliveries=3)
        with db.session() as session:
            task = session.get(QueueTask, "m1")
            assert task is not None and (task.status, task.deliveries) == ("done", 1)
    finally:
        db.dispose()
