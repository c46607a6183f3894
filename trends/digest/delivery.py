"""Delivering a digest on the configured channels: a folder, SMTP and a webhook.

Each (date, channel) has one ``digest_deliveries`` row. A channel is claimed by writing the row
with status ``sending`` before anything goes out (the unique key makes two processes agree on
who sends), then attempted up to ``[digest] max_attempts`` times with exponential backoff, and
marked ``sent`` or ``failed``. A ``sent`` channel is never sent again for that date; a ``failed``
one is retried by the next delivery for the date; a ``sending`` row left by a crash is not
retried automatically (the message may have gone out), and is reported instead.

The SMTP password comes from ``NARRATIVE_TRACKER_SMTP_PASSWORD`` and never appears in a log, an
error or the database.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from narrative_tracker.privatefiles import private_dir, write_private
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models.trends import DigestDelivery
from narrative_tracker.trends.config import DigestSettings
from narrative_tracker.trends.digest import render
from narrative_tracker.trends.digest.content import Digest

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """Retrying will not help (refused credentials or recipients, a 4xx answer)."""


@dataclass
class ChannelResult:
    channel: str
    #: sent | already-sent | in-progress | failed
    status: str
    attempts: int = 0
    error: str | None = None


def configured_channels(settings: DigestSettings) -> list[str]:
    channels = []
    if settings.folder is not None:
        channels.append("folder")
    if settings.smtp is not None and settings.recipients:
        channels.append("smtp")
    if settings.webhook is not None:
        channels.append("webhook")
    return channels


def write_files(digest: Digest, folder: Path) -> list[Path]:
    """Write ``<date>.html``, ``<date>.md`` and ``<date>.json`` (each replaced atomically)."""
    private_dir(folder)
    name = digest.day.isoformat()
    outputs = {
        f"{name}.html": render.render_html(digest),
        f"{name}.md": render.render_markdown(digest),
        f"{name}.json": render.render_json(digest),
    }
    written = []
    for filename, text in outputs.items():
        target = folder / filename
        partial = folder / f".{filename}.partial"
        write_private(partial, text)  # owner-only: the digest is internal analysis
        partial.replace(target)
        written.append(target)
    return written


def build_message(digest: Digest, sender: str, recipients: list[str]) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related (text/html + one image/png per chart)."""
    message = EmailMessage()
    count = len(digest.alerts)
    # Only our own words in headers: no crawled string can inject a header.
    message["Subject"] = f"Narrative Tracker digest {digest.day.isoformat()}: {count} alert{'' if count == 1 else 's'}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(render.render_text(digest))
    message.add_alternative(render.render_html(digest, for_email=True), subtype="html")
    html_part = list(message.iter_parts())[1]  # the text/html alternative
    for name, png in digest.charts.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{name}>", filename=f"{name}.png")
    for part in message.walk():
        if part.get_content_type() == "image/png":
            part.replace_header("Content-Disposition", part["Content-Disposition"].replace("attachment", "inline"))
    return message


def _send_smtp(digest: Digest, settings: DigestSettings, password: str | None) -> None:
    smtp = settings.smtp
    assert smtp is not None
    if smtp.username and smtp.security == "none" and not smtp.allow_login_without_tls:
        # Checked before connecting: AUTH PLAIN/LOGIN over a plain connection is the password in clear.
        raise PermanentFailure(
            f'[digest.smtp] security = "none" would send the password of {smtp.username!r} in clear: '
            'use security = "starttls" or "ssl", or set allow_login_without_tls = true for a local relay'
        )
    message = build_message(digest, settings.sender, settings.recipients)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.username:
            if not password:
                raise PermanentFailure(
                    f"[digest.smtp] username is {smtp.username!r} but NARRATIVE_TRACKER_SMTP_PASSWORD is not set"
                )
            try:
                client.login(smtp.username, password)
            except smtplib.SMTPAuthenticationError as exc:
                raise PermanentFailure(
                    f"the SMTP server refused the login of {smtp.username!r} ({exc.smtp_code})"
                ) from None
        try:
            client.send_message(message, from_addr=settings.sender, to_addrs=settings.recipients)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise PermanentFailure(f"the SMTP server refused the message: {exc}") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302/303 by turning the POST into a GET (the digest never arrives,
    and the answer to the GET was recorded as "sent"), and a 307/308 would repost the digest to
    wherever the answer points. None is followed: the 3xx surfaces as an HTTPError."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_WEBHOOK_OPENER = urllib.request.build_opener(_NoRedirects)


