"""Settings: one TOML file plus environment overrides, validated at start-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from narrative_tracker.errors import ConfigError
from narrative_tracker.jobs.config import parse_every
from narrative_tracker.settings import load_settings


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path):
    settings = load_settings()
    assert settings.config_file is None
    assert settings.home == tmp_path / "home"
    assert settings.database_url == f"sqlite:///{tmp_path / 'home' / 'tracker.db'}"
    assert settings.crawler.allow_private_addresses is False
    assert settings.crawler.download_delay == 1.0
    assert settings.jobs["crawl"].every == "30m"
    assert settings.jobs["retrain"].enabled is False
    assert settings.sources_file.name == "sources.toml"


def test_the_contract_keys_are_read(tmp_path):
    path = _config(
        tmp_path,
        """
[storage]
database_url = "sqlite:////abs/tracker.db"
[crawler]
sources = "my-sources.toml"
allow_private_addresses = true
download_delay = 0
concurrent_requests_per_domain = 8
user_agent = "Test/1.0 (+https://example.org)"
[classifier]
taxonomy = "sub/narratives.toml"
[service]
bind = "127.0.0.1"
port = 0
[jobs.crawl]
cron = "*/10 * * * *"
[jobs.digest]
every = "1d"
[digest]
timezone = "Europe/Paris"
recipients = ["team@example.org"]
sender = "tracker@example.org"
[digest.smtp]
host = "127.0.0.1"
port = 2525
security = "none"
username = "tracker"
[digest.webhook]
url = "http://127.0.0.1:9/hook"
[digest.folder]
path = "digests"
""",
    )
    settings = load_settings(path)
    assert settings.database_url == "sqlite:////abs/tracker.db"
    assert settings.sources_file == tmp_path / "my-sources.toml"
    assert settings.taxonomy_file == tmp_path / "sub" / "narratives.toml"
    assert settings.crawler.concurrent_requests_per_domain == 8
    assert settings.service.port == 0
    # A user schedule replaces the default one rather than clashing with it.
    assert (settings.jobs["crawl"].cron, settings.jobs["crawl"].every) == ("*/10 * * * *", None)
    assert (settings.jobs["digest"].every, settings.jobs["digest"].cron) == ("1d", None)
    assert settings.digest.smtp is not None and settings.digest.smtp.port == 2525
    assert settings.digest.folder is not None and settings.digest.folder.path == tmp_path / "digests"


def test_relative_sqlite_paths_are_relative_to_the_config_file(tmp_path):
    settings = load_settings(_config(tmp_path, '[storage]\ndatabase_url = "sqlite:///data/t.db"\n'))
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 't.db'}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[storage]\nno_such_key = 1\n", "unknown key 'storage.no_such_key'"),
        ("[nope]\n", "unknown section [nope]"),
        ("[crawler]\ndownload_delay = 'fast'\n", "crawler.download_delay"),
        ("[crawler]\ndownload_delay = -1\n", "crawler.download_delay"),
        ("[crawler]\nconcurrent_requests_per_domain = 0\n", "crawler.concurrent_requests_per_domain"),
        ("[jobs.crawl]\nevery = '5x'\n", "'5x' is not an interval"),
        ("[jobs.crawl]\ncron = '61 * * * *'\n", "is not a cron expression"),
        ("[jobs.crawl]\nevery = '5m'\ncron = '* * * * *'\n", "either 'every' or 'cron'"),
        ("[jobs.cleanup]\nevery = '1h'\n", "unknown job 'cleanup'"),
        ("[jobs.crawl]\nspeed = 1\n", "unknown key 'jobs.crawl.speed'"),
        ("[digest]\ntimezone = 'Mars/Olympus'\n", "not an IANA time zone"),
        ("[digest.smtp]\nsecurity = 'tls'\n", "digest.smtp"),
        ("[digest.webhook]\nurl = 'ftp://x'\n", "not an http(s) URL"),
        ("[service]\nport = 70000\n", "service.port"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path, text, message):
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_environment_overrides(tmp_path, monkeypatch):
    path = _config(tmp_path, "[crawler]\ndownload_delay = 2.0\n")
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/db")
    monkeypatch.setenv("NARRATIVE_TRACKER__CRAWLER__DOWNLOAD_DELAY", "0.25")
    monkeypatch.setenv("NARRATIVE_TRACKER__DIGEST__TIMEZONE", "Europe/Kyiv")
    monkeypatch.setenv("NARRATIVE_TRACKER_SMTP_PASSWORD", "s3cret")
    settings = load_settings(path)
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert settings.crawler.download_delay == 0.25
    assert settings.digest.timezone == "Europe/Kyiv"
    assert settings.smtp_password == "s3cret"
    assert "s3cret" not in repr(settings)


def test_an_environment_override_is_validated_too(monkeypatch):
    monkeypatch.setenv("NARRATIVE_TRACKER__CRAWLER__NO_SUCH", "1")
    with pytest.raises(ConfigError, match=r"crawler\.no_such"):
        load_settings()


def test_the_config_file_can_come_from_the_environment(tmp_path, monkeypatch):
    path = _config(tmp_path, "[service]\nport = 9999\n")
    monkeypatch.setenv("NARRATIVE_TRACKER_CONFIG", str(path))
    assert load_settings().service.port == 9999


def test_the_starter_config_is_valid_and_matches_the_defaults(tmp_path):
    from narrative_tracker.cli.setup import EXAMPLE_CONFIG

    assert load_settings(EXAMPLE_CONFIG).jobs == load_settings().jobs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("5s", timedelta(seconds=5)),
        ("2 h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_parse_every(text, expected):
    assert parse_every(text) == expected


def test_every_setting_is_documented_in_the_starter_config():
    """A key a user cannot discover is a key nobody sets: `init` must show them all."""
    import re

    from narrative_tracker.cli.setup import EXAMPLE_CONFIG
    from narrative_tracker.configmodel import Section
    from narrative_tracker.settings import SECTIONS

    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    missing = [
        f"{section}.{name}"
        for section, model in SECTIONS.items()
        for name, info in model.model_fields.items()
        if not (isinstance(info.annotation, type) and issubclass(info.annotation, Section))
        and not any(isinstance(a, type) and issubclass(a, Section) for a in getattr(info.annotation, "__args__", ()))
        and not re.search(rf"^#?\s*{name}\s*=", text, re.MULTILINE)
    ]
    assert missing == []
