"""kill -9 during capture: the database opens cleanly and keeps everything it reported committed.

A real subprocess writes numbered events through the real BatchWriter (flush every 50 ms) and
reports, after each put, how many events it has put and how many the writer has committed. The
parent kills it with SIGKILL at several points. Afterwards the store must pass SQLite's
``integrity_check``, hold a gap-free prefix of the numbered events, and hold at least every
event the child had reported committed: what a crash can lose is only what was waiting for the
next flush.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from activesec.store.db import Store

CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from activesec.core.clock import SystemClock
    from activesec.core.events import Kind, make
    from activesec.store.db import Store
    from activesec.store.writer import BatchWriter

    store = Store.open(sys.argv[1], create=True)
    sid = store.begin_session("owner", "crash-test", wall_ns=time.time_ns(), mono_ns=0)
    w = BatchWriter(store, sid, clock=SystemClock(), flush_interval_s=0.05,
                    flush_events=4096, queue_max_events=10**7)
    w.start()
    n = 0
    while True:
        batch = make(np.arange(n, n + 250) * 1_000_000, Kind.MOVE, x=np.arange(n, n + 250))
        w.put(batch)
        n += 250
        print(n, w.stats.stored, flush=True)
        time.sleep(0.002)
    """
)


@pytest.mark.parametrize("kill_after", [3_000, 20_000, 60_000])
def test_sigkill_mid_capture_loses_at_most_the_unflushed_tail(
    tmp_path: Path, kill_after: int
) -> None:
    db = tmp_path / "data" / "activesec.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    put = committed = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            put, committed = map(int, line.split())
            if committed >= kill_after:
                break
        os.kill(proc.pid, signal.SIGKILL)
        for line in proc.stdout:  # what it printed before the signal landed
            put = int(line.split()[0])
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert committed >= kill_after, "child ended before reaching the kill point"

    with Store.open(db) as s:  # opens cleanly after the crash (quick_check runs on open)
        assert s.integrity_check() == "ok"
        (info,) = s.sessions()
        assert info.ended_wall_ns is None  # it really died mid-session
        ev = s.events(info.id)
    n = len(ev)
    assert np.array_equal(ev["x"], np.arange(n))  # a gap-free prefix, nothing garbled
    assert committed <= n <= put  # nothing reported committed was lost
