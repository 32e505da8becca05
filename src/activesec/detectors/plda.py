"""PLDA: a detector that learns *how people differ* from a background of other people, then
needs only a few owner rows (the speaker-verification recipe, here on typing and pointer
features).

Fit: a quantile transform to normal marginals (fitted on the background) and a shrunk LDA
(``solver='eigen'``, Ledoit-Wolf) fitted on the background's person ids project rows to a
``n_components``-dimensional space where between-person variation is concentrated. There, a
two-covariance model holds: a person's mean ~ N(0, B), a row ~ N(person mean, W), with the
full covariances B and W estimated from the background (W pooled within persons, B from the
person means). One linear map that turns W into the identity and B into a diagonal matrix
(simultaneous diagonalisation) makes the model diagonal, so scoring stays per dimension
while being the full-covariance model exactly. Enrolment gives the posterior of the owner's
mean from the owner's ``n`` rows; a new row's raw score is the log-likelihood ratio
``log p(x | anyone) - log p(x | owner)`` — higher = more likely an impostor (:mod:`.snorm`).
The whole projection is one matrix and an offset (``projection_``, ``offset_``).

Score normalisation (``score_norm='s-norm'``, the default): adaptive S-norm against a cohort
of the *background* people (each modelled from all their background rows): a test row's raw
score is standardised by its scores against the ``cohort_top`` cohort models closest to it
(T-part) and by the owner model's scores on the ``cohort_top`` cohort rows closest to the
owner (Z-part), then the two are averaged with weights ``t_weight`` and ``1 - t_weight``
(:func:`.snorm.adaptive_snorm`; 0.5 is the symmetric S-norm). The cohort means (people x
components), the owner's two Z-part numbers and the weight are part of the fitted model, so a
saved model and its compact twin score the same way.

Measured on Aalto 136M (``activesec evaluate aalto --jobs 2``: 5 enrolment sentences, 582
background people, 1,747 evaluated users), mean per-user EER: diagonal model on 15 LDA
components, raw LLR 5.6 % (505 s); full-covariance model on 30 components with adaptive
S-norm 5.11 % (SD 5.0; pooled EER 6.0 %, AUC 0.985; 173 s, mostly because the quantile
transform now runs the NumPy code instead of scikit-learn's per-column one). Chosen on the
first 400 evaluated users and checked on the next 400 (so *not* on unseen users): 20, 30
and 40 components within 0.04 point of each other; cohort_top 50, 100 and 200 within 0.1
point, the whole cohort 0.15 point worse; length normalisation worse.

With the rhythm features of :mod:`activesec.features.keys` (132 columns) and ``t_weight`` 0.85:
mean per-user EER 4.76 % (SD 4.9; pooled EER 5.6 %, AUC 0.987; 171 s with ``--jobs 2``, command
above). Steps, mean per-user EER on the first 400 / next 400 evaluated users (offline harness
on cached rows; every choice made on the first 400 only): the 5.11 % model above 4.65 / 4.99; +
rhythm features 4.45 / 4.82 (full run 4.89 %); ``t_weight`` 0.5 / 0.7 / 0.85 / 1.0 on the old
features 4.65 / 4.58 / 4.50 / 4.52 (first 400), on the new ones 0.5 / 0.7 / 0.85 give 4.45 /
4.42 / 4.38 and 4.82 / 4.73 / 4.71 (pooled EER 5.5 -> 5.2 % and 5.7 -> 5.4 %). Tried and not
kept: 50, 80 and all 111 components on the old features, 40 on the new ones (no better; with
the new ones and t_weight 0.85, cohort_top 50 / 100 / 200 give 4.37 / 4.38 / 4.39 and 20
components 4.48 on the first 400); fusing the S-normed PLDA score with a second S-normed
detector (nearest-mean L2 or cosine in the within-whitened PLDA space, scaled Manhattan on the
normal scores with the background's within-person spread, a per-owner logistic regression
against the background rows): alone 7-14 %, and every fused weight (0.15-0.75) worse than PLDA
alone — a much weaker score, largely correlated with PLDA, only adds noise.

The background part of the fit (transform, LDA, variances, projected rows and cohort means)
depends only on the background and ``n_components`` and costs ~2 s for 8,700 rows;
evaluating many owners against one background would refit it for each, so the last few
background fits are memoised by a SHA-256 of their inputs — a cache of a pure function,
invisible except in speed (the fitted objects are copied per detector).

Unlike a classifier it needs no impostor data of the owner's kind and works from 5 enrolment
rows; the background only has to contain many people (``background_groups``), which is why a
public, privacy-safe background can be shipped with an install.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import QuantileTransformer

from activesec.core.errors import ConfigError
from activesec.detectors import snorm
from activesec.detectors.base import Detector
from activesec.detectors.compact import quantile_normal
from activesec.detectors.registry import register

SCORE_NORMS = ("none", "s-norm")


@dataclass(frozen=True)
class _Background:
    pre: Any  # QuantileTransformer (normal output)
    projection: np.ndarray  # (features, k): normal scores -> model space
    offset: np.ndarray  # (k,) subtracted after the projection (the background's centre)
    within: np.ndarray  # (k,) within-person variance per dimension
    between: np.ndarray  # (k,) between-person variance per dimension
    Y: np.ndarray  # background rows in model space
    cohort_means: np.ndarray  # posterior mean of each background person (all their rows)


_BACKGROUND_CACHE: OrderedDict[str, _Background] = OrderedDict()
_CACHE_SIZE = 2


def _normal_scores(pre: Any, X: np.ndarray) -> np.ndarray:
    """``pre.transform(X)`` through the compact scorer's NumPy code: the same numbers as
    scikit-learn's (asserted by the compact tests) at a fraction of its per-column cost."""
    return quantile_normal(np.asarray(X, dtype=np.float64), pre.quantiles_, pre.references_)


