"""Replay: recorded sessions fed through the same sink path as live capture.

For tests, demos, ``activesec import`` and evaluation. ``speed=0`` delivers as fast as
possible in chunks of at most ``max_batch`` events; ``speed=s > 0`` paces batches of
``batch_ms`` of recording time so that they arrive at ``s`` times the original pace, sleeping
on the injected clock (a :class:`~activesec.core.clock.FakeClock` makes tests instant).

Timestamps: with ``rebase=True`` (the default) each recording is shifted onto the clock's
monotonic timeline — it starts at the clock's time when its replay starts (speed 0: also never
before the previous recording's last event), intervals unchanged — so a consumer sees one
increasing timeline as from a live backend. ``rebase=False`` keeps the recorded times.

After the last batch (or on ``stop()``, or a sink failure kept in ``error``) ``finished`` is
set. ``on_recording`` (optional) is called on the replay thread before each recording's first
batch, e.g. to open a new labelled session in the store.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable

import numpy as np

from activesec.capture.base import BackendInfo, CaptureBackend, Probe, Sink
from activesec.core.clock import Clock, SystemClock
from activesec.core.errors import CaptureError
from activesec.recordings.base import Recording, sort_events

_SLEEP_SLICE_S = 0.05  # paced sleeps are cut into slices so stop() is honoured promptly


class ReplayBackend(CaptureBackend):
    name = "replay"

    def __init__(
        self,
        recordings: Iterable[Recording],
        speed: float = 0.0,
        batch_ms: float = 5.0,
        clock: Clock | None = None,
        *,
        max_batch: int = 4096,
        rebase: bool = True,
        on_recording: Callable[[Recording], None] | None = None,
    ) -> None:
        super().__init__()
        if not speed >= 0 or speed == float("inf"):
            raise CaptureError(
                f"replay speed must be >= 0, got {speed}",
                "use 0 for as fast as possible, 1 for original timing",
            )
        if not batch_ms > 0 or max_batch < 1:
            raise CaptureError(
                "replay batch_ms must be > 0 and max_batch >= 1",
                "use the defaults (5 ms, 4096 events)",
            )
        self._recordings = recordings
        self.speed = float(speed)
        self.batch_ns = int(batch_ms * 1e6)
        self.max_batch = int(max_batch)
        self.rebase = rebase
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.on_recording = on_recording
        self.finished = threading.Event()
        self.events_sent = 0
        self.recordings_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: Recording | None = None

    @classmethod
    def probe(cls) -> Probe:
        return Probe(name=cls.name, available=True, reason="replays recorded files")

    def start(self, sink: Sink) -> None:
        if self._thread is not None:
            raise CaptureError("replay already started", "create a new ReplayBackend")
        self._thread = threading.Thread(
            target=self._run, args=(sink,), name="activesec-replay", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop feeding (idempotent); returns once the replay thread has ended."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the replay has finished; True if it did within ``timeout``."""
        return self.finished.wait(timeout)

    def info(self) -> BackendInfo:
        """Screen geometry from the current recording's ``meta['screen']`` (before start:
        the first recording's), else None."""
        screen = None
        rec = self._current if self._thread is not None else self._peek()
        if rec is not None:
            s = rec.meta.get("screen")
            if isinstance(s, (tuple, list)) and len(s) == 2:
                screen = (int(s[0]), int(s[1]))
        return BackendInfo(name=self.name, screen=screen)

    def _peek(self) -> Recording | None:
        if self._current is None:
            it = iter(self._recordings)
            first = next(it, None)
            if first is not None:
                self._recordings = itertools.chain([first], it)
                self._current = first
        return self._current

    # ------------------------------------------------------------------ replay thread

    def _run(self, sink: Sink) -> None:
        try:
            last_t: int | None = None
            for rec in self._recordings:
                if self._stop.is_set():
                    break
                self._current = rec
                if self.on_recording is not None:
                    self.on_recording(rec)
                events = sort_events(rec.events)
                if len(events) == 0:
                    self.recordings_sent += 1
                    continue
                if self.rebase:
                    start = self.clock.monotonic_ns()
                    if last_t is not None and self.speed == 0:
                        start = max(start, last_t + 1)
                    events = events.copy()
                    events["t_ns"] += start - int(events["t_ns"][0])
                self._replay(events, sink)
                last_t = int(events["t_ns"][-1])
                self.recordings_sent += 1
        except BaseException as e:  # kept for the runner to report, as live backends do
            self.error = e
        finally:
            self.finished.set()

    def _bounds(self, t: np.ndarray) -> np.ndarray:
        """Start indices of the batches of one recording (plus its length at the end)."""
        n = len(t)
        if self.speed == 0:
            return np.append(np.arange(0, n, self.max_batch), n)
        window = (t - t[0]) // self.batch_ns
        starts = np.flatnonzero(np.diff(window)) + 1
        return np.concatenate(([0], starts, [n]))

    def _replay(self, events: np.ndarray, sink: Sink) -> None:
        t = events["t_ns"]
        bounds = self._bounds(t)
        wall0 = self.clock.monotonic_ns()
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            if self._stop.is_set():
                return
            if self.speed > 0:
                # a batch is due when its window has closed, as a live backend delivers it
                due = wall0 + int(
                    ((int(t[a]) - int(t[0])) // self.batch_ns + 1) * self.batch_ns / self.speed
                )
                self._sleep_until(due)
                if self._stop.is_set():
                    return
            sink(events[a:b])
            self.events_sent += b - a

    def _sleep_until(self, due_ns: int) -> None:
        while not self._stop.is_set():
            remaining = (due_ns - self.clock.monotonic_ns()) / 1e9
            if remaining <= 0:
                return
            self.clock.sleep(min(remaining, _SLEEP_SLICE_S))
