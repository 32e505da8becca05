"""Score fusion over consecutive actions / windows — the basis of continuous decisions.

* :func:`fuse` — a rolling mean, trimmed mean or median over the last ``k`` scores (expanding
  at the start), vectorised. Offline, ``fuse(s, k=len(s))[-1]`` is the session score; live, the
  last element after each new score is the current evidence.

Continuous decisions over time (the Mondal & Bours trust level and the SPRT) live in one place,
:mod:`activesec.engine.trust`, which the agent, ``replay`` and ``evaluate --continuous`` share.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

METHODS = ("mean", "trimmed", "median")


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
    if method not in METHODS:
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
