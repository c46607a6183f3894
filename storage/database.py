"""Engine and session factories, schema migrations on first use, and SQLite backups.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout, so that the
scheduler, a crawl child process and an analyst's CLI can share one file. PostgreSQL is chosen
by URL (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from narrative_tracker.errors import StorageError
from narrative_tracker.privatefiles import private_dir, touch_private

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; StorageError names the URL when it cannot be used."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(
            f"database URL {url!r} is not valid: write e.g. sqlite:////abs/path/tracker.db "
            "or postgresql+psycopg://user@host/db"
        ) from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                # Created owner-only before SQLite opens it (its -wal and -shm files copy the mode).
                private_dir(Path(database).parent)
                touch_private(Path(database))
            except OSError as exc:
                raise StorageError(f"cannot create the folder for database {database}: {exc.strerror}") from None
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise StorageError(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: unknown database kind "
            f"{parsed.drivername!r}; use sqlite:/// or postgresql+psycopg://"
        ) from None
    except ModuleNotFoundError as exc:
        raise StorageError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} needs the Python package "
            f"{exc.name!r}: install it, e.g. pip install 'narrative-tracker[postgres]'"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # No "sqlalchemy.url": migrations run on a connection handed in through config.attributes.
    # Alembic's ConfigParser treats "%" as interpolation (a percent-encoded password crashed it)
    # and a URL with its password in the config could surface in a traceback.
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _describe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@dataclass
class Database:
    """An engine with its session factory; ``session()`` is one transaction."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def url(self) -> str:
        return _describe_url(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the database at ``url``, creating and migrating it to the latest schema when needed."""
    engine = create_db_engine(url)
    try:
        if migrate and current_revision(engine) != head_revision():
            upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StorageError(f"cannot open database {_describe_url(engine)}: {reason}") from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StorageError(f"cannot migrate database {_describe_url(engine)}: {exc}") from None
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def backup_sqlite(engine: Engine, target: Path) -> None:
    """Copy a live SQLite database with SQLite's online backup API (safe while others write)."""
    if engine.dialect.name != "sqlite":
        raise StorageError("db backup copies SQLite databases only; back up PostgreSQL with pg_dump")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise StorageError(f"backup target {target} exists already: choose a new file name")
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        touch_private(target)  # a copy of the data, as private as the database
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        raw.close()
