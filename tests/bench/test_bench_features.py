"""Feature extraction speed per 100k events (run with `pytest tests/bench --bench`).

Synthetic but realistic streams: a 125 Hz pointer random walk with clicks, drags and scroll
bursts; typing at ~6 keys/s with rollover. Report = time per call on 100,000 events.
"""

from __future__ import annotations

import numpy as np
import pytest

from activesec.core.events import Kind, make
from activesec.features.keys import keystroke_windows
from activesec.features.pointer import pointer_features

N = 100_000


def pointer_stream(n: int = N, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = rng.choice([8, 8, 8, 16], n) * 1_000_000
    dt[rng.random(n) < 0.01] = 1_500_000_000  # pauses between intentions
    t = np.cumsum(dt)
    x = np.clip(np.cumsum(rng.integers(-6, 7, n)) + 1000, 0, 4000)
    y = np.clip(np.cumsum(rng.integers(-6, 7, n)) + 600, 0, 2000)
    kind = np.full(n, Kind.MOVE, np.uint8)
    code = np.zeros(n, np.int16)
    press = np.flatnonzero(rng.random(n - 10) < 0.01)
    kind[press] = Kind.BUTTON_DOWN
    rel = press + rng.choice([1, 1, 6], len(press))
    kind[rel] = Kind.BUTTON_UP
    code[press] = code[rel] = 1
    sc = rng.random(n) < 0.02
    sc[press] = sc[rel] = False
    kind[sc] = Kind.SCROLL
    code[sc] = rng.choice([-1, 1], sc.sum())
    return make(t, kind, x, y, code)


def key_stream(n: int = N, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = n // 2
    press = np.cumsum(rng.gamma(4, 0.04, k) * 1e9).astype(np.int64)
    release = press + (rng.gamma(8, 0.012, k) * 1e9).astype(np.int64)
    cls = rng.choice([1, 1, 1, 1, 3, 5, 6, 8], k)
    sid = np.arange(k)
    e = np.concatenate([make(press, Kind.KEY_DOWN, sid, 0, cls),
                        make(release, Kind.KEY_UP, sid, 0, cls)])
    return e[np.argsort(e["t_ns"], kind="stable")]


@pytest.mark.benchmark(group="features")
def test_pointer_features_100k_events(benchmark) -> None:
    ev = pointer_stream()
    out = benchmark(pointer_features, ev)
    assert len(out) > 1000 and np.isfinite(out.X).all()


@pytest.mark.benchmark(group="features")
def test_keystroke_windows_100k_events(benchmark) -> None:
    ev = key_stream()
    out = benchmark(keystroke_windows, ev, 50, 10)
    assert len(out) > 4000 and np.isfinite(out.X).all()
