"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL where one answers.

PostgreSQL tests use ``NARRATIVE_TRACKER_TEST_POSTGRES_URL`` (default: the local server,
database ``test``); each test session creates and drops its own database there, so that runs
never see each other's rows. Without a server they skip, except under ``CI=true`` where
they fail.

Helpers that are not fixtures (the synthetic trends world, the scheduler's test jobs, the shared
classifier model, polling, ../shared/data) live in ``helpers/``, imported as ``from helpers.x import y``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from narrative_tracker.storage.database import Database, open_database

POSTGRES_URL = os.environ.get(
    "NARRATIVE_TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own settings or data directory."""
    monkeypatch.setenv("NARRATIVE_TRACKER_HOME", str(tmp_path / "home"))
    for name in list(os.environ):
        if name.startswith("NARRATIVE_TRACKER_") and name not in (
            "NARRATIVE_TRACKER_HOME",
            "NARRATIVE_TRACKER_TEST_POSTGRES_URL",
        ):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, for this test session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"nt_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server means: no PostgreSQL here
        admin.dispose()
        _unavailable(f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} did not answer: {exc}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(reason)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a fresh SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    url: str = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A migrated database, on SQLite and on PostgreSQL."""
    db = open_database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database, for tests that are not about the database kind."""
    db = open_database(f"sqlite:///{tmp_path / 'tracker.db'}")
    yield db
    db.dispose()
