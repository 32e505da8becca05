"""Replay backend: delivery, pacing on an injected clock, stop, errors, and the real runner."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from activesec.capture.replay import ReplayBackend
from activesec.capture.runner import CaptureRunner
from activesec.core.clock import FakeClock, SystemClock
from activesec.core.config import Settings
from activesec.core.errors import CaptureError
from activesec.core.events import Kind, make
from activesec.recordings.base import Recording
from activesec.store.db import Store


def rec(
    n: int,
    step_ms: float = 1.0,
    t0: int = 5_000_000_000,
    session: str = "s",
    screen: tuple[int, int] | None = None,
) -> Recording:
    t = t0 + np.rint(np.arange(n) * step_ms * 1e6).astype(np.int64)
    meta = {} if screen is None else {"screen": screen}
    return Recording("u", session, make(t, Kind.MOVE, x=np.arange(n), y=1), "test", meta)


class Collect:
    """A sink that notes each batch and the clock time it arrived."""

    def __init__(self, clock: FakeClock | SystemClock) -> None:
        self.clock = clock
        self.batches: list[np.ndarray] = []
        self.at: list[int] = []

    def __call__(self, batch: np.ndarray) -> None:
        self.batches.append(batch.copy())
        self.at.append(self.clock.monotonic_ns())

    @property
    def events(self) -> np.ndarray:
        return np.concatenate(self.batches)


def run(backend: ReplayBackend, sink: Collect) -> None:
    backend.start(sink)
    assert backend.wait(30), "replay did not finish"
    backend.stop()
    assert backend.error is None


def test_fast_replay_delivers_everything_in_order_on_one_timeline() -> None:
    clock = FakeClock()
    recs = [rec(10_000, t0=9_000_000_000_000), rec(0, session="empty"), rec(5, session="b")]
    seen: list[str] = []
    be = ReplayBackend(
        recs, clock=clock, max_batch=4096, on_recording=lambda r: seen.append(r.session)
    )
    sink = Collect(clock)
    run(be, sink)
    assert seen == ["s", "empty", "b"]
    assert [len(b) for b in sink.batches] == [4096, 4096, 1808, 5]
    ev = sink.events
    assert len(ev) == be.events_sent == 10_005 and be.recordings_sent == 3
    assert ev["x"].tolist() == list(range(10_000)) + list(range(5))
    assert ev["t_ns"][0] == clock.monotonic_ns()  # rebased onto the clock
    assert np.all(np.diff(ev["t_ns"]) > 0)  # the next recording starts after the last event
    assert np.all(np.diff(ev["t_ns"][:10_000]) == 1_000_000)  # intervals untouched
    assert recs[0].events["t_ns"][0] == 9_000_000_000_000  # the recording itself is not changed


def test_original_times_kept_without_rebase() -> None:
    clock = FakeClock()
    r = rec(100)
    sink = Collect(clock)
    run(ReplayBackend([r], clock=clock, rebase=False), sink)
    assert sink.events.tolist() == r.events.tolist()


@pytest.mark.parametrize("speed", [1.0, 4.0])
def test_paced_replay_follows_the_recording(speed: float) -> None:
    clock = FakeClock()
    start = clock.monotonic_ns()
    r = rec(400, step_ms=2.5)  # ~1 s of pointer data
    sink = Collect(clock)
    run(ReplayBackend([r], speed=speed, batch_ms=5.0, clock=clock), sink)
    duration = int(r.events["t_ns"][-1] - r.events["t_ns"][0])
    assert clock.monotonic_ns() - start == pytest.approx(duration / speed, abs=5e6 / speed)
    assert all(len(b) == 2 for b in sink.batches)  # 5 ms windows of 2.5 ms events
    ev0 = int(sink.events["t_ns"][0])
    for batch, at in zip(sink.batches, sink.at, strict=True):
        # never before its window closed (as a live backend), and not late
        due = start + (int(batch["t_ns"][-1]) - ev0) / speed
        assert due <= at <= due + 5e6 / speed + 1


def test_stop_interrupts_a_paced_replay() -> None:
    clock = SystemClock()
    # events 100 s apart: the replay ends within the test only if stop() cuts a pacing sleep
    be = ReplayBackend([rec(3, step_ms=100_000.0)], speed=1.0, clock=clock)
    sink = Collect(clock)
    first = threading.Event()

    def collect(batch: np.ndarray) -> None:
        sink(batch)
        first.set()

    be.start(collect)
    assert first.wait(30), "the first batch is due at once"
    stopper = threading.Thread(target=be.stop, daemon=True)  # stop() joins: bound a hang
    stopper.start()
    # the 200 s replay ends on stop(); 30 s only bounds a hang, it times nothing
    assert be.finished.wait(30), "stop() did not interrupt the paced replay"
    stopper.join(30)
    assert not stopper.is_alive() and be.error is None
    assert be.events_sent == 1  # it stopped early, not by running out of events
    assert be.events_sent == len(sink.events)
    be.stop()  # idempotent


def test_sink_failure_is_kept_and_finishes() -> None:
    def sink(batch: np.ndarray) -> None:
        raise RuntimeError("disk full")

    be = ReplayBackend([rec(10)], clock=FakeClock())
    be.start(sink)
    assert be.wait(10)
    assert isinstance(be.error, RuntimeError)
    with pytest.raises(CaptureError, match="already started"):
        be.start(sink)


def test_info_and_probe() -> None:
    recs = iter([rec(3, screen=(1920, 1080)), rec(3, session="b")])
    be = ReplayBackend(recs, clock=FakeClock())
    assert be.info().screen == (1920, 1080)  # before start: peeks, consumes nothing
    assert ReplayBackend([rec(3)]).info().screen is None
    assert ReplayBackend.probe().available
    sink = Collect(FakeClock())
    run(be, sink)
    assert len(sink.events) == 6 and be.info().name == "replay"


@pytest.mark.parametrize(
    "kw", [{"speed": -1}, {"speed": float("nan")}, {"batch_ms": 0}, {"max_batch": 0}]
)
def test_bad_arguments(kw: dict) -> None:
    with pytest.raises(CaptureError):
        ReplayBackend([], **kw)


def test_through_the_real_runner_into_the_store(home: Path) -> None:
    """The same path as live capture: runner -> bounded writer -> SQLite."""
    clock = FakeClock()
    r = rec(20_000, step_ms=1.0, screen=(1280, 1024))
    keys = make(
        r.events["t_ns"][:10] + 500_000,
        [Kind.KEY_DOWN, Kind.KEY_UP] * 5,
        x=np.repeat(np.arange(5), 2),
        code=1,
    )
    both = Recording(
        "u",
        "s",
        np.sort(np.concatenate([r.events, keys]), order="t_ns"),
        "t",
        {"screen": (1280, 1024)},
    )
    be = ReplayBackend([both], clock=clock)
    runner = CaptureRunner(be, home / "a.db", Settings.model_validate({"user": "alice"}), clock)
    stats = runner.run(stop_event=be.finished)
    assert stats.error is None and stats.dropped == 0
    with Store.open(home / "a.db") as s:
        (info,) = s.sessions()
        assert (info.backend, info.screen) == ("replay", (1280, 1024))
        stored = s.events(info.id)
    assert len(stored) == 20_010
    assert stored["x"][stored["kind"] == Kind.MOVE].tolist() == list(range(20_000))
    assert np.array_equal(np.diff(stored["t_ns"]), np.diff(both.events["t_ns"]))
