"""The narrative model: a scikit-learn Pipeline of text features and a multi-label classifier.

``NarrativeClassifier`` is one-vs-rest logistic regression over the taxonomy ids (sub-narratives
and coarse narratives both get a classifier where labels exist). A coarse narrative is flagged
when its own classifier or any of its sub-narratives is, so the two levels never disagree. Each
id has its own decision threshold, tuned on out-of-fold scores of grouped cross-validation
inside ``fit``. A stance model (shared, blended with a per-narrative one where that narrative has
enough stance labels) tells promotes / refutes / reports for each flagged narrative.

Targets ``Y`` are ``(n_samples, n_labels)`` with 1 positive, 0 negative and -1 unknown (not
used for that label). Stances are ``(n_samples, n_labels)`` strings, "" where unknown;
a stance on an unknown cell (a stance cue sentence) trains the shared stance model only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed  # type: ignore[import-untyped]
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_array, check_is_fitted
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from narrative_tracker.classifier.crosslingual import concept_columns
from narrative_tracker.classifier.features import STANCE_FEATURES, make_features
from narrative_tracker.classifier.fitpool import Solver, Task, cores, fit_all, nb_ratios
from narrative_tracker.vocabulary import STANCES

UNKNOWN = -1
# A narrative gets its own stance model from this many stance labels with two stances present.
MIN_NARRATIVE_STANCE_LABELS = 20
# A narrative's own stance model weighs n / (n + this) against the shared one (n: its stance labels).
NARRATIVE_STANCE_PRIOR = 100
# A stance enters a narrative's own stance model from this many labels of that narrative.
MIN_OWN_STANCE_LABELS = 10
# Scores are calibrated at a level from this many out-of-fold flags.
MIN_CALIBRATION_FLAGS = 100
# A label's own calibration curve weighs n / (n + this) against its level's curve (n: its flags) ...
CALIBRATION_LABEL_PRIOR = 100
# ... and is fitted from this many out-of-fold flags, right and wrong ones both present.
MIN_LABEL_CALIBRATION_FLAGS = 10
# Language evidence: a narrative learnt from at least this many positives in its best-known language
# (real labelled data, not just the taxonomy's handful of examples per language) ...
WELL_KNOWN_POSITIVES = 30
# ... is "little known" in a language holding fewer than this share of those positives. There the
# narrative's tuned threshold (tuned on the well-known language's scores) does not apply as it is.
LITTLE_KNOWN_SHARE = 0.2
UNDETERMINED_LANGUAGES = frozenset({"", "und"})
#: Told ``(stage, done, total)`` after each per-narrative fit inside ``fit``: stage "thresholds"
#: counts the fits of threshold tuning (folds x NB candidates x narratives), stage "narratives"
#: the narratives' final classifiers. Called from the fitting threads.
FitProgress = Callable[[str, int, int], None]


def _counter(progress: FitProgress, stage: str, total: int) -> Callable[[], None]:
    """A callable that tells ``progress`` each time one of the ``total`` fits is done."""
    done = 0

    def count() -> None:
        nonlocal done
        done += 1
        progress(stage, done, total)

    return count


# The lowest threshold of a label thinly known in a language (see ``thinly_known``).
THIN_EVIDENCE_THRESHOLD = 0.35


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class NarrativeClassifier(ClassifierMixin, BaseEstimator):
    """One-vs-rest narratives with tuned thresholds, coarse levels derived, and stance.

    Parameters
    ----------
    labels : list of str or None
        The id of each column of ``Y`` (``narrative`` or ``narrative/sub``). None: "0", "1", ...
    C : float
        Inverse regularisation strength of each narrative's logistic regression.
    stance_C : float
        The same for the stance models.
    threshold_folds : int
        Grouped folds used to tune each narrative's threshold on out-of-fold scores (0: 0.5).
    threshold_range : tuple of float
        Thresholds are searched within this range.
    threshold_shrinkage : int
        A label with fewer positive groups than this has its tuned threshold pulled towards 0.5
        in proportion (few positives make a tuned threshold unreliable).
    threshold_floor : float
        No tuned threshold goes below this. On a few hand-written examples the out-of-fold scores
        of a coarse narrative are so well separated that tuning picks thresholds near the bottom of
        the range, and ordinary news then crosses them; the floor keeps such models cautious.
    min_positives : int
        A label with fewer positives gets no classifier and is never flagged.
    gate_subs : bool
        A coarse narrative with its own classifier gates its sub-narratives (else: derived from them).
    narrative_stance : bool
        Blend a per-narrative stance model into the shared one where a narrative has enough stance labels.
    stance_features : int
        The last ``stance_features`` columns of X serve the stance models only (0: every column
        serves both).
    nb_scaling : tuple of float
        Candidate powers of the Naive-Bayes log-count ratios that scale a narrative's features
        before fitting (NB-SVM; 0: no scaling); each narrative gets the one with the best
        out-of-fold F1.
    random_state : int or None
        Seed for the solvers and the fold shuffling.
    low_evidence_threshold : float
        The lowest threshold of a label in a language where it is little known (see ``little_known``).
    calibrate : bool
        Map shown scores to the share of such flags that were right in the out-of-fold scores of
        threshold tuning (one logistic curve per level over the score's margin to its threshold).
        Off for models fitted on a few examples, whose out-of-fold flags are nearly all right.
    n_jobs : int or None
        Worker processes fitting the per-label regressions (-1: every core; None: one), where
        the data is large enough to pay for them (see ``classifier.fitpool``). Results do not
        depend on it, bit for bit.
    stance_skips : int
        The stance models do not read this many columns just before the stance block (the
        concept block: topic, not stance).
    tol : float
        Stopping tolerance of each narrative's liblinear fit. 3e-2 stops at about half the passes
        of 1e-3 (a label of 5,000 synthetic documents: 20 instead of 35), and grouped 5-fold
        cross-validation on ``cases-dev.jsonl`` gave coarse macro-F1 0.659 against 0.661 at 1e-2
        (fine 0.585 and 0.586, stance 0.964 both).
    """

    def __init__(
        self,
        labels: list[str] | None = None,
        C: float = 4.0,
        stance_C: float = 30.0,
        threshold_folds: int = 3,
        threshold_range: tuple[float, float] = (0.1, 0.9),
        threshold_shrinkage: int = 8,
        threshold_floor: float = 0.0,
        min_positives: int = 2,
        gate_subs: bool = True,
        narrative_stance: bool = True,
        stance_features: int = 0,
        nb_scaling: tuple[float, ...] = (0.0, 1.0),
        random_state: int | None = 0,
        n_jobs: int | None = -1,
        low_evidence_threshold: float = 0.5,
        calibrate: bool = True,
        tol: float = 3e-2,
        stance_skips: int = 0,
    ) -> None:
        self.labels = labels
        self.C = C
        self.stance_C = stance_C
        self.threshold_folds = threshold_folds
        self.threshold_range = threshold_range
        self.threshold_shrinkage = threshold_shrinkage
        self.threshold_floor = threshold_floor
        self.min_positives = min_positives
        self.gate_subs = gate_subs
        self.narrative_stance = narrative_stance
        self.stance_features = stance_features
        self.nb_scaling = nb_scaling
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.low_evidence_threshold = low_evidence_threshold
        self.calibrate = calibrate
        self.tol = tol
        self.stance_skips = stance_skips

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        groups: Any = None,
        stance: Any = None,
        stance_weight: Any = None,
        languages: Any = None,
        progress: FitProgress | None = None,
    ) -> NarrativeClassifier:
        """Fit every narrative's classifier, tune thresholds, fit the stance models.

        ``sample_weight`` weighs records for the narrative classifiers, ``stance_weight`` (default:
        the same) for the stance models; ``groups`` keeps related records in one fold when tuning;
        ``languages`` (one code per record) records what the model learnt in each language;
        ``progress`` (optional, not kept) is told how far the fits are (see ``FitProgress``).
        """
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        Y = np.asarray(y)
        self._single_output = Y.ndim == 1
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {Y.shape[0]}")
        Y = Y.astype(np.int64)
        if not np.isin(Y, (UNKNOWN, 0, 1)).all():
            raise ValueError("y must hold 1 (positive), 0 (negative) or -1 (unknown)")
        labels = list(self.labels) if self.labels is not None else [str(i) for i in range(Y.shape[1])]
        if len(labels) != Y.shape[1]:
            raise ValueError(f"labels names {len(labels)} ids but y has {Y.shape[1]} columns")
        weight = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        groups = np.arange(X.shape[0]) if groups is None else np.asarray(groups)
        self.classes_ = np.array(labels)
        self.n_features_in_ = X.shape[1]
        if not 0 <= self.stance_features < X.shape[1]:
            raise ValueError(f"stance_features={self.stance_features} leaves no column for the narratives")
        self._count_languages(Y, languages)
        narrative_X, stance_X = self._split(X)
        stance_weight = weight if stance_weight is None else np.asarray(stance_weight, dtype=np.float64)
        # One BLAS thread: the stance models' L-BFGS steps are small vector operations that a
        # multi-threaded BLAS only slows down, its threads spinning for work (on a loaded two-core
        # machine, 9x the time of the shared stance fit).
        with threadpool_limits(limits=1, user_api="blas"):
            self.thresholds_, self.nb_power_ = self._tune_thresholds(narrative_X, Y, weight, groups, progress)
            self.coef_, self.intercept_, self.trained_ = self._fit_weights(
                narrative_X, Y, weight, self.nb_power_, progress
            )
            self._fit_stance(stance_X, Y, stance_weight, stance, languages)
        return self

    def _count_languages(self, Y: np.ndarray, languages: Any) -> None:
        """Per language: records, and positives per label (the evidence behind each narrative)."""
        langs = np.asarray(["und"] * Y.shape[0] if languages is None else list(languages), dtype=object)
        if len(langs) != Y.shape[0]:
            raise ValueError(f"languages names {len(langs)} records but y has {Y.shape[0]}")
        self.language_records_ = {str(lang): int((langs == lang).sum()) for lang in sorted(set(langs))}
        self.language_positives_ = {
            lang: (Y[langs == lang] == 1).sum(axis=0).astype(np.int64) for lang in self.language_records_
        }

    def little_known(self, lang: str) -> np.ndarray:
        """Labels whose evidence in ``lang`` is too thin next to their best-known language.

        A model trained on thousands of English labels and the taxonomy's five Russian examples per
        narrative has learnt English vocabulary for each narrative; its thresholds, tuned on English
        scores, flag ordinary Russian news on a few shared names. Such labels abstain in that
        language unless the score clears ``low_evidence_threshold``.
        """
        positives = getattr(self, "language_positives_", None)
        if not positives or lang in UNDETERMINED_LANGUAGES:
            # No language known: nothing to compare, the tuned thresholds apply.
            return np.zeros(len(self.classes_), dtype=bool)
        best = np.max(np.vstack(list(positives.values())), axis=0)
        own = positives.get(lang, np.zeros_like(best))
        return (best >= WELL_KNOWN_POSITIVES) & (own < LITTLE_KNOWN_SHARE * best)

    def thresholds_for(self, languages: Any) -> np.ndarray:
        """Decision thresholds per (document, label): the tuned ones, raised where the label is
        little known in the document's language."""
        langs = list(languages)
        out = np.tile(self.thresholds_, (len(langs), 1))
        for lang in set(langs):
            rows = np.array([x == lang for x in langs])
            thin = self.thinly_known(lang)
            if thin.any():
                out[np.ix_(rows, thin)] = np.maximum(out[np.ix_(rows, thin)], THIN_EVIDENCE_THRESHOLD)
            weak = self.little_known(lang)
            if weak.any():
                out[np.ix_(rows, weak)] = np.maximum(out[np.ix_(rows, weak)], self.low_evidence_threshold)
        return out

    def thinly_known(self, lang: str) -> np.ndarray:
        """Labels with fewer than ``WELL_KNOWN_POSITIVES`` positives in ``lang``, in a model where
        some label is well known (trained on real labels, not only the taxonomy's examples).

        Such a label's threshold was tuned on a handful of well-separated examples (a narrative
        missing from the labels, or one with a few dozen English labels and the examples in other
        languages) and sits at the bottom of the search range, where ordinary Russian news about a
        flood or a tennis match crossed it. The out-of-the-box model, which knows every label from
        examples only, keeps its own floor (``threshold_floor``).
        """
        positives = getattr(self, "language_positives_", None)
        if not positives or lang in UNDETERMINED_LANGUAGES:
            return np.zeros(len(self.classes_), dtype=bool)
        if max(int(v.max()) for v in positives.values()) < WELL_KNOWN_POSITIVES:
            return np.zeros(len(self.classes_), dtype=bool)
        own = positives.get(lang, np.zeros(len(self.classes_), dtype=np.int64))
        return own < WELL_KNOWN_POSITIVES

    def language_evidence(self) -> dict[str, dict[str, Any]]:
        """For the model's metadata: per language, its records, positives per label and the labels
        it is little known for."""
        out: dict[str, dict[str, Any]] = {}
        for lang, positives in getattr(self, "language_positives_", {}).items():
            weak = self.little_known(lang)
            out[lang] = {
                "records": self.language_records_[lang],
                "positives": {str(label): int(n) for label, n in zip(self.classes_, positives, strict=True) if n},
                "little_known": [str(label) for label, w in zip(self.classes_, weak, strict=True) if w],
            }
        return out

    def _split(self, X: Any) -> tuple[Any, Any]:
        """(narrative columns, stance columns): the stance block is for the stance models only,
        which also read every other column (the Naive-Bayes scaling mutes what both sides share)."""
        if not self.stance_features:
            return X, X
        return X[:, : X.shape[1] - self.stance_features], X

    def _fit_weights(
        self, X: Any, Y: np.ndarray, weight: np.ndarray, power: np.ndarray, progress: FitProgress | None = None
    ) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
        return self._fit_many([(X, Y, weight, power)], progress, "narratives")[0]

    def _fit_many(
        self,
        jobs: list[tuple[Any, np.ndarray, np.ndarray, np.ndarray]],
        progress: FitProgress | None = None,
        stage: str = "",
    ) -> list[tuple[sp.csc_matrix, np.ndarray, np.ndarray]]:
        """Fit every label of every (X, Y, weight, power) job, all in one pool (see ``fitpool``):
        pooling the fits of every fold and NB candidate keeps every core busy."""
        prepared = []
        tasks: list[tuple[int, int, Task]] = []
        trimmed: dict[int, tuple[np.ndarray, Any]] = {}  # jobs sharing one X (NB candidates) share its copy
        rows: dict[tuple[int, bytes], Any] = {}  # labels known on the same rows share one row selection
        for k, (X, Y, weight, power) in enumerate(jobs):
            if id(X) not in trimmed:
                # Solvers work on the features present in this data only (hashed spaces are mostly
                # empty), in the float64 CSR with sorted indices that liblinear copies from: converted
                # here once, not in each of the fits that share this X.
                present = np.unique(X.indices)
                X_present = sp.csr_matrix(X[:, present], dtype=np.float64)
                X_present.sort_indices()
                trimmed[id(X)] = (present, X_present)
            present, X_present = trimmed[id(X)]
            prepared.append((present, X.shape[1], Y.shape[1]))
            for j in range(Y.shape[1]):
                known = Y[:, j] != UNKNOWN
                y = Y[known, j]
                if y.sum() < max(1, self.min_positives) or (y == 0).sum() == 0:
                    continue
                key = (id(X), known.tobytes())
                if key not in rows:
                    rows[key] = X_present if known.all() else X_present[known]
                tasks.append((k, j, Task(rows[key], y, weight[known], float(power[j]))))
        results = fit_all(
            [task for *_, task in tasks],
            Solver(C=self.C, tol=self.tol, random_state=self.random_state),
            cores(self.n_jobs, len(tasks)),
            None if progress is None else _counter(progress, stage, len(tasks)),
        )
        fitted: dict[tuple[int, int], tuple[np.ndarray, float]] = {
            (k, j): result for (k, j, _), result in zip(tasks, results, strict=True)
        }
        out = []
        for k, (present, width, n_labels) in enumerate(prepared):
            columns, intercepts, trained = [], np.zeros(n_labels), np.zeros(n_labels, dtype=bool)
            for j in range(n_labels):
                if (k, j) not in fitted:
                    columns.append(sp.csc_matrix((width, 1), dtype=np.float32))
                    continue
                coef, intercepts[j] = fitted[(k, j)]
                trained[j] = True
                keep = np.abs(coef) >= 1e-6
                columns.append(
                    sp.csc_matrix((coef[keep], (present[keep], np.zeros(keep.sum(), dtype=np.int64))), shape=(width, 1))
                )
            out.append((sp.hstack(columns, format="csc"), intercepts, trained))
        return out

    def _inner_splits(self, Y: np.ndarray, groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Grouped (train, test) row indices for threshold tuning, drawn among the rows that carry
        a narrative target only.

        Stance cue rows (every label unknown) never reach a narrative fit; were they drawn too,
        each cue sentence added to the taxonomy would reshuffle which labelled records share an
        inner fold, and with it every tuned threshold.
        """
        targeted = np.flatnonzero((Y != UNKNOWN).any(axis=1))
        splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        return [(targeted[train], targeted[test]) for train, test in splitter.split(targeted, groups=groups[targeted])]

    def _tune_thresholds(
        self, X: Any, Y: np.ndarray, weight: np.ndarray, groups: np.ndarray, progress: FitProgress | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per label: the NB power (among ``nb_scaling``) and the threshold with the best
        out-of-fold F1 in grouped cross-validation."""
        candidates = tuple(self.nb_scaling)
        thresholds = np.full(Y.shape[1], 0.5)
        power = np.full(Y.shape[1], candidates[0], dtype=np.float64)
        folds = min(self.threshold_folds, len(np.unique(groups[(Y != UNKNOWN).any(axis=1)])))
        self.calibration_: dict[str, np.ndarray] = {}
        if folds < 2:
            return thresholds, power
        oof = np.full((len(candidates), *Y.shape), np.nan)
        splits = self._inner_splits(Y, groups, folds)
        jobs, keys = [], []
        for f, (train, _) in enumerate(splits):
            X_train = X[train]
            for c, candidate in enumerate(candidates):
                jobs.append((X_train, Y[train], weight[train], np.full(Y.shape[1], candidate)))
                keys.append((f, c))
        for (f, c), (coef, intercept, trained) in zip(keys, self._fit_many(jobs, progress, "thresholds"), strict=True):
            test = splits[f][1]
            scores = _sigmoid(np.asarray((X[test] @ coef).todense()) + intercept)
            oof[c][np.ix_(test, np.flatnonzero(trained))] = scores[:, trained]
        low, high = self.threshold_range
        grid = np.round(np.arange(low, high + 1e-9, 0.025), 3)
        for j in range(Y.shape[1]):
            best_f1 = -1.0
            for c, candidate in enumerate(candidates):
                usable = (Y[:, j] != UNKNOWN) & ~np.isnan(oof[c][:, j])
                y, scores_j = Y[usable, j], oof[c][usable, j]
                if y.sum() < 2:
                    continue
                f1 = [_f1(y, scores_j >= t) for t in grid]
                if max(f1) <= best_f1:
                    continue
                best_f1 = max(f1)
                power[j] = candidate
                # Among equally good thresholds take the middle one: the most stable choice.
                best = np.flatnonzero(np.isclose(f1, max(f1)))
                # Trust grows with the number of distinct positive groups (translations of one example count once).
                positive_groups = len(np.unique(groups[usable][y == 1]))
                trust = min(1.0, positive_groups / self.threshold_shrinkage) if self.threshold_shrinkage else 1.0
                thresholds[j] = trust * grid[best[len(best) // 2]] + (1 - trust) * 0.5
        thresholds = np.maximum(thresholds, self.threshold_floor)
        chosen = np.stack([oof[candidates.index(power[j])][:, j] for j in range(Y.shape[1])], axis=1)
        if self.calibrate:
            self.calibration_ = self._fit_calibration(chosen, Y, thresholds)
        return thresholds, power

    def _fit_calibration(self, oof: np.ndarray, Y: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
        """Per label: (slope, intercept) of P(flag right | margin), fitted on the out-of-fold flags of
        threshold tuning, the margin being logit(score) - logit(threshold).

        Two things made the single curve per level over-confident in the middle (0.49 shown, 28%
        right in grouped cross-validation):

        - Labels differ: "the West are the aggressors" flags were right about a quarter of the time
          at any margin, "associated with Nazism" almost always. Each label with enough flags gets
          its own curve, pulled towards its level's curve (fine or coarse) in proportion to its
          flags (``CALIBRATION_LABEL_PRIOR``); the others take the level's curve.
        - The out-of-fold scores come from models fitted on (k-1)/k of the records; the shown scores
          from the model fitted on all of them, whose weights (same regularisation, more records)
          are larger, so a flag of the same difficulty has a wider margin. ``margin_scale`` divides
          the shown model's margins by that ratio of record counts before the curve reads them.

        Nothing is calibrated where a level has fewer than ``MIN_CALIBRATION_FLAGS`` flags or they
        are all right or all wrong; such labels keep their raw score.
        """

        def platt(margin: np.ndarray, right: np.ndarray) -> np.ndarray:
            curve = LogisticRegression(C=1.0).fit(margin.reshape(-1, 1), right)
            return np.array([curve.coef_[0, 0], curve.intercept_[0]])

        n_labels = len(self.classes_)
        slope, intercept = np.full(n_labels, np.nan), np.full(n_labels, np.nan)
        fine = np.array(["/" in str(label) for label in self.classes_])
        for columns in (fine, ~fine):
            indices = np.flatnonzero(columns)
            scores, y, t = oof[:, indices], Y[:, indices], thresholds[indices]
            flagged = ~np.isnan(scores) & (y != UNKNOWN) & (np.nan_to_num(scores) >= t)
            rows, cols = np.nonzero(flagged)
            right = y[rows, cols] == 1
            if len(rows) < MIN_CALIBRATION_FLAGS or right.all() or not right.any():
                continue
            margin = _logit(scores[rows, cols]) - _logit(t[cols])
            level = platt(margin, right)
            for k, j in enumerate(indices):
                mine = cols == k
                n = int(mine.sum())
                own = level
                if n >= MIN_LABEL_CALIBRATION_FLAGS and right[mine].any() and not right[mine].all():
                    share = n / (n + CALIBRATION_LABEL_PRIOR)
                    own = share * platt(margin[mine], right[mine]) + (1 - share) * level
                # A wider margin never shows a lower score (a label's few flags can tilt its curve).
                slope[j], intercept[j] = max(float(own[0]), 0.0), own[1]
        if np.isnan(slope).all():
            return {}
        folds = max(2, self.threshold_folds)
        return {
            "label_slope": slope,
            "label_intercept": intercept,
            "margin_scale": np.array([folds / (folds - 1)]),
        }

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Scores mapped to the share of such flags that were right (uncalibrated labels unchanged)."""
        curves = getattr(self, "calibration_", {})
        if not curves:
            return scores
        margin = _logit(scores) - _logit(self.thresholds_)
        if "label_slope" not in curves:  # models saved before per-label curves: one curve per level
            out = scores.copy()
            fine = np.array(["/" in str(label) for label in self.classes_])
            for level, columns in (("fine", fine), ("coarse", ~fine)):
                if level in curves:
                    slope, intercept = curves[level]
                    out[:, columns] = _sigmoid(slope * margin[:, columns] + intercept)
            return np.where(self.trained_, out, scores)
        slope, intercept = curves["label_slope"], curves["label_intercept"]
        known = ~np.isnan(slope) & self.trained_
        mapped = _sigmoid(np.nan_to_num(slope) * margin / float(curves["margin_scale"][0]) + np.nan_to_num(intercept))
        return np.where(known, mapped, scores)

    def _fit_stance(self, X: Any, Y: np.ndarray, weight: np.ndarray, stance: Any, languages: Any = None) -> None:
        self.stance_classes_ = np.array([], dtype=object)
        self.stance_coef_: sp.csc_matrix | None = None
        self.stance_intercept_ = np.zeros(0)
        self.narrative_stance_: dict[int, tuple[np.ndarray, sp.csc_matrix, np.ndarray]] = {}
        self.narrative_stance_share_: dict[int, float] = {}
        self.narrative_stance_languages_: dict[int, list[str]] = {}
        self.stance_scale_ = np.ones(X.shape[1], dtype=np.float32)
        if stance is None:
            return
        S = np.asarray(stance, dtype=object).reshape(Y.shape)
        # A stance where the narrative is unknown (a stance cue sentence) teaches the shared model only.
        rows, cols = np.nonzero((Y != 0) & np.isin(S, STANCES))
        if len(rows) == 0:
            return
        # One training pair per (text, narrative) with a stance; a text counts once per stance.
        pairs = sorted({(r, S[r, c]) for r, c in zip(rows, cols, strict=True)})
        docs = np.array([r for r, _ in pairs])
        values = np.array([s for _, s in pairs], dtype=object)
        self.stance_scale_ = self._nb_scale(X[docs], values)
        if self.stance_skips:
            # The columns just before the stance block (the concepts shared across languages) tell
            # what a text is about, not how it treats a claim: the stance models do not read them.
            end = X.shape[1] - self.stance_features
            self.stance_scale_[end - self.stance_skips : end] = 0.0
        X = sp.csr_matrix(X.multiply(self.stance_scale_))
        fitted = self._stance_model(X[docs], values, weight[docs])
        if fitted is None:
            self.stance_classes_ = np.unique(values)
            return
        self.stance_classes_, self.stance_coef_, self.stance_intercept_ = fitted
        own_jobs = []
        for j in range(Y.shape[1] if self.narrative_stance else 0):
            mask = (cols == j) & (Y[rows, cols] == 1)
            if mask.sum() < MIN_NARRATIVE_STANCE_LABELS:
                continue
            values_j = S[rows[mask], j]
            # A stance with few labels of this narrative (the taxonomy's two ``reports`` examples)
            # is left out of its own model: the shared model, which learnt it from every cue, decides
            # it (see ``stance_proba``). In the own model it was outvoted by the narrative's promotes.
            names, counts = np.unique(values_j, return_counts=True)
            known = np.isin(values_j, names[counts >= MIN_OWN_STANCE_LABELS])
            if len(np.unique(values_j[known])) < 2:
                continue
            mask[np.flatnonzero(mask)[~known]] = False
            own_jobs.append((j, rows[mask], values_j[known]))
        # The narratives' own stance models are independent: one pool of threads fits them all.
        fitted_own = Parallel(n_jobs=cores(self.n_jobs, len(own_jobs)), prefer="threads")(
            delayed(self._stance_model)(X[docs_j], values_j, weight[docs_j]) for _, docs_j, values_j in own_jobs
        )
        langs = np.asarray(["und"] * Y.shape[0] if languages is None else list(languages), dtype=object)
        for (j, docs_j, _), own in zip(own_jobs, fitted_own, strict=True):
            if own is not None:
                self.narrative_stance_[j] = own
                self.narrative_stance_share_[j] = len(docs_j) / (len(docs_j) + NARRATIVE_STANCE_PRIOR)
                names, counts = np.unique(langs[docs_j], return_counts=True)
                self.narrative_stance_languages_[j] = sorted(
                    str(name) for name, n in zip(names, counts, strict=True) if n >= MIN_OWN_STANCE_LABELS
                )

    def _stance_model(
        self, X: Any, values: np.ndarray, weight: np.ndarray
    ) -> tuple[np.ndarray, sp.csc_matrix, np.ndarray] | None:
        classes = np.unique(values)
        if len(classes) < 2:
            return None
        present = np.unique(X.indices)
        model = LogisticRegression(
            C=self.stance_C, class_weight="balanced", max_iter=2000, random_state=self.random_state
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X[:, present], values, sample_weight=weight)
        coef = np.zeros((model.coef_.shape[0], X.shape[1]), dtype=np.float32)
        coef[:, present] = model.coef_
        if len(classes) == 2:  # binary: one row of weights for the second class
            coef = np.vstack([-coef, coef]) / 2
            intercept = np.array([-model.intercept_[0], model.intercept_[0]]) / 2
        else:
            intercept = model.intercept_
        coef[np.abs(coef) < 1e-6] = 0.0
        return model.classes_, sp.csc_matrix(coef.T), intercept

    def _nb_scale(self, X: Any, values: np.ndarray) -> np.ndarray:
        """Naive-Bayes log-count ratios per feature (the largest over the stances, one against the rest).

        Scaling the stance features by them (as in NB-SVM, Wang and Manning 2012) lets words that
        tell the stances apart weigh more than topic words; rare words get ratios near zero.
        """
        X = sp.csr_matrix(X)
        return np.max([nb_ratios(X, values == value) for value in np.unique(values)], axis=0)

    # ------------------------------------------------------------------ predicting
    def raw_scores(self, X: Any) -> np.ndarray:
        """Each classifier's own probability (0 where a label has no classifier)."""
        check_is_fitted(self, "coef_")
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model expects {self.n_features_in_}")
        narrative_X = sp.csr_matrix(self._split(X)[0])
        positions, weights = self._dense_weights()
        # Keep only the columns some classifier uses, renumbered, then one sparse x dense product:
        # several times faster than a sparse x sparse product over the whole hashed space.
        mapped = positions[narrative_X.indices]
        keep = mapped >= 0
        row_of = np.repeat(np.arange(narrative_X.shape[0]), np.diff(narrative_X.indptr))
        used = sp.csr_matrix(
            (narrative_X.data[keep], (row_of[keep], mapped[keep])), shape=(narrative_X.shape[0], weights.shape[0])
        )
        scores = _sigmoid(np.asarray(used @ weights, dtype=np.float64) + self.intercept_)
        scores[:, ~self.trained_] = 0.0
        return scores

    def _dense_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(column -> row of the dense weights or -1, dense weights of the used columns), built once."""
        cached = self.__dict__.get("_dense_cache")
        if cached is None:
            coef = self.coef_.tocsr()
            used = np.flatnonzero(np.diff(coef.indptr))
            positions = np.full(coef.shape[0], -1, dtype=np.int64)
            positions[used] = np.arange(len(used))
            cached = (positions, coef[used].toarray().astype(np.float32))
            self.__dict__["_dense_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_dense_cache", None)  # derived from coef_: never saved
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Models saved before the floor existed: their thresholds were tuned without one.
        state.setdefault("threshold_floor", 0.0)
        state.setdefault("n_jobs", -1)
        state.setdefault("low_evidence_threshold", 0.5)
        state.setdefault("calibrate", False)
        state.setdefault("calibration_", {})
        state.setdefault("tol", 1e-4)
        state.setdefault("stance_skips", 0)
        # Models saved before: their own stance models apply in every language, as they did.
        state.setdefault("narrative_stance_languages_", {})
        super().__setstate__(state)

    def decide(self, scores: np.ndarray, languages: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Flags and scores with both levels consistent.

        A coarse narrative with its own classifier decides for its family: its sub-narratives are
        flagged only when it is (its classifier sees every sub-narrative's positives, so it is
        the better judge of the family). A coarse narrative without one is flagged when any of
        its sub-narratives is, and scores as its best flagged sub. With ``languages`` (one code per
        row), thresholds are raised where a label is little known in that language.
        """
        thresholds = self.thresholds_ if languages is None else self.thresholds_for(languages)
        flags = (scores >= thresholds) & self.trained_
        scores = self.calibrated(scores)
        for j, label in enumerate(self.classes_):
            if "/" in label:
                continue
            subs = np.array([str(other).startswith(label + "/") for other in self.classes_])
            if not subs.any():
                continue
            if self.trained_[j] and self.gate_subs:
                flags[:, subs] &= flags[:, [j]]
            else:
                sub_flags = flags[:, subs]
                flags[:, j] |= sub_flags.any(axis=1)
                flagged_sub_scores = np.where(sub_flags, scores[:, subs], 0.0).max(axis=1)
                scores[:, j] = np.maximum(scores[:, j], flagged_sub_scores)
        return flags, scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """Scores per label in [0, 1]; a coarse label scores at least as high as its flagged subs."""
        return self.decide(self.raw_scores(X))[1]

    def predict(self, X: Any) -> np.ndarray:
        flags = self.decide(self.raw_scores(X))[0].astype(np.int64)
        return flags.ravel() if getattr(self, "_single_output", False) else flags

    def stance_proba(self, X: Any, label_index: int | None = None, languages: Any = None) -> np.ndarray:
        """Stance probabilities ``(n, len(stance_classes_))``; a narrative's own model is blended in,
        except in a language (``languages``: one code per row) where that narrative had fewer than
        ``MIN_OWN_STANCE_LABELS`` stance labels: the own model learnt how that narrative is argued
        in other languages (EUvsDisinfo: English), and there the shared model, which learnt every
        language's stance cues, decides alone."""
        check_is_fitted(self, "coef_")
        n = X.shape[0]
        X = sp.csr_matrix(self._split(X)[1].multiply(self.stance_scale_))
        if self.stance_coef_ is None:
            if len(self.stance_classes_) == 0:
                return np.ones((n, 0))
            return np.full((n, len(self.stance_classes_)), 1.0 / len(self.stance_classes_))
        shared = _softmax(np.asarray((X @ self.stance_coef_).todense()) + self.stance_intercept_)
        own = self.narrative_stance_.get(label_index) if label_index is not None else None
        if own is None or label_index is None:
            return shared
        classes, coef, intercept = own
        probs = _softmax(np.asarray((X @ coef).todense()) + intercept)
        share = np.full((n, 1), self.narrative_stance_share_.get(label_index, 0.5))
        known = getattr(self, "narrative_stance_languages_", {}).get(label_index)
        if languages is not None and known is not None:
            unlearnt = np.array([lang not in known and lang not in UNDETERMINED_LANGUAGES for lang in languages])
            share[unlearnt] = 0.0
        # The narrative's own model only knows the stances its labels had (EUvsDisinfo-like data:
        # promotes and refutes). It redistributes the shared model's mass over those stances and
        # leaves the others (``reports``, taught by the cue sentences) as the shared model says.
        columns = [int(np.flatnonzero(self.stance_classes_ == name)[0]) for name in classes]
        mass = shared[:, columns].sum(axis=1, keepdims=True)
        blended = shared.copy()
        blended[:, columns] = (1 - share) * shared[:, columns] + share * mass * probs
        return blended / blended.sum(axis=1, keepdims=True)

    def predict_stance(self, X: Any, languages: Any = None) -> np.ndarray:
        """The most likely stance for every (sample, label): ``(n, n_labels)`` strings
        (``languages``: see ``stance_proba``)."""
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        n = X.shape[0]
        out = np.full((n, len(self.classes_)), "promotes", dtype=object)
        if len(self.stance_classes_) == 0:
            return out
        shared = self.stance_classes_[self.stance_proba(X).argmax(axis=1)]
        out[:] = shared.reshape(-1, 1)
        for j in self.narrative_stance_:
            out[:, j] = self.stance_classes_[self.stance_proba(X, j, languages).argmax(axis=1)]
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float(np.sum((y == 1) & pred))
    fp = float(np.sum((y == 0) & pred))
    fn = float(np.sum((y == 1) & ~pred))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def make_model(
    labels: list[str],
    *,
    word_min_df: int = 1,
    random_state: int | None = 0,
    lexicon: dict[str, str] | None = None,
    **params: Any,
) -> Pipeline:
    """The narrative Pipeline: text in, flags (``predict``) and scores (``predict_proba``) out;
    ``lexicon``: the cross-lingual concepts (none: no such block).

    Fit it with ``pipeline.fit(texts, Y, classifier__groups=..., classifier__stance=...,
    classifier__sample_weight=...)``.
    """
    return Pipeline(
        [
            ("features", make_features(word_min_df=word_min_df, lexicon=lexicon)),
            (
                "classifier",
                NarrativeClassifier(
                    labels=labels,
                    stance_features=STANCE_FEATURES,
                    stance_skips=concept_columns(lexicon) if lexicon is not None else 0,
                    random_state=random_state,
                    **params,
                ),
            ),
        ]
    )
