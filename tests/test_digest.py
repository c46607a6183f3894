"""The digest: hostile crawled content comes out inert in every format; files, SMTP and webhook
delivery against real local servers; never sent twice for the same date and channel."""

from __future__ import annotations

import base64
import email
import json
import re
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from email import policy
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from narrative_tracker.cli import main
from narrative_tracker.jobs.base import JobContext
from narrative_tracker.jobs.digest import run as digest_job
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models.trends import DigestDelivery
from narrative_tracker.trends.config import DigestSettings
from narrative_tracker.trends.digest import produce, record_shown
from narrative_tracker.trends.digest.delivery import build_message, deliver, write_files
from narrative_tracker.trends.digest.render import (
    render_html,
    render_json,
    render_markdown,
    render_text,
    webhook_payload,
)

from helpers.alerts_history import HIDDEN, NOW, TODAY, build_history
from helpers.world import ARMS_PAUSE, World, day_total

HOSTILE_TITLE = '<script>alert("t")</script><img src="https://evil.example/pixel.gif" onerror="alert(1)"> Pause'
HOSTILE_EVIDENCE = (
    "Washington gave in <a href=\"javascript:alert('e')\" onclick=alert(2)>click</a> ONERROR=x JaVaScRiPt:y"
    " xonerror=1 ajavascript:2 java\u200bscript:3"
)
HOSTILE_OUTLET = "<b onmouseover=alert(3)>Evil Wire</b> [x](javascript:alert(4))"
ACTIVE_PATTERN = re.compile(r"<script|onerror=|javascript:", re.IGNORECASE)
PASSWORD = "s3cret-pa55word"


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_html_inert(html: str, image_prefix: str) -> None:
    assert not ACTIVE_PATTERN.search(html)
    parser = TagCollector()
    parser.feed(html)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "span", "ul", "li", "a"}
    allowed |= {"img", "table", "thead", "tbody", "tr", "th", "td", "strong"}
    for tag, attrs in parser.tags:
        assert tag in allowed, f"unexpected <{tag}>"
        assert not any(name.startswith("on") for name in attrs), f"event handler on <{tag}>"
        if tag == "a":
            assert re.match(r"https?://", attrs["href"] or "")
            assert attrs["rel"] == "noopener noreferrer"
        if tag == "img":
            assert (attrs["src"] or "").startswith(image_prefix)


@pytest.fixture
def hostile(database):
    """The synthetic history, plus hostile Western articles in today's crossover."""
    world = World(database)
    build_history(world)
    world.source("evil", "western", name=HOSTILE_OUTLET)
    for back in range(30, 0, -1):  # a week-old outlet with ordinary news
        world.articles("evil", TODAY - timedelta(days=back), 3)
    world.articles(
        "evil",
        TODAY,
        1,
        narratives={ARMS_PAUSE: "promotes"},
        title=HOSTILE_TITLE,
        url="javascript:alert('u')",
        evidence=HOSTILE_EVIDENCE,
        score=0.99,
    )
    world.articles(
        "evil",
        TODAY,
        1,
        narratives={ARMS_PAUSE: "promotes"},
        title=HOSTILE_TITLE,
        url="https://evil.example/a?x=javascript:alert(1)&onerror=1",
        evidence=HOSTILE_EVIDENCE,
        score=0.98,
    )
    return world


@pytest.fixture
def settings(tmp_path):
    return load_settings(None)


def _digest(database, settings):
    return produce(database, settings, TODAY, now=NOW)


def test_digest_content_alerts_evidence_table_and_notes(database, hostile, settings):
    digest = _digest(database, settings)
    kinds = [a.kind for a in digest.alerts]
    assert kinds == sorted(kinds, key=["crossover", "spike", "new-outlet", "source-health"].index)
    first = digest.alerts[0]
    assert (first.kind, first.narrative_id, first.group) == ("crossover", ARMS_PAUSE, "western")
    assert first.chart == "chart-1" and first.chart in digest.charts
    assert digest.charts["chart-1"].startswith(b"\x89PNG")
    outlets = {article.outlet for article in first.articles}
    assert HOSTILE_OUTLET in outlets and all(a.stance == "promotes" for a in first.articles)
    assert any(a.evidence == HOSTILE_EVIDENCE for a in first.articles)
    row = next(r for r in digest.narratives if r.narrative_id == ARMS_PAUSE)
    assert row.today == 10 + 2 + 1 + 1 + 2  # rs1, w1, w2, fc1 and the hostile outlet
    assert row.previous_7_days == 7 and row.last_7_days == 6 + row.today
    assert digest.notes["model_version"] == "m1"
    assert digest.notes["feeds_unhealthy"][0]["url"] == "https://w2.example/rss"
    assert digest.notes["alerts_repeated"] == 1


