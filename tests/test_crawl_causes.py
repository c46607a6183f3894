"""Why a feed could not be fetched, told apart: the name does not resolve, it resolves to a private or
loopback address, the connection is refused, or it times out; and the address check holds for the
address actually connected to (DNS rebinding).

Host names under ``.invalid`` never resolve (RFC 6761) and ``localhost`` resolves to loopback, so
no traffic leaves 127.0.0.1. A refused port is one bound and closed again; a silent server accepts
connections into its backlog and never answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Feed
from narrative_tracker.trends.digest.content import _notes
from narrative_tracker.vocabulary import failure_cause

TESTS = Path(__file__).resolve().parent
UNRESOLVABLE = "http://feeds.no-such-outlet.invalid/rss.xml"


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


@pytest.fixture
def counting_server() -> Iterator[tuple[int, list[int]]]:
    """An HTTP server on 127.0.0.1 that counts the connections it accepts and answers each 200."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(65536)
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), accepted
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _source(slug: str, feed: str, domain: str) -> str:
    return (
        f'[[source]]\nslug = "{slug}"\nname = "{slug.title()}"\ngroup = "western"\ncountry = "GB"\n'
        f'languages = ["en"]\nfeeds = ["{feed}"]\ndomains = ["{domain}"]\n'
    )


