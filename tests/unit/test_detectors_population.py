"""Population detectors' owner normalisation: scores in owner-σ units, learnt by cross-fitting
(each group of trees scores the owner rows it never saw)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from activesec.core.errors import ConfigError, DataError
from activesec.detectors import registry
from activesec.detectors.compact import CompactScorer, compact
from activesec.detectors.persist import load_model, save_model
from activesec.detectors.population import owner_norm


def _create(name: str, **params: Any) -> Any:
    """A population detector; Any: the tests read its fitted attributes (model_, score_*_)."""
    return registry.create(name, **params)

D = 6


def people(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Owner rows, background rows (other people), fresh owner rows, impostor rows."""
    rng = np.random.default_rng(seed)
    owner = rng.normal(0.0, 1.0, (400, D))
    bg = np.vstack([rng.normal(rng.normal(0, 1.5, D), 1.0, (40, D)) for _ in range(15)])
    fresh = rng.normal(0.0, 1.0, (2000, D))
    impostor = rng.normal(np.r_[2.0, 2.0, np.zeros(D - 2)], 1.0, (500, D))
    return owner, bg, fresh, impostor


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return people()


@pytest.mark.parametrize("name", ["extra_trees", "random_forest"])
def test_owner_normalised_scores_centre_on_unseen_owner_rows(name: str, data) -> None:
    """Documented: score = (P(impostor) - mean) / SD of the owner's held-out scores, so the
    owner's *new* rows (same person, never seen) score about N(0, 1) in mean and spread."""
    owner, bg, fresh, impostor = data
    det = _create(name, n_estimators=60).fit(owner, bg)
    s = det.score(fresh)
    assert abs(float(np.mean(s))) < 0.25
    # the scale comes from 20 blocks of 20 held-out rows: ±16 % sampling error on its own
    assert 0.6 < float(np.std(s)) < 1.4
    assert float(np.mean(det.score(impostor))) > 1.0  # impostors sit well above the owner
    # the fold groups are merged into one forest of the requested size
    assert len(det.model_.estimators_) == det.model_.n_estimators == 60


def test_boosting_is_an_ensemble_of_cross_fitted_models_with_owner_normalised_scores(data) -> None:
    """hist_gb: OWNER_FOLDS boosted models, model j never sees owner fold j; the score is their
    mean P(impostor) in owner-σ units, so the owner's new rows score about N(0, 1)."""
    from activesec.detectors.population import OWNER_FOLDS

    owner, bg, fresh, impostor = data
    det = _create("hist_gb", max_iter=30).fit(owner, bg)
    assert isinstance(det.model_, list) and len(det.model_) == OWNER_FOLDS
    p = np.mean([m.predict_proba(fresh)[:, 1] for m in det.model_], axis=0)
    np.testing.assert_allclose(det.score(fresh), (p - det.score_center_) / det.score_scale_,
                               rtol=1e-12)
    s = det.score(fresh)
    assert abs(float(np.mean(s))) < 0.35
    assert 0.6 < float(np.std(s)) < 1.4
    assert float(np.mean(det.score(impostor))) > 1.0
    plain = _create("hist_gb", max_iter=30, normalise="none").fit(owner, bg)
    np.testing.assert_array_equal(plain.score(fresh), plain.model_.predict_proba(fresh)[:, 1])


def test_normalisation_is_an_affine_map_of_the_forest_probability(data) -> None:
    owner, bg, fresh, _ = data
    det = _create("extra_trees", n_estimators=30).fit(owner, bg)
    p = det.model_.predict_proba(fresh)[:, 1]
    assert det.score_scale_ > 0 and 0.0 < det.score_center_ < 1.0
    np.testing.assert_allclose(det.score(fresh),
                               (p - det.score_center_) / det.score_scale_, rtol=1e-12)


def test_normalise_none_keeps_the_raw_probability(data) -> None:
    owner, bg, fresh, _ = data
    det = _create("extra_trees", n_estimators=30, normalise="none").fit(owner, bg)
    s = det.score(fresh)
    np.testing.assert_array_equal(s, det.model_.predict_proba(fresh)[:, 1])
    assert det.model_.bootstrap is False  # the unnormalised model is the plain one


def test_unknown_normalisation_is_a_config_error(data) -> None:
    owner, bg, _, _ = data
    with pytest.raises(ConfigError, match="normalise"):
        _create("extra_trees", n_estimators=5, normalise="tnorm").fit(owner, bg)


def test_models_saved_without_normalisation_still_score_raw(data) -> None:
    owner, bg, fresh, _ = data
    det = _create("extra_trees", n_estimators=10).fit(owner, bg)
    del det.score_center_, det.score_scale_  # as a model saved before normalisation existed
    np.testing.assert_array_equal(det.score(fresh), det.model_.predict_proba(fresh)[:, 1])


