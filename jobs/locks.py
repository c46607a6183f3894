"""Cross-process locks: one leader among ``scheduler run`` processes, one run at a time per job.

Both kinds are released by the operating system or the database when their holder dies, so a
SIGKILLed process never leaves a lock behind:

- SQLite: an OS file lock (``flock``) on ``<database file>.locks/<name>.lock`` beside the database
  (processes that share a SQLite file share a machine);
- PostgreSQL: a session advisory lock taken on a dedicated autocommit connection, held as long as
  that connection lives.
"""

from __future__ import annotations

import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from narrative_tracker.errors import JobBusyError

log = logging.getLogger(__name__)

#: First key of every advisory lock of this application ("NT"), so other applications' locks never clash.
ADVISORY_NAMESPACE = 0x4E54


class Lock(Protocol):
    name: str

    def try_acquire(self) -> bool:
        """Take the lock if free; never blocks for long."""
        ...

    def still_held(self) -> bool:
        """False when the lock was lost behind our back (database connection gone)."""
        ...

    def release(self) -> None: ...


class FileLock:
    """An OS file lock; ``flock`` locks conflict between processes and between threads alike."""

    def __init__(self, path: Path, name: str) -> None:
        import filelock

        self.name = name
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = filelock.FileLock(path, timeout=0, thread_local=False)

    def try_acquire(self) -> bool:
        import filelock

        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        return True

    def still_held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


class AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.key = zlib.crc32(name.encode()) & 0x7FFFFFFF
        self._engine = create_engine(make_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            got = self._connection.scalar(
                text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": ADVISORY_NAMESPACE, "key": self.key}
            )
        except SQLAlchemyError as exc:
            log.warning("cannot reach PostgreSQL for the %s lock: %s", self.name, exc)
            self._drop_connection()
            return False
        if not got:
            self._drop_connection()
        return bool(got)

    def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            count = self._connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = :ns AND objid = :key"
                ),
                {"ns": ADVISORY_NAMESPACE, "key": self.key},
            )
        except SQLAlchemyError:
            self._drop_connection()
            return False
        return bool(count)

    def release(self) -> None:
        # Closing the session releases the lock; unlocking first is only politeness.
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": ADVISORY_NAMESPACE, "key": self.key}
                )
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None

    def dispose(self) -> None:
        self._drop_connection()
        self._engine.dispose()


def lock_folder(database_url: str, home: Path) -> Path:
    """Where the file locks of a SQLite database live: beside the database file."""
    database = make_url(database_url).database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return home / "locks"
    path = Path(database)
    return path.with_name(path.name + ".locks")


def make_lock(database_url: str, home: Path, name: str) -> Lock:
    """The lock called ``name`` for this database: leader (``"scheduler"``) or ``"job-<name>"``."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return AdvisoryLock(database_url, name)
    return FileLock(lock_folder(database_url, home) / f"{name}.lock", name)


def acquire_waiting(lock: Lock, *, timeout: float, give_up: Callable[[], bool], poll: float = 0.5) -> bool:
    """Try the lock until it is free, ``timeout`` passes or ``give_up()`` says stop."""
    deadline = time.monotonic() + timeout
    while True:
        if lock.try_acquire():
            return True
        if give_up() or time.monotonic() >= deadline:
            return False
        time.sleep(poll)


@contextlib.contextmanager
def job_lock(database_url: str, home: Path, job: str, *, command: str) -> Iterator[None]:
    """The run lock of ``job`` for a manual ``command``: the same lock a scheduled run takes, so the
    two never overlap (a concurrent classify failed on the primary key; a digest channel could be
    claimed twice). JobBusyError at once when it is taken: the user decides to wait."""
    lock = make_lock(database_url, home, f"job-{job}")
    try:
        if not lock.try_acquire():
            raise JobBusyError(
                f"{command}: the {job} job is running now (scheduled, or another command); "
                "try again when it has finished (see `narrative-tracker jobs history`)"
            )
        yield
    finally:
        close(lock)


def close(lock: Lock) -> None:
    """Release and free the lock's resources."""
    lock.release()
    if isinstance(lock, AdvisoryLock):
        lock.dispose()
