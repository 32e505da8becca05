"""An event flood through the real, threaded writer: memory stays bounded, losses are counted."""

from __future__ import annotations

import sqlite3
import tracemalloc
from pathlib import Path

import numpy as np

from activesec.core.clock import SystemClock
from activesec.core.events import EVENT_DTYPE, Kind, make
from activesec.store.db import Store
from activesec.store.writer import BatchWriter


def test_flood_keeps_memory_bounded_and_counts_every_drop(tmp_path: Path) -> None:
    batches, size, queue_max = 3000, 1000, 50_000  # 3 M events = 72 MB if all were held
    with Store.open(tmp_path / "activesec.db", create=True) as store:
        sid = store.begin_session("owner", "flood", wall_ns=0, mono_ns=0)
        # Drops must not depend on the producer outrunning SQLite: another connection holds the
        # write lock until the first drop, so the writer cannot empty the queue before it fills.
        blocker = sqlite3.connect(store.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        first_drop = None
        w = BatchWriter(store, sid, clock=SystemClock(), queue_max_events=queue_max,
                        flush_events=10_000, flush_interval_s=0.1)
        w.start()
        template = make(np.arange(size) * 1000, Kind.MOVE, x=np.arange(size), y=3)
        tracemalloc.start()
        try:
            for i in range(batches):  # as fast as a Python producer can go: a fresh array each
                batch = template.copy()
                batch["t_ns"] += i * size * 1000
                if not w.put(batch) and first_drop is None:
                    first_drop = i
                    blocker.execute("COMMIT")  # the writer goes on (it waits up to 10 s)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            blocker.close()
        s = w.close()
        # the queue (plus at most one flush the writer took before blocking) filled, then drops
        assert first_drop is not None and first_drop <= 2 * queue_max // size
        assert s.dropped > 0  # it really was a flood
        assert s.accepted + s.dropped == batches * size
        assert s.stored == s.accepted and s.error is None
        assert s.peak_queued <= queue_max
        assert peak < 16 * 2**20, f"{peak / 2**20:.1f} MiB traced during the flood"
        ev = store.events(sid)
        assert len(ev) == s.stored and ev.dtype == EVENT_DTYPE
        assert store.counts()["drops"] == s.dropped
