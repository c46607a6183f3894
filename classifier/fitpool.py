"""The per-label logistic regressions of a fit, on every core and with the same result every time.

scikit-learn's liblinear draws its coordinate order from one random generator per process,
reseeded at the start of each fit. Fits running side by side in threads share it, so which
numbers each gets depends on timing, and repeated trainings on the same labels gave weights
that differed at the solver's tolerance and, now and then, a different tuned threshold.
Each fit here runs alone in its process instead: in worker processes (joblib's loky) when
there is enough work to pay for them, else one after another in this one.

Worker processes read the training matrices from files written once per fit, which each maps
into memory once, instead of a copy sent with each task.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed  # type: ignore[import-untyped]
from joblib.externals.loky.process_executor import TerminatedWorkerError  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from narrative_tracker.errors import TrainingError

#: Below this many stored values over all the fits of a call (one fit reads its matrix about
#: twenty-five times), starting and feeding worker processes costs more than it saves.
MIN_PARALLEL_WORK = 20_000_000


@dataclass(frozen=True)
class Solver:
    """How each label's regression is fitted (see ``NarrativeClassifier``)."""

    C: float
    tol: float
    random_state: int | None


@dataclass
class Task:
    """One label's fit: its rows of a shared matrix (or the files holding it, for a worker
    process), targets, sample weights and NB power."""

    X: sp.csr_matrix | str
    y: np.ndarray
    weight: np.ndarray
    power: float


# In a worker process: the memory-mapped matrices of the fit it is working for, by file stem.
# Mapped once per worker, not once per task: each new mapping of a large matrix costs a page
# fault per page read. A task of another fit (another folder) drops them.
_mapped: dict[str, sp.csr_matrix] = {}


def _matrix(X: sp.csr_matrix | str) -> sp.csr_matrix:
    if not isinstance(X, str):
        return X
    if X not in _mapped:
        folder = str(Path(X).parent)
        for stem in [stem for stem in _mapped if str(Path(stem).parent) != folder]:
            del _mapped[stem]
        _mapped[X] = _load(X)
    return _mapped[X]


def fit_label(task: Task, solver: Solver) -> tuple[np.ndarray, float]:
    """One label's logistic regression; (coef over ``task.X``'s columns, intercept)."""
    X = _matrix(task.X)
    scale = nb_ratios(X, task.y == 1) ** task.power if task.power else None
    model = LogisticRegression(
        C=solver.C, solver="liblinear", dual=True, tol=solver.tol, max_iter=500, random_state=solver.random_state
    )
    with warnings.catch_warnings():
        # Near-separable text data: an unconverged dual solution is still a good model.
        warnings.simplefilter("ignore", ConvergenceWarning)
        scaled = X if scale is None else sp.csr_matrix(X.multiply(scale))
        model.fit(scaled, task.y, sample_weight=balanced(task.y, task.weight))
    coef = model.coef_.ravel().astype(np.float32)
    if scale is not None:
        coef = coef * scale  # the scaling folded into the weights: prediction reads raw features
    return coef, float(model.intercept_[0])


def fit_all(
    tasks: Sequence[Task],
    solver: Solver,
    n_jobs: int,
    done: Callable[[], None] | None = None,
    fit: Callable[[Task, Solver], tuple[np.ndarray, float]] = fit_label,
) -> list[tuple[np.ndarray, float]]:
    """``fit`` (``fit_label``) of every task, in order; ``done`` is called (in this process) after
    each. A worker process that dies (killed, out of memory) raises a ``TrainingError``."""
    work = sum(_matrix(task.X).nnz for task in tasks)
    results = []
    if n_jobs <= 1 or len(tasks) < 2 or work < MIN_PARALLEL_WORK:
        for task in tasks:
            results.append(fit(task, solver))
            if done:
                done()
        return results
    with _shared_matrices(tasks) as shared:
        stream = Parallel(n_jobs=min(n_jobs, len(tasks)), backend="loky", return_as="generator", max_nbytes=None)(
            delayed(fit)(task, solver) for task in shared
        )
        try:
            for result in stream:
                results.append(result)
                if done:
                    done()
        except TerminatedWorkerError:
            raise TrainingError(
                f"a worker process fitting the model stopped before its {len(tasks)} fits were done "
                "(killed, or out of memory): nothing was saved; free memory or train on fewer records, "
                "then train again"
            ) from None
        return results


@contextmanager
def _shared_matrices(tasks: Sequence[Task]) -> Iterator[list[Task]]:
    """``tasks`` with each distinct matrix written to files that worker processes map (removed
    afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="narrative-fit-"))
    try:
        stems: dict[int, str] = {}
        out = []
        for task in tasks:
            X = _matrix(task.X)
            if id(X) not in stems:
                stems[id(X)] = _save(X, folder / str(len(stems)))
            out.append(Task(stems[id(X)], task.y, task.weight, task.power))
        yield out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _save(X: sp.csr_matrix, stem: Path) -> str:
    for name in ("data", "indices", "indptr"):
        np.save(f"{stem}.{name}.npy", getattr(X, name))
    np.save(f"{stem}.shape.npy", np.array(X.shape))
    return str(stem)


def _load(stem: str) -> sp.csr_matrix:
    data, indices, indptr = (np.load(f"{stem}.{name}.npy", mmap_mode="r") for name in ("data", "indices", "indptr"))
    shape = tuple(int(n) for n in np.load(f"{stem}.shape.npy"))
    matrix = sp.csr_matrix(shape, dtype=data.dtype)
    # Set directly: the constructor would check (and may copy) what is already a valid CSR with
    # sorted indices (``NarrativeClassifier`` sorts them before the fits).
    matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
    matrix.has_sorted_indices = True
    return matrix


def balanced(y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Sample weights where positives and negatives weigh the same in total (mean weight 1)."""
    out = weight.astype(np.float64).copy()
    total = out.sum()
    for value in (0, 1):
        mask = y == value
        if out[mask].sum() > 0:
            out[mask] *= total / (2.0 * out[mask].sum())
    return out * (len(out) / out.sum())


def nb_ratios(X: Any, positive: np.ndarray) -> np.ndarray:
    """|log-count ratio| of each feature between two classes (NB-SVM scaling, Wang and Manning 2012).

    ``X`` is CSR without explicit zeros (as the feature step makes it): a stored entry is a
    feature present in that row, so counting column indices counts documents.
    """
    p = np.bincount(X[positive].indices, minlength=X.shape[1]).astype(np.float64)
    q = np.bincount(X.indices, minlength=X.shape[1]) - p
    p += 1.0
    q += 1.0
    return np.abs(np.log((p / p.sum()) / (q / q.sum()))).astype(np.float32)


def cores(n_jobs: int | None, tasks: int) -> int:
    """Workers for ``tasks`` independent fits (``n_jobs`` -1: every core; None: one)."""
    n = n_jobs if n_jobs is not None else 1
    if n < 0:
        n = max(1, (os.cpu_count() or 1) + 1 + n)
    return max(1, min(n, tasks))
