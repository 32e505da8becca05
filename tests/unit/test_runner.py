"""The capture runner end to end with a fake clock, a scripted backend and a real store."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from activesec.capture import runner as runner_mod
from activesec.capture.base import BackendInfo, CaptureBackend, Device, Probe, Sink
from activesec.capture.runner import CaptureRunner, LiveStats
from activesec.core.clock import FakeClock, SystemClock
from activesec.core.config import Settings
from activesec.core.events import DeviceType, Kind, make
from activesec.store.db import NS_PER_DAY, Store


class ScriptedBackend(CaptureBackend):
    """Delivers what the test tells it to; keeps one batch buffered until stop(), as real
    backends do."""

    name = "scripted"

    def __init__(self) -> None:
        super().__init__()
        self.sink: Sink | None = None
        self.buffered = make([1], Kind.MOVE)
        self.stopped = False

    @classmethod
    def probe(cls) -> Probe:
        return Probe(cls.name, True)

    def start(self, sink: Sink) -> None:
        self.sink = sink

    def stop(self) -> None:
        if self.sink is not None and not self.stopped:
            self.sink(self.buffered)
        self.stopped = True

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, screen=(1280, 800),
                           devices=[Device(0, "Test USB Mouse", DeviceType.MOUSE)])

    def emit(self, batch: np.ndarray) -> None:
        assert self.sink is not None
        self.sink(batch)


@pytest.fixture
def db(home: Path) -> Path:
    return home / "activesec.db"


def _settings(**capture: object) -> Settings:
    return Settings.model_validate({"user": "alice",
                                    "capture": {"flush_interval_s": 0.5, **capture}})


def _emitting(be: ScriptedBackend, clock: FakeClock, per_tick: int = 10):
    def on_tick(stats: LiveStats) -> None:
        t = clock.monotonic_ns() + np.arange(per_tick) * 1_000_000
        be.emit(make(t, Kind.MOVE, x=np.arange(per_tick), y=2))
    return on_tick


def test_capture_stores_a_complete_session(db: Path) -> None:
    clock, be = FakeClock(), ScriptedBackend()
    r = CaptureRunner(be, db, _settings(), clock)
    emit = _emitting(be, clock)
    seen: list[LiveStats | None] = []

    rates: list[float] = []

    def on_tick(st: LiveStats) -> None:
        emit(st)
        rates.append(st.events_per_s)
        seen.append(r.stats)  # what another thread (a dashboard) would read

    stats = r.run(duration_s=2.0, on_tick=on_tick)
    assert seen[-1] is not None and seen[-1].session_id == stats.session_id
    assert seen[-1].received == 80 and stats.events_per_s == 0.0
    assert rates == [0.0] + [40.0] * 7  # 10 events per 0.25 s tick
    assert be.stopped
    assert stats.stored == stats.received == 8 * 10 + 1  # 8 ticks of 0.25 s + the buffered one
    assert (stats.dropped, stats.error) == (0, None)
    assert (stats.label, stats.backend) == ("alice", "scripted")
    with Store.open(db) as s:
        (info,) = s.sessions()
        assert (info.label, info.backend, info.screen) == ("alice", "scripted", (1280, 800))
        assert info.ended_wall_ns == clock.wall_ns()
        assert info.n_events == 81
        assert [d.name for d in s.devices(info.id)] == ["Test USB Mouse"]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 1  # compacted at the end
    conn.close()


def test_label_precedence(db: Path) -> None:
    with Store.open(db, create=True) as s:
        s.set_current_label("guest1")
    clock = FakeClock()
    CaptureRunner(ScriptedBackend(), db, _settings(), clock).run(duration_s=0.5)
    CaptureRunner(ScriptedBackend(), db, _settings(), clock, label="bob").run(duration_s=0.5)
    with Store.open(db) as s:
        s.set_current_label(None)
    CaptureRunner(ScriptedBackend(), db, _settings(), clock, owner="carol").run(duration_s=0.5)
    with Store.open(db) as s:
        assert [x.label for x in s.sessions()] == ["guest1", "bob", "carol"]


def test_foreground_app_changes_are_recorded_and_probe_failures_ignored(db: Path) -> None:
    names = iter(["term", "term", None, "firefox", RuntimeError("no display"), "firefox", "term"])

    def probe() -> str | None:
        v = next(names, "term")
        if isinstance(v, Exception):
            raise v
        return v

    clock = FakeClock()
    CaptureRunner(ScriptedBackend(), db, _settings(app_poll_s=0.25), clock,
                  app_probe=probe).run(duration_s=1.75)
    with Store.open(db) as s:
        (info,) = s.sessions()
        assert [a for _, a in s.apps(info.id)] == ["term", "firefox", "term"]


def test_backend_failure_ends_the_run_cleanly(db: Path) -> None:
    clock, be = FakeClock(), ScriptedBackend()

    def on_tick(stats: LiveStats) -> None:
        be.emit(make([clock.monotonic_ns()], Kind.MOVE))
        if stats.elapsed_s >= 0.5:
            be.error = OSError("X connection lost")

    stats = CaptureRunner(be, db, _settings(), clock).run(on_tick=on_tick)
    assert stats.error is not None and "X connection lost" in stats.error
    with Store.open(db) as s:
        (info,) = s.sessions()
        assert info.ended_wall_ns is not None and info.n_events == stats.stored == 4


def test_stop_and_stop_event(db: Path) -> None:
    clock = FakeClock()
    r = CaptureRunner(ScriptedBackend(), db, _settings(), clock)
    assert r.stats is None  # not running
    r.run(on_tick=lambda st: r.stop() if st.elapsed_s >= 1.0 else None)
    assert clock.monotonic_ns() - FakeClock().monotonic_ns() == pytest.approx(1.25e9)
    ev = threading.Event()
    ev.set()
    stats = CaptureRunner(ScriptedBackend(), db, _settings(), clock).run(stop_event=ev)
    assert stats.elapsed_s == 0.0


@pytest.mark.parametrize("tick_s", [0.25, 0.05])
def test_on_tick_runs_every_tick_s(db: Path, tick_s: float) -> None:
    """The agent drains its scoring queue on this tick, so the period must be what it asks."""
    clock = FakeClock()
    seen: list[float] = []
    stats: list[float] = []

    def on_tick(st: LiveStats) -> None:
        seen.append(clock.monotonic_ns() / 1e9)
        stats.append(st.elapsed_s)

    CaptureRunner(ScriptedBackend(), db, _settings(), clock).run(
        duration_s=1.0, on_tick=on_tick, tick_s=tick_s)
    assert np.diff(seen) == pytest.approx(np.full(len(seen) - 1, tick_s))
    assert len(seen) == round(1.0 / tick_s)
    # statistics are refreshed at capture's own 0.25 s pace, however fast the tick
    assert np.unique(stats) == pytest.approx(np.arange(0.0, 1.0, 0.25))


def test_wake_runs_on_tick_at_once_instead_of_after_tick_s(db: Path) -> None:
    """With a real clock and a 30 s tick, three wakes give three more ticks and a stop ends
    the run at once: without the wake this run would last two minutes and tick once."""
    be = ScriptedBackend()
    r = CaptureRunner(be, db, _settings(), SystemClock())
    wake, stop = threading.Event(), threading.Event()
    ticked = threading.Semaphore(0)
    ticks: list[int] = []

    def on_tick(_st: LiveStats) -> None:
        ticks.append(1)
        ticked.release()

    def poke() -> None:
        for _ in range(3):
            if ticked.acquire(timeout=20):
                wake.set()
        ticked.acquire(timeout=20)
        stop.set()
        wake.set()

    th = threading.Thread(target=poke)
    th.start()
    r.run(stop_event=stop, on_tick=on_tick, tick_s=30.0, wake=wake)
    th.join()
    assert len(ticks) == 4 and not wake.is_set()


def test_an_exception_still_flushes_and_ends_the_session(db: Path) -> None:
    clock, be = FakeClock(), ScriptedBackend()

    def on_tick(stats: LiveStats) -> None:
        be.emit(make(np.arange(5) + clock.monotonic_ns(), Kind.MOVE))
        if stats.elapsed_s >= 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        CaptureRunner(be, db, _settings(), clock).run(on_tick=on_tick)
    with Store.open(db) as s:
        (info,) = s.sessions()
        assert info.ended_wall_ns is not None and info.n_events == 3 * 5 + 1


def test_disabled_keyboard_keeps_key_events_out(db: Path) -> None:
    clock, be = FakeClock(), ScriptedBackend()

    def on_tick(stats: LiveStats) -> None:
        t = clock.monotonic_ns()
        be.emit(make([t, t + 1, t + 2], [Kind.MOVE, Kind.KEY_DOWN, Kind.KEY_UP]))

    CaptureRunner(be, db, _settings(keyboard=False), clock).run(duration_s=1.0, on_tick=on_tick)
    with Store.open(db) as s:
        c = s.counts()
        assert (c["keys"], c["move"]) == (0, 4 + 1)


def test_retention_at_start_and_periodically(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    with Store.open(db, create=True) as s:
        for age_days in (100, 5):
            sid = s.begin_session("alice", "old", wall_ns=clock.wall_ns() - age_days * NS_PER_DAY,
                                  mono_ns=0)
            s.append(sid, make([1, 2, 3], Kind.MOVE))
            s.end_session(sid, clock.wall_ns() - age_days * NS_PER_DAY + 10**9)
    monkeypatch.setattr(runner_mod, "RETENTION_EVERY_S", 1.0)
    settings = Settings.model_validate({"user": "alice", "store": {"keep_days": 30}})
    ticks: list[int] = []
    stop = threading.Event()

    def on_tick(stats: LiveStats) -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            clock.advance(40 * 86_400)  # 40 days pass during the run (a suspend, say)
        elif len(ticks) == 8:
            stop.set()

    CaptureRunner(ScriptedBackend(), db, settings, clock).run(stop_event=stop, on_tick=on_tick)
    with Store.open(db) as s:
        # the 100-day-old session went at start, the 5-day-old one hourly; ours is kept
        assert [x.backend for x in s.sessions()] == ["scripted"]


def test_a_wall_clock_stepped_ahead_does_not_delete_the_recordings(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone sets the date a year ahead (a game's timer, a typo) while the agent runs: the
    hourly retention goes by the session's own time, so the 5-day-old recording and the running
    session's events stay; once 40 days really pass (the monotonic clock counts them, suspend
    included), the old ones go as configured."""
    clock, be = FakeClock(), ScriptedBackend()
    with Store.open(db, create=True) as s:
        sid = s.begin_session("alice", "old", wall_ns=clock.wall_ns() - 5 * NS_PER_DAY, mono_ns=0)
        s.append(sid, make([1, 2, 3], Kind.MOVE))
        s.end_session(sid, clock.wall_ns() - 5 * NS_PER_DAY + 10**9)
    monkeypatch.setattr(runner_mod, "RETENTION_EVERY_S", 1.0)
    settings = Settings.model_validate({"user": "alice", "store": {"keep_days": 30},
                                        "capture": {"flush_interval_s": 0.5}})
    emit, stop, seen = _emitting(be, clock), threading.Event(), list[int]()

    def on_tick(stats: LiveStats) -> None:
        n = len(seen)
        seen.append(n)
        if n == 0:
            emit(stats)
        elif n == 2:
            clock.jump_wall(365 * 86_400)
        elif n == 12:  # retention was due (hourly = every 1 s here) twice with the clock ahead
            stop.set()

    # the writer runs each retention after the events queued before it, its last at close
    CaptureRunner(be, db, settings, clock).run(stop_event=stop, on_tick=on_tick)
    with Store.open(db) as s:
        assert [x.backend for x in s.sessions()] == ["old", "scripted"]
        assert s.counts()["move"] == 3 + 10 + 1

    clock.jump_wall(-365 * 86_400)  # set right; then 40 days pass
    clock.advance(40 * 86_400)
    seen.clear()
    stop.clear()
    be = ScriptedBackend()
    emit = _emitting(be, clock)
    CaptureRunner(be, db, settings, clock).run(stop_event=stop, on_tick=on_tick)
    with Store.open(db) as s:
        assert "old" not in [x.backend for x in s.sessions()]
        t = np.concatenate([s.events(x.id)["t_ns"] for x in s.sessions()])
    assert (t > 40 * NS_PER_DAY).sum() == 10  # the new run's moves
    assert not ((t > 1) & (t < 40 * NS_PER_DAY)).any()  # the first run's: 40 days old


