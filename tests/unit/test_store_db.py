"""Store logic on a real SQLite file: sessions, counts, labels, control flags, retention."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from activesec.capture.base import Device
from activesec.core.errors import StoreError
from activesec.core.events import DeviceType, Flag, Kind, make
from activesec.store import codec
from activesec.store.db import CHUNK_MAX_EVENTS, NS_PER_DAY, Store
from activesec.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

WALL0 = 1_700_000_000 * 10**9
MONO0 = 5 * 10**9


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "activesec.db", create=True)
    yield s
    s.close()


def _moves(n: int, t0: int = MONO0, step_ms: int = 8) -> np.ndarray:
    t = t0 + np.arange(n, dtype=np.int64) * step_ms * 1_000_000
    return make(t, Kind.MOVE, x=np.arange(n) % 1920, y=np.arange(n) % 1080)


def test_missing_store_needs_init(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no event store"):
        Store.open(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_empty_file_is_not_a_store_unless_creating(tmp_path: Path) -> None:
    p = tmp_path / "empty.db"
    p.touch()
    with pytest.raises(StoreError, match="empty"):
        Store.open(p)
    with Store.open(p, create=True) as s:
        assert s.schema_version() == SCHEMA_VERSION


def test_schema_is_versioned_with_named_migrations(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(store.path)
    assert [r[0] for r in conn.execute("SELECT name FROM migrations")] == [
        m.name for m in MIGRATIONS]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "s.db"
    Store.open(p, create=True).close()
    conn = sqlite3.connect(p)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer ActiveSec"):
        Store.open(p)


def test_session_round_trip_with_counts_devices_and_apps(store: Store) -> None:
    dev = [
        Device(0, "Logitech USB Optical Mouse", DeviceType.MOUSE),
        Device(1, "Virtual core XTEST pointer", DeviceType.VIRTUAL),
    ]
    sid = store.begin_session(
        "alice", "x11", screen=(1920, 1080), devices=dev, wall_ns=WALL0, mono_ns=MONO0
    )
    ev = _moves(100)
    ev["kind"][10] = Kind.BUTTON_DOWN
    ev["kind"][20] = Kind.BUTTON_UP
    ev["kind"][30] = Kind.SCROLL
    ev["kind"][40:44] = [Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_DOWN, Kind.KEY_UP]
    ev["flags"][50:55] = Flag.INJECTED
    store.append(sid, ev)
    store.record_app(sid, MONO0, "/usr/bin/firefox")
    store.end_session(sid, WALL0 + 10**9)
    store.commit()

    (info,) = store.sessions()
    assert (info.id, info.label, info.backend, info.screen) == (sid, "alice", "x11", (1920, 1080))
    assert info.ended_wall_ns == WALL0 + 10**9
    assert info.counts == {
        "move": 93,
        "button_down": 1,
        "button_up": 1,
        "scroll": 1,
        "key_down": 2,
        "key_up": 2,
    }
    assert (info.n_events, info.n_pointer, info.n_keys, info.n_injected) == (100, 96, 4, 5)
    assert info.n_injected_keys == 0
    assert store.events(sid).tobytes() == ev.tobytes()
    assert [(d.index, d.name, d.type) for d in store.devices(sid)] == [
        (0, "Logitech USB Optical Mouse", DeviceType.MOUSE),
        (1, "Virtual core XTEST pointer", DeviceType.VIRTUAL),
    ]
    assert store.apps(sid) == [(MONO0, "firefox")]  # a process name, never a path or title
    c = store.counts()
    assert (c["events"], c["pointer"], c["keys"], c["sessions"], c["drops"]) == (100, 96, 4, 1, 0)


def _typed(n_keys: int, t0: int, flags: int = 0) -> np.ndarray:
    """``n_keys`` keystrokes (down and up) 100 ms apart."""
    t = t0 + np.arange(2 * n_keys, dtype=np.int64) * 50_000_000
    kind = np.where(np.arange(2 * n_keys) % 2 == 0, Kind.KEY_DOWN, Kind.KEY_UP)
    ev = make(t, kind, code=np.repeat(np.arange(n_keys), 2))
    ev["flags"] = flags
    return ev


def test_own_input_leaves_out_injected_events_of_either_kind(store: Store) -> None:
    sid = store.begin_session("alice", "x11", wall_ns=WALL0, mono_ns=MONO0)
    store.append(sid, _moves(100))
    injected = _moves(30, t0=MONO0 + 10**9, step_ms=1)
    injected["flags"] = int(Flag.INJECTED)
    store.append(sid, injected)
    store.append(sid, _typed(40, MONO0 + 2 * 10**9))
    store.append(sid, _typed(25, MONO0 + 7 * 10**9, flags=int(Flag.INJECTED)))
    other = store.begin_session("bob", "x11", wall_ns=WALL0, mono_ns=MONO0)
    store.append(other, _moves(500))
    store.commit()
    (info,) = store.sessions(label="alice")
    assert (info.n_pointer, info.n_keys) == (130, 130)
    assert (info.n_injected, info.n_injected_keys) == (80, 50)
    assert store.own_input("alice") == (100, 40)
    assert store.own_input("nobody") == (0, 0)


def test_own_input_after_a_restart_counts_the_open_session_from_then_on(store: Store) -> None:
    first = store.begin_session("alice", "x11", wall_ns=WALL0, mono_ns=MONO0)
    store.append(first, _moves(100))  # before the restart (wall WALL0 + 0..0.8 s)
    store.append(first, _moves(60, t0=MONO0 + 5 * 10**9))  # after it
    second = store.begin_session("alice", "x11", wall_ns=WALL0 + 10 * 10**9, mono_ns=MONO0)
    store.append(second, _typed(20, MONO0))
    store.commit()
    assert store.own_input("alice") == (160, 20)
    assert store.own_input("alice", after_session=first) == (0, 20)  # it had ended
    assert store.own_input("alice", after_session=first, open_session=first,
                           since_wall_ns=WALL0 + 2 * 10**9) == (60, 20)
    assert store.own_input("alice", after_session=second, open_session=second,
                           since_wall_ns=WALL0 + 20 * 10**9) == (0, 0)


def test_a_schema_1_store_gains_injected_key_counts_from_its_events(tmp_path: Path) -> None:
    """A store written before migration 0002 is migrated on open: injected key events are
    counted from the stored blobs, so enrolment does not count injected typing."""
    p = tmp_path / "old.db"
    conn = sqlite3.connect(p, isolation_level=None)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.executescript(MIGRATIONS[0].sql)
    conn.execute("INSERT INTO migrations(name) VALUES ('0001_initial')")
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO sessions(label, backend, started_wall_ns, started_mono_ns)"
                 " VALUES ('alice', 'x11', ?, ?)", (WALL0, MONO0))
    ev = np.concatenate([_moves(10), _typed(6, MONO0 + 10**9, flags=int(Flag.INJECTED)),
                         _typed(4, MONO0 + 2 * 10**9)])
    ev["flags"][:3] = int(Flag.INJECTED)
    conn.execute("INSERT INTO chunks(session_id, t0_ns, t1_ns, wall_t0_ns, wall_t1_ns, n, n_move,"
                 " n_button_down, n_button_up, n_scroll, n_key_down, n_key_up, n_injected, blob)"
                 " VALUES (1, 0, 0, ?, ?, 30, 10, 0, 0, 0, 10, 10, 15, ?)",
                 (WALL0, WALL0, codec.encode(ev)))
    conn.close()
    with Store.open(p) as s:
        assert s.schema_version() == SCHEMA_VERSION
        (info,) = s.sessions()
        assert (info.n_injected, info.n_injected_keys) == (15, 12)
        assert s.own_input("alice") == (7, 4)
        assert s.events(info.id).tobytes() == ev.tobytes()  # the events themselves untouched


def test_recent_apps_are_the_process_names_latest_first(store: Store) -> None:
    s = 10**9
    old = store.begin_session("alice", "x11", wall_ns=WALL0, mono_ns=MONO0)
    store.record_app(old, MONO0 + 5 * s, "/usr/games/supertux2")  # a path keeps its name only
    store.record_app(old, MONO0 + 60 * s, "xterm")
    # a later session on another monotonic base (a reboot): wall time comes from its anchor
    new = store.begin_session("alice", "x11", wall_ns=WALL0 + 3600 * s, mono_ns=7 * s)
    store.record_app(new, 8 * s, "firefox")
    store.record_app(new, 20 * s, "supertux2")
    store.commit()
    assert store.recent_apps() == [
        ("supertux2", WALL0 + 3600 * s + 13 * s),
        ("firefox", WALL0 + 3601 * s),
        ("xterm", WALL0 + 60 * s),
    ]
    assert [n for n, _ in store.recent_apps(since_wall_ns=WALL0 + 61 * s)] == [
        "supertux2",
        "firefox",
    ]


def test_large_appends_split_into_chunks_and_come_back_sorted(store: Store) -> None:
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    ev = _moves(CHUNK_MAX_EVENTS * 2 + 7)
    store.append(sid, ev[::-1].copy())  # out of order on the way in
    store.commit()
    n_chunks = sqlite3.connect(store.path).execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert n_chunks == 3
    assert store.events(sid).tobytes() == ev.tobytes()


def test_event_slices_read_a_session_newest_first_in_bounded_slices(store: Store) -> None:
    """Training reads a long session's latest part only: whole chunks, newest first, at most
    ``max_events`` a slice (one chunk when a chunk alone is larger) — in time order even after
    compaction gave the merged older chunks newer ids than the live ones after them."""
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    ev = _moves(1000)
    for part in np.array_split(ev[:600], 30):  # live flushes: small chunks
        store.append(sid, part)
    store.commit()
    assert store.compact(sid) == 30  # one chunk of 600, with the newest id so far
    store.append(sid, ev[600:700])
    store.append(sid, ev[700:])
    store.commit()
    slices = list(store.event_slices(sid, max_events=350))
    assert [len(s) for s in slices] == [300, 100, 600]
    assert np.concatenate(slices[::-1]).tobytes() == store.events(sid).tobytes() == ev.tobytes()
    assert [len(s) for s in store.event_slices(sid, max_events=10_000)] == [1000]
    assert list(store.event_slices(store.begin_session("b", "t", wall_ns=WALL0,
                                                       mono_ns=MONO0), 10)) == []


def test_event_slices_are_one_snapshot_while_an_agent_compacts(store: Store) -> None:
    """Training reads slices while the running agent may compact the session (another
    connection): the merged chunk has a new id and the earliest time, so the slices still to
    come found none of the chunks it replaced — 700 of 1,000 events were silently missing."""
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    ev = _moves(1000)
    for part in np.array_split(ev, 10):  # live flushes: small chunks of 100
        store.append(sid, part)
    store.commit()
    with Store.open(store.path) as reader:
        slices = reader.event_slices(sid, max_events=300)
        got = [next(slices)]  # the newest 300
        assert store.compact(sid) == 10  # the agent, meanwhile
        got += list(slices)
        assert [len(s) for s in got] == [300, 300, 300, 100]
        assert np.concatenate(got[::-1]).tobytes() == ev.tobytes()
        assert not reader._conn.in_transaction  # read to the end: the snapshot is let go
        early = reader.event_slices(sid, max_events=300)
        next(early)
        early.close()  # training stops reading once it has enough rows
        assert not reader._conn.in_transaction
        assert reader.events(sid).tobytes() == ev.tobytes()  # now the compacted form
    late = Store.open(store.path)
    slices = late.event_slices(sid, max_events=300)
    next(slices)
    late.close()  # training stopped by SIGTERM: the store closes before the slices are let go
    slices.close()  # raised "Cannot operate on a closed database" (a traceback on stderr)


def test_uncommitted_appends_are_invisible_to_other_connections(store: Store) -> None:
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    store.append(sid, _moves(10))
    with Store.open(store.path) as other:
        assert other.counts()["events"] == 0
    store.commit()
    with Store.open(store.path) as other:
        assert other.counts()["events"] == 10


def test_sessions_filter_by_label_and_time(store: Store) -> None:
    a = store.begin_session("alice", "t", wall_ns=WALL0, mono_ns=MONO0)
    store.end_session(a, WALL0 + 10**9)
    b = store.begin_session("bob", "t", wall_ns=WALL0 + NS_PER_DAY, mono_ns=MONO0)
    store.append(b, _moves(5))
    store.commit()
    assert [s.id for s in store.sessions(label="alice")] == [a]
    assert [s.id for s in store.sessions(since_wall_ns=WALL0 + 2 * 10**9)] == [b]
    assert store.session(b).label == "bob"
    with pytest.raises(StoreError):
        store.session(999)


def test_session_needs_a_label(store: Store) -> None:
    with pytest.raises(StoreError, match="label"):
        store.begin_session("", "t", wall_ns=WALL0, mono_ns=MONO0)


def test_current_label_and_pause_are_shared_through_the_file(store: Store) -> None:
    assert store.current_label() is None
    assert store.control_state() == (False, 0)
    with Store.open(store.path) as cli:
        cli.set_current_label("guest1")
        cli.set_paused(True)
    assert store.current_label() == "guest1"
    assert store.is_paused()
    store.set_current_label(None)
    store.set_paused(False)
    assert store.current_label() is None
    assert not store.is_paused()


def test_drop_counters_accumulate(store: Store) -> None:
    store.add_drops(5)
    store.add_drops(7)
    store.add_drops(3, "paused_discarded")
    c = store.counts()
    assert (c["drops"], c["paused_discarded"]) == (12, 3)


def test_wall_time_jumps_never_bend_intervals(store: Store) -> None:
    """Only the session anchor is wall-clock; events keep their monotonic spacing."""
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    ev = _moves(50)
    store.append(sid, ev)
    store.end_session(sid, WALL0 - 3600 * 10**9)  # the wall clock was set back an hour
    store.commit()
    assert np.array_equal(np.diff(store.events(sid)["t_ns"]), np.diff(ev["t_ns"]))


def test_wipe_deletes_everything_and_bumps_the_generation(store: Store) -> None:
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    store.append(sid, _moves(1000))
    store.record_app(sid, MONO0, "editor")
    store.add_drops(4)
    store.set_current_label("guest")
    store.commit()
    store.wipe()
    c = store.counts()
    assert (c["events"], c["sessions"], c["drops"]) == (0, 0, 0)
    assert store.wipe_generation() == 1
    assert store.apps(sid) == []
    assert store.current_label() == "guest"  # a setting, not data
    assert store.integrity_check() == "ok"


def test_retention_deletes_old_chunks_and_finished_sessions(store: Store) -> None:
    old = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    store.append(old, _moves(100))
    store.end_session(old, WALL0 + 10**9)
    new = store.begin_session("a", "t", wall_ns=WALL0 + 20 * NS_PER_DAY, mono_ns=MONO0)
    store.append(new, _moves(50))
    store.commit()
    now = WALL0 + 25 * NS_PER_DAY
    assert store.apply_retention(0, now) == 0  # 0 keeps forever
    assert store.apply_retention(30, now) == 0
    assert store.apply_retention(10, now) == 100
    assert [s.id for s in store.sessions()] == [new]
    assert store.counts()["events"] == 50


def test_retention_keeps_the_running_session_row(store: Store) -> None:
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    store.append(sid, _moves(10))
    store.commit()
    assert store.apply_retention(1, WALL0 + 5 * NS_PER_DAY, keep_session=sid) == 10
    assert [s.id for s in store.sessions()] == [sid]


def test_retention_deletes_the_old_app_switches_of_a_session_that_goes_on(store: Store) -> None:
    """An agent runs for weeks in one session: its chunks older than keep_days went, but every
    app switch it recorded stayed (one row each, for ever), named apps used long ago. Only the
    last span before the cutoff stays: the events after it still fall in it."""
    hour = 3600 * 10**9
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    for h in range(5 * 24):  # five days of a switch an hour
        store.record_app(sid, MONO0 + h * hour, f"app{h % 3}")
    store.append(sid, _moves(10))
    store.commit()
    cutoff_h = 3 * 24
    store.apply_retention(2, WALL0 + 5 * 24 * hour, keep_session=sid)
    assert [t for t, _ in store.apps(sid)] == [MONO0 + h * hour
                                               for h in range(cutoff_h - 1, 5 * 24)]
    assert store.integrity_check() == "ok"


def test_disk_full_is_a_store_error_naming_the_path(store: Store) -> None:
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    store.commit()
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count={pages + 2}")
    rng = np.random.default_rng(0)
    ev = _moves(50_000)
    ev["x"] = rng.integers(-(2**31), 2**31 - 1, len(ev))  # incompressible
    with pytest.raises(StoreError, match="disk full") as info:
        store.append(sid, ev)
        store.commit()
    assert str(store.path) in str(info.value)
    store.rollback()
    assert store.counts()["events"] == 0  # nothing half-written


def _n_chunks(store: Store) -> int:
    return int(sqlite3.connect(store.path).execute("SELECT count(*) FROM chunks").fetchone()[0])


def test_compact_merges_flush_sized_chunks_without_changing_events(store: Store) -> None:
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    ev = _moves(3000)
    for part in np.array_split(ev, 300):  # a commit per flush interval, as live capture does
        store.append(sid, part)
        store.commit()
    before = store.size_bytes()
    assert _n_chunks(store) == 300
    assert store.compact(sid) == 300
    assert _n_chunks(store) == 1
    assert store.events(sid).tobytes() == ev.tobytes()
    assert store.compact(sid) == 0  # nothing small left to merge
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert store.size_bytes() < before
    assert store.sessions()[0].counts["move"] == 3000


def test_chunks_never_span_more_than_an_hour(store: Store) -> None:
    """Retention deletes whole chunks, so a chunk's span is its granularity."""
    sid = store.begin_session("a", "t", wall_ns=WALL0, mono_ns=MONO0)
    store.append(sid, _moves(600, step_ms=30_000))  # 5 hours of sparse input at once
    store.commit()
    spans = sqlite3.connect(store.path).execute("SELECT t1_ns - t0_ns FROM chunks").fetchall()
    assert len(spans) == 5 and max(s for (s,) in spans) < 3600 * 10**9
    ev = store.events(sid)
    now = WALL0 + NS_PER_DAY + 2 * 3600 * 10**9 + 1
    assert store.apply_retention(1, now) == 240
    # what went: the two chunks of the first two hours, wholly; what stayed: the rest
    assert store.counts()["events"] == 360
    assert store.events(sid).tobytes() == ev[240:].tobytes()
    kept = sqlite3.connect(store.path).execute("SELECT wall_t0_ns, wall_t1_ns FROM chunks")
    cutoff = now - NS_PER_DAY
    kept_rows = kept.fetchall()
    # a kept chunk still holds an event at or after the cutoff (whole chunks go)
    assert len(kept_rows) == 3 and all(t1 >= cutoff for _, t1 in kept_rows)
    assert min(t0 for t0, _ in kept_rows) == WALL0 + 2 * 3600 * 10**9
