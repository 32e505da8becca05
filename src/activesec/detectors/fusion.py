"""Score fusion over consecutive actions / windows — the basis of continuous decisions.

* :func:`fuse` — a rolling mean, trimmed mean or median over the last ``k`` scores (expanding
  at the start), vectorised. Offline, ``fuse(s, k=len(s))[-1]`` is the session score; live, the
  last element after each new score is the current evidence.
* :class:`TrustModel` — a trust level in ``[0, 100]`` that each score raises (owner-like) or
  lowers (impostor-like) by a bounded amount, after Mondal & Bours' dynamic trust model
  (Mondal & Bours, "A study on continuous authentication using a combination of keystroke and
  mouse biometrics", Neurocomputing 2017): one odd action costs little, a run of them drives
  trust below the lock level. The same :meth:`TrustModel.step` serves live scoring (one score
  at a time) and offline replay (:meth:`TrustModel.run`).
* :func:`sprt` — Wald's sequential probability ratio test over per-score log-likelihood ratios
  (e.g. from :func:`gaussian_llr`), restarting after each decision.

The trust and SPRT recursions are sequential by nature (clipping, restarts), so they loop over
*scores* — one per action or window, a few per second at most — never over raw events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def fuse(scores: np.ndarray, method: str = "mean", k: int = 10, trim: float = 0.2) -> np.ndarray:
    """Rolling fusion of the last ``k`` scores; element ``i`` fuses ``scores[max(0,i-k+1):i+1]``.

    ``method``: ``'mean'``, ``'median'`` or ``'trimmed'`` (drops ``trim`` of the scores at each
    end of the window before averaging)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if k < 1:
        raise ValueError("k must be >= 1")
    n = len(s)
    if n == 0:
        return s.copy()
    if method == "mean":
        c = np.cumsum(np.r_[0.0, s])
        hi = np.arange(1, n + 1)
        lo = np.maximum(hi - k, 0)
        return (c[hi] - c[lo]) / (hi - lo)
    if method not in ("median", "trimmed"):
        raise ValueError(f"unknown fusion method {method!r}: use mean, median or trimmed")
    kk = min(k, n)
    pad = np.r_[np.full(kk - 1, np.nan), s]
    win = np.sort(sliding_window_view(pad, kk), axis=1)  # NaN (missing prefix) sorts last
    cnt = np.minimum(np.arange(1, n + 1), kk)
    rows = np.arange(n)
    if method == "median":
        lo_i, hi_i = (cnt - 1) // 2, cnt // 2
        return (win[rows, lo_i] + win[rows, hi_i]) / 2
    cut = np.floor(trim * cnt).astype(np.int64)
    keep = cnt - 2 * cut
    pos = np.arange(kk)[None, :]
    sel = (pos >= cut[:, None]) & (pos < (cut + keep)[:, None])
    return np.where(sel, np.nan_to_num(win), 0.0).sum(1) / keep


@dataclass
class TrustModel:
    """Mondal & Bours-style trust: ``step`` adds ``delta(score)`` and clips to ``[0, max_trust]``.

    ``delta`` is a smooth, bounded function of the score relative to the calibrated
    ``threshold``: ``+reward`` for scores far below it, ``-penalty`` far above, 0 at it; ``width``
    sets how sharp the transition is (in score units; default 10 % of the threshold or 0.05).
    The session is locked when trust falls below ``lock_below``."""

    threshold: float
    width: float | None = None
    reward: float = 1.0
    penalty: float = 8.0
    max_trust: float = 100.0
    lock_below: float = 60.0
    trust: float = 100.0

    def delta(self, score: np.ndarray | float) -> np.ndarray:
        w = self.width if self.width is not None else max(abs(self.threshold) * 0.1, 0.05)
        z = np.clip((np.asarray(score, dtype=np.float64) - self.threshold) / w, -50, 50)
        up = 1.0 / (1.0 + np.exp(z))  # 1 far below the threshold, 0 far above
        return self.reward * (2 * up - 1) * (up >= 0.5) + self.penalty * (2 * up - 1) * (up < 0.5)

    def step(self, score: float) -> float:
        """Update with one new score (live use); returns the new trust level."""
        self.trust = float(np.clip(self.trust + float(self.delta(score)), 0.0, self.max_trust))
        return self.trust

    @property
    def locked(self) -> bool:
        return self.trust < self.lock_below

    def run(self, scores: np.ndarray) -> np.ndarray:
        """Trust after each score of a sequence (offline replay), starting from ``trust``."""
        d = self.delta(np.asarray(scores, dtype=np.float64).reshape(-1))
        out = np.empty(len(d))
        t = self.trust
        for i, di in enumerate(d.tolist()):
            t = min(max(t + di, 0.0), self.max_trust)
            out[i] = t
        self.trust = t
        return out

    def first_lock(self, scores: np.ndarray) -> int:
        """Index of the first score after which trust is below ``lock_below``; -1 if never."""
        hit = np.flatnonzero(self.run(scores) < self.lock_below)
        return int(hit[0]) if len(hit) else -1


def gaussian_llr(scores: np.ndarray, genuine: tuple[float, float],
                 impostor: tuple[float, float]) -> np.ndarray:
    """log p(s | impostor) - log p(s | genuine) for Gaussian score models ``(mean, std)``."""
    s = np.asarray(scores, dtype=np.float64)
    (mg, sg), (mi, si) = genuine, impostor
    sg, si = max(sg, 1e-9), max(si, 1e-9)
    return (np.log(sg / si) - 0.5 * ((s - mi) / si) ** 2 + 0.5 * ((s - mg) / sg) ** 2)


def sprt(llr: np.ndarray, alpha: float = 0.01, beta: float = 0.01) -> np.ndarray:
    """Wald's SPRT over per-score log-likelihood ratios (impostor vs genuine).

    Returns one decision per score: ``1`` impostor accepted, ``-1`` genuine accepted, ``0``
    continue. ``alpha`` is the tolerated rate of false impostor decisions, ``beta`` of missed
    ones. The cumulative sum restarts at 0 after every decision."""
    upper = np.log((1 - beta) / alpha)
    lower = np.log(beta / (1 - alpha))
    out = np.zeros(len(llr), dtype=np.int8)
    acc = 0.0
    for i, v in enumerate(np.asarray(llr, dtype=np.float64).tolist()):
        acc += v
        if acc >= upper:
            out[i], acc = 1, 0.0
        elif acc <= lower:
            out[i], acc = -1, 0.0
    return out
