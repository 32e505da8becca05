"""Synthetic input streams for benchmarks: a 125 Hz point-and-click person and a typist.

NumPy only (no scikit-learn), so a child process measuring the agent's footprint can import it.
"""

from __future__ import annotations

import numpy as np

from activesec.core.events import Kind, make

S = 1_000_000_000


def pointer_person(n: int, seed: int, t0: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t, x, y = t0, 800.0, 500.0
    parts = []
    for _ in range(n):
        t += rng.uniform(0.3, 2.0)
        tx, ty = rng.uniform(50, 1800), rng.uniform(50, 1000)
        dist = float(np.hypot(tx - x, ty - y))
        k = max(int(dist * 0.9 * rng.uniform(0.8, 1.2) / 8), 6)
        tau = np.linspace(0, 1, k)
        s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5
        xs = x + (tx - x) * s + rng.normal(0, 1, k)
        ys = y + (ty - y) * s + rng.normal(0, 1, k)
        ts = t + np.arange(k) * 0.008  # 125 Hz
        parts.append(make((ts * S).astype(np.int64), Kind.MOVE, xs.astype(int), ys.astype(int)))
        t, x, y = float(ts[-1]), float(xs[-1]), float(ys[-1])
        t += rng.uniform(0.05, 0.3)
        parts.append(make([int(t * S)], Kind.BUTTON_DOWN, int(x), int(y), code=1))
        t += rng.uniform(0.06, 0.12)
        parts.append(make([int(t * S)], Kind.BUTTON_UP, int(x), int(y), code=1))
    return np.concatenate(parts)


def typing(n: int, seed: int, t0: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    press = t0 + np.cumsum(rng.gamma(4, 0.04, n) + 0.02)
    dwell = rng.gamma(8, 0.012, n)
    cls = rng.choice([1, 1, 1, 1, 3, 5, 6, 8], n)
    sid = np.arange(n) + 1
    e = np.concatenate([make((press * S).astype(np.int64), Kind.KEY_DOWN, sid, 0, cls),
                        make(((press + dwell) * S).astype(np.int64), Kind.KEY_UP, sid, 0, cls)])
    return e[np.argsort(e["t_ns"], kind="stable")]
