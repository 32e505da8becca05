"""Engine latency: last event of an action -> updated trust level (run with `--bench`).

A 125 Hz pointer stream (point-and-click actions, personal kinematics) interleaved with typing
is replayed at its recorded pace in delivery batches, as the agent's capture thread hands
them over; every ``Engine.feed`` is timed with ``perf_counter``. Reported:

* **compute latency** — from handing over the batch that completes an action (its release, or
  the first event after the pause that ends it) to the updated trust level: the wall time of
  that ``feed`` call, p50 / p99 / max;
* **end-to-end for click-ended actions** — the release is the action's last event, so its
  latency is the delivery wait (batch end - release time) + compute;
* **CPU** — total engine time / replayed duration (share of one core).

Target (issue 4): <= 100 ms p99. Segmentation adds no hidden delay for click-ended actions; a
movement ended by a pause is, by the segmenter's definition, complete only ``pause_s`` later.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core.clock import FakeClock
from activesec.core.events import Kind
from activesec.detectors.oneclass import ScaledManhattan
from activesec.engine.pipeline import Engine
from activesec.engine.scoring import KEYBOARD, ModalityModel
from activesec.engine.trust import Calibration
from activesec.features.keys import keystroke_windows
from activesec.features.pointer import pointer_features
from activesec.recordings.synthetic import (
    S,
    pointer_person,
    typing,
)


def build_models() -> dict[str, ModalityModel]:
    Xp = pointer_features(pointer_person(300, 1)).X
    dp = ScaledManhattan().fit(Xp)
    cp = Calibration.from_scores(dp.score(pointer_features(pointer_person(200, 2)).X))
    Xk = keystroke_windows(typing(3000, 3)).X
    dk = ScaledManhattan().fit(Xk)
    ck = Calibration.from_scores(dk.score(keystroke_windows(typing(1500, 4)).X))
    return {"pointer:mouse": ModalityModel.pointer(dp, cp),
            KEYBOARD: ModalityModel.keyboard(dk, ck)}


def replay(models: dict[str, ModalityModel], ev: np.ndarray, batch_ms: float) -> dict[str, Any]:
    """Feed ``ev`` in delivery batches at its own pace; time every call."""
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    t = ev["t_ns"]
    clock = FakeClock(monotonic_ns=int(t[0]))
    eng = Engine(models, clock=clock)
    step = int(batch_ms * 1e6)
    bidx = (t - t[0]) // step
    starts = np.flatnonzero(np.r_[True, bidx[1:] != bidx[:-1]])
    stops = np.r_[starts[1:], len(ev)]
    compute, e2e = [], []
    total = 0.0
    last_tick = int(t[0])
    for lo, hi in zip(starts.tolist(), stops.tolist(), strict=True):
        delivered = int(t[0]) + (int(bidx[lo]) + 1) * step
        clock.advance((delivered - clock.monotonic_ns()) / 1e9)
        n_before = eng.trust.n_updates
        c0 = time.perf_counter()
        eng.feed(ev[lo:hi])
        dt = time.perf_counter() - c0
        total += dt
        n_new = eng.trust.n_updates - n_before
        new = list(eng.trajectory)[-n_new:] if n_new else []
        if new:
            compute.append(dt)
            rel = ev[lo:hi][ev[lo:hi]["kind"] == Kind.BUTTON_UP]["t_ns"]
            for st in new:
                if st.modality.startswith("pointer") and st.t_ns in set(rel.tolist()):
                    e2e.append((delivered - st.t_ns) / 1e9 + dt)
        if delivered - last_tick >= S:  # the agent's 1 s timer
            c0 = time.perf_counter()
            eng.tick()
            total += time.perf_counter() - c0
            last_tick = delivered
    duration = (int(t[-1]) - int(t[0])) / 1e9
    c, e = np.array(compute) * 1e3, np.array(e2e) * 1e3
    return {"batch_ms": batch_ms, "updates": eng.trust.n_updates, "events": len(ev),
            "duration_s": round(duration, 1),
            "compute_p50_ms": round(float(np.percentile(c, 50)), 2),
            "compute_p99_ms": round(float(np.percentile(c, 99)), 2),
            "compute_max_ms": round(float(c.max()), 2),
            "e2e_click_p50_ms": round(float(np.percentile(e, 50)), 2) if len(e) else None,
            "e2e_click_p99_ms": round(float(np.percentile(e, 99)), 2) if len(e) else None,
            "cpu_percent": round(100 * total / duration, 2)}


@pytest.fixture(scope="module")
def models() -> dict[str, ModalityModel]:
    return build_models()


@pytest.mark.benchmark(group="engine")
@pytest.mark.parametrize("batch_ms", [8, 50, 100])
def test_latency_to_trust_125hz(benchmark: Any, models: dict[str, ModalityModel],
                                batch_ms: float) -> None:
    ev = np.concatenate([pointer_person(300, 10), typing(1200, 11, t0=5.0)])
    res = benchmark.pedantic(replay, args=(models, ev, batch_ms), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    print(res)
    assert res["updates"] > 300
    assert res["compute_p99_ms"] <= 100
    assert res["e2e_click_p99_ms"] is not None
    if batch_ms <= 50:  # the agent should hand events over at least every 50 ms
        assert res["e2e_click_p99_ms"] <= 100


@pytest.mark.benchmark(group="engine")
def test_latency_balabit_session(benchmark: Any, models: dict[str, ModalityModel]) -> None:
    """A real recorded session (irregular sampling, long drags) at its recorded pace."""
    from activesec.recordings.balabit import read_session

    root = dataset("balabit", "training_files", "user7")
    ev, _ = read_session(sorted(root.iterdir())[0])
    ev = ev[:40_000]
    res = benchmark.pedantic(replay, args=(models, ev, 100), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    print(res)
    assert res["compute_p99_ms"] <= 100


def idle(models: dict[str, ModalityModel], ev: np.ndarray, seconds: int) -> dict[str, Any]:
    """After ``ev``, ``seconds`` of silence with the agent's 1 s engine tick: CPU per tick,
    against what each tick cost before a flushed buffer was marked settled — running every
    stream's feature function on its anchor (timed on the same anchors, same run)."""
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    clock = FakeClock(monotonic_ns=int(ev["t_ns"][0]))
    eng = Engine(models, clock=clock)
    eng.feed(ev)
    clock.advance((int(ev["t_ns"][-1]) - int(ev["t_ns"][0])) / 1e9 + 5)
    eng.tick()  # scores what silence completed; the buffers keep their anchors
    c0 = time.process_time()
    for _ in range(seconds):
        clock.advance(1.0)
        eng.tick()
    tick = (time.process_time() - c0) / seconds
    anchors = [(s.model.features, s.buf) for s in eng.scorer.streams.values() if len(s.buf)]
    c0 = time.process_time()
    for _ in range(seconds):
        for fn, buf in anchors:
            fn(buf)
    recompute = (time.process_time() - c0) / seconds
    return {"idle_tick_ms": round(1e3 * tick, 3), "anchor_recompute_ms": round(1e3 * recompute, 3),
            "ratio": round(tick / (tick + recompute), 3),
            "idle_cpu_percent": round(100 * tick, 3),
            "idle_cpu_percent_before": round(100 * (tick + recompute), 3)}


@pytest.mark.benchmark(group="engine")
def test_idle_ticks_cost_little(benchmark: Any, models: dict[str, ModalityModel]) -> None:
    ev = np.concatenate([pointer_person(20, 12), typing(200, 13, t0=5.0)])
    res = benchmark.pedantic(idle, args=(models, ev, 300), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    print(res)
    assert res["idle_tick_ms"] < res["anchor_recompute_ms"]