def _fit_background(Xb: np.ndarray, groups: np.ndarray, n_components: int, n_features: int,
                    random_state: int | None) -> _Background:
    _, gid = np.unique(groups, return_inverse=True)
    h = hashlib.sha256()
    for part in (Xb, gid.astype(np.int64)):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(repr((Xb.shape, n_components, random_state)).encode())
    key = h.hexdigest()
    if key in _BACKGROUND_CACHE:
        _BACKGROUND_CACHE.move_to_end(key)
        return _BACKGROUND_CACHE[key]
    pre = QuantileTransformer(n_quantiles=max(2, min(1000, len(Xb))),
                              output_distribution="normal", random_state=random_state).fit(Xb)
    Zb = _normal_scores(pre, Xb)
    k = min(n_components, int(gid.max()), n_features)
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto", n_components=k)
    lda.fit(Zb, gid)
    S = np.asarray(lda.scalings_, dtype=np.float64)[:, :k]  # what lda.transform applies
    Y0 = Zb @ S
    centre = Y0.mean(0)
    Y0 -= centre
    counts = np.bincount(gid).astype(np.float64)
    means = np.stack([np.bincount(gid, Y0[:, j]) for j in range(k)], 1) / counts[:, None]
    R = Y0 - means[gid]
    W = R.T @ R / max(1, len(Y0) - len(counts))
    B = np.cov(means.T, bias=True).reshape(k, k) - W / counts.mean()
    # simultaneous diagonalisation: T W T' = I, T B T' = diag(between), so the diagonal
    # two-covariance model below is the full-covariance one, exactly
    L = np.linalg.cholesky(W + 1e-9 * np.trace(W) / k * np.eye(k))
    Li = np.linalg.inv(L)
    between, U = np.linalg.eigh(Li @ B @ Li.T)
    T = U.T @ Li
    between = np.maximum(between, 1e-6)
    within = np.ones(k)
    Yb = Y0 @ T.T
    n = counts[:, None]
    cohort = n * between / (n * between + within) * (means @ T.T)
    out = _Background(pre, S @ T.T, centre @ T.T, within, between, Yb, cohort)
    _BACKGROUND_CACHE[key] = out
    while len(_BACKGROUND_CACHE) > _CACHE_SIZE:
        _BACKGROUND_CACHE.popitem(last=False)
    return out


@register("plda")
class PLDA(Detector):
    """Two-covariance PLDA in a shrunk-LDA space learnt from the background's person ids,
    with adaptive S-norm against the background people (``score_norm='none'``: raw LLR)."""

    needs_background = True
    needs_groups = True

    def __init__(self, n_components: int = 30, score_norm: str = "s-norm",
                 cohort_top: int = 100, t_weight: float = 0.85,
                 random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.score_norm = score_norm
        self.cohort_top = cohort_top
        self.t_weight = t_weight
        self.random_state = random_state

    def check_params(self) -> None:
        self._require_int("n_components", 1)
        self._require_seed()
        if self.score_norm not in SCORE_NORMS:
            raise ConfigError(f"PLDA score_norm must be one of {', '.join(SCORE_NORMS)}, "
                              f"not {self.score_norm!r}", "pass score_norm='s-norm' or 'none'")
        if self.cohort_top < 2:
            raise ConfigError(f"PLDA cohort_top must be at least 2, not {self.cohort_top}",
                              "a cohort SD needs two scores: pass cohort_top=100")
        if not 0.0 <= self.t_weight <= 1.0:
            raise ConfigError(f"PLDA t_weight must be between 0 and 1, not {self.t_weight}",
                              "pass t_weight=0.85 (0.5: the symmetric S-norm)")

    def _fit_groups(self, X: np.ndarray, X_background: np.ndarray | None,
                    groups: np.ndarray | None) -> None:
        assert X_background is not None and groups is not None
        bg = _fit_background(X_background, groups, self.n_components, X.shape[1],
                             self.random_state)
        self.pre_ = copy.deepcopy(bg.pre)
        self.projection_, self.offset_ = bg.projection.copy(), bg.offset.copy()
        self.within_, self.between_ = bg.within.copy(), bg.between.copy()
        Yo = self._project(X)
        n = len(Yo)
        b, w = self.between_, self.within_
        self.post_mean_ = n * b / (n * b + w) * Yo.mean(0)
        self.post_var_ = b * w / (n * b + w)
        if self.score_norm == "s-norm":
            self.cohort_means_ = bg.cohort_means.copy()
            self.z_mean_, self.z_std_ = snorm.znorm_stats(
                bg.Y, self.post_mean_, self.post_var_, w, b, self.cohort_top)

    def _project(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(_normal_scores(self.pre_, X) @ self.projection_ - self.offset_,
                          dtype=np.float64)

    def _score(self, X: np.ndarray) -> np.ndarray:
        Y = self._project(X)
        raw = snorm.two_cov_llr(Y, self.post_mean_, self.post_var_, self.within_, self.between_)
        if self.score_norm == "none":
            return raw
        return snorm.adaptive_snorm(Y, raw, self.cohort_means_, self.post_var_, self.within_,
                                    self.between_, self.z_mean_, self.z_std_, self.cohort_top,
                                    self.t_weight)
