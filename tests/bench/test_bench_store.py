"""Store benchmarks on real pointer data (Balabit training files): writer throughput through the
real threaded BatchWriter into SQLite, and bytes on disk per stored event.

Run with ``pytest tests/bench/test_bench_store.py --bench -s``; the figures are printed and kept
in pytest-benchmark's ``extra_info``. Targets (issue 2): >= 100,000 events/s, <= 16 bytes/event.

The Balabit CSVs are parsed here with a few lines of ``csv`` (the recordings readers live in
another layer). Times use the *client timestamp* rounded to the millisecond: the resolution of
the OS event clocks live capture stamps with (X server time, Windows hook time).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core.clock import FakeClock, SystemClock
from activesec.core.events import Kind, empty
from activesec.store.db import Store
from activesec.store.writer import BatchWriter

_BUTTONS = {"Left": 1, "Middle": 2, "Right": 3}
BATCH = 64  # events per backend delivery (a few ms of input at a flood rate)


def _read_balabit(path: Path) -> np.ndarray:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    ev = empty(len(rows))
    keep = np.zeros(len(rows), dtype=bool)
    for i, (_rec, client, button, state, x, y) in enumerate(rows):
        if state in ("Move", "Drag"):
            kind, code = Kind.MOVE, 0
        elif state in ("Pressed", "Released") and button in _BUTTONS:
            kind = Kind.BUTTON_DOWN if state == "Pressed" else Kind.BUTTON_UP
            code = _BUTTONS[button]
        elif button == "Scroll" and state in ("Up", "Down"):
            kind, code = Kind.SCROLL, 1 if state == "Up" else -1
        else:
            continue
        xi, yi = int(x), int(y)
        if xi > 10_000 or yi > 10_000:  # Balabit's sentinel coordinates
            continue
        ev[i] = (round(float(client) * 1000) * 1_000_000, kind, 0, 0, xi, yi, code)
        keep[i] = True
    return ev[keep]


@pytest.fixture(scope="module")
def sessions() -> list[np.ndarray]:
    root = dataset("balabit", "training_files")
    users = sorted(p for p in root.iterdir() if p.is_dir())
    return [_read_balabit(sorted(u.glob("session_*"))[0]) for u in users]  # a session per user


def _report(benchmark: Any, **figures: float) -> None:
    benchmark.extra_info.update(figures)
    for k, v in figures.items():
        print(f"\n{k}: {v:,.2f}")


def test_bench_writer_throughput(benchmark: Any, sessions: list[np.ndarray]) -> None:
    events = np.concatenate(sessions)
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        store = Store.open(Path(tempfile.mkdtemp()) / "activesec.db", create=True)
        sid = store.begin_session("owner", "bench", wall_ns=0, mono_ns=0)
        writer = BatchWriter(store, sid, clock=SystemClock(), queue_max_events=len(events))
        return (store, writer), {}

    def run(store: Store, writer: BatchWriter) -> None:
        writer.start()
        for b in batches:
            writer.put(b)
        stats = writer.close()  # returns once every event is committed
        assert stats.stored == len(events) and stats.dropped == 0
        store.close()

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    _report(benchmark, events=len(events),
            events_per_s=len(events) / benchmark.stats.stats.mean)


def _live_like(sessions: list[np.ndarray], flush_s: float = 1.0,
               compact_every_s: float = 300.0) -> float:
    """Bytes per event when written as live capture writes: a commit per flush interval of
    event time, compaction every few minutes and at the session's end (as the runner does)."""
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(Path(d) / "activesec.db", create=True)
        clock = FakeClock()
        n = 0
        for ev in sessions:
            sid = store.begin_session("owner", "bench", wall_ns=clock.wall_ns(),
                                      mono_ns=int(ev["t_ns"][0]))
            w = BatchWriter(store, sid, clock=clock, flush_interval_s=flush_s,
                            queue_max_events=len(ev))
            slot = (ev["t_ns"] - ev["t_ns"][0]) // int(flush_s * 1e9)
            last_compact = int(ev["t_ns"][0])
            for part in np.split(ev, np.flatnonzero(np.diff(slot)) + 1):
                w.put(part)
                w.flush()
                if int(part["t_ns"][-1]) - last_compact >= compact_every_s * 1e9:
                    store.compact(sid)
                    last_compact = int(part["t_ns"][-1])
            w.close()
            store.compact(sid)
            n += len(ev)
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        return Store.open(Path(d) / "activesec.db").size_bytes() / n


def test_bench_bytes_per_event(benchmark: Any, sessions: list[np.ndarray]) -> None:
    live = benchmark.pedantic(_live_like, args=(sessions,), rounds=1, iterations=1)
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(Path(d) / "activesec.db", create=True)
        for ev in sessions:
            store.append(store.begin_session("owner", "bench", wall_ns=0, mono_ns=0), ev)
        store.commit()
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        bulk = store.size_bytes() / sum(map(len, sessions))
        store.close()
    _report(benchmark, events=sum(map(len, sessions)), bytes_per_event_live=live,
            bytes_per_event_bulk=bulk)
    assert live <= 16.0  # issue 2's target, measured, not timed
