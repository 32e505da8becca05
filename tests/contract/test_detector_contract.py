"""One contract, every registered detector (built-ins and installed plug-ins), and the README's
plug-in recipe, which relies on the base class's wrappers to keep it.

Synthetic data: the owner is one Gaussian "person", the background several other people, the
impostor a person the model never saw, shifted from the owner on a few features.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tests.helpers.plugins import recipe_class

from activesec.core.errors import DataError, ModelError
from activesec.detectors import registry
from activesec.detectors.base import Detector
from activesec.detectors.persist import load_model, save_model

RECIPE = "readme_centroid"
NAMES = [*registry.names(), RECIPE]
D = 8
FAST = {"n_estimators": 40, "max_iter": 40}


def people(seed: int = 0):
    rng = np.random.default_rng(seed)
    owner_c = np.zeros(D)
    owner = rng.normal(owner_c, 1.0, (150, D))
    bg = np.vstack([rng.normal(rng.normal(0, 1.5, D), 1.0, (30, D)) for _ in range(20)])
    groups = np.repeat(np.arange(20), 30)
    shift = np.zeros(D)
    shift[:3] = 3.0
    genuine = rng.normal(owner_c, 1.0, (100, D))
    impostor = rng.normal(owner_c + shift, 1.0, (100, D))
    return owner, (bg, groups), genuine, impostor


@pytest.fixture(autouse=True)
def _recipe_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's plug-in, registered as its entry point would register it."""
    cls = recipe_class()
    registry.names()  # built-ins and installed plug-ins first
    monkeypatch.setattr(cls, "name", RECIPE)
    monkeypatch.setitem(registry._REGISTRY, RECIPE, cls)


def make(name: str):
    cls = registry.get(name)
    assert issubclass(cls, Detector), f"{name!r} is not a Detector"
    params = {k: v for k, v in FAST.items() if k in cls._param_names()}
    return registry.create(name, **params)


@pytest.fixture(scope="module")
def data():
    return people()


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_keeps_params(name: str, data) -> None:
    owner, bg, _, _ = data
    det = make(name)
    before = det.get_params()
    assert det.fit(owner, *bg) is det
    assert det.get_params() == before
    assert det.n_features_in_ == D
    assert all(not k.endswith("_") for k in before)


@pytest.mark.parametrize("name", NAMES)
def test_higher_score_means_impostor_auc_floor(name: str, data) -> None:
    owner, bg, genuine, impostor = data
    det = make(name).fit(owner, *bg)
    s = det.score(np.vstack([genuine, impostor]))
    assert s.shape == (200,) and s.dtype == np.float64 and np.isfinite(s).all()
    auc = roc_auc_score(np.r_[np.zeros(100), np.ones(100)], s)
    assert auc >= 0.9, f"{name}: AUC {auc:.3f}"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name: str, data) -> None:
    owner, bg, genuine, _ = data
    a = make(name).fit(owner, *bg).score(genuine)
    b = make(name).fit(owner, *bg).score(genuine)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_identical_scores(name: str, data, tmp_path) -> None:
    owner, bg, genuine, impostor = data
    det = make(name).fit(owner, *bg)
    feats = [f"f{i}" for i in range(D)]
    save_model(det, tmp_path, feature_names=feats, calibration={"threshold": 1.0,
                                                                "target_far": 0.01})
    loaded = load_model(tmp_path, feature_names=feats)
    X = np.vstack([genuine, impostor])
    np.testing.assert_array_equal(loaded.detector.score(X), det.score(X))
    assert loaded.card["detector"] == name and loaded.threshold == 1.0
    assert loaded.detector.get_params() == det.get_params()


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_a_clear_error(name: str, data) -> None:
    owner, bg, genuine, _ = data
    det = make(name)
    with pytest.raises(ModelError):
        det.score(genuine)  # not fitted
    bad = owner.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError):
        det.fit(bad, *bg)
    det.fit(owner, *bg)
    with pytest.raises(DataError):
        det.score(genuine[:, :3])
    assert det.score(genuine[:0]).shape == (0,)


@pytest.mark.parametrize("name", NAMES)
def test_background_use_matches_the_kind(name: str, data) -> None:
    owner, bg, genuine, _ = data
    det = make(name)
    if det.needs_background:
        with pytest.raises(DataError):
            det.fit(owner)
        if det.needs_groups:
            with pytest.raises(DataError, match="background_groups"):
                det.fit(owner, bg[0])
    else:  # one-class detectors ignore the background entirely
        a = make(name).fit(owner).score(genuine)
        b = make(name).fit(owner, *bg).score(genuine)
        np.testing.assert_array_equal(a, b)