def test_hostile_content_is_inert_in_every_format(database, hostile, settings):
    digest = _digest(database, settings)

    html_file = render_html(digest)
    assert_html_inert(html_file, "data:image/png;base64,")
    assert "&lt;script&gt;" in html_file and "Evil Wire" in html_file
    html_mail = render_html(digest, for_email=True)
    assert_html_inert(html_mail, "cid:chart-")
    assert "data:" not in html_mail.split("<body>", 1)[1]

    markdown = render_markdown(digest)
    assert not ACTIVE_PATTERN.search(markdown)
    assert "<" not in markdown and ">" not in markdown.replace("\n  > ", "\n")
    for target in re.findall(r"\]\(([^)]*)\)", markdown):
        assert re.match(r"https?://", target), target
    assert "(https://evil.example/a?x=javascript&#58;alert%281%29&onerror&#61;1)" in markdown

    text = render_text(digest)
    assert "Evil Wire" in text
    for token in text.split():  # a script scheme only ever inside an http(s) URL's query
        if "javascript:" in token.lower() or re.match(r"[a-z][a-z0-9+.-]*://", token, re.I):
            assert token.startswith(("http://", "https://")), token
    assert "(javascript[:]alert(4))" in text  # defanged in the outlet's name
    assert "javascript:alert('u')" not in text  # the non-http link is dropped, not shown

    raw_json = render_json(digest)
    assert "<" not in raw_json and ">" not in raw_json
    data = json.loads(raw_json)
    articles = [a for alert in data["alerts"] for a in alert["articles"]]
    hostile_articles = [a for a in articles if a["title"] == HOSTILE_TITLE]
    assert hostile_articles and {a["url"] for a in hostile_articles} == {
        None,
        "https://evil.example/a?x=javascript:alert(1)&onerror=1",
    }

    payload = webhook_payload(digest)
    assert "<script" not in payload["text"] and "&lt;script&gt;" in payload["text"]
    for link in re.findall(r"<([^|>]+)\|", payload["text"]):
        assert link.startswith(("http://", "https://"))


def test_files_are_written_with_charts_as_data_uris(database, hostile, settings, tmp_path):
    digest = _digest(database, settings)
    written = write_files(digest, tmp_path / "out")
    assert [p.name for p in written] == [f"{TODAY}.html", f"{TODAY}.md", f"{TODAY}.json"]
    html = written[0].read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(digest.charts) >= 2
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    # Nothing is loaded from elsewhere: every src is a data: URI, no stylesheet or font links.
    assert re.findall(r"\ssrc=\"([a-z]+):", html) == ["data"] * len(images)
    assert "<link" not in html and "@import" not in html and "url(" not in html


class Recorder:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == b"tracker" and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    with socket.socket() as probe:  # aiosmtpd needs the port number before it starts
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def _digest_settings(**values) -> DigestSettings:
    base = {"recipients": ["team@example.org"], "sender": "tracker@example.org", "max_attempts": 3}
    return DigestSettings.model_validate(base | values)


def test_smtp_delivery_sends_one_multipart_message_once(database, hostile, settings, smtp_server, caplog):
    recorder, port = smtp_server
    channel = _digest_settings(
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": "tracker",
            "allow_login_without_tls": True,
        }
    )
    digest = _digest(database, settings)
    caplog.set_level("DEBUG")

    results = deliver(database, digest, channel, PASSWORD, backoff=0.001)
    assert [(r.channel, r.status, r.attempts) for r in results] == [("smtp", "sent", 1)]
    assert len(recorder.messages) == 1
    message = email.message_from_bytes(recorder.messages[0], policy=policy.default)
    assert message["Subject"] == f"Narrative Tracker digest {TODAY}: {len(digest.alerts)} alerts"
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert len(images) == len(digest.charts) >= 2
    html = html_part.get_content()
    assert_html_inert(html, "cid:chart-")
    for image in images:
        assert image.get_content_type() == "image/png"
        assert image.get_content_disposition() == "inline"
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        assert image.get_content().startswith(b"\x89PNG")
    assert "Evil Wire" in plain.get_content()
    assert PASSWORD not in caplog.text

    again = deliver(database, digest, channel, PASSWORD, backoff=0.001)
    assert [(r.channel, r.status) for r in again] == [("smtp", "already-sent")]
    assert len(recorder.messages) == 1
    with database.session() as session:
        row = session.scalars(select(DigestDelivery)).one()
        assert (row.day, row.channel, row.status, row.attempts) == (TODAY, "smtp", "sent", 1)
        assert row.delivered_at is not None


