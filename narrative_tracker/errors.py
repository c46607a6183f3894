"""The exceptions a user can meet, each turned into one clear sentence by the CLI.

    NarrativeTrackerError            base; carries the exit status the CLI uses
    ├── ConfigError                  bad settings, sources or taxonomy file (exit 2)
    ├── UsageError                   bad command-line input the parser could not catch (exit 2)
    ├── StorageError                 database unreachable, bad URL, failed migration (exit 1)
    ├── CrawlError                   a crawl could not run at all (exit 1)
    ├── ModelError                   model missing, corrupt or incompatible (exit 1)
    │   └── ModelNotFoundError       also a LookupError: the version is named
    └── DeliveryError                a digest channel could not be reached (exit 1)

Components raise these with a message that names the file, field, URL or value at fault and
what to do about it; the CLI prints the message and exits with ``exit_code`` (``--debug``
shows the traceback too).
"""

from __future__ import annotations


class NarrativeTrackerError(Exception):
    """Base of every error the CLI reports as a message instead of a traceback."""

    exit_code = 1


class ConfigError(NarrativeTrackerError):
    """A settings, sources or taxonomy file is missing or invalid. Raised at start-up."""

    exit_code = 2


class UsageError(NarrativeTrackerError):
    """Command-line input that is well-formed but unusable (a date in the future, an unknown id)."""

    exit_code = 2


class StorageError(NarrativeTrackerError):
    """The database cannot be opened, migrated, read or written."""


class CrawlError(NarrativeTrackerError):
    """A crawl could not run at all (no source selected, the child process failed to start)."""


class ModelError(NarrativeTrackerError):
    """A model file is missing, corrupt or was made by incompatible library versions."""


class TrainingError(NarrativeTrackerError):
    """Training could not finish (a worker process fitting the model stopped); nothing was saved."""


class ModelNotFoundError(ModelError, LookupError):
    """No model version with the given name exists in the registry."""


class JobBusyError(NarrativeTrackerError):
    """A manual command found its job running (the scheduler's run, or another command)."""


class DeliveryError(NarrativeTrackerError):
    """A digest could not be delivered on a channel after all retries."""


class QueueError(NarrativeTrackerError):
    """The task queue's broker cannot be reached, or a task could not be sent."""
