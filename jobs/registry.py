"""Which function runs each job, and which jobs follow which.

Job functions are named as ``"module:function"`` strings and imported only when a run starts (in
the child process that runs it), so that the service starts, elects a leader and answers
``/healthz`` even while a job module is missing or broken: that run is recorded as failed with the
import error, and the other jobs keep running.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import cast

from narrative_tracker.jobs.base import JobFunction
from narrative_tracker.jobs.config import JOB_NAMES

#: job name -> "module:function".
DEFAULT_REGISTRY: dict[str, str] = {name: f"narrative_tracker.jobs.{name}:run" for name in JOB_NAMES}

#: After a successful run of the key, these jobs run at once (trigger "chained"), in order.
CHAINS: dict[str, tuple[str, ...]] = {"crawl": ("classify",), "classify": ("trends",)}


class JobUnavailableError(Exception):
    """The function of a job cannot be imported; the message says which module and why."""


def resolve(target: str) -> JobFunction:
    """Import ``"module:function"``; JobUnavailableError names the module when it cannot be used."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise JobUnavailableError(f"job target {target!r} is not of the form 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise JobUnavailableError(f"job module {module_name} is not installed (no module {exc.name!r})") from exc
        raise JobUnavailableError(f"job module {module_name} needs a missing module {exc.name!r}") from exc
    except Exception as exc:
        raise JobUnavailableError(f"job module {module_name} failed to import: {type(exc).__name__}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise JobUnavailableError(f"job module {module_name} has no function {attribute!r}")
    return cast(JobFunction, function)


def target_of(function: JobFunction) -> str:
    """The ``"module:function"`` string of a module-level function (tests inject their own jobs)."""
    return f"{function.__module__}:{function.__qualname__}"


def chained_after(name: str, enabled: Mapping[str, bool]) -> list[str]:
    """The jobs to run after a successful ``name``, skipping disabled ones (their own chains too)."""
    return [follower for follower in CHAINS.get(name, ()) if enabled.get(follower, False)]
