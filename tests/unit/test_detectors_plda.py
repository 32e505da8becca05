"""PLDA and its adaptive S-norm: closed forms against brute force, the normalisation's effect
on synthetic people, persistence and the compact twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from activesec.core.errors import ConfigError
from activesec.detectors import registry, snorm
from activesec.detectors.persist import load_model, save_model

D = 6
RNG = np.random.default_rng(3)
CENTRES = RNG.normal(0.0, 2.0, (30, D))
X_BG = np.vstack([RNG.normal(c, 1.0, (12, D)) for c in CENTRES])
GROUPS = np.repeat([f"p{i}" for i in range(30)], 12)
OWNER_C = RNG.normal(0.0, 2.0, D)
X_OWNER = RNG.normal(OWNER_C, 1.0, (5, D))
X_TEST = np.vstack([RNG.normal(OWNER_C, 1.0, (40, D)),
                    np.vstack([RNG.normal(RNG.normal(0.0, 2.0, D), 1.0, (4, D))
                               for _ in range(20)])])
FEATS = [f"f{i}" for i in range(D)]


def _fit(**params: object) -> object:
    return registry.create("plda", n_components=4, **params).fit(X_OWNER, X_BG, GROUPS)


def test_cohort_llr_equals_one_two_cov_llr_per_cohort_model() -> None:
    Y = RNG.normal(size=(7, 3))
    means = RNG.normal(size=(5, 3))
    pv, w, b = np.array([0.2, 0.3, 0.1]), np.array([1.0, 0.8, 1.3]), np.array([2.0, 1.5, 0.7])
    want = np.stack([snorm.two_cov_llr(Y, m, pv, w, b) for m in means], 1)
    np.testing.assert_allclose(snorm.cohort_llr(Y, means, pv, w, b), want, rtol=1e-12,
                               atol=1e-12)


def test_tnorm_penalises_a_row_close_to_many_cohort_people() -> None:
    """Two rows equally close to the owner (same raw score): the one sitting among the cohort
    (close to many other people) is the more likely impostor after normalisation; a cohort
    shifted onto the other row swaps the order."""
    k = 2
    pv, w, b = np.full(k, 0.2), np.ones(k), np.full(k, 4.0)
    owner = np.zeros(k)
    a, c = np.array([1.0, 0.0]), np.array([-1.0, 0.0])  # mirror images: same raw score
    Y = np.stack([a, c])
    raw = snorm.two_cov_llr(Y, owner, pv, w, b)
    assert raw[0] == pytest.approx(raw[1])
    crowd = np.random.default_rng(0).normal(0.0, 0.3, (40, k))
    near_a = a + np.array([1.5, 0.0]) + crowd
    near_c = c - np.array([1.5, 0.0]) + crowd
    s_a = snorm.adaptive_snorm(Y, raw, near_a, pv, w, b, 0.0, 1.0, top=10)
    s_c = snorm.adaptive_snorm(Y, raw, near_c, pv, w, b, 0.0, 1.0, top=10)
    assert s_a[0] > s_a[1] and s_c[1] > s_c[0]
    # the Z-part is one affine map per owner: rows with equal raw scores move alike
    z = snorm.adaptive_snorm(Y, raw, near_a, pv, w, b, 5.0, 2.0, top=10)
    assert (z - s_a)[0] == pytest.approx((z - s_a)[1])


def test_t_weight_shares_the_snorm_between_its_t_and_z_parts() -> None:
    k = 2
    pv, w, b = np.full(k, 0.2), np.ones(k), np.full(k, 4.0)
    rng = np.random.default_rng(1)
    Y, cohort = rng.normal(0.0, 2.0, (6, k)), rng.normal(0.0, 2.0, (40, k))
    raw = snorm.two_cov_llr(Y, np.zeros(k), pv, w, b)

    def s(z_mean: float, z_std: float, t_weight: float) -> np.ndarray:
        return snorm.adaptive_snorm(Y, raw, cohort, pv, w, b, z_mean, z_std, 10, t_weight)

    t_only, z_only = s(7.0, 3.0, 1.0), s(7.0, 3.0, 0.0)
    np.testing.assert_allclose(t_only, s(-2.0, 0.5, 1.0))  # the Z statistics drop out
    np.testing.assert_allclose(z_only, (raw - 7.0) / 3.0)
    np.testing.assert_allclose(s(7.0, 3.0, 0.85), 0.85 * t_only + 0.15 * z_only)
    np.testing.assert_allclose(snorm.adaptive_snorm(Y, raw, cohort, pv, w, b, 7.0, 3.0, 10),
                               0.5 * (t_only + z_only))  # default: the symmetric S-norm


def test_znorm_stats_use_the_rows_closest_to_the_owner() -> None:
    k = 2
    pv, w, b = np.full(k, 0.2), np.ones(k), np.full(k, 4.0)
    rows = np.vstack([np.zeros((3, k)), np.full((50, k), 6.0)])
    m_all, _ = snorm.znorm_stats(rows, np.zeros(k), pv, w, b, top=1000)
    m_top, s_top = snorm.znorm_stats(rows, np.zeros(k), pv, w, b, top=3)
    assert m_top < m_all and s_top == pytest.approx(1e-9)


def test_snorm_separates_owner_and_others_and_is_the_default() -> None:
    from sklearn.metrics import roc_auc_score

    det = _fit()
    assert det.get_params()["score_norm"] == "s-norm"  # type: ignore[attr-defined]
    assert det.get_params()["t_weight"] == 0.85  # type: ignore[attr-defined]
    y = np.r_[np.zeros(40), np.ones(80)]
    s = det.score(X_TEST)  # type: ignore[attr-defined]
    raw = _fit(score_norm="none").score(X_TEST)  # type: ignore[attr-defined]
    assert roc_auc_score(y, s) > 0.9 and roc_auc_score(y, raw) > 0.9
    assert not np.allclose(s, raw)
    assert det.cohort_means_.shape == (30, 4)  # type: ignore[attr-defined]


def test_fits_sharing_a_background_do_not_share_state() -> None:
    a, b = _fit(), _fit()
    a.cohort_means_[:] = 0.0  # type: ignore[attr-defined]
    a.within_[:] = 1.0  # type: ignore[attr-defined]
    c = _fit()
    np.testing.assert_array_equal(b.score(X_TEST), c.score(X_TEST))  # type: ignore[attr-defined]


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="score_norm"):
        _fit(score_norm="z-norm")
    with pytest.raises(ConfigError, match="cohort_top"):
        _fit(cohort_top=1)
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="t_weight"):
            _fit(t_weight=bad)


def test_saved_model_scores_the_same(tmp_path: Path) -> None:
    det = _fit()
    save_model(det, tmp_path / "m", feature_names=FEATS)  # type: ignore[arg-type]
    back = load_model(tmp_path / "m", feature_names=FEATS).detector
    np.testing.assert_array_equal(back.score(X_TEST), det.score(X_TEST))  # type: ignore[attr-defined]


def test_model_space_whitens_within_and_diagonalises_between() -> None:
    """The projection makes the pooled within-person covariance of the background the identity
    and the between-person covariance diagonal (``between_``): the diagonal scoring is then
    the full-covariance two-covariance model."""
    det = _fit()
    Y = det._project(X_BG)  # type: ignore[attr-defined]
    _, gid = np.unique(GROUPS, return_inverse=True)
    counts = np.bincount(gid).astype(float)
    means = np.stack([np.bincount(gid, Y[:, j]) for j in range(Y.shape[1])], 1) / counts[:, None]
    R = Y - means[gid]
    W = R.T @ R / (len(Y) - len(counts))
    B = np.cov(means.T, bias=True) - W / counts.mean()
    k = Y.shape[1]
    np.testing.assert_allclose(W, np.eye(k), atol=1e-6)
    np.testing.assert_allclose(B, np.diag(det.between_), atol=1e-6)  # type: ignore[attr-defined]
    np.testing.assert_allclose(Y.mean(0), 0.0, atol=1e-9)
