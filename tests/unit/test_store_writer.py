"""The batch writer driven step by step with a fake clock (no thread), plus one threaded run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from activesec.core.clock import FakeClock, SystemClock
from activesec.core.events import Kind, make
from activesec.store.db import Store
from activesec.store.writer import BatchWriter

WALL0 = 1_700_000_000 * 10**9


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "activesec.db", create=True)
    yield s
    s.close()


def _batch(n: int, t0: int = 0) -> np.ndarray:
    return make(t0 + np.arange(n) * 1_000_000, Kind.MOVE, x=np.arange(n), y=1)


def _begin(store: Store, clock: FakeClock) -> int:
    return store.begin_session(
        "owner", "test", wall_ns=clock.wall_ns(), mono_ns=clock.monotonic_ns()
    )


def _writer(store: Store, clock: FakeClock, **kw: object) -> tuple[BatchWriter, int]:
    sid = _begin(store, clock)
    opts: dict = dict(queue_max_events=1000, flush_events=100, flush_interval_s=1.0, poll_s=0.25)
    opts.update(kw)
    return BatchWriter(store, sid, clock=clock, **opts), sid


def _on_disk(store: Store) -> int:
    with Store.open(store.path) as other:  # another connection sees committed data only
        return other.counts()["events"]


def test_commits_on_interval(store: Store) -> None:
    clock = FakeClock()
    w, _ = _writer(store, clock)
    assert w.put(_batch(10))
    w.tick()
    assert _on_disk(store) == 0  # neither enough events nor a flush interval yet
    clock.advance(1.0)
    w.tick()
    assert _on_disk(store) == 10
    assert w.stats.stored == 10 and w.stats.commits == 1


def test_commits_when_flush_events_are_waiting(store: Store) -> None:
    clock = FakeClock()
    w, _ = _writer(store, clock)
    w.put(_batch(60))
    w.put(_batch(60, t0=10**9))
    w.tick()
    assert _on_disk(store) == 120


def test_bounded_queue_drops_and_counts_never_blocks(store: Store) -> None:
    clock = FakeClock()
    w, sid = _writer(store, clock, queue_max_events=1000, flush_events=10_000)
    results = [w.put(_batch(300, t0=i * 10**9)) for i in range(5)]
    assert results == [True, True, True, False, False]
    s = w.stats
    assert (s.accepted, s.dropped, s.queued, s.peak_queued) == (1000, 500, 1000, 1000)
    w.close()
    assert store.events(sid)["t_ns"][-1] == 3 * 10**9 + 99 * 1_000_000  # the prefix that fit
    assert store.counts()["drops"] == 500  # persisted for `activesec status`


def test_close_flushes_everything(store: Store) -> None:
    clock = FakeClock()
    w, sid = _writer(store, clock, flush_events=10_000)
    for i in range(7):
        w.put(_batch(10, t0=i * 10**8))
    stats = w.close()
    assert stats.stored == 70 and stats.queued == 0
    assert len(store.events(sid)) == 70
    assert not w.put(_batch(5))  # too late: counted, not silently kept in memory
    assert w.stats.dropped == 5 and w.stats.queued == 0


def test_rejects_batches_of_another_dtype(store: Store) -> None:
    w, _ = _writer(store, FakeClock())
    with pytest.raises(TypeError):
        w.put(np.zeros(3, dtype=np.int64))


def test_pause_from_another_process_discards_within_a_poll(store: Store) -> None:
    clock = FakeClock()
    w, sid = _writer(store, clock)
    w.put(_batch(5))
    with Store.open(store.path) as cli:
        cli.set_paused(True)
    w.put(_batch(7))  # not yet seen: the poll is 0.25 s away
    clock.advance(0.25)
    w.tick()
    assert w.stats.paused
    assert not w.put(_batch(3))
    clock.advance(1.0)
    w.tick()
    s = w.stats
    assert (s.stored, s.paused_discarded, s.dropped) == (0, 15, 0)  # paused is not a drop
    with Store.open(store.path) as cli:
        cli.set_paused(False)
    clock.advance(0.25)
    w.tick()
    assert w.put(_batch(4, t0=10**10))
    w.close()
    assert len(store.events(sid)) == 4
    assert store.counts()["paused_discarded"] == 15


def test_pause_set_just_before_a_flush_is_honoured_inside_the_transaction(store: Store) -> None:
    clock = FakeClock()
    w, sid = _writer(store, clock)
    w.put(_batch(5))
    with Store.open(store.path) as cli:
        cli.set_paused(True)
    w.flush()  # no poll in between: the flush itself re-reads the flags under the write lock
    assert w.stats.stored == 0 and w.stats.paused_discarded == 5
    assert len(store.events(sid)) == 0


def test_wipe_moves_writing_into_a_new_session(store: Store) -> None:
    clock = FakeClock()
    started: list[int] = []

    def on_wipe(s: Store) -> int:
        sid = _begin(s, clock)
        started.append(sid)
        return sid

    w, old = _writer(store, clock, on_wipe=on_wipe)
    w.put(_batch(50))
    clock.advance(1.0)
    w.tick()
    w.put(_batch(5, t0=2 * 10**9))  # queued when the wipe happens: discarded with it
    with Store.open(store.path) as cli:
        cli.wipe()
    clock.advance(0.25)
    w.tick()
    assert w.session_id == started[0] != old
    w.put(_batch(8, t0=3 * 10**9))
    w.close()
    s = w.stats
    assert (s.stored, s.wiped_discarded, s.sessions_started) == (58, 5, 1)
    assert [x.id for x in store.sessions()] == [started[0]]
    assert len(store.events(started[0])) == 8


def test_write_error_is_kept_and_capture_continues(store: Store) -> None:
    clock = FakeClock()
    w, sid = _writer(store, clock, queue_max_events=10_000, flush_events=5000)
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count={pages}")
    rng = np.random.default_rng(0)
    big = _batch(3000)
    big["x"] = rng.integers(-(2**31), 2**31 - 1, 3000)  # incompressible: needs new pages
    for _ in range(3):
        w.put(big)
        clock.advance(1.0)
        w.tick()  # never raises
    s = w.stats
    assert s.error is not None and "disk full" in str(s.error)
    assert (s.stored, s.dropped, s.write_errors) == (0, 9000, 3)
    store._conn.execute("PRAGMA max_page_count=1073741823")  # space freed
    w.put(_batch(10, t0=10**10))
    w.close()
    assert len(store.events(sid)) == 10
    assert store.counts()["drops"] == 9000  # the failed batches are reported once there is room


def test_apps_and_tasks_run_on_the_writer(store: Store) -> None:
    clock = FakeClock()
    w, sid = _writer(store, clock)
    w.record_app(clock.monotonic_ns(), "code")
    seen: list[int] = []
    w.submit(lambda s: seen.append(s.counts()["events"]))
    w.put(_batch(3))
    w.tick()  # a pending task makes the step flush at once
    assert seen == [3]
    w.close()
    assert store.apps(sid) == [(clock.monotonic_ns(), "code")]


def test_threaded_writer_stores_everything_from_many_producers(store: Store) -> None:
    sid = store.begin_session("owner", "test", wall_ns=WALL0, mono_ns=0)
    w = BatchWriter(store, sid, clock=SystemClock(), queue_max_events=10**7,
                    flush_events=5000, flush_interval_s=0.05)
    w.start()

    def produce(k: int) -> None:
        for i in range(100):
            w.put(_batch(100, t0=(k * 1000 + i) * 10**9))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = w.close()
    assert (s.accepted, s.stored, s.dropped) == (40_000, 40_000, 0)
    ev = store.events(sid)
    assert len(ev) == 40_000 and np.all(np.diff(ev["t_ns"]) >= 0)