def _recorded(db: Path, clock: FakeClock, *ages_days: int) -> None:
    with Store.open(db, create=True) as s:
        for age in ages_days:
            sid = s.begin_session("alice", f"{age}d", mono_ns=0,
                                  wall_ns=clock.wall_ns() - age * NS_PER_DAY)
            s.append(sid, make([1, 2, 3], Kind.MOVE))
            s.end_session(sid, clock.wall_ns() - age * NS_PER_DAY + 10**9)


def test_a_machine_started_with_its_date_a_year_ahead_keeps_its_recordings(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The date is a year ahead when the agent starts (a reset clock set by hand, a wrong
    RTC) and NTP sets it right a moment later: nothing says at start which date is right, so
    start-up retention goes no further than an hour past the newest recording and the
    recordings of the last 30 days stay."""
    clock = FakeClock()
    _recorded(db, clock, 20, 5)
    monkeypatch.setattr(runner_mod, "RETENTION_EVERY_S", 1.0)
    settings = Settings.model_validate({"user": "alice", "store": {"keep_days": 30}})
    stop, seen = threading.Event(), list[int]()

    def set_right(stats: LiveStats) -> None:
        seen.append(len(seen))
        if len(seen) == 2:
            clock.jump_wall(-365 * 86_400)  # NTP
        elif len(seen) == 10:  # hourly retention (every 1 s here) ran with the right date
            stop.set()

    clock.jump_wall(365 * 86_400)
    CaptureRunner(ScriptedBackend(), db, settings, clock).run(stop_event=stop, on_tick=set_right)
    with Store.open(db) as s:
        assert [x.backend for x in s.sessions()] == ["20d", "5d", "scripted"]
        assert s.counts()["move"] == 3 + 3 + 1  # the run stores the pointer's position


def test_after_an_absence_longer_than_keep_days_old_recordings_go_an_hour_in(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The price of the rule above: back after 45 days, the old recordings are not deleted at
    start (the date may be wrong) but by the run's first hourly retention."""
    clock = FakeClock()
    _recorded(db, clock, 60, 45)
    monkeypatch.setattr(runner_mod, "RETENTION_EVERY_S", 1.0)
    settings = Settings.model_validate({"user": "alice", "store": {"keep_days": 30}})
    stop, kept = threading.Event(), list[list[str]]()

    def away(stats: LiveStats) -> None:
        with Store.open(db) as s:
            kept.append([x.backend for x in s.sessions()])
        if len(kept) == 10:
            stop.set()

    CaptureRunner(ScriptedBackend(), db, settings, clock).run(stop_event=stop, on_tick=away)
    assert kept[0] == ["60d", "45d", "scripted"]
    assert kept[-1] == ["scripted"]
    with Store.open(db) as s:
        assert [x.backend for x in s.sessions()] == ["scripted"]
        assert s.counts()["move"] == 1


def test_wipe_during_capture_continues_in_a_new_session(db: Path) -> None:
    clock, be = FakeClock(), ScriptedBackend()
    emit = _emitting(be, clock)
    wiped: list[int | None] = []

    def on_tick(stats: LiveStats) -> None:
        emit(stats)
        if stats.elapsed_s >= 1.0 and not wiped:
            with Store.open(db) as cli:
                cli.wipe()
            wiped.append(stats.session_id)
            pause = threading.Event()
            for _ in range(500):  # let the writer's thread reach its next poll
                if r.stats_session_changed(wiped[0]):
                    break
                clock.advance(0.01)
                pause.wait(0.01)

    r = _Runner(be, db, _settings(), clock)
    stats = r.run(duration_s=3.0, on_tick=on_tick)
    with Store.open(db) as s:
        (info,) = s.sessions()
        assert info.id != wiped[0] and info.id == stats.session_id
        assert info.ended_wall_ns is not None and 0 < info.n_events < stats.received


class _Runner(CaptureRunner):
    def stats_session_changed(self, old: int | None) -> bool:
        w = self._writer
        return w is not None and w.session_id != old


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_removed_while_capturing_stops_capture_and_says_so(
        db: Path, how: str) -> None:
    """The data folder deleted (or the store swapped for another file) while capture ran: the
    runner went on writing into the unlinked file for as long as it ran — hours of input lost
    with `capturing` shown — and the agent with it. It stops within STORE_CHECK_S with why."""
    import shutil

    clock, be = FakeClock(), ScriptedBackend()
    emit = _emitting(be, clock)
    gone = [False]

    def on_tick(stats: LiveStats) -> None:
        emit(stats)
        if stats.elapsed_s >= 1.0 and not gone[0]:
            gone[0] = True
            if how == "deleted":
                shutil.rmtree(db.parent)
            else:
                db.rename(db.with_name("old.db"))
                Store.open(db, create=True).close()

    r = CaptureRunner(be, db, _settings(), clock)
    stats = r.run(duration_s=60, on_tick=on_tick)
    assert stats.elapsed_s < 5  # it had run the whole 60 s
    assert r.error is not None and r.error.message.startswith(
        f"the event store {db} was removed (or replaced) while capture ran")
    assert "`activesec init`" in r.error.hint
    assert stats.error is not None and "removed" in stats.error
