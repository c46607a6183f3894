"""The estimator contract, and the registry: save/load, corrupt files, trust, promote, rollback."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from narrative_tracker.classifier.model import NarrativeClassifier, make_model
from narrative_tracker.classifier.registry import (
    CACHE,
    ModelCache,
    list_versions,
    load_model,
    read_metadata,
    register,
    rollback,
    save_model,
    set_active,
    sha256_file,
)
from narrative_tracker.errors import ModelError, ModelNotFoundError

from helpers.models import install_model, ootb_pipeline

LABELS = ["a", "a/x", "a/y", "b"]


def _data(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Separable toy data: feature k fires for label k."""
    rng = np.random.default_rng(seed)
    n = 120
    Y = np.zeros((n, 4), dtype=int)
    Y[:40, 1] = 1
    Y[40:80, 2] = 1
    Y[:80, 0] = 1
    Y[80:100, 3] = 1
    X = rng.random((n, 10)) * 0.1
    X[:40, 1] += 1
    X[40:80, 2] += 1
    X[80:100, 3] += 1
    return sp.csr_matrix(X), Y


@pytest.mark.parametrize(
    "check",
    [
        check_parameters_default_constructible,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
    ],
)
def test_scikit_learn_estimator_checks(check):
    check("NarrativeClassifier", NarrativeClassifier())


def test_fit_returns_self_and_predicts_the_toy_labels():
    X, Y = _data()
    estimator = NarrativeClassifier(labels=LABELS, threshold_folds=3)
    assert estimator.fit(X, Y) is estimator
    assert (estimator.predict(X) == Y).mean() > 0.95
    proba = estimator.predict_proba(X)
    assert proba.shape == Y.shape and ((proba >= 0) & (proba <= 1)).all()


def test_rows_without_a_narrative_target_do_not_move_the_inner_folds():
    """Stance cue rows (every label unknown) train no narrative: adding some must leave the tuned
    thresholds and the weights as they were (they used to reshuffle the inner folds)."""
    rng = np.random.default_rng(1)
    n = 160
    Y = (rng.random((n, 2)) < 0.3).astype(int)
    X = rng.random((n, 12)) + np.hstack([Y, Y]) * rng.random((n, 4)) @ np.ones((4, 1)) * 0.4
    groups = np.array([f"g{i // 2}" for i in range(n)])
    cues = rng.random((25, 12))
    with_cues = sp.csr_matrix(np.vstack([X, cues]))
    Y_cues = np.vstack([Y, np.full((25, 2), -1)])
    groups_cues = np.concatenate([groups, [f"cue{i}" for i in range(25)]])
    plain = NarrativeClassifier(labels=["a", "b"], calibrate=False).fit(sp.csr_matrix(X), Y, groups=groups)
    mixed = NarrativeClassifier(labels=["a", "b"], calibrate=False).fit(with_cues, Y_cues, groups=groups_cues)
    assert len(set(plain.thresholds_)) > 1 or plain.thresholds_[0] != 0.5  # tuning did happen
    assert np.array_equal(plain.thresholds_, mixed.thresholds_)
    # The same rows fit each label, with the same coordinate order: the same weights.
    assert np.allclose(plain.coef_.toarray(), mixed.coef_.toarray(), atol=1e-6)


def test_unfitted_estimator_refuses_to_predict():
    with pytest.raises(NotFittedError):
        NarrativeClassifier().predict(sp.csr_matrix(np.ones((1, 3))))


def test_same_random_state_same_model_and_clone_is_unfitted():
    X, Y = _data()
    first = NarrativeClassifier(labels=LABELS, random_state=3).fit(X, Y)
    second = NarrativeClassifier(labels=LABELS, random_state=3).fit(X, Y)
    # Bit for bit: no two liblinear fits share its random generator (see ``classifier.fitpool``).
    assert np.array_equal(first.coef_.toarray(), second.coef_.toarray())
    assert np.array_equal(first.thresholds_, second.thresholds_)
    assert not hasattr(clone(first), "coef_")


def test_unknown_cells_are_left_out_and_too_rare_labels_never_flag():
    X, Y = _data()
    Y = Y.copy()
    Y[:, 3] = -1  # nothing known about "b"
    estimator = NarrativeClassifier(labels=LABELS).fit(X, Y)
    assert not estimator.trained_[3]
    assert estimator.predict(X)[:, 3].sum() == 0


def test_a_coarse_label_gates_its_sub_labels():
    X, Y = _data()
    estimator = NarrativeClassifier(labels=LABELS).fit(X, Y)
    flags = estimator.predict(X)
    assert (flags[:, 1] <= flags[:, 0]).all() and (flags[:, 2] <= flags[:, 0]).all()


def test_no_tuned_threshold_goes_below_the_floor():
    X, Y = _data()
    tuned = NarrativeClassifier(labels=LABELS).fit(X, Y).thresholds_
    assert tuned.min() < 0.7  # tuning alone goes lower on this data
    floored = NarrativeClassifier(labels=LABELS, threshold_floor=0.7).fit(X, Y).thresholds_
    assert np.allclose(floored, np.maximum(tuned, 0.7))