def test_smtp_refused_login_fails_without_retrying_or_leaking_the_password(database, settings, smtp_server, caplog):
    World(database).source("rs", "russian-state")
    recorder, port = smtp_server
    channel = _digest_settings(
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": "tracker",
            "allow_login_without_tls": True,
        }
    )
    digest = produce(database, settings, TODAY, now=NOW)
    results = deliver(database, digest, channel, "wrong-" + PASSWORD, backoff=0.001)
    assert (results[0].status, results[0].attempts) == ("failed", 1)
    assert "refused the login" in results[0].error
    assert PASSWORD not in caplog.text and PASSWORD not in results[0].error
    assert recorder.messages == []
    missing = deliver(database, digest, channel, None, backoff=0.001)  # a failed channel may be retried
    assert "NARRATIVE_TRACKER_SMTP_PASSWORD" in missing[0].error


class Hook(BaseHTTPRequestHandler):
    bodies: list[bytes]
    answers: list[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.bodies.append(body)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_server():
    handler = type("RecordingHook", (Hook,), {"bodies": [], "answers": [500, 503]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_delivery_retries_with_backoff_then_never_resends(database, hostile, settings, webhook_server):
    handler, url = webhook_server
    channel = _digest_settings(webhook={"url": url, "timeout": 5})
    digest = _digest(database, settings)
    waits: list[float] = []
    results = deliver(database, digest, channel, None, backoff=0.5, sleep=waits.append)
    assert [(r.channel, r.status, r.attempts) for r in results] == [("webhook", "sent", 3)]
    assert waits == [0.5, 1.0]
    assert len(handler.bodies) == 1
    payload = json.loads(handler.bodies[0])
    assert payload["text"].startswith(f"*Narrative Tracker digest {TODAY}*")
    assert payload["digest"]["alerts"][0]["kind"] == "crossover"
    assert deliver(database, digest, channel, None, backoff=0.001)[0].status == "already-sent"
    assert len(handler.bodies) == 1


def test_an_unreachable_channel_is_recorded_as_failed_and_retried_by_the_next_delivery(database, settings):
    World(database).source("rs", "russian-state")
    digest = produce(database, settings, TODAY, now=NOW)
    channel = _digest_settings(webhook={"url": "http://127.0.0.1:9/hook", "timeout": 1}, max_attempts=2)
    waits: list[float] = []
    failed = deliver(database, digest, channel, None, backoff=0.001, sleep=waits.append)
    assert (failed[0].status, failed[0].attempts, len(waits)) == ("failed", 2, 1)
    with database.session() as session:
        row = session.scalars(select(DigestDelivery)).one()
        assert (row.status, row.attempts) == ("failed", 2) and "Connection refused" in row.last_error
    retried = deliver(database, digest, channel, None, backoff=0.001, sleep=waits.append)
    assert (retried[0].status, retried[0].attempts) == ("failed", 4)


def test_an_interrupted_send_is_not_repeated(database, settings, tmp_path):
    World(database).source("rs", "russian-state")
    digest = produce(database, settings, TODAY, now=NOW)
    with database.session() as session:  # a crash after claiming the channel, before recording the result
        session.add(DigestDelivery(day=TODAY, channel="folder", status="sending", attempts=1))
    channel = _digest_settings(folder={"path": tmp_path / "digests"})
    result = deliver(database, digest, channel, None)
    assert result[0].status == "in-progress"
    assert not (tmp_path / "digests").exists()


def test_build_message_headers_hold_no_crawled_text(database, hostile, settings):
    digest = _digest(database, settings)
    message = build_message(digest, "tracker@example.org", ["a@example.org", "b@example.org"])
    assert message["To"] == "a@example.org, b@example.org"
    assert "\n" not in message["Subject"] and "Evil" not in message["Subject"]


def test_digest_job_delivers_today_on_the_folder_channel(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[digest]\ntimezone = "Europe/Paris"\n[digest.folder]\npath = "out"\n', encoding="utf-8")
    settings = load_settings(config)
    database = open_database(f"sqlite:///{tmp_path / 'job.db'}")
    world = World(database)
    world.source("rs", "russian-state")
    today = datetime.now(UTC).date()
    world.articles("rs", today, 2, narratives={ARMS_PAUSE: "promotes"})
    stats = digest_job(JobContext(settings=settings, database=database))
    day = stats["date"]
    assert stats["channels"] == {"folder": "sent"}
    assert {p.name for p in (tmp_path / "out").iterdir()} == {f"{day}.html", f"{day}.md", f"{day}.json"}
    assert digest_job(JobContext(settings=settings, database=database))["channels"] == {"folder": "already-sent"}
    database.dispose()


def test_digest_command_out_and_send(tmp_path, capsys, monkeypatch, webhook_server):
    handler, url = webhook_server
    handler.answers.clear()
    config = tmp_path / "config.toml"
    config.write_text(f'[digest]\n[digest.webhook]\nurl = "{url}"\n', encoding="utf-8")
    url_db = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", url_db)
    database = open_database(url_db)
    build_history(World(database))
    database.dispose()

    def run(*args: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--config", str(config), "digest", *args])
        return int(exit_info.value.code or 0), capsys.readouterr().out

    code, out = run("--date", TODAY.isoformat(), "--out", str(tmp_path / "d"))
    assert code == 0
    html = (tmp_path / "d" / f"{TODAY}.html").read_text(encoding="utf-8")
    assert not ACTIVE_PATTERN.search(html) and "Crossover" in html
    assert json.loads((tmp_path / "d" / f"{TODAY}.json").read_text(encoding="utf-8"))["date"] == TODAY.isoformat()
    assert (tmp_path / "d" / f"{TODAY}.md").read_text(encoding="utf-8").startswith("# Narrative Tracker digest")
    assert run("--date", TODAY.isoformat(), "--send") == (0, "webhook: sent\n")
    assert run("--date", TODAY.isoformat(), "--send") == (0, "webhook: already-sent\n")
    assert len(handler.bodies) == 1
    code, out = run("--date", TODAY.isoformat())
    assert code == 0 and out.startswith(f"NARRATIVE TRACKER DIGEST {TODAY}")
    assert run("--date", "tomorrow")[0] == 2
    assert run("--date", (datetime.now(UTC).date() + timedelta(days=2)).isoformat())[0] == 2


def test_send_without_channels_is_a_config_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(SystemExit) as exit_info:
        main(["digest", "--send", "--date", date(2025, 7, 1).isoformat()])
    assert exit_info.value.code == 2
    assert "no delivery channel configured" in capsys.readouterr().err


def test_an_alert_of_yesterday_arising_after_its_digest_comes_in_todays(sqlite_database, settings, tmp_path):
    database = sqlite_database
    world = World(database)
    world.source("rs", "russian-state")
    yesterday = TODAY - timedelta(days=1)
    with world.batch():
        for back in range(30, 0, -1):
            day_total(world, "rs", TODAY - timedelta(days=back), 0)
        day_total(world, "rs", TODAY, 0)
    channel = _digest_settings(folder={"path": tmp_path / "digests"})
    morning = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=7)
    first = produce(database, settings, yesterday, now=morning)
    assert first.alerts == [] and first.earlier == []
    assert deliver(database, first, channel, None)[0].status == "sent"
    record_shown(database, first, now=morning)

    # In the evening, after that digest went out, a narrative never seen before bursts.
    world.articles("rs", yesterday, 10, narratives={HIDDEN: "promotes"}, hour=20)
    second = produce(database, settings, TODAY, now=NOW)
    assert second.alerts == []
    assert {(a.kind, a.key) for a in second.earlier} == {
        ("spike", f"{HIDDEN}|russian-state"),
        ("new-outlet", f"{HIDDEN}|rs"),
    }
    assert second.earlier_day == yesterday
    assert f"Also on {yesterday}, after that day" in render_html(second)
    assert f"ALSO ON {yesterday}" in render_text(second)
    assert json.loads(render_json(second))["earlier_date"] == yesterday.isoformat()
    assert deliver(database, second, channel, None)[0].status == "sent"
    record_shown(database, second, now=NOW)

    # Once shown, they are not shown again.
    assert produce(database, settings, TODAY, now=NOW).earlier == []


def test_a_chart_is_a_png_with_a_line_in_each_groups_colour():
    import io

    from PIL import Image

    from narrative_tracker.trends.digest.charts import GROUP_COLOURS, HEIGHT, WIDTH, render_chart
    from narrative_tracker.trends.digest.content import Series

    days = [TODAY - timedelta(days=n) for n in range(27, -1, -1)]
    series = Series(ARMS_PAUSE, days, {"russian-state": [n % 7 * 10 for n in range(28)], "western": [3] * 28})
    picture = Image.open(io.BytesIO(render_chart(series)))
    assert picture.format == "PNG" and picture.size == (WIDTH, HEIGHT)
    colours = {colour for _, colour in picture.convert("RGB").getcolors(WIDTH * HEIGHT)}

    def rgb(group: str) -> tuple[int, ...]:
        return tuple(int(GROUP_COLOURS[group][i : i + 2], 16) for i in (1, 3, 5))

    assert rgb("russian-state") in colours and rgb("western") in colours
    assert rgb("ukrainian") not in colours  # a group without counts gets no line
    quiet = Image.open(io.BytesIO(render_chart(Series(ARMS_PAUSE, days, {}))))
    assert quiet.size == (WIDTH, HEIGHT)
