"""Reading one large recording: time and peak memory of both CSV paths (run with
``pytest tests/bench/test_bench_read.py --bench -s``).

A mouse-layout file of 1.2 million rows (~40 MB, about 3 hours of movement at 125 Hz) is read by
``read_mouse_csv`` in a fresh interpreter per path, which reports its peak RSS above the
interpreter's own with the library imported (``ru_maxrss``). Figures are printed as ratios to
the file's size and to the events' size, so that a loaded machine moves them little; the
assertion is only a sanity bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROWS = 1_200_000

_CHILD = """
import json, resource, sys, time
from activesec.recordings import _table
from activesec.recordings.generic import read_mouse_csv
if sys.argv[2] == "pure":
    _table.DISABLE_ARROW = True
else:
    import pyarrow.csv  # its import is not the reading's cost
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ev = read_mouse_csv(sys.argv[1])
s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"events": len(ev), "events_mb": ev.nbytes / 2**20, "s": s,
                  "peak_mb": (peak - base) / 1024}))
"""


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.exponential(0.008, ROWS)) + 1000.0
    xy = rng.integers(0, 1920, (ROWS, 2))
    path = tmp_path_factory.mktemp("read") / "s1.csv"
    with open(path, "w") as fh:
        fh.write("timestamp,button,state,x,y\n")
        fh.writelines(f"{t[i]:.6f},NoButton,Move,{xy[i, 0]},{xy[i, 1]}\n" for i in range(ROWS))
    return path


@pytest.mark.parametrize("path_kind", ["arrow", "pure"])
def test_read_one_large_mouse_file(benchmark: Any, big_file: Path, path_kind: str) -> None:
    if path_kind == "arrow":
        pytest.importorskip("pyarrow")
    box: dict[str, Any] = {}

    def once() -> None:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(big_file), path_kind],
                             capture_output=True, text=True, check=True)
        box.update(json.loads(out.stdout))

    benchmark.pedantic(once, rounds=1, iterations=1)
    file_mb = big_file.stat().st_size / 2**20
    r = box
    benchmark.extra_info.update(r, file_mb=file_mb)
    print(f"\n{path_kind}: {r['events']:,} events from {file_mb:.0f} MB in {r['s']:.2f} s; peak "
          f"{r['peak_mb']:.0f} MB = {r['peak_mb'] / file_mb:.1f}x the file, "
          f"{r['peak_mb'] / r['events_mb']:.1f}x the events")
    assert r["events"] == ROWS
    assert r["peak_mb"] < 40 * file_mb  # a sanity bound; the figure itself is printed
