"""Synthetic input: a 125 Hz point-and-click person whose motor style is a handful of
keywords, a typist whose rhythm is two, and desktop work that alternates the two.

Made for measuring, not for learning anyone: ``activesec bench`` replays these to time the
agent on a machine without touching its owner's recordings, and tests use them where a dataset
would be slower than the point. NumPy only (no scikit-learn), so the agent's process measuring
its own footprint can import it. :data:`STYLES` and :data:`TYPISTS` are a few people far
enough apart for a detector to tell them apart.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from activesec.core.events import Kind, make

S = 1_000_000_000


class Style(TypedDict):
    """Keywords of :func:`pointer_person` that make one person's motor style."""

    ms_per_px: float
    bend: float
    jitter_px: float
    dwell: float


#: an owner and the people of a synthetic background
STYLES: dict[str, Style] = {
    "owner": {"ms_per_px": 1.0, "bend": 0.02, "jitter_px": 1.0, "dwell": 0.09},
    "quick": {"ms_per_px": 0.4, "bend": 0.13, "jitter_px": 6.0, "dwell": 0.25},
    "slow": {"ms_per_px": 1.8, "bend": 0.06, "jitter_px": 2.0, "dwell": 0.14},
    "shaky": {"ms_per_px": 0.8, "bend": 0.10, "jitter_px": 4.0, "dwell": 0.06},
}


def pointer_person(n: int, seed: int, t0: float = 0.0, *, ms_per_px: float = 0.9,
                   bend: float = 0.0, jitter_px: float = 1.0, dwell: float = 0.09,
                   gap_s: tuple[float, float] = (0.3, 2.0)) -> np.ndarray:
    """``n`` point-and-click actions at 125 Hz from a person whose style is the keywords.

    Each action: a pause of ``gap_s`` (uniform), a minimum-jerk movement to a random target
    taking ``ms_per_px`` ms per pixel (±20 %), bowed sideways by ``bend`` times its length
    (±50 %) with ``jitter_px`` of positional noise, a wait of 50-300 ms, then a press held for
    ``dwell`` s (±30 %). Every draw is made whatever the keywords, so two people built from one
    seed differ only in style, never in their random targets."""
    rng = np.random.default_rng(seed)
    t, x, y = t0, 800.0, 500.0
    parts = []
    for _ in range(n):
        t += rng.uniform(*gap_s)
        tx, ty = rng.uniform(50, 1800), rng.uniform(50, 1000)
        dist = float(np.hypot(tx - x, ty - y))
        k = max(int(dist * ms_per_px * rng.uniform(0.8, 1.2) / 8), 6)
        tau = np.linspace(0, 1, k)
        s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5  # minimum-jerk position profile
        side = bend * dist * np.sin(np.pi * tau) * rng.uniform(0.5, 1.5)
        nx, ny = -(ty - y) / max(dist, 1.0), (tx - x) / max(dist, 1.0)
        xs = x + (tx - x) * s + side * nx + rng.normal(0, jitter_px, k)
        ys = y + (ty - y) * s + side * ny + rng.normal(0, jitter_px, k)
        ts = t + np.arange(k) * 0.008  # 125 Hz
        parts.append(make((ts * S).astype(np.int64), Kind.MOVE, xs.astype(int), ys.astype(int)))
        t, x, y = float(ts[-1]), float(xs[-1]), float(ys[-1])
        t += rng.uniform(0.05, 0.3)
        parts.append(make([int(t * S)], Kind.BUTTON_DOWN, int(x), int(y), code=1))
        t += dwell * rng.uniform(0.7, 1.3)
        parts.append(make([int(t * S)], Kind.BUTTON_UP, int(x), int(y), code=1))
    return np.concatenate(parts)


class Typist(TypedDict):
    """Keywords of :func:`typing` that make one typist's rhythm."""

    flight_s: float
    dwell_s: float


#: a typist per :data:`STYLES` person
TYPISTS: dict[str, Typist] = {
    "owner": {"flight_s": 0.16, "dwell_s": 0.096},
    "quick": {"flight_s": 0.09, "dwell_s": 0.070},
    "slow": {"flight_s": 0.30, "dwell_s": 0.130},
    "shaky": {"flight_s": 0.20, "dwell_s": 0.080},
}


def typing(n: int, seed: int, t0: float = 0.0, *, flight_s: float = 0.16,
           dwell_s: float = 0.096, first_stroke: int = 1) -> np.ndarray:
    """``n`` keystrokes (press and release) in a handful of key classes: press-to-press gaps of
    ``flight_s`` + 20 ms on average (~6 keys per second by default), holds of ``dwell_s``
    (both gamma-distributed); stroke numbers from ``first_stroke``."""
    rng = np.random.default_rng(seed)
    press = t0 + np.cumsum(rng.gamma(4, flight_s / 4, n) + 0.02)
    dwell = rng.gamma(8, dwell_s / 8, n)
    cls = rng.choice([1, 1, 1, 1, 3, 5, 6, 8], n)
    sid = np.arange(n) + first_stroke
    e = np.concatenate([make((press * S).astype(np.int64), Kind.KEY_DOWN, sid, 0, cls),
                        make(((press + dwell) * S).astype(np.int64), Kind.KEY_UP, sid, 0, cls)])
    return e[np.argsort(e["t_ns"], kind="stable")]


def desktop(seconds: float, seed: int, person: str = "owner", *,
            gap_s: tuple[float, float] = (0.3, 1.0), actions: int = 4, keys: int = 30,
            first_keys: int | None = None) -> np.ndarray:
    """``seconds`` of desktop work by one :data:`STYLES` / :data:`TYPISTS` person: blocks of
    ``actions`` point-and-click actions and a burst of ``keys`` keystrokes (``first_keys`` in
    the first burst), 0.5 s apart."""
    parts, t, stroke, block = [], 0.0, 1, 0
    while t < seconds:
        ptr = pointer_person(actions, seed + block, t, gap_s=gap_s, **STYLES[person])
        t = float(ptr["t_ns"][-1]) / S + 0.5
        n = first_keys if block == 0 and first_keys is not None else keys
        typed = typing(n, seed + block, t, first_stroke=stroke, **TYPISTS[person])
        t = float(typed["t_ns"][-1]) / S + 0.5
        parts += [ptr, typed]
        stroke += n
        block += 1
    return np.concatenate(parts)
