"""CPU cost of X11 capture under a paced 1 kHz pointer load, against a bare pynput listener.

Three capturing processes are measured in turn on the same Xvfb, under the same load, in
the same run (interleaved over repeats so drift hits all alike):

* ``idle``   — the same interpreter with the same imports, capturing nothing (baseline);
* ``pynput`` — a bare ``pynput.mouse.Listener`` whose callbacks only count;
* ``x11``    — :class:`activesec.capture.x11.X11Backend` with a sink that only counts.

The load is a separate process injecting XTEST motions at a paced rate (deadline pacing, an
XSync after each). The capturing process's user+system CPU time is read with psutil over the
injection window (plus a short drain), and so is the X server's, to show where cost moves.
Figure of merit: ``(x11 - idle) / (pynput - idle)``, and CPU ms per 1,000 events.

    python -m tests.bench.capture_cpu            # starts its own Xvfb, prints a table
    pytest tests/bench/test_bench_capture.py --bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODES = ("idle", "pynput", "x11")


# -- child processes ------------------------------------------------------------------------


def _listen(mode: str, interval: float) -> None:
    """Capture until a line arrives on stdin, then print how many pointer events were seen."""
    import numpy as np  # noqa: F401  (same imports in every mode)

    from activesec.capture.x11 import X11Backend

    count = [0]
    stop: Any = None
    if mode == "pynput":
        from pynput import mouse

        def on_move(x: int, y: int) -> None:
            count[0] += 1

        listener = mouse.Listener(on_move=on_move)
        listener.start()
        listener.wait()
        stop = listener.stop
    elif mode == "x11":
        backend = X11Backend(batch_interval=interval)

        def sink(batch: Any) -> None:
            count[0] += len(batch)

        backend.start(sink)
        stop = backend.stop
    print("ready", flush=True)
    sys.stdin.readline()
    if stop is not None:
        stop()
    print(json.dumps({"count": count[0]}), flush=True)


def _inject(rate: float, seconds: float) -> None:
    """Move the pointer ``rate`` times a second for ``seconds``, on a deadline schedule."""
    from Xlib import X
    from Xlib.display import Display
    from Xlib.ext import xtest

    d = Display()
    n = int(rate * seconds)
    period = 1.0 / rate
    start = time.monotonic()
    for i in range(n):
        xtest.fake_input(d, X.MotionNotify, x=100 + i % 800, y=100 + (i // 800) % 600)
        d.sync()
        pause = start + (i + 1) * period - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    elapsed = time.monotonic() - start
    print(json.dumps({"sent": n, "rate": n / elapsed}), flush=True)
    d.close()


# -- orchestration --------------------------------------------------------------------------


def _cpu(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def child_env(display: str) -> dict[str, str]:
    """The capturing child's environment: this checkout's ``src`` first on ``PYTHONPATH``, so the
    X11 backend measured is the one beside this file, not another checkout installed with
    ``pip install -e`` (``ROOT`` alone holds ``tests`` but not ``activesec``)."""
    env = {**os.environ, "DISPLAY": display}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env.pop("WAYLAND_DISPLAY", None)
    return env


def run_once(display: str, mode: str, rate: float, seconds: float, server_pid: int | None,
             interval: float = 0.02) -> dict[str, float]:
    """CPU seconds of one capturing process (and of the X server) over one injection."""
    import psutil

    env = child_env(display)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.capture_cpu", "listen", mode, str(interval)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{mode} listener did not start")
        time.sleep(0.5)  # let start-up work settle out of the window
        me = psutil.Process(child.pid)
        server = psutil.Process(server_pid) if server_pid else None
        c0, s0 = _cpu(me), (_cpu(server) if server else 0.0)
        out = subprocess.run(
            [sys.executable, "-m", "tests.bench.capture_cpu", "inject", str(rate), str(seconds)],
            env=env, cwd=ROOT, capture_output=True, text=True, check=True,
        )
        time.sleep(0.1)  # the last batch is drained
        c1, s1 = _cpu(me), (_cpu(server) if server else 0.0)
        child.stdin.write("stop\n")
        child.stdin.flush()
        count = json.loads(child.stdout.readline())["count"]
        sent = json.loads(out.stdout)
    finally:
        child.wait(30)
    return {"cpu_s": c1 - c0, "server_cpu_s": s1 - s0, "events": count,
            "sent": sent["sent"], "rate": sent["rate"]}


def measure(display: str, rate: float = 1000.0, seconds: float = 5.0, repeats: int = 2,
            server_pid: int | None = None, interval: float = 0.02) -> dict[str, Any]:
    """Interleaved runs of every mode; sums per mode and the figures of merit."""
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for _ in range(repeats):
        for mode in MODES:
            runs[mode].append(run_once(display, mode, rate, seconds, server_pid, interval))
    tot = {m: {k: sum(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    idle, bare, ours = tot["idle"]["cpu_s"], tot["pynput"]["cpu_s"], tot["x11"]["cpu_s"]
    sent = tot["x11"]["sent"]
    return {
        "rate_hz": rate,
        "batch_interval_s": interval,
        "seconds": seconds,
        "repeats": repeats,
        "achieved_rate_hz": tot["x11"]["rate"] / repeats,
        "events_sent_per_mode": sent,
        "events_seen": {m: tot[m]["events"] for m in ("pynput", "x11")},
        "cpu_s": {m: tot[m]["cpu_s"] for m in MODES},
        "server_cpu_s": {m: tot[m]["server_cpu_s"] for m in MODES},
        "cpu_ms_per_1000_events": {
            m: 1000 * (tot[m]["cpu_s"] - idle) / (sent / 1000) for m in ("pynput", "x11")
        },
        "ratio": (ours - idle) / (bare - idle) if bare > idle else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd")
    listen = sub.add_parser("listen")
    listen.add_argument("mode", choices=MODES)
    listen.add_argument("interval", type=float)
    inject = sub.add_parser("inject")
    inject.add_argument("rate", type=float)
    inject.add_argument("seconds", type=float)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--interval", type=float, default=0.02, help="X11Backend batch_interval")
    a = p.parse_args(argv)
    if a.cmd == "listen":
        _listen(a.mode, a.interval)
    elif a.cmd == "inject":
        _inject(a.rate, a.seconds)
    else:
        from tests.helpers.xserver import SERVER_PIDS, xvfb

        with xvfb() as display:
            print(json.dumps(measure(display, a.rate, a.seconds, a.repeats,
                                     SERVER_PIDS.get(display), a.interval), indent=2))


if __name__ == "__main__":
    main()
