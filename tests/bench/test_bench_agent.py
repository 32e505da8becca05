"""The agent's footprint while scoring (run with `--bench`): RSS and CPU on a 125 Hz stream.

A profile is trained from one Balabit user (the end-to-end test's set-up: import + train with a
pointer background), then a child process runs the real :class:`~activesec.service.agent.Agent`
— store, batch writer, engine, policy, decision log, status file — on a
:class:`~activesec.capture.replay.ReplayBackend` that delivers a synthetic 125 Hz point-and-click
stream at its recorded pace (``speed=1``) for ``SECONDS``. The child reports its peak RSS
(``VmHWM``), its CPU time during the run (after start-up) divided by the run's wall time,
whether scikit-learn was imported, and how many actions it scored.

Targets (issue 4): RSS <= 120 MB, CPU <= 2 % of a core.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import dataset

SECONDS = 60.0

CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from activesec.core import config, paths
from activesec.core.clock import SystemClock
from activesec.capture.replay import ReplayBackend
from activesec.recordings.base import Recording
from activesec.service.agent import Agent
from tests.helpers.synthetic import pointer_person  # NumPy only: no scikit-learn

p = paths.resolve({home!r})
s = config.load(p)
ev = pointer_person(int({seconds}), 5)
be = ReplayBackend([Recording("owner", "bench", ev, "synthetic")], speed=1.0)
agent = Agent(p, s, be, SystemClock(), owner="owner")
c0, w0 = time.process_time(), time.monotonic()
agent.run(duration_s={seconds})
cpu, wall = time.process_time() - c0, time.monotonic() - w0
st = agent.status()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a child of a big test
# process would report its parent's peak
mem = dict(line.split(":", 1) for line in open("/proc/self/status")
           if line.startswith(("Rss", "VmHWM")))
kb = {{k: int(v.split()[0]) / 1024 for k, v in mem.items()}}
print(json.dumps({{"rss_mb": kb["VmHWM"],
                  "rss_anon_mb": kb.get("RssAnon"), "rss_file_mb": kb.get("RssFile"),
                  "cpu_share": cpu / wall, "wall_s": wall, "scores": st["scores"],
                  "events": st["events"], "state": st["state"],
                  "sklearn": "sklearn" in sys.modules}}))
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.integration.test_e2e_agent import build_home

    h, _ = build_home(dataset("balabit"), tmp_path_factory.mktemp("bench-agent"))
    cfg = (h / "config.toml").read_text().replace('backend = "x11"', 'backend = "auto"')
    (h / "config.toml").write_text(cfg)
    return h


def test_agent_footprint_125hz(home: Path) -> None:
    repo = str(Path(__file__).resolve().parents[2])
    code = CHILD.format(repo=repo, home=str(home), seconds=SECONDS)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=SECONDS + 120, cwd=repo)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"\nagent on a 125 Hz stream for {res['wall_s']:.0f} s: peak RSS {res['rss_mb']:.0f} MB "
          f"(at the end: anonymous {res['rss_anon_mb']:.0f} MB, file-backed "
          f"{res['rss_file_mb']:.0f} MB), "
          f"CPU {100 * res['cpu_share']:.2f} % of a core, {res['scores']} actions scored, "
          f"{res['events']} events, state {res['state']}, scikit-learn imported: {res['sklearn']}")
    assert res["scores"] > 0.3 * SECONDS  # it really scored (an action every ~1.5 s)
    assert not res["sklearn"]  # the always-on agent scores without the training libraries
    assert res["rss_mb"] < 500  # a sanity bound; the figure itself is printed
