"""The one training run the web app may have going (a background thread in this process), and how
far it is: what the models page shows and ``GET /models/training`` answers for its script."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from narrative_tracker.errors import NarrativeTrackerError

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database
    from narrative_tracker.web.accounts import Account

LOG = logging.getLogger(__name__)
#: What a fit's stage (classifier ``FitProgress``) is called on the page, and what it counts.
FIT_STEPS = {
    "thresholds": ("tuning the thresholds", "fits"),
    "narratives": ("fitting the narratives", "narratives fitted"),
}


@dataclass
class TrainingState:
    """Written by the training thread, read by requests: each field is replaced whole, and a
    reader takes a consistent copy under the lock (``snapshot``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    running: bool = False
    started_by: str = ""
    phase: str = ""  # collecting the data, cross-validation, the final fit, saving
    fold: int = 0  # the cross-validation fold going (1-based), 0 outside cross-validation
    folds: int = 0
    step: str = ""  # the fit's own stage: a key of FIT_STEPS
    done: int = 0
    total: int = 0
    started_at: float = 0.0  # time.monotonic()
    finished_at: float = 0.0
    message: str = ""  # the outcome of the last run
    version: str = ""  # the candidate the last run made

    def start(self, settings: Settings, database: Database, account: Account) -> bool:
        """Start a run in a thread; False when one is going already."""
        with self.lock:
            if self.running:
                return False
            self.running, self.started_by, self.message, self.version = True, account.name, "", ""
            self.phase, self.fold, self.folds, self.step, self.done, self.total = "collecting the data", 0, 0, "", 0, 0
            self.started_at, self.finished_at = time.monotonic(), 0.0
        threading.Thread(target=self._run, args=(settings, database), name="web-train", daemon=True).start()
        return True

    # ---------------------------------------------------------------- told by the training
    def noticed(self, message: str) -> None:
        """``train``'s notices name its phases."""
        with self.lock:
            if message.startswith("cross-validating"):
                self.phase, self.fold = "cross-validation", 1
            elif message.startswith("training on"):
                self.phase, self.fold, self.folds = "the final fit", 0, 0
            self.step, self.done, self.total = "", 0, 0

    def folds_done(self, done: int, folds: int) -> None:
        with self.lock:
            self.folds, self.fold = folds, min(done + 1, folds)
            self.step, self.done, self.total = "", 0, 0

    def fitted(self, step: str, done: int, total: int) -> None:
        with self.lock:
            self.step, self.done, self.total = step, done, total
            if self.phase == "the final fit" and step == "narratives" and done == total:
                self.phase, self.step = "saving the candidate", ""

    # ---------------------------------------------------------------- read by the pages
    def snapshot(self) -> dict[str, Any]:
        """The JSON of ``GET /models/training`` (and what the page shows)."""
        with self.lock:
            end = time.monotonic() if self.running else self.finished_at
            step_name, unit = FIT_STEPS.get(self.step, ("", ""))
            return {
                "running": self.running,
                "started_by": self.started_by,
                "phase": self.phase if self.running else "",
                "fold": self.fold,
                "folds": self.folds,
                "step": step_name if self.running else "",
                "done": self.done if self.running else 0,
                "total": self.total if self.running else 0,
                "unit": unit if self.running else "",
                "elapsed_seconds": round(end - self.started_at, 1) if self.started_at else 0.0,
                "message": self.message,
                "version": self.version or None,
            }

    # ---------------------------------------------------------------- the thread
    def _run(self, settings: Settings, database: Database) -> None:
        from narrative_tracker.classifier.service import train

        try:
            result = train(settings, database, notes=f"trained from the web app by {self.started_by}",
                           notify=self.noticed, progress=self.folds_done, fit_progress=self.fitted)
            seconds = round(time.monotonic() - self.started_at)  # all of it: data, fits, saving
            message, version = f"Candidate {result['version']} trained in {seconds} s.", result["version"]
        except (NarrativeTrackerError, ValueError, OSError) as exc:
            message, version = f"Training failed: {exc}", ""
        except Exception as exc:  # a crash in the thread must still end the run on the page
            message, version = f"Training failed unexpectedly ({type(exc).__name__}): see the server log", ""
            LOG.exception("training from the web app failed")
        with self.lock:
            self.running, self.message, self.version, self.finished_at = False, message, version, time.monotonic()
