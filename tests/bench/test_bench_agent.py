"""The agent's footprint while scoring (run with `--bench`): RSS and CPU on a 125 Hz stream.

A profile is trained from one Balabit user (the end-to-end test's set-up: import + train with a
pointer background), then a child process runs the real :class:`~activesec.service.agent.Agent`
— store, batch writer, engine, policy, decision log, status file — on a
:class:`~activesec.capture.replay.ReplayBackend` that delivers a synthetic 125 Hz point-and-click
stream at its recorded pace (``speed=1``) in 20 ms batches — as the live backends deliver
(the replay default of 5 ms cost the replay thread alone ~1.3 % of a core) — for ``SECONDS``. The
child reports its peak RSS (``VmHWM``), its CPU time during the run (model loading included)
divided by the run's wall time,
its CPU share from the first scored action on (model loading and verification excluded),
its CPU per thread (the replay thread stands in for the capture backend, whose own cost is
measured in ``test_bench_capture``), whether scikit-learn was imported, how many actions it
scored, and the **latency** of every
trust update: the monotonic time when trust changed minus the end time of the action that
changed it (the replay backend stamps events on the same monotonic clock; every action of this
stream ends with a click release, so no segmentation pause is hidden in it), for every update
while capturing — the agent's final drain at shutdown is not live latency (it scored the last
action ~100 ms late in both designs, the only update that slow). The run is repeated
with the former design — polling every 50 ms, no wake on input — as the baseline of the ratios,
measured in the same session.

Targets (issue 4): RSS <= 120 MB, CPU <= 2 % of a core, latency <= 100 ms p99.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import dataset

SECONDS = 60.0

CHILD = r"""
import json, os, sys, threading, time
import numpy as np
sys.path.insert(0, {repo!r})
from activesec.core import config, paths
from activesec.core.clock import SystemClock
from activesec.capture.replay import ReplayBackend
from activesec.recordings.base import Recording
from activesec.engine import pipeline
from activesec.service import agent as agent_mod
from activesec.service.agent import Agent
from tests.helpers.synthetic import pointer_person  # NumPy only: no scikit-learn

agent_mod.TICK_S = {tick}
agent_mod.WAKE_ON_INPUT = {wake}
lat = []
first = None
final = False  # the agent's last drain after capture stopped is shutdown, not live latency
_make_trust = pipeline.make_trust
_drain = agent_mod.Agent._drain


def _marked_drain(self, *a, **k):
    global final
    final = final or bool(k.get("final", a[0] if a else False))
    return _drain(self, *a, **k)


agent_mod.Agent._drain = _marked_drain


def _timed_trust(*a, **k):
    tr = _make_trust(*a, **k)
    update = tr.update

    def timed(modality, score, t_ns):
        global first
        st = update(modality, score, t_ns)
        if not final:
            lat.append((time.monotonic_ns() - t_ns) / 1e6)
        if first is None:
            first = (time.process_time(), time.monotonic())
        return st

    tr.update = timed
    return tr


pipeline.make_trust = _timed_trust

p = paths.resolve({home!r})
s = config.load(p)
ev = pointer_person(int({seconds}), 5)
# delivered in 20 ms batches, as every live backend (x11, pynput, evdev) delivers them
be = ReplayBackend([Recording("owner", "bench", ev, "synthetic")], speed=1.0, batch_ms=20.0)
agent = Agent(p, s, be, SystemClock(), owner="owner")
threads = {{}}


def _thread_cpu():
    tick = os.sysconf("SC_CLK_TCK")
    names = {{t.native_id: t.name for t in threading.enumerate()}}
    out = {{}}
    for tid in os.listdir("/proc/self/task"):
        f = open(f"/proc/self/task/{{tid}}/stat").read().rsplit(")", 1)[1].split()
        out[names.get(int(tid), tid)] = (int(f[11]) + int(f[12])) / tick  # utime + stime
    return out


def _sample():  # per-thread CPU over the steady middle of the run (10 s .. end - 2 s)
    time.sleep(10)
    a, t0 = _thread_cpu(), time.monotonic()
    time.sleep({seconds} - 12)
    b, t1 = _thread_cpu(), time.monotonic()
    threads.update({{k: (v - a.get(k, 0.0)) / (t1 - t0) for k, v in b.items()
                     if k in a and v > a[k]}})


threading.Thread(target=_sample, name="bench-sampler", daemon=True).start()
c0, w0 = time.process_time(), time.monotonic()
agent.run(duration_s={seconds})
cpu, wall = time.process_time() - c0, time.monotonic() - w0
c1, w1 = time.process_time(), time.monotonic()
st = agent.status()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a child of a big test
# process would report its parent's peak
mem = dict(line.split(":", 1) for line in open("/proc/self/status")
           if line.startswith(("Rss", "VmHWM")))
