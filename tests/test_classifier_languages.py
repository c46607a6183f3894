"""Language-aware confidence, the ``reports`` stance and parallel fits.

The unseen texts in tests/data were written for these tests and never train any model: ordinary
Russian and French news (sport, culture, economy, weather, local politics) and reports of
narrative claims in three languages that relay a claim without endorsing it (or refute it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from narrative_tracker.classifier import fitpool
from narrative_tracker.classifier.dataset import compose_document
from narrative_tracker.classifier.inference import analyse
from narrative_tracker.classifier.model import UNKNOWN, WELL_KNOWN_POSITIVES, NarrativeClassifier
from narrative_tracker.errors import TrainingError

from helpers.dying_worker import fit_or_die
from helpers.models import ootb_pipeline

DATA = Path(__file__).parent / "data"


def _texts(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_unseen_ordinary_russian_and_french_news_is_not_flagged_out_of_the_box() -> None:
    texts = _texts("unseen_ordinary.jsonl")
    assert len(texts) >= 30 and {t["lang"] for t in texts} == {"ru", "fr"}
    predictions = analyse(
        ootb_pipeline(),
        [compose_document(t["title"], t["text"]) for t in texts],
        languages=[t["lang"] for t in texts],
    )
    flagged = [(t["title"], [f.id for f in p]) for t, p in zip(texts, predictions, strict=True) if p]
    assert len(flagged) <= 1, flagged


def test_unseen_reports_come_out_reports_or_refutes_not_promotes() -> None:
    texts = _texts("unseen_reports.jsonl")
    assert {t["lang"] for t in texts} == {"en", "fr", "ru"}
    pipeline = ootb_pipeline()
    documents = [compose_document(t["title"], t["text"]) for t in texts]
    predictions = analyse(pipeline, documents, languages=[t["lang"] for t in texts])
    classifier = pipeline.named_steps["classifier"]
    shared = classifier.stance_classes_[classifier.stance_proba(pipeline[:-1].transform(documents)).argmax(axis=1)]
    stances = [{f.stance for f in p} if p else {str(s)} for p, s in zip(predictions, shared, strict=True)]
    good = [not s & {"promotes"} for s in stances]
    assert sum(good) >= 0.8 * len(texts), [(t["title"], s) for t, s in zip(texts, stances, strict=True)]
    assert any("reports" in s for s in stances)


def _language_data() -> tuple[sp.csr_matrix, np.ndarray, list[str]]:
    """Label 0 learnt from many English positives and two Russian ones; label 1 from a few of each."""
    rng = np.random.default_rng(0)
    n_en, n_ru = 200, 20
    X = rng.random((n_en + n_ru, 6)) * 0.1
    Y = np.zeros((n_en + n_ru, 2), dtype=int)
    Y[:80, 0] = 1
    Y[n_en : n_en + 2, 0] = 1
    Y[100:105, 1] = 1
    Y[n_en + 5 : n_en + 10, 1] = 1
    X[Y[:, 0] == 1, 0] += 1
    X[Y[:, 1] == 1, 1] += 1
    return sp.csr_matrix(X), Y, ["en"] * n_en + ["ru"] * n_ru


def test_a_label_little_known_in_a_language_abstains_there_below_the_raised_threshold() -> None:
    X, Y, langs = _language_data()
    model = NarrativeClassifier(labels=["a", "b"], low_evidence_threshold=0.9).fit(X, Y, languages=langs)
    assert Y[:, 0].sum() - 2 >= WELL_KNOWN_POSITIVES
    assert model.little_known("ru").tolist() == [True, False]  # b: too few positives anywhere to judge
    assert model.little_known("en").tolist() == [False, False]
    assert model.little_known("de").tolist() == [True, False]  # never seen: as little known as can be
    assert model.little_known("und").tolist() == [False, False]  # language unknown: tuned thresholds
    scores = np.array([[0.8, 0.8], [0.8, 0.8]])
    flags, _ = model.decide(scores, ["en", "ru"])
    assert flags[0, 0] and not flags[1, 0]
    assert flags[0, 1] == flags[1, 1]
    evidence = model.language_evidence()
    assert evidence["ru"] == {"records": 20, "positives": {"a": 2, "b": 5}, "little_known": ["a"]}
    assert evidence["en"]["positives"] == {"a": 80, "b": 5}


def test_fits_in_worker_processes_give_exactly_the_model_of_one_process(monkeypatch: Any) -> None:
    """liblinear's coordinate order comes from one random generator per process: fits in worker
    processes (never threads sharing it) make the same model as one process, bit for bit, every time."""
    X, Y, langs = _language_data()
    one = NarrativeClassifier(labels=["a", "b"], n_jobs=1).fit(X, Y, languages=langs)
    monkeypatch.setattr(fitpool, "MIN_PARALLEL_WORK", 0)  # this small data would not start workers
    seen: list[tuple[str, int, int]] = []
    for _ in range(2):
        two = NarrativeClassifier(labels=["a", "b"], n_jobs=2).fit(
            X, Y, languages=langs, progress=lambda *step: seen.append(step)
        )
        assert np.array_equal(one.thresholds_, two.thresholds_)
        assert np.array_equal(one.coef_.toarray(), two.coef_.toarray())
        assert np.array_equal(one.intercept_, two.intercept_)
    # Progress is told in this process as each worker's fit comes back, up to the last one.
    assert ("thresholds", 12, 12) in seen and ("narratives", 2, 2) in seen


def test_a_worker_process_that_dies_during_training_is_a_clear_error(monkeypatch: Any) -> None:
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((40, 5)))
    y_ok, y_dies = (np.arange(40) % 2).astype(np.int64), (np.arange(40) == 3).astype(np.int64)
    tasks = [fitpool.Task(X, y, np.ones(40), 0.0) for y in (y_ok, y_dies, y_ok)]
    monkeypatch.setattr(fitpool, "MIN_PARALLEL_WORK", 0)
    with pytest.raises(TrainingError, match=r"worker process .* stopped .* nothing was saved"):
        fitpool.fit_all(tasks, fitpool.Solver(C=1.0, tol=1e-2, random_state=0), 2, fit=fit_or_die)
    # The pool is usable again for the next training.
    assert len(fitpool.fit_all(tasks[::2], fitpool.Solver(C=1.0, tol=1e-2, random_state=0), 2)) == 2


def test_a_narratives_own_stance_model_is_not_used_in_a_language_it_has_no_stance_labels_in() -> None:
    """EUvsDisinfo-like labels: the narrative's stances are English; in Russian, the shared stance
    model (which learnt every language's cues) decides alone."""
    rng = np.random.default_rng(2)
    n_en, n_ru, n_cues = 60, 6, 30
    n = n_en + n_ru + n_cues
    stance = np.array(["promotes", "refutes"] * (n // 2), dtype=object)
    X = (rng.random((n, 8)) < 0.3) * 0.5  # sparse noise
    # The narrative's labels: feature 1 means refutes; the cue sentences (narrative unknown) teach
    # the shared model the opposite, so the shared and the own model disagree.
    X[:, 1] += np.where(stance == "refutes", 1.0, 0.0) * (np.arange(n) < n_en + n_ru)
    X[:, 2] += np.where(stance == "promotes", 1.0, 0.0) * (np.arange(n) >= n_en + n_ru)
    Y = np.ones((n, 1), dtype=int)
    Y[n_en + n_ru :, 0] = UNKNOWN
    langs = ["en"] * n_en + ["ru"] * n_ru + ["en"] * n_cues
    model = NarrativeClassifier(labels=["a"], threshold_folds=0).fit(
        sp.csr_matrix(X), Y, stance=stance.reshape(-1, 1), languages=langs
    )
    assert 0 in model.narrative_stance_ and model.narrative_stance_languages_[0] == ["en"]
    rows = sp.csr_matrix(X[-4:])
    shared = model.stance_proba(rows)
    assert np.allclose(model.stance_proba(rows, 0, ["ru"] * 4), shared)
    assert not np.allclose(model.stance_proba(rows, 0, ["en"] * 4), shared)
    # A text of unknown language, or a call without languages, keeps the blend as before.
    assert np.allclose(model.stance_proba(rows, 0, ["und"] * 4), model.stance_proba(rows, 0))


def test_the_stance_models_do_not_read_the_skipped_columns_before_the_stance_block() -> None:
    """The concept block (topic words shared across languages) sits just before the stance block;
    changing it changes no stance."""
    rng = np.random.default_rng(3)
    n = 60
    stance = np.array(["promotes", "refutes"] * (n // 2), dtype=object)
    X = (rng.random((n, 10)) < 0.3) * 0.5
    X[:, 0] += stance == "refutes"
    X[:, 6] += stance == "promotes"  # a skipped column that would tell the stances apart
    model = NarrativeClassifier(labels=["a"], threshold_folds=0, stance_features=2, stance_skips=3).fit(
        sp.csr_matrix(X), np.ones((n, 1), dtype=int), stance=stance.reshape(-1, 1)
    )
    assert np.all(model.stance_scale_[5:8] == 0) and np.any(model.stance_scale_[:5] > 0)
    changed = X.copy()
    changed[:, 5:8] = rng.random((n, 3))
    assert np.allclose(model.stance_proba(sp.csr_matrix(X)), model.stance_proba(sp.csr_matrix(changed)))


def test_a_thinly_known_label_needs_a_higher_score_once_the_model_knows_real_labels() -> None:
    X, Y, langs = _language_data()
    model = NarrativeClassifier(labels=["a", "b"]).fit(X, Y, languages=langs)
    model.thresholds_ = np.array([0.1, 0.1])  # as tuned on a few well-separated examples
    # "b" has 5 positives per language: thin everywhere; "a" (80 English positives) only in Russian.
    assert model.thinly_known("en").tolist() == [False, True]
    assert model.thinly_known("und").tolist() == [False, False]
    scores = np.array([[0.2, 0.2], [0.2, 0.2], [0.4, 0.4]])
    flags, _ = model.decide(scores, ["en", "und", "en"])
    assert flags.tolist() == [[True, False], [True, True], [True, True]]
    # A model that knows every label from a few examples only (out of the box) keeps its thresholds.
    few = NarrativeClassifier(labels=["a", "b"]).fit(X[100:], Y[100:], languages=langs[100:])
    assert not few.thinly_known("ru").any()