def _send_webhook(digest: Digest, settings: DigestSettings) -> None:
    webhook = settings.webhook
    assert webhook is not None
    body = json.dumps(render.webhook_payload(digest), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the URL is validated as http(s) by the settings
        webhook.url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with _WEBHOOK_OPENER.open(request, timeout=webhook.timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise PermanentFailure(
                f"the webhook answered HTTP {exc.code} (a redirect): redirects are not followed, "
                "set [digest.webhook] url to the address that accepts the POST"
            ) from None
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise PermanentFailure(f"the webhook answered HTTP {exc.code}") from None
        raise


def _send(channel: str, digest: Digest, settings: DigestSettings, password: str | None) -> None:
    if channel == "folder":
        assert settings.folder is not None
        write_files(digest, settings.folder.path)
    elif channel == "smtp":
        _send_smtp(digest, settings, password)
    elif channel == "webhook":
        _send_webhook(digest, settings)
    else:
        raise ValueError(f"unknown channel {channel!r}")


def _claim(database: Database, digest: Digest, channel: str) -> ChannelResult | None:
    """Mark the channel as being sent; a ChannelResult when it must not be sent now."""
    try:
        with database.session() as session:
            row = session.scalar(
                select(DigestDelivery).where(DigestDelivery.day == digest.day, DigestDelivery.channel == channel)
            )
            if row is None:
                session.add(DigestDelivery(day=digest.day, channel=channel, status="sending", attempts=0))
                return None
            if row.status == "sent":
                return ChannelResult(channel, "already-sent", row.attempts)
            if row.status == "sending":
                return ChannelResult(
                    channel,
                    "in-progress",
                    row.attempts,
                    "an earlier delivery was interrupted or is still running: not sent again",
                )
            # A conditional update, not "read failed, then write": of two processes that both read
            # "failed", only the one whose update still finds it "failed" sends.
            claimed = session.execute(
                update(DigestDelivery)
                .where(
                    DigestDelivery.day == digest.day,
                    DigestDelivery.channel == channel,
                    DigestDelivery.status == row.status,
                )
                .values(status="sending")
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return ChannelResult(channel, "in-progress", row.attempts, "claimed by another process")
            return None
    except IntegrityError:  # another process claimed it between our read and our write
        return ChannelResult(channel, "in-progress", 0, "claimed by another process")


def _record(database: Database, digest: Digest, channel: str, **values: Any) -> None:
    with database.session() as session:
        row = session.scalar(
            select(DigestDelivery).where(DigestDelivery.day == digest.day, DigestDelivery.channel == channel)
        )
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def deliver(
    database: Database,
    digest: Digest,
    settings: DigestSettings,
    password: str | None,
    *,
    channels: list[str] | None = None,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ChannelResult]:
    """Send the digest on each channel at most once; retries wait ``backoff``, then twice as long, and so on."""
    results = []
    for channel in channels if channels is not None else configured_channels(settings):
        refused = _claim(database, digest, channel)
        if refused is not None:
            log.info("digest %s on %s: %s", digest.day, channel, refused.status)
            results.append(refused)
            continue
        attempts, error = 0, None
        with database.session() as session:
            row = session.scalar(
                select(DigestDelivery).where(DigestDelivery.day == digest.day, DigestDelivery.channel == channel)
            )
            attempts = row.attempts if row else 0
        for attempt in range(1, settings.max_attempts + 1):
            attempts += 1
            try:
                _send(channel, digest, settings, password)
            except PermanentFailure as exc:
                error = str(exc)
                break
            except (OSError, smtplib.SMTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("digest %s on %s: attempt %d failed: %s", digest.day, channel, attempt, error)
                if attempt < settings.max_attempts:
                    sleep(backoff * 2 ** (attempt - 1))
                continue
            error = None
            break
        if error is None:
            _record(
                database,
                digest,
                channel,
                status="sent",
                attempts=attempts,
                last_error=None,
                delivered_at=datetime.now(UTC),
            )
            results.append(ChannelResult(channel, "sent", attempts))
            log.info("digest %s sent on %s", digest.day, channel)
        else:
            _record(database, digest, channel, status="failed", attempts=attempts, last_error=error[:2000])
            results.append(ChannelResult(channel, "failed", attempts, error))
            log.error("digest %s on %s failed after %d attempts: %s", digest.day, channel, attempts, error)
    return results