kb = {{k: int(v.split()[0]) / 1024 for k, v in mem.items()}}
print(json.dumps({{"rss_mb": kb["VmHWM"],
                  "rss_anon_mb": kb.get("RssAnon"), "rss_file_mb": kb.get("RssFile"),
                  "cpu_share": cpu / wall, "wall_s": wall,
                  "cpu_share_scoring": (c1 - first[0]) / (w1 - first[1]) if first else None,
                  "scores": st["scores"], "updates": len(lat),
                  "events": st["events"], "state": st["state"],
                  "sklearn": "sklearn" in sys.modules,
                  "lat_p50_ms": float(np.percentile(lat, 50)) if lat else None,
                  "lat_p99_ms": float(np.percentile(lat, 99)) if lat else None,
                  "lat_max_ms": max(lat) if lat else None, "threads": threads}}))
"""


def _home(base: Path, **kw: Any) -> Path:
    from tests.integration.test_e2e_agent import build_home

    h, _ = build_home(dataset("balabit"), base, **kw)
    cfg = (h / "config.toml").read_text().replace('backend = "x11"', 'backend = "auto"')
    (h / "config.toml").write_text(cfg)
    return h


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _home(tmp_path_factory.mktemp("bench-agent"))


@pytest.fixture(scope="module")
def largest_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The largest pointer model a real install trains: the owner with the most Balabit
    actions (user12, ~21k, of which training keeps the newest ``MAX_TRAIN_ROWS``) against the
    default background size. Forest size grows with the rows and with how hard the owner is to
    separate; user12's was the largest of the ten users."""
    from activesec.service.background import DEFAULT_MAX_ROWS

    return _home(tmp_path_factory.mktemp("bench-agent-large"), owner="user12",
                 background_users=("user15", "user16", "user20"),
                 background_rows=DEFAULT_MAX_ROWS)


def _run_child(home: Path, tick: float, wake: bool = True) -> dict[str, Any]:
    repo = str(Path(__file__).resolve().parents[2])
    code = CHILD.format(repo=repo, home=str(home), seconds=SECONDS, tick=tick, wake=wake)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=SECONDS + 120, cwd=repo)
    assert r.returncode == 0, r.stderr
    res: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return res


def test_agent_footprint_125hz(home: Path) -> None:
    from activesec.service.agent import TICK_S

    base = _run_child(home, 0.05, wake=False)
    res = _run_child(home, TICK_S)
    for name, r in (("baseline: polling every 0.05 s, no wake", base),
                    (f"agent: tick {TICK_S} s, woken by input that ends an action", res)):
        print(f"\n{name}: agent on a 125 Hz stream for {r['wall_s']:.0f} s: peak RSS "
              f"{r['rss_mb']:.0f} MB (at the end: anonymous {r['rss_anon_mb']:.0f} MB, "
              f"file-backed {r['rss_file_mb']:.0f} MB), CPU {100 * r['cpu_share']:.2f} % of a "
              f"core ({100 * r['cpu_share_scoring']:.2f} % from the first score on), "
              f"{r['scores']} actions scored, {r['events']} events, state {r['state']}, "
              f"scikit-learn imported: {r['sklearn']}; latency action end -> trust p50 "
              f"{r['lat_p50_ms']:.1f} ms, p99 {r['lat_p99_ms']:.1f} ms, "
              f"max {r['lat_max_ms']:.1f} ms")
        print("  CPU per thread (share of a core, steady part of the run): " + ", ".join(
            f"{k} {100 * v:.2f} %" for k, v in sorted(r["threads"].items())))
    print(f"agent vs baseline: CPU x{res['cpu_share'] / base['cpu_share']:.2f} "
          f"(scoring x{res['cpu_share_scoring'] / base['cpu_share_scoring']:.2f}), "
          f"latency p99 x{res['lat_p99_ms'] / base['lat_p99_ms']:.2f}")
    for r in (base, res):
        assert r["scores"] > 0.3 * SECONDS  # it really scored (an action every ~1.5 s)
        assert not r["sklearn"]  # the always-on agent scores without the training libraries
        assert r["rss_mb"] < 500  # a sanity bound; the figure itself is printed


def test_agent_footprint_largest_model(largest_home: Path) -> None:
    """Peak RSS with the largest model a real install trains (the target holds for every owner,
    not only for the end-to-end profile's)."""
    from activesec.core.paths import resolve
    from activesec.service.agent import TICK_S

    model = resolve(largest_home).models_dir
    sizes = {f.relative_to(model).as_posix(): round(f.stat().st_size / 1e6, 1)
             for f in sorted(model.rglob("*")) if f.is_file()}
    r = _run_child(largest_home, TICK_S)
    print(f"\nlargest model: peak RSS {r['rss_mb']:.0f} MB (at the end: anonymous "
          f"{r['rss_anon_mb']:.0f} MB, file-backed {r['rss_file_mb']:.0f} MB), CPU "
          f"{100 * r['cpu_share_scoring']:.2f} % of a core from the first score on, "
          f"{r['updates']} trust updates, {r['events']} events, final state {r['state']} (the "
          f"synthetic stream is not user12: a lock resets the agent's score count); model files "
          f"(MB): {sizes}")
    assert r["updates"] > 0.3 * SECONDS  # it really scored
    assert r["rss_mb"] < 500
