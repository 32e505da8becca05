"""Metrics against hand-computed cases: separation, identical distributions, ties, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from activesec.core.errors import DataError
from activesec.evaluate import metrics


def test_perfect_separation() -> None:
    g, i = np.array([0.0, 0.1, 0.2]), np.array([0.8, 0.9])
    assert metrics.auc(g, i) == 1.0
    e = metrics.eer(g, i)
    assert e.eer == 0.0
    far, frr = metrics.far_frr(g, i, e.threshold)
    assert far == 0.0 and frr == 0.0


def test_reversed_separation_is_worst() -> None:
    g, i = np.array([0.8, 0.9]), np.array([0.0, 0.1])
    assert metrics.auc(g, i) == 0.0
    assert metrics.eer(g, i).eer == 1.0


def test_identical_distributions() -> None:
    g = np.array([0.3, 0.3, 0.3])
    i = np.array([0.3, 0.3])
    assert metrics.auc(g, i) == 0.5
    assert metrics.eer(g, i).eer == pytest.approx(0.5)


def test_ties_are_split_evenly() -> None:
    # thresholds 2: FRR 0, FAR .5; 1: FRR .5, FAR 0 -> the crossing lies halfway: 25 %
    g, i = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    assert metrics.eer(g, i).eer == pytest.approx(0.25)
    # AUC: pairs (0,1) (0,2) (1,2) win, (1,1) ties -> 3.5 / 4
    assert metrics.auc(g, i) == pytest.approx(0.875)


def test_eer_interpolates_between_operating_points() -> None:
    g = np.array([1.0, 2.0, 3.0, 4.0])
    i = np.array([2.5, 5.0, 6.0, 7.0])
    # thr 5: FRR 0, FAR .25 ; thr 4: FRR .25, FAR .25 -> exact crossing at .25
    e = metrics.eer(g, i)
    assert e.eer == pytest.approx(0.25)
    far, frr = metrics.far_frr(g, i, 4.0)
    assert (far, frr) == (0.25, 0.25)


def test_large_random_eer_matches_normal_theory() -> None:
    rng = np.random.default_rng(0)
    g = rng.normal(0, 1, 20000)
    i = rng.normal(2, 1, 20000)
    # equal-variance Gaussians 2 sd apart: EER = Phi(-1) = 0.1587, AUC = Phi(2/sqrt 2) = 0.9214
    assert metrics.eer(g, i).eer == pytest.approx(0.1587, abs=0.01)
    assert metrics.auc(g, i) == pytest.approx(0.9214, abs=0.01)


def test_roc_and_det_are_consistent() -> None:
    g, i = np.array([0.0, 1.0, 2.0]), np.array([1.5, 3.0])
    r = metrics.roc(g, i)
    assert r.fpr[0] == 0.0 and r.tpr[-1] == 1.0 and np.isinf(r.thresholds[0])
    d = metrics.det(g, i)
    np.testing.assert_allclose(d.far, 1 - r.tpr)
    np.testing.assert_allclose(d.frr, r.fpr)
    assert np.all(np.isfinite(d.far_probit)) and np.all(np.isfinite(d.frr_probit))
    assert metrics.probit(np.array(0.5)) == pytest.approx(0.0)
    assert metrics.probit(np.array([0.8413])) == pytest.approx([1.0], abs=1e-3)


def test_far_frr_rule_rejects_at_or_above_threshold() -> None:
    g, i = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    assert metrics.far_frr(g, i, 1.0) == (0.0, 0.5)
    assert metrics.far_frr(g, i, 1.5) == (0.5, 0.0)


def test_empty_or_nan_scores_are_errors() -> None:
    with pytest.raises(DataError):
        metrics.eer(np.array([]), np.array([1.0]))
    with pytest.raises(DataError):
        metrics.auc(np.array([np.nan]), np.array([1.0]))


def test_thin_keeps_ends() -> None:
    x = np.linspace(0, 1, 10000)
    tx, _ = metrics.thin(x, x, 50)
    assert len(tx) <= 50 and tx[0] == 0 and tx[-1] == 1
