"""Files only their owner can read: settings, the SQLite database, model files, digests.

The settings can hold a webhook token or a database password and the data is not public, so
these files are created ``0600`` (folders ``0700``) whatever the process umask says. An existing
file or folder keeps the mode its owner gave it, except a file we rewrite (made owner-only again).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing folder is left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    return path


def write_private(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` (created or truncated) with mode 0600."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # an existing file keeps its mode through O_CREAT
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(raw)
    finally:
        if fd != -1:
            os.close(fd)
    return path


def touch_private(path: Path) -> None:
    """Create an empty ``path`` with mode 0600 unless it exists (SQLite then opens it as a new
    database, and its -wal and -shm files copy the database file's mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def make_private(path: Path) -> None:
    """Restrict a file a library wrote (skops) to its owner."""
    os.chmod(path, PRIVATE_FILE_MODE)
