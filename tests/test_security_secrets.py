"""Issue 13, item 2: a percent-encoded database password works, and is never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database

PASSWORD = "s3cr@t%pw"  # percent-encoded in the URL as s3cr%40t%25pw


def _with_password(url: str) -> str:
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NARRATIVE_TRACKER_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "narrative_tracker", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _shown(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.mark.postgres
def test_db_upgrade_with_a_percent_encoded_password_works_and_shows_no_password(postgres_server_url: str) -> None:
    url = _with_password(postgres_server_url)  # the local server trusts 127.0.0.1: any password works
    assert "%40" in url and "%25" in url
    for args in (("db", "upgrade"), ("--debug", "db", "upgrade")):
        result = _cli(*args, url=url)
        assert result.returncode == 0, _shown(result)
        assert "s3cr" not in _shown(result)
        assert "Traceback" not in _shown(result)


def test_an_unreachable_database_fails_in_one_line_without_the_password() -> None:
    url = f"postgresql+psycopg://someone:{'s3cr%40t%25pw'}@127.0.0.1:1/nothing"
    result = _cli("db", "upgrade", url=url)
    assert result.returncode != 0
    assert "s3cr" not in _shown(result)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    debug = _cli("--debug", "db", "upgrade", url=url)
    assert debug.returncode != 0 and "s3cr" not in _shown(debug)


def test_settings_and_database_reprs_hide_the_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", "postgresql+psycopg://someone:s3cr%40t@127.0.0.1:1/x")
    settings = load_settings(None)
    assert "s3cr" not in repr(settings) and "s3cr" not in str(settings)
    assert "s3cr" not in repr(settings.storage)
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        assert "sqlite" in repr(database.engine)
    finally:
        database.dispose()
