"""NumPy-only compact scorers score exactly like the scikit-learn detectors they come from."""

from __future__ import annotations

import re
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest

from activesec.core.errors import ModelError
from activesec.detectors import registry
from activesec.detectors.base import Detector
from activesec.detectors.compact import CompactScorer, check_same, compact, ndtri

RNG = np.random.default_rng(7)
X_OWNER = RNG.normal(0.0, 1.0, size=(200, 12))
X_BG = RNG.normal(0.4, 1.4, size=(400, 12))
GROUPS = np.repeat(np.arange(8), 50)
X_TEST = np.vstack([RNG.normal(0.2, 2.0, size=(500, 12)),
                    RNG.standard_cauchy(size=(50, 12)) * 10])  # far outside the training range


def _fit(name: str, **params: object) -> object:
    return registry.create(name, **params).fit(X_OWNER, X_BG, GROUPS)


@pytest.mark.parametrize("name,params", [
    ("extra_trees", {"n_estimators": 30}),
    ("random_forest", {"n_estimators": 30, "min_samples_leaf": 2}),
    ("hist_gb", {"max_iter": 20}),
    ("hist_gb", {"max_iter": 20, "normalise": "none"}),  # one plain model, raw P(impostor)
    ("plda", {"n_components": 5}),
    ("plda", {"n_components": 5, "t_weight": 0.5}),  # a non-default S-norm weight travels
    ("scaled_manhattan", {}),
    ("gmm", {}),
])
def test_compact_scores_like_the_sklearn_model(name: str, params: dict[str, object]) -> None:
    det = _fit(name, **params)
    c = compact(det)
    want = det.score(X_TEST)  # type: ignore[attr-defined]
    got = c.score(X_TEST)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # and after a round trip through plain arrays (what lands in the npz)
    arrays, meta = c.to_arrays()
    again = CompactScorer.from_arrays({k: np.array(v) for k, v in arrays.items()}, meta)
    np.testing.assert_array_equal(again.score(X_TEST), got)


def test_trees_agree_on_rows_exactly_at_split_thresholds() -> None:
    """scikit-learn compares float32(x) <= threshold: rows placed on the thresholds must take
    the same branches (the stored float32 floor keeps that decision exact)."""
    det = _fit("extra_trees", n_estimators=10)
    tree = det.model_.estimators_[0].tree_  # type: ignore[attr-defined]
    inner = tree.children_left >= 0
    X = np.tile(X_OWNER[:1], (int(inner.sum()), 1))
    X[np.arange(len(X)), tree.feature[inner]] = tree.threshold[inner]
    np.testing.assert_array_equal(compact(det).score(X), det.score(X))  # type: ignore[attr-defined]


def test_forest_stores_right_children_only_and_scores_like_the_explicit_layout() -> None:
    """A forest's left children are implicit (parent + 1, scikit-learn's depth-first order)
    and its split features one byte each; scorers written with an explicit ``left`` array
    (older compact files, other node orders) still load and score the same rows the same."""
    det = _fit("extra_trees", n_estimators=10)
    c = compact(det)
    arrays, meta = c.to_arrays()
    assert "left" not in arrays and arrays["feature"].dtype == np.uint8
    right = arrays["right"]
    left = np.where(right >= 0, np.arange(len(right)) + 1, -1).astype(right.dtype)
    explicit = CompactScorer.from_arrays(
        {**arrays, "left": left, "feature": arrays["feature"].astype(np.int32)}, meta)
    np.testing.assert_array_equal(explicit.score(X_TEST), c.score(X_TEST))
    # a tree not in depth-first order keeps its left array and still scores correctly
    tree = det.model_.estimators_[0].tree_  # type: ignore[attr-defined]
    assert np.array_equal(np.flatnonzero(tree.children_left >= 0) + 1,
                          tree.children_left[tree.children_left >= 0])
    scrambled = _reversed_node_order(arrays)
    np.testing.assert_array_equal(CompactScorer.from_arrays(scrambled, meta).score(X_TEST),
                                  c.score(X_TEST))


