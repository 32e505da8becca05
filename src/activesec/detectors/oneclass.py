"""One-class detectors: learn the owner's rows only, score distance from them.

The distance-based ones follow Killourhy & Maxion (DSN 2009): *scaled Manhattan* (each
feature's absolute deviation from the enrolment mean, divided by its mean absolute deviation),
*Mahalanobis* (here with a Ledoit-Wolf shrunk covariance, stable when rows are few) and
*nearest neighbour* (scaled Manhattan distance to the k nearest enrolment rows). The others wrap
scikit-learn behind a scaler: Gaussian mixture (negative log-likelihood), one-class SVM,
Isolation Forest and LOF (``novelty=True``), with their "higher = normal" outputs negated here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.ensemble import IsolationForest
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer, RobustScaler, StandardScaler
from sklearn.svm import OneClassSVM

from activesec.detectors.base import Detector
from activesec.detectors.registry import register

_EPS = 1e-9
SCALERS = ("standard", "robust", "quantile", "none")


def make_scaler(kind: str, n_samples: int, random_state: int | None = 0) -> Any:
    """``'standard'``, ``'robust'``, ``'quantile'`` (to a normal, tames heavy tails) or
    ``'none'``."""
    if kind == "standard":
        return StandardScaler()
    if kind == "robust":
        return RobustScaler(quantile_range=(10.0, 90.0))
    if kind == "quantile":
        return QuantileTransformer(n_quantiles=max(2, min(1000, n_samples)),
                                   output_distribution="normal", random_state=random_state)
    if kind == "none":
        return "passthrough"
    raise ValueError(f"unknown scaler {kind!r}: use {', '.join(SCALERS)}")


def _mad_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean absolute deviation per feature (zero deviations floored)."""
    mean = X.mean(axis=0)
    mad = np.abs(X - mean).mean(axis=0)
    floor = max(float(np.median(mad[mad > 0])) * 1e-3 if (mad > 0).any() else 1.0, _EPS)
    return mean, np.maximum(mad, floor)


@register("scaled_manhattan")
class ScaledManhattan(Detector):
    """Killourhy & Maxion's best keystroke detector: sum_i |x_i - mean_i| / mad_i."""

    def __init__(self) -> None:
        pass

    def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
        self.mean_, self.mad_ = _mad_scale(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return np.abs((X - self.mean_) / self.mad_).sum(axis=1) / X.shape[1]


@register("mahalanobis")
class Mahalanobis(Detector):
    """Mahalanobis distance with a Ledoit-Wolf shrunk covariance (after standard scaling)."""

    def __init__(self, scaler: str = "standard") -> None:
        self.scaler = scaler

    def check_params(self) -> None:
        self._require_one_of("scaler", SCALERS)

    def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
        self.scaler_ = make_scaler(self.scaler, len(X))
        Z = X if self.scaler_ == "passthrough" else self.scaler_.fit_transform(X)
        self.cov_ = LedoitWolf().fit(Z)

    def _score(self, X: np.ndarray) -> np.ndarray:
        Z = X if self.scaler_ == "passthrough" else self.scaler_.transform(X)
        return np.sqrt(np.maximum(self.cov_.mahalanobis(Z), 0.0))


@register("nearest_neighbor")
class NearestNeighbor(Detector):
    """Mean scaled-Manhattan distance to the ``k`` nearest enrolment rows."""

    def __init__(self, k: int = 1) -> None:
        self.k = k

    def check_params(self) -> None:
        self._require_int("k", 1)

    def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
        self.mean_, self.mad_ = _mad_scale(X)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.k, len(X)), metric="manhattan")
        self.nn_.fit((X - self.mean_) / self.mad_)

    def _score(self, X: np.ndarray) -> np.ndarray:
        d, _ = self.nn_.kneighbors((X - self.mean_) / self.mad_)
        return d.mean(axis=1) / X.shape[1]


class _SklearnOneClass(Detector):
    """Scaler + scikit-learn novelty model; ``score = -score_samples``."""

    scaler: str
    random_state: int | None

    def check_params(self) -> None:
        self._require_one_of("scaler", SCALERS)

    def _model(self, n_samples: int) -> Any:
        raise NotImplementedError

    def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
        rs = getattr(self, "random_state", 0)
        self.model_ = Pipeline([("scale", make_scaler(self.scaler, len(X), rs)),
                                ("model", self._model(len(X)))])
        self.model_.fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return -np.asarray(self.model_.score_samples(X), dtype=np.float64)


@register("gmm")
class GaussianMixtureDetector(_SklearnOneClass):
    """Negative log-likelihood under a Gaussian mixture of the owner's rows."""

    def __init__(self, n_components: int = 4, covariance_type: str = "diag",
                 scaler: str = "quantile", random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.scaler = scaler
        self.random_state = random_state

    def check_params(self) -> None:
        super().check_params()
        self._require_int("n_components", 1)  # fewer rows than 2 per component: fewer used
        self._require_seed()

    def _model(self, n_samples: int) -> Any:
        return GaussianMixture(n_components=max(1, min(self.n_components, n_samples // 2)),
                               covariance_type=self.covariance_type, reg_covar=1e-3,
                               random_state=self.random_state)


@register("ocsvm")
class OneClassSVMDetector(_SklearnOneClass):
    """One-class SVM (RBF kernel) on scaled rows."""

    def __init__(self, nu: float = 0.1, gamma: str | float = "scale",
                 scaler: str = "quantile") -> None:
        self.nu = nu
        self.gamma = gamma
        self.scaler = scaler

    def _model(self, n_samples: int) -> Any:
        return OneClassSVM(nu=self.nu, gamma=self.gamma)


@register("isolation_forest")
class IsolationForestDetector(_SklearnOneClass):
    """Isolation Forest (trees need no scaling)."""

    def __init__(self, n_estimators: int = 200, max_samples: int | str = "auto",
                 scaler: str = "none", random_state: int | None = 0) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.scaler = scaler
        self.random_state = random_state

    def check_params(self) -> None:
        super().check_params()
        self._require_seed()

    def _model(self, n_samples: int) -> Any:
        return IsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                               random_state=self.random_state)


@register("lof")
class LOFDetector(_SklearnOneClass):
    """Local Outlier Factor in novelty mode."""

    min_samples = 3

    def __init__(self, n_neighbors: int = 20, scaler: str = "quantile") -> None:
        self.n_neighbors = n_neighbors
        self.scaler = scaler

    def check_params(self) -> None:
        super().check_params()
        self._require_int("n_neighbors", 1)  # at most the enrolment rows but one are used

    def _model(self, n_samples: int) -> Any:
        return LocalOutlierFactor(n_neighbors=max(1, min(self.n_neighbors, n_samples - 1)),
                                  novelty=True)
