"""PLDA: a detector that learns *how people differ* from a background of other people, then
needs only a few owner rows (the speaker-verification recipe, here on typing and pointer
features).

Fit: a quantile transform to normal marginals (fitted on the background) and a shrunk LDA
(``solver='eigen'``, Ledoit-Wolf) fitted on the background's person ids project rows to a
low-dimensional space where within-person variation is whitened and between-person
variation is concentrated. There, a two-covariance model holds per dimension: a person's
mean ~ N(0, b) (between-person variance ``b``), a row ~ N(person mean, w). Enrolment gives the
posterior of the owner's mean from the owner's ``n`` rows; a new row scores the log-likelihood
ratio ``log p(x | anyone) - log p(x | owner)`` — higher = more likely an impostor.

The background part of the fit (transform, LDA, variances) depends only on the background
and ``n_components``; evaluating many owners against one background would refit it for
each, so the last few background fits are memoised by a SHA-256 of their inputs — a cache of a
pure function, invisible except in speed (the fitted objects are copied per detector).

Unlike a classifier it needs no impostor data of the owner's kind and works from 5 enrolment
rows; the background only has to contain many people (``background_groups``), which is why a
public, privacy-safe background can be shipped with an install.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import QuantileTransformer

from activesec.detectors.base import Detector
from activesec.detectors.registry import register

_BACKGROUND_CACHE: OrderedDict[str, tuple[Any, Any, np.ndarray, np.ndarray]] = OrderedDict()
_CACHE_SIZE = 2


def _fit_background(Xb: np.ndarray, groups: np.ndarray, n_components: int, n_features: int,
                    random_state: int | None) -> tuple[Any, Any, np.ndarray, np.ndarray]:
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
    Zb = pre.transform(Xb)
    k = min(n_components, int(gid.max()), n_features)
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto", n_components=k)
    Yb = lda.fit(Zb, gid).transform(Zb)
    counts = np.bincount(gid).astype(np.float64)
    means = np.stack([np.bincount(gid, Yb[:, j]) for j in range(k)], 1) / counts[:, None]
    within = np.maximum(((Yb - means[gid]) ** 2).mean(0), 1e-6)
    between = np.maximum(means.var(0) - within / counts.mean(), 1e-6)
    out = (pre, lda, within, between)
    _BACKGROUND_CACHE[key] = out
    while len(_BACKGROUND_CACHE) > _CACHE_SIZE:
        _BACKGROUND_CACHE.popitem(last=False)
    return out


@register("plda")
class PLDA(Detector):
    """Two-covariance PLDA in a shrunk-LDA space learnt from the background's person ids."""

    needs_background = True
    needs_groups = True

    def __init__(self, n_components: int = 15, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def _fit_groups(self, X: np.ndarray, X_background: np.ndarray | None,
                    groups: np.ndarray | None) -> None:
        assert X_background is not None and groups is not None
        pre, lda, within, between = _fit_background(
            X_background, groups, self.n_components, X.shape[1], self.random_state)
        self.pre_, self.lda_ = copy.deepcopy(pre), copy.deepcopy(lda)
        self.within_, self.between_ = within.copy(), between.copy()
        Yo = self._project(X)
        n = len(Yo)
        b, w = self.between_, self.within_
        self.post_mean_ = n * b / (n * b + w) * Yo.mean(0)
        self.post_var_ = b * w / (n * b + w)

    def _project(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.lda_.transform(self.pre_.transform(X)), dtype=np.float64)

    def _score(self, X: np.ndarray) -> np.ndarray:
        Y = self._project(X)
        vo = self.post_var_ + self.within_
        va = self.between_ + self.within_
        ll_owner = -0.5 * (((Y - self.post_mean_) ** 2) / vo + np.log(vo)).sum(1)
        ll_any = -0.5 * ((Y**2) / va + np.log(va)).sum(1)
        return ll_any - ll_owner
