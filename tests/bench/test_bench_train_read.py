"""What training reads from a long history: time and peak memory of ``owner_rows`` over every
session since enrolment against its bounded read of the latest rows (``max_rows``, what
``activesec train`` and the weekly drift update use). Run with
``pytest tests/bench/test_bench_train_read.py --bench -s``.

The store holds 30 days of a heavy pointer user, 200,000 events a day (6 million events), as
one session a day; each read runs in a fresh interpreter, which reports its peak RSS above the
interpreter's own with the store open (``ru_maxrss``). Printed as the ratio of the two reads,
measured in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activesec.core.events import DeviceType, Kind, make
from activesec.store.db import Store, StoredDevice

DAYS, PER_DAY = 30, 200_000
DAY_NS, WALL0 = 86_400 * 10**9, 1_700_000_000 * 10**9

_CHILD = """
import json, resource, sys, time
from activesec.core.config import Settings
from activesec.service import train
from activesec.store.db import Store
store = Store.open(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
bound = train.rows_to_read(Settings()) if sys.argv[2] == "bounded" else None
t0 = time.perf_counter()
rows = train.owner_rows(store, "owner", max_rows=bound)
s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": s, "peak_mb": (peak - base) / 1024,
                  "rows": sum(r.n_rows for r in rows.values()),
                  "events": sum(r.events for r in rows.values())}))
"""


def _day(rng: np.random.Generator) -> np.ndarray:
    """A day's pointer input: 125 Hz moves in strokes of ~40 samples, a click after each."""
    dt = np.full(PER_DAY, 8_000_000, np.int64)
    dt[::42] = rng.integers(600_000_000, 5_000_000_000, len(dt[::42]))  # a pause per stroke
    t = np.cumsum(dt)
    kind = np.full(PER_DAY, int(Kind.MOVE), np.uint8)
    kind[40::42], kind[41::42] = int(Kind.BUTTON_DOWN), int(Kind.BUTTON_UP)
    steps = rng.normal(0, 6, (PER_DAY, 2)).cumsum(axis=0).astype(np.int64) % 1900
    ev = make(t, Kind.MOVE, x=steps[:, 0], y=steps[:, 1])
    ev["kind"] = kind
    ev["code"][kind != Kind.MOVE] = 1
    ev["device"] = 2
    return ev


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "activesec.db"
    rng = np.random.default_rng(0)
    devices = [StoredDevice(2, "USB Optical Mouse", int(DeviceType.MOUSE))]
    with Store.open(path, create=True) as store:
        for d in range(DAYS):
            ev = _day(rng)
            sid = store.begin_session("owner", "bench", devices=devices,
                                      wall_ns=WALL0 + d * DAY_NS, mono_ns=int(ev["t_ns"][0]))
            store.append(sid, ev)
            store.commit()
            store.end_session(sid, WALL0 + d * DAY_NS + int(ev["t_ns"][-1] - ev["t_ns"][0]))
    return path


def _read(path: Path, how: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), how],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def test_training_read_of_a_long_history(benchmark: Any, history: Path) -> None:
    box: dict[str, Any] = {}

    def once() -> None:
        box["all"], box["bounded"] = _read(history, "all"), _read(history, "bounded")

    benchmark.pedantic(once, rounds=1, iterations=1)
    every, bounded = box["all"], box["bounded"]
    benchmark.extra_info.update(every=every, bounded=bounded)
    for name, r in (("every session", every), ("latest rows", bounded)):
        print(f"\n{name}: {r['events']:,} events -> {r['rows']:,} rows in {r['s']:.2f} s, "
              f"peak {r['peak_mb']:.0f} MB")
    print(f"bounded / every: time {bounded['s'] / every['s']:.2f}x, "
          f"peak memory {bounded['peak_mb'] / max(every['peak_mb'], 1):.2f}x")
    assert every["events"] == DAYS * PER_DAY
    assert bounded["events"] < every["events"]
