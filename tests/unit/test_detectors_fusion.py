"""Rolling score fusion (the trust model and SPRT are tested with the engine)."""

from __future__ import annotations

import numpy as np
import pytest

from activesec.detectors.fusion import fuse


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
