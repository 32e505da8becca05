"""Vectorised per-group statistics over values sorted by a group id (no Python loops).

Every helper takes ``values`` and an ascending ``gid`` (one group id per value, ids in
``[0, n)``) and returns one number per group; empty groups get ``fill``.
"""

from __future__ import annotations

import numpy as np

FloatArray = np.ndarray


def counts(gid: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(gid, minlength=n).astype(np.int64)


def gsum(values: np.ndarray, gid: np.ndarray, n: int) -> FloatArray:
    return np.bincount(gid, weights=values, minlength=n).astype(np.float64)


def gmean(values: np.ndarray, gid: np.ndarray, n: int, fill: float = 0.0) -> FloatArray:
    c = counts(gid, n)
    s = gsum(values, gid, n)
    out = np.full(n, fill, dtype=np.float64)
    np.divide(s, c, out=out, where=c > 0)
    return out


def gstd(values: np.ndarray, gid: np.ndarray, n: int, fill: float = 0.0) -> FloatArray:
    """Population standard deviation per group (two-pass, numerically safe)."""
    c = counts(gid, n)
    m = gmean(values, gid, n)
    ss = gsum((values - m[gid]) ** 2, gid, n) if len(values) else np.zeros(n)
    out = np.full(n, fill, dtype=np.float64)
    np.divide(ss, c, out=out, where=c > 0)
    return np.sqrt(out, out=out)


def _starts(gid: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(gid, np.arange(n))


def gmax(values: np.ndarray, gid: np.ndarray, n: int, fill: float = 0.0) -> FloatArray:
    out = np.full(n, fill, dtype=np.float64)
    c = counts(gid, n)
    ne = c > 0
    if ne.any():
        out[ne] = np.maximum.reduceat(values, _starts(gid, n)[ne])
    return out


def gmin(values: np.ndarray, gid: np.ndarray, n: int, fill: float = 0.0) -> FloatArray:
    out = np.full(n, fill, dtype=np.float64)
    c = counts(gid, n)
    ne = c > 0
    if ne.any():
        out[ne] = np.minimum.reduceat(values, _starts(gid, n)[ne])
    return out


def gargmax_pos(values: np.ndarray, gid: np.ndarray, n: int) -> np.ndarray:
    """Index (into ``values``) of each group's maximum; -1 for empty groups."""
    out = np.full(n, -1, dtype=np.int64)
    if len(values) == 0:
        return out
    order = np.lexsort((-values, gid))  # within a group, largest first
    c = counts(gid, n)
    st = _starts(gid, n)
    ne = c > 0
    out[ne] = order[st[ne]]
    return out


def gquantiles(
    values: np.ndarray, gid: np.ndarray, n: int, qs: tuple[float, ...], fill: float = 0.0
) -> list[FloatArray]:
    """Lower-interpolated quantiles per group, one sort for all ``qs``."""
    c = counts(gid, n)
    st = _starts(gid, n)
    ne = c > 0
    outs = []
    srt = values[np.lexsort((values, gid))] if len(values) else values
    for q in qs:
        out = np.full(n, fill, dtype=np.float64)
        if ne.any():
            idx = st[ne] + np.floor(q * (c[ne] - 1)).astype(np.int64)
            out[ne] = srt[idx]
        outs.append(out)
    return outs
