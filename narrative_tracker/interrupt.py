"""How long-running work is told to stop, and how it says it stopped early.

The scheduler hands every stage a stop flag as a plain argument (a ``threading.Event``, or a
``multiprocessing`` one in a child process); the stage checks it between batches and raises
``JobInterrupted`` with the stats of what it did, so that nothing below the scheduler imports it.
"""

from __future__ import annotations

from typing import Any, Protocol


class StopFlag(Protocol):
    """Anything with ``is_set()``: set when the work must end now."""

    def is_set(self) -> bool: ...


class JobInterrupted(Exception):
    """Raised by work that ended early because its stop flag was set; the run is recorded as
    interrupted, with ``stats`` of what it did before it stopped."""

    def __init__(self, message: str, *, stats: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.stats: dict[str, Any] = dict(stats or {})


def stop_requested(stop: StopFlag | None) -> bool:
    return stop is not None and stop.is_set()
