"""Verification metrics from genuine and impostor scores: ROC, AUC, EER, DET, FAR/FRR.

Sign convention (the detectors' one): a **higher score means more likely an impostor**, and a
sample is *rejected* (flagged as an impostor) when ``score >= threshold``. Hence

* FRR (false rejection rate) = share of genuine scores ``>= threshold`` — a false alarm on the
  owner;
* FAR (false acceptance rate) = share of impostor scores ``< threshold`` — a missed impostor.

The ROC is the impostor-detection view scikit-learn computes with impostors as the positive
class: x = FRR (``fpr``), y = 1 - FAR (``tpr``). The AUC is the probability that a random
impostor scores above a random genuine sample, ties counting one half.

EER method: FRR rises and FAR falls monotonically along the ROC's threshold sweep, so
``FRR - FAR`` changes sign exactly once. Between the two consecutive ROC points that bracket the
sign change, both rates are linearly interpolated (the straight ROC segment between operating
points, which is what randomising between the two thresholds achieves) and the EER is the value
where they meet. This gives 0 for perfect separation, 0.5 for identical distributions, and splits
a block of tied scores evenly instead of picking one side of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from activesec.core.errors import DataError

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Roc:
    """ROC points in order of decreasing threshold (first point: nothing rejected)."""

    fpr: np.ndarray  # = FRR: genuine rejected
    tpr: np.ndarray  # = 1 - FAR: impostors rejected
    thresholds: np.ndarray  # thresholds[0] is +inf (reject nothing)


@dataclass(frozen=True)
class Det:
    """DET points: FAR against FRR, plus both on probit (normal deviate) axes."""

    far: np.ndarray
    frr: np.ndarray
    far_probit: np.ndarray
    frr_probit: np.ndarray


@dataclass(frozen=True)
class Eer:
    eer: float
    threshold: float  # interpolated threshold at the crossing (finite)


def _check(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(genuine, dtype=np.float64).ravel()
    i = np.asarray(impostor, dtype=np.float64).ravel()
    if g.size == 0 or i.size == 0:
        raise DataError(
            f"need genuine and impostor scores (got {g.size} genuine, {i.size} impostor)",
            "evaluate with at least one genuine and one impostor sample",
        )
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(i))):
        raise DataError("scores contain NaN or infinity", "check the detector's output")
    return g, i


def _labels(g: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.concatenate([np.zeros(g.size, np.int8), np.ones(i.size, np.int8)])
    return y, np.concatenate([g, i])


def roc(genuine: np.ndarray, impostor: np.ndarray) -> Roc:
    """ROC over every distinct threshold (no points dropped, so the EER interpolation is exact)."""
    g, i = _check(genuine, impostor)
    y, s = _labels(g, i)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    return Roc(fpr=fpr, tpr=tpr, thresholds=thr)


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(impostor score > genuine score) + 0.5 P(equal)."""
    g, i = _check(genuine, impostor)
    y, s = _labels(g, i)
    return float(roc_auc_score(y, s))


def eer(genuine: np.ndarray, impostor: np.ndarray) -> Eer:
    """Equal error rate with linear interpolation at the FRR/FAR crossing (module docstring)."""
    r = roc(genuine, impostor)
    return eer_from_roc(r)


def eer_from_roc(r: Roc) -> Eer:
    frr = r.fpr
    far = 1.0 - r.tpr
    diff = frr - far  # -1 at the first point, +1 at the last, non-decreasing in between
    j = int(np.argmax(diff >= 0.0))
    thr = r.thresholds.astype(np.float64).copy()
    if not np.isfinite(thr[0]):
        # sklearn's first threshold is +inf ("reject nothing"); any value above the top score
        # stands for it, so interpolated thresholds stay finite.
        thr[0] = thr[1] + 1.0 if thr.size > 1 else 0.0
    if j == 0 or diff[j] == 0.0:
        return Eer(eer=float(frr[j]), threshold=float(thr[j]))
    t = -diff[j - 1] / (diff[j] - diff[j - 1])
    value = frr[j - 1] + t * (frr[j] - frr[j - 1])
    threshold = thr[j - 1] + t * (thr[j] - thr[j - 1])
    return Eer(eer=float(value), threshold=float(threshold))


def far_frr(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """(FAR, FRR) when samples scoring ``>= threshold`` are rejected."""
    g, i = _check(genuine, impostor)
    return float(np.mean(i < threshold)), float(np.mean(g >= threshold))


def probit(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Normal deviate of probabilities, clipped to [eps, 1 - eps] so 0 and 1 stay plottable."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.array([_NORMAL.inv_cdf(float(v)) for v in q.ravel()]).reshape(q.shape)


def det(genuine: np.ndarray, impostor: np.ndarray, eps: float = 1e-4) -> Det:
    """DET curve: FAR vs FRR over all thresholds, with probit-scaled copies for plotting."""
    r = roc(genuine, impostor)
    far = 1.0 - r.tpr
    frr = r.fpr
    return Det(far=far, frr=frr, far_probit=probit(far, eps), frr_probit=probit(frr, eps))


def thin(x: np.ndarray, y: np.ndarray, max_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of a monotone curve, always keeping both ends (for plots)."""
    n = len(x)
    if n <= max_points:
        return np.asarray(x), np.asarray(y)
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
    return np.asarray(x)[idx], np.asarray(y)[idx]


@dataclass(frozen=True)
class Summary:
    auc: float
    eer: float
    eer_threshold: float
    n_genuine: int
    n_impostor: int


def summarise(genuine: np.ndarray, impostor: np.ndarray) -> Summary:
    """AUC and EER of one score set (one user's, or the pooled set)."""
    g, i = _check(genuine, impostor)
    e = eer(g, i)
    return Summary(
        auc=auc(g, i), eer=e.eer, eer_threshold=e.threshold, n_genuine=g.size, n_impostor=i.size
    )
