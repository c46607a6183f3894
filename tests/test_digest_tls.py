"""SMTP delivery over STARTTLS and implicit TLS, against a real local server with its own certificate.

The client verifies the server's certificate as in production (``ssl.create_default_context``);
the test makes its self-signed certificate trusted through ``SSL_CERT_FILE``, which OpenSSL's
default verify paths read.
"""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import socket
import ssl
from email import policy
from pathlib import Path

import pytest

from narrative_tracker.settings import load_settings
from narrative_tracker.trends.config import DigestSettings
from narrative_tracker.trends.digest import produce
from narrative_tracker.trends.digest.delivery import deliver

from helpers.alerts_history import NOW, TODAY
from helpers.world import ARMS_PAUSE, World


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bool]] = []

    async def handle_DATA(self, server, session, envelope):
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.messages.append((envelope.content, encrypted))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_smtp_over_tls_verifies_the_server_and_delivers(security, sqlite_database, tmp_path, monkeypatch):
    from aiosmtpd.controller import Controller

    cert_file, key_file = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    recorder = Recorder()
    port = _free_port()
    if security == "ssl":
        controller = Controller(recorder, hostname="127.0.0.1", port=port, ssl_context=context)
    else:
        controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    try:
        world = World(sqlite_database)
        world.source("rs", "russian-state")
        world.articles("rs", TODAY, 2, narratives={ARMS_PAUSE: "promotes"})
        digest = produce(sqlite_database, load_settings(None), TODAY, now=NOW)
        channel = DigestSettings.model_validate(
            {
                "recipients": ["team@example.org"],
                "smtp": {"host": "127.0.0.1", "port": port, "security": security, "timeout": 10},
                "max_attempts": 1,
            }
        )
        results = deliver(sqlite_database, digest, channel, None)
    finally:
        controller.stop()
    assert [(r.status, r.error) for r in results] == [("sent", None)]
    content, encrypted = recorder.messages[0]
    assert encrypted
    assert email.message_from_bytes(content, policy=policy.default).get_content_type() == "multipart/alternative"


def test_smtp_refuses_a_server_it_cannot_verify(sqlite_database, tmp_path):
    from aiosmtpd.controller import Controller

    cert_file, key_file = _certificate(tmp_path)  # not made trusted
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    recorder = Recorder()
    port = _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    try:
        World(sqlite_database).source("rs", "russian-state")
        digest = produce(sqlite_database, load_settings(None), TODAY, now=NOW)
        channel = DigestSettings.model_validate(
            {
                "recipients": ["team@example.org"],
                "smtp": {"host": "127.0.0.1", "port": port, "security": "starttls", "timeout": 10},
                "max_attempts": 2,
            }
        )
        results = deliver(sqlite_database, digest, channel, None, backoff=0.001)
    finally:
        controller.stop()
    assert results[0].status == "failed" and "CERTIFICATE_VERIFY_FAILED" in (results[0].error or "")
    assert recorder.messages == []
