"""A training run started from the models page reports how far it is (phase, fits done of all,
elapsed), in the page itself and in ``GET /models/training`` that the page's script polls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from narrative_tracker.classifier.registry import list_versions
from narrative_tracker.storage.database import open_database
from narrative_tracker.web.app import create_app
from narrative_tracker.web.training import TrainingState

from helpers.web import (
    SECRET,
    WebWorld,
    build_web_world,
    fast_password_hashing,
    form_csrf,
    signed_in_client,
    small_training_data,
)

WAIT_SECONDS = 180  # bounds every wait on the training thread (a loaded machine is slow, never endless)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[WebWorld]:
    home = tmp_path_factory.mktemp("web-training")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NARRATIVE_TRACKER_HOME", str(home / "home"))
        fast_password_hashing(patch)
        database = open_database(f"sqlite:///{home / 'tracker.db'}")
        yield build_web_world(database)
    database.dispose()


def test_progress_is_shown_while_a_real_training_run_goes(world, monkeypatch):
    small_training_data(monkeypatch)
    # The run is held once its first narrative's final classifier is fitted, so the test reads the
    # progress of a run that is certainly going (then lets it finish).
    reached, release = threading.Event(), threading.Event()
    original = TrainingState.fitted

    def held(self: TrainingState, step: str, done: int, total: int) -> None:
        original(self, step, done, total)
        if step == "narratives" and not reached.is_set():
            reached.set()
            release.wait(WAIT_SECONDS)

    monkeypatch.setattr(TrainingState, "fitted", held)
    app = create_app(world.settings, world.database, secret=SECRET)
    analyst, viewer = signed_in_client(app, "analyst"), signed_in_client(app, "viewer")
    before = {v["version"] for v in list_versions(world.database)}
    try:
        assert viewer.post("/models/train", data={"csrf_token": form_csrf(viewer, "/models")}).status_code == 403
        started = analyst.post("/models/train", data={"csrf_token": form_csrf(analyst, "/models")})
        assert "Training started." in started.text
        assert reached.wait(WAIT_SECONDS), "the training never reached its final fit"

        state = viewer.get("/models/training").json()  # every reader may follow it
        assert state["running"] and state["started_by"] == "analyst"
        assert (state["phase"], state["step"], state["unit"]) == ("the final fit", "fitting the narratives",
                                                                  "narratives fitted")
        assert 1 <= state["done"] <= state["total"] and state["total"] >= 2
        assert state["elapsed_seconds"] > 0 and state["version"] is None
        page = analyst.get("/models").text  # without script: the same state, and a Refresh link
        assert 'data-running="true"' in page and 'id="training-refresh"' in page
        assert '<span id="training-phase">The final fit</span><span id="training-step">: fitting the narratives' in page
        assert f'{state["done"]} of {state["total"]} narratives fitted' in page
        assert '<button type="submit" id="train" disabled>' in page
        again = analyst.post("/models/train", data={"csrf_token": form_csrf(analyst, "/models")})
        assert "A training run is going already." in again.text
    finally:
        release.set()

    deadline = time.monotonic() + WAIT_SECONDS
    while state["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
        state = viewer.get("/models/training").json()
    assert not state["running"], state
    made = {v["version"] for v in list_versions(world.database)} - before
    assert made == {state["version"]} and state["message"].startswith(f"Candidate {state['version']} trained in")
    assert state["phase"] == "" and state["done"] == 0
    page = analyst.get("/models").text
    assert 'data-running="false"' in page and state["version"] in page and state["message"] in page


def test_the_fit_progress_hook_counts_every_fit_and_changes_nothing():
    import numpy as np
    import scipy.sparse as sp

    from narrative_tracker.classifier.model import NarrativeClassifier

    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((60, 30)) * (rng.random((60, 30)) > 0.7))
    Y = np.stack([(X[:, i].toarray().ravel() > 0).astype(int) for i in range(3)], axis=1)
    told: list[tuple[str, int, int]] = []
    kwargs = {"labels": ["a", "b", "c"], "threshold_folds": 2, "nb_scaling": (0.0, 1.0), "n_jobs": 2}
    plain = NarrativeClassifier(**kwargs).fit(X, Y)
    followed = NarrativeClassifier(**kwargs).fit(X, Y, progress=lambda *a: told.append(a))
    by_stage = {stage: [(d, t) for s, d, t in told if s == stage] for stage in ("thresholds", "narratives")}
    assert [s for s, *_ in told] == ["thresholds"] * 12 + ["narratives"] * 3  # 2 folds x 2 candidates x 3, then 3
    for counts in by_stage.values():
        assert sorted(d for d, _ in counts) == list(range(1, len(counts) + 1))
        assert {t for _, t in counts} == {len(counts)}
    # The same model (liblinear's last digits vary a little from run to run in a busy process).
    assert np.allclose(plain.coef_.toarray(), followed.coef_.toarray(), rtol=1e-3, atol=1e-3)
    assert np.array_equal(plain.thresholds_, followed.thresholds_)
    assert not any(callable(v) for v in vars(followed).values())  # nothing to save with the model