def test_cross_fitting_is_seeded_and_falls_back_when_too_small(data) -> None:
    owner, bg, fresh, _ = data
    a = _create("extra_trees", n_estimators=10, random_state=3).fit(owner, bg)
    b = _create("extra_trees", n_estimators=10, random_state=3).fit(owner, bg)
    np.testing.assert_array_equal(a.score(fresh), b.score(fresh))
    one = _create("extra_trees", n_estimators=1).fit(owner, bg)  # no second group
    assert (one.score_center_, one.score_scale_) == (0.0, 1.0)


def test_owner_norm_scale_grows_with_the_owners_drift_not_with_independent_noise() -> None:
    """Scores that drift together (here: a level shared by each run of 50 rows) make session
    means spread more than the per-row SD suggests; the block scale follows that, while for
    independent rows it is the per-row SD."""
    rng = np.random.default_rng(0)
    iid = rng.normal(0.3, 0.1, 4000)
    drift = iid + np.repeat(rng.normal(0.0, 0.05, 80), 50)
    c, sd = owner_norm(iid)
    assert c == pytest.approx(0.3, abs=0.01) and sd == pytest.approx(0.1, rel=0.15)
    _, sd_drift = owner_norm(drift)
    # per-row SD ~0.112; block-mean SD ~ sqrt(0.1²/20 + ~0.05²) -> x sqrt(20) ~ 0.24
    assert float(np.std(drift)) < 0.12 < 0.2 < sd_drift < 0.3
    assert owner_norm(drift, block=1)[1] == pytest.approx(float(np.std(drift)))


def test_owner_norm_guards_degenerate_scores() -> None:
    assert owner_norm(np.array([0.2, np.nan, 0.4])) == pytest.approx((0.3, 0.1))
    assert owner_norm(np.array([0.3, 0.3, 0.3])) == (0.0, 1.0)  # no spread: leave raw
    assert owner_norm(np.array([np.nan, 0.5])) == (0.0, 1.0)  # too few finite scores


@pytest.mark.parametrize("name,params", [("extra_trees", {"n_estimators": 40}),
                                         ("hist_gb", {"max_iter": 20})])
def test_saved_and_compact_models_score_identically(tmp_path, data, name, params) -> None:
    """The agent loads the saved model or its NumPy twin: both give the detector's scores."""
    owner, bg, fresh, impostor = data
    det = _create(name, **params).fit(owner, bg)
    X = np.vstack([fresh[:300], impostor[:300]])
    want = det.score(X)
    names = [f"f{i}" for i in range(D)]
    save_model(det, tmp_path / "m", feature_names=names)
    loaded = load_model(tmp_path / "m", feature_names=names).detector
    np.testing.assert_array_equal(loaded.score(X), want)
    c = compact(det)
    arrays, meta = c.to_arrays()
    again = CompactScorer.from_arrays(arrays, meta)
    assert meta["score_center"] == det.score_center_
    np.testing.assert_allclose(again.score(X), want, rtol=1e-9, atol=1e-9)


def test_live_trust_calibration_is_blind_to_the_normalisation(data) -> None:
    """The agent's trust model sees z = (score - threshold) / scale from a calibration on the
    owner's held-out scores; an affine per-model normalisation leaves every z unchanged."""
    from activesec.engine.trust import Calibration

    owner, bg, fresh, impostor = data
    det = _create("extra_trees", n_estimators=30).fit(owner, bg)
    assert det.score_scale_ != 1.0
    held, stream = fresh[:500], np.vstack([fresh[500:800], impostor[:300]])
    raw = Calibration.from_scores(det.model_.predict_proba(held)[:, 1])
    norm = Calibration.from_scores(det.score(held))
    np.testing.assert_allclose(norm.z(det.score(stream)),
                               raw.z(det.model_.predict_proba(stream)[:, 1]), atol=1e-9)


def test_boosting_refuses_owner_data_too_small_to_split(data) -> None:
    """With fewer owner rows than 2 x min_samples_leaf no tree splits: hist_gb scored every row
    alike (AUC 0.500 in `evaluate aalto --max-users 20 --detector all`, as a result)."""
    owner, bg, fresh, impostor = data
    with pytest.raises(DataError, match=r"learns nothing from 39 owner rows \(needs 40"):
        _create("hist_gb").fit(owner[:39], bg)
    few = _create("hist_gb", min_samples_leaf=5).fit(owner[:39], bg)  # lowered: it learns
    assert np.ptp(few.score(np.vstack([fresh[:50], impostor[:50]]))) > 0
