"""The crawl's processes end with the process that started them.

The crawl process runs in a session of its own (a terminal's Ctrl-C reaches its parent, which
decides), so a parent killed outright (the job process SIGKILLed by the scheduler after its
grace, an OOM kill) used to leave the crawl and its extraction workers running, and the next crawl
overlapped them. On Linux each of them asks the kernel for SIGKILL when its parent dies:

- the crawl process, when the job or CLI process that started it dies;
- the fork server of the extraction workers watches its parent and exits when it is gone (not
  with the kernel's request: that fires when the parent *thread* ends, and the fork server is
  started from a short-lived thread of the crawl process);
- each extraction worker, when the fork server dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> bool:
    """SIGKILL this process when its parent dies; False where the kernel cannot (not Linux).

    ``parent`` is the pid the parent had: if it is gone already (it died before the request was
    made), this process exits at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    return True


def exit_when_orphaned(interval: float = 0.5) -> None:
    """Exit this process (from a watching thread) as soon as its parent is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