def _setup(tmp_path: Path, sources: list[str], *, allow_private: bool, extra: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "sources.toml").write_text("\n".join(sources), encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\ndatabase_url = "sqlite:///{tmp_path / "tracker.db"}"\n\n[crawler]\nsources = "sources.toml"\n'
        f"allow_private_addresses = {'true' if allow_private else 'false'}\ndownload_delay = 0\n"
        "download_timeout = 1.5\nretry_times = 0\nautothrottle = false\nextraction_workers = 0\n" + extra,
        encoding="utf-8",
    )
    return config


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NARRATIVE_TRACKER_")}
    return subprocess.run(
        [sys.executable, "-m", "narrative_tracker", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_sources_check_tells_unresolved_private_refused_and_timed_out_apart(tmp_path: Path, silent_port: int) -> None:
    refused = _closed_port()
    # Without allow_private_addresses: a name that does not resolve, and one that resolves to loopback.
    blocked = _setup(
        tmp_path / "public-only",
        [
            _source("nowhere", UNRESOLVABLE, "no-such-outlet.invalid"),
            _source("loop", "http://localhost:9/rss", "localhost"),
        ],
        allow_private=False,
    )
    result = _cli(blocked, "sources", "check", "--json")
    assert result.returncode == 1, result.stderr
    by_slug = {r["slug"]: r for r in json.loads(result.stdout)}
    assert by_slug["nowhere"]["cause"] == "dns"
    assert "name not resolved: feeds.no-such-outlet.invalid:" in by_slug["nowhere"]["error"]
    assert "allow_private_addresses" not in by_slug["nowhere"]["error"]
    assert by_slug["loop"]["cause"] == "private-address"
    assert "resolves to 127.0.0.1" in by_slug["loop"]["error"]
    assert "set [crawler] allow_private_addresses to crawl it" in by_slug["loop"]["error"]
    assert "1 feed: name not resolved" in result.stderr
    assert "1 feed: resolves to a private or loopback address" in result.stderr

    # Local addresses allowed: a port that refuses connections, and a server that never answers.
    local = _setup(
        tmp_path / "local",
        [
            _source("closed", f"http://127.0.0.1:{refused}/rss", "127.0.0.1"),
            _source("silent", f"http://127.0.0.1:{silent_port}/rss", "127.0.0.1"),
        ],
        allow_private=True,
    )
    result = _cli(local, "sources", "check")
    assert result.returncode == 1
    lines = result.stdout + result.stderr
    assert "1 feed: connection refused" in lines and "1 feed: timed out" in lines
    assert "allow_private_addresses" not in result.stdout


def test_every_feed_unresolved_says_the_machine_may_be_offline(tmp_path: Path) -> None:
    config = _setup(
        tmp_path,
        [_source(f"out{n}", f"http://feed{n}.example.invalid/rss", f"feed{n}.example.invalid") for n in range(3)],
        allow_private=False,
    )
    result = _cli(config, "sources", "check")
    assert result.returncode == 1
    assert "3 feeds: name not resolved — is this machine offline?" in result.stderr


def test_crawl_records_each_cause_in_the_feed_state_and_the_digest_notes(tmp_path: Path) -> None:
    refused = _closed_port()
    config = _setup(
        tmp_path,
        [
            _source("nowhere", UNRESOLVABLE, "no-such-outlet.invalid"),
            _source("closed", f"http://127.0.0.1:{refused}/rss", "127.0.0.1"),
        ],
        allow_private=True,
        extra="unhealthy_after_failures = 1\n",  # one failure makes the feed unhealthy, as three would
    )
    result = _cli(config, "crawl", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["errors"] == {"feed-dns": 1, "feed-refused": 1}
    assert "Errors: 1 feed-dns, 1 feed-refused." in result.stderr

    database = open_database(f"sqlite:///{tmp_path / 'tracker.db'}", migrate=False)
    try:
        with database.session() as session:
            feeds = {f.url: f for f in session.scalars(select(Feed))}
            assert failure_cause(feeds[UNRESOLVABLE].last_error) == "dns"
            assert failure_cause(feeds[f"http://127.0.0.1:{refused}/rss"].last_error) == "refused"
            assert all(not f.healthy and f.consecutive_failures == 1 for f in feeds.values())
            notes = _notes(session, date.today(), "")
    finally:
        database.dispose()
    assert {(f["outlet"], f["cause"]) for f in notes["feeds_unhealthy"]} == {
        ("Nowhere", "name not resolved"),
        ("Closed", "connection refused"),
    }
    assert notes["feeds_failing_by_cause"] == {"name not resolved": 1, "connection refused": 1}

    listed = _cli(config, "sources", "list", "--json")
    health = {r["slug"]: r["feed_health"] for r in json.loads(listed.stdout)}
    assert health["nowhere"] == {"healthy": 0, "unhealthy": 1, "unhealthy_by_cause": {"dns": 1}}
    assert health["closed"]["unhealthy_by_cause"] == {"refused": 1}
    assert "1 name not resolved, 1 connection refused" in _cli(config, "sources", "list").stderr

    alerts = json.loads(_cli(config, "alerts", "--json", "--all").stdout)
    health = {a["source"]: a for a in alerts if a["kind"] == "source-health"}
    assert "(last: name not resolved)" in health["nowhere"]["reason"]
    assert health["closed"]["numbers"]["feeds_detail"][0]["cause"] == "refused"


def _rebinding(url: str, answers: str, allow_private: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NARRATIVE_TRACKER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "helpers.rebinding", url, answers, "true" if allow_private else "false"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return outcome


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_connected_to(
    counting_server: tuple[int, list[int]],
) -> None:
    port, accepted = counting_server
    url = f"http://rebinding.example.invalid:{port}/feed"
    # The harness reaches the server when loopback is allowed (so that no connection below means something).
    reached = _rebinding(url, "127.0.0.1", allow_private=True)
    assert reached.get("status") == 200 and len(accepted) == 1

    # First answer public (the middleware's check passes), then 127.0.0.1 (the connection's lookup).
    outcome = _rebinding(url, "93.184.215.14,127.0.0.1", allow_private=False)
    assert outcome["lookups"] == ["93.184.215.14", "127.0.0.1"]
    assert (outcome["kind"], outcome["skip"]) == ("private-address", True)
    assert "resolves to 127.0.0.1" in str(outcome["message"])
    assert len(accepted) == 1  # no connection reached the loopback server


def test_link_local_addresses_are_refused_even_with_private_addresses_allowed() -> None:
    from narrative_tracker.crawler.resolver import Lookup

    answer = Lookup(
        "mixed.example", ("169.254.169.254", "fe80::1", "0.0.0.0", "127.0.0.1", "10.0.0.7", "93.184.216.34")
    )
    assert answer.allowed(True) == ("127.0.0.1", "10.0.0.7", "93.184.216.34")
    assert answer.allowed(False) == ("93.184.216.34",)
    assert Lookup("metadata", ("169.254.169.254",)).allowed(True) == ()