def _reversed_node_order(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same trees with node i renumbered n - 1 - i (children before parents): an inner
    node's left child (old id + 1) becomes new id - 1, so ``left`` must be stored."""
    right = arrays["right"].astype(np.int64)
    n = len(right)
    rev = n - 1 - np.arange(n)  # old id <-> new id (the map is its own inverse)
    inner = right[rev] >= 0
    out = {k: arrays[k][rev] for k in ("feature", "threshold", "value")}
    out["left"] = np.where(inner, np.arange(n) - 1, -1).astype(np.int32)
    out["right"] = np.where(inner, rev[right[rev]], -1).astype(np.int32)
    out["roots"] = rev[arrays["roots"]].astype(np.int32)
    return out


def test_boosted_trees_agree_at_thresholds_and_send_nan_where_the_model_does() -> None:
    """Histogram boosting compares float64 x <= threshold and routes NaN by a learnt flag;
    rows on every threshold, and NaN rows, score as scikit-learn scores them."""
    det = _fit("hist_gb", max_iter=10)
    X = []
    for m in det.model_:  # type: ignore[attr-defined]
        for (pred,) in m._predictors:
            inner = pred.nodes[pred.nodes["is_leaf"] == 0]
            rows = np.tile(X_OWNER[:1], (len(inner), 1))
            rows[np.arange(len(inner)), inner["feature_idx"]] = inner["num_threshold"]
            X.append(rows)
    Xt = np.vstack(X)
    np.testing.assert_allclose(compact(det).score(Xt), det.score(Xt),  # type: ignore[attr-defined]
                               rtol=1e-12, atol=1e-12)
    nan = X_TEST[:40].copy()
    nan[::2, 3] = np.nan
    nan[1::4, 0] = np.nan
    # the detector refuses NaN rows (check_X); its models' own predictions are the reference
    p = np.mean([m.predict_proba(nan)[:, 1] for m in det.model_], axis=0)  # type: ignore[attr-defined]
    want = (p - det.score_center_) / det.score_scale_  # type: ignore[attr-defined]
    np.testing.assert_allclose(compact(det).score(nan), want, rtol=1e-12, atol=1e-12)


def test_ndtri_matches_the_normal_quantile_function() -> None:
    p = np.array([1e-12, 1e-7, 0.001, 0.02425, 0.1, 0.5, 0.77, 0.975, 1 - 1e-7])
    want = np.array([NormalDist().inv_cdf(float(v)) for v in p])
    np.testing.assert_allclose(ndtri(p), want, rtol=1e-9)
    assert np.isneginf(ndtri(np.array(0.0))) and np.isposinf(ndtri(np.array(1.0)))


def test_unsupported_detector_and_bad_input_are_model_errors() -> None:
    with pytest.raises(ModelError, match="no compact form"):
        compact(_fit("isolation_forest", n_estimators=5))
    with pytest.raises(ModelError, match="not fitted"):
        compact(registry.create("extra_trees"))
    c = compact(_fit("scaled_manhattan"))
    with pytest.raises(ModelError, match="features"):
        c.score(np.zeros((2, 3)))
    arrays, meta = c.to_arrays()
    del arrays["mad"]
    with pytest.raises(ModelError, match="missing mad"):
        CompactScorer.from_arrays(arrays, meta)
    with pytest.raises(ModelError):
        CompactScorer.from_arrays(arrays, {**meta, "format": "pickle"})


class _Offers(Detector):
    """A plug-in (its module is not ActiveSec's) offering a twin through ``compact()``."""

    def __init__(self, offer: Any = None) -> None:
        self.offer = offer

    def fit(self, X: Any, X_background: Any = None, background_groups: Any = None) -> _Offers:
        self.mu_, self.sd_ = X.mean(axis=0), X.std(axis=0)
        return self

    def score(self, X: Any) -> np.ndarray:
        return np.asarray(np.abs((X - self.mu_) / self.sd_).mean(axis=1))

    def compact(self) -> Any:
        if self.offer == "raise":
            raise KeyError("mad")
        return self.offer or ("scaled_manhattan", {"mean": self.mu_, "mad": self.sd_})


def test_a_plug_ins_own_twin_is_checked_before_it_is_used() -> None:
    """Only the built-ins had a NumPy-only twin, so a plug-in's model always loaded
    scikit-learn into the agent; the twin a plug-in offers is checked: a known form, numeric
    arrays, and the same scores as its model."""
    det = _Offers().fit(X_OWNER)
    twin = compact(det)
    check_same(det, twin, X_TEST)
    np.testing.assert_allclose(twin.score(X_TEST), det.score(X_TEST), rtol=1e-12)
    for offer, why in [
        ("raise", "compact() failed: KeyError: 'mad'"),
        (("forest", {}), "compact() names the form 'forest', not one of trees"),
        (("scaled_manhattan", {"mean": ["a"], "mad": [1.0]}), "non-numeric arrays: mean"),
        (("scaled_manhattan", {"mean": det.mu_}), "compact scorer is missing mad"),
    ]:
        with pytest.raises(ModelError, match=re.escape(why)):
            compact(_Offers(offer).fit(X_OWNER))
    wrong = _Offers(("scaled_manhattan", {"mean": det.mu_, "mad": det.sd_ * 2})).fit(X_OWNER)
    with pytest.raises(ModelError, match="scores its training rows differently"):
        check_same(wrong, compact(wrong), X_OWNER)
