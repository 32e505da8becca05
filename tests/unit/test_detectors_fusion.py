"""Rolling score fusion, the trust model and the SPRT."""

from __future__ import annotations

import numpy as np
import pytest

from activesec.detectors.fusion import TrustModel, fuse, gaussian_llr, sprt


def naive(s: np.ndarray, k: int, f) -> np.ndarray:
    return np.array([f(s[max(0, i - k + 1): i + 1]) for i in range(len(s))])


def trimmed(w: np.ndarray, trim: float = 0.2) -> float:
    w = np.sort(w)
    c = int(np.floor(trim * len(w)))
    return float(w[c: len(w) - c].mean())


@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_fuse_matches_naive_rolling_windows(k: int) -> None:
    s = np.random.default_rng(k).normal(size=37)
    np.testing.assert_allclose(fuse(s, "mean", k), naive(s, k, np.mean))
    np.testing.assert_allclose(fuse(s, "median", k), naive(s, k, np.median))
    np.testing.assert_allclose(fuse(s, "trimmed", k), naive(s, k, trimmed))


def test_fuse_edge_cases() -> None:
    assert fuse(np.zeros(0)).shape == (0,)
    assert fuse(np.array([0.3]), "trimmed", 5)[0] == pytest.approx(0.3)
    with pytest.raises(ValueError):
        fuse(np.ones(3), "max")
    with pytest.raises(ValueError):
        fuse(np.ones(3), k=0)
    # the trimmed mean resists one outlier, the mean does not
    s = np.r_[np.full(9, 0.1), 50.0]
    assert fuse(s, "trimmed", 10)[-1] == pytest.approx(0.1)
    assert fuse(s, "mean", 10)[-1] > 5


def test_trust_one_odd_action_never_locks_a_run_does() -> None:
    tm = TrustModel(threshold=0.5, width=0.05, reward=1.0, penalty=8.0, lock_below=60)
    owner = np.full(200, 0.2)
    owner[50] = 0.99  # one odd action
    assert tm.first_lock(owner) == -1 and tm.trust == 100
    tm2 = TrustModel(threshold=0.5, width=0.05, penalty=8.0, lock_below=60)
    stranger = np.full(50, 0.9)
    assert tm2.first_lock(stranger) == 5  # 100 - 6*8 = 52 < 60 after the 6th action
    assert tm2.locked


def test_trust_step_and_run_agree() -> None:
    s = np.random.default_rng(0).uniform(0, 1, 100)
    live = TrustModel(threshold=0.6)
    stepped = np.array([live.step(v) for v in s])
    np.testing.assert_allclose(TrustModel(threshold=0.6).run(s), stepped)
    assert ((stepped >= 0) & (stepped <= 100)).all()


def test_sprt_decides_and_restarts() -> None:
    rng = np.random.default_rng(0)
    g, i = (0.2, 0.1), (0.7, 0.15)
    imp = sprt(gaussian_llr(rng.normal(0.7, 0.15, 40), g, i), alpha=0.01, beta=0.01)
    gen = sprt(gaussian_llr(rng.normal(0.2, 0.1, 40), g, i), alpha=0.01, beta=0.01)
    assert (imp == 1).sum() >= 5 and (imp == -1).sum() == 0
    assert (gen == -1).sum() >= 5 and (gen == 1).sum() == 0
    assert gaussian_llr(np.array([0.7]), g, i)[0] > 0 > gaussian_llr(np.array([0.2]), g, i)[0]