def test_a_model_saved_before_the_floor_existed_still_loads_and_predicts():
    X, Y = _data()
    estimator = NarrativeClassifier(labels=LABELS).fit(X, Y)
    state = estimator.__getstate__()
    del state["threshold_floor"]
    old = NarrativeClassifier.__new__(NarrativeClassifier)
    old.__setstate__(state)
    assert old.get_params()["threshold_floor"] == 0.0
    assert np.array_equal(old.predict(X), estimator.predict(X))


def test_a_single_label_target_is_accepted():
    X, Y = _data()
    estimator = NarrativeClassifier().fit(X, Y[:, 3])
    assert estimator.predict(X).shape == (X.shape[0],)


def test_bad_targets_are_refused():
    X, Y = _data()
    with pytest.raises(ValueError, match="1 \\(positive\\)"):
        NarrativeClassifier().fit(X, Y * 2)
    with pytest.raises(ValueError, match="labels names"):
        NarrativeClassifier(labels=["a"]).fit(X, Y)


def test_the_pipeline_is_an_estimator_over_texts():
    pipeline = make_model(["x", "y"], random_state=1)
    texts = ["war war nato", "peace garden flowers", "nato war tanks", "flowers garden sun"] * 5
    Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]] * 5)
    pipeline.fit(texts, Y, classifier__stance=np.where(Y == 1, "promotes", ""))
    assert pipeline.predict(["tanks and war"]).tolist() == [[1, 0]]
    assert pipeline.get_params()["classifier__random_state"] == 1


def test_the_shared_model_is_fitted():
    classifier = ootb_pipeline().named_steps["classifier"]
    assert classifier.trained_.all()


# ---------------------------------------------------------------- registry
def test_save_and_load_round_trip_predicts_the_same(tmp_path):
    pipeline = ootb_pipeline()
    save_model(tmp_path, "v1", pipeline, {"labels": []})
    loaded = load_model(tmp_path, "v1")
    texts = ["Вашингтон уступил Кремлю, приостановив поставки оружия.", "The council approved the budget."]
    assert np.array_equal(loaded.pipeline.predict_proba(texts), pipeline.predict_proba(texts))
    metadata = read_metadata(tmp_path, "v1")
    assert {"libraries", "model_sha256", "version"} <= metadata.keys()
    assert metadata["libraries"]["scikit-learn"]


def test_a_corrupt_model_file_is_a_clear_error(tmp_path):
    save_model(tmp_path, "v1", ootb_pipeline(), {})
    path = tmp_path / "v1" / "model.skops"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(tmp_path, "v1")
    metadata = json.loads((tmp_path / "v1" / "metadata.json").read_text())
    metadata["model_sha256"] = sha256_file(path)  # the damaged file, hashed: skops itself fails
    (tmp_path / "v1" / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="cannot be loaded"):
        load_model(tmp_path, "v1")


def test_a_model_from_another_scikit_learn_is_refused(tmp_path):
    save_model(tmp_path, "v1", ootb_pipeline(), {})
    metadata_path = tmp_path / "v1" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["libraries"]["scikit-learn"] = "0.24.2"
    metadata_path.write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2"):
        load_model(tmp_path, "v1")


def test_types_outside_the_trusted_list_are_never_loaded(tmp_path):
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    folder = tmp_path / "v1"
    save_model(tmp_path, "v1", ootb_pipeline(), {})
    # Someone swaps in a model that calls an arbitrary function.
    skops.io.dump(FunctionTransformer(json.loads), folder / "model.skops", compression=zipfile.ZIP_DEFLATED)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["model_sha256"] = sha256_file(folder / "model.skops")  # the metadata rewritten with it
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match=r"json\.loads"):
        load_model(tmp_path, "v1")


def test_a_missing_version_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="'nope'"):
        load_model(tmp_path, "nope")


def test_a_loaded_model_keeps_serving_when_its_file_is_damaged(tmp_path):
    cache = ModelCache()
    save_model(tmp_path, "v1", ootb_pipeline(), {})
    first = cache.get(tmp_path, "v1")
    (tmp_path / "v1" / "model.skops").write_bytes(b"garbage")
    assert cache.get(tmp_path, "v1") is first


def test_promote_and_rollback_switch_the_active_row(sqlite_database, tmp_path):
    db = sqlite_database
    for version in ("v1", "v2"):
        register(db, version, {})
    set_active(db, "v1")
    assert set_active(db, "v2") == "v1"
    statuses = {row["version"]: row["status"] for row in list_versions(db)}
    assert statuses == {"v1": "retired", "v2": "active"}
    assert rollback(db) == ("v2", "v1")
    statuses = {row["version"]: row["status"] for row in list_versions(db)}
    assert statuses == {"v1": "active", "v2": "retired"}
    with pytest.raises(ModelError, match="only one ever promoted"):
        rollback(db)


def test_install_helper_makes_a_servable_active_model(sqlite_database, tmp_path):
    install_model(tmp_path, sqlite_database, "v9")
    assert CACHE.get(tmp_path, "v9").labels[0] == "amplifying-war-related-fears"
