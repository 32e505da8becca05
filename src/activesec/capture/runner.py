"""The capture runner: one backend -> the batch writer -> the store, for one capture run.

It begins a session (label, backend, screen geometry, devices), hands the backend a sink that
never blocks (the writer's bounded queue), samples the foreground application's process name
through an injected probe, applies retention at start and hourly (while running, "now" is the
session's own timeline — its start plus the monotonic time since — whenever the wall clock is
ahead of it: a wall clock stepped a year ahead, by mistake or to cheat a game's timer, must not
delete every recording, this session's included; a clock stepped back only delays pruning;
at start, when nothing yet says whether the wall clock is right — a machine booted with its
date a year ahead, set right by NTP a minute later —, "now" is at most an hour past the newest
recording, so only what is ``keep_days`` older than it goes, and the rest an hour into the
run),
merges the small per-flush chunks every few minutes (:meth:`Store.compact`), and reports live
statistics.
:meth:`CaptureRunner.run` always ends the same way, whatever stopped it (duration, stop event,
:meth:`CaptureRunner.stop`, a backend failure or an exception): the backend is stopped, the
writer flushes everything it holds, and the session is closed.

Time comes from the injected clock, so tests run a whole capture with a fake clock.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activesec.capture.base import BackendInfo, CaptureBackend
from activesec.core.clock import Clock
from activesec.core.config import Settings
from activesec.core.errors import ActiveSecError, CaptureError, StoreError
from activesec.core.events import KEY_KINDS, POINTER_KINDS
from activesec.store.db import NS_PER_DAY, Store
from activesec.store.writer import BatchWriter, WriterStats

__all__ = ["AppProbe", "CaptureRunner", "LiveStats"]

log = logging.getLogger(__name__)

AppProbe = Callable[[], "str | None"]
RETENTION_EVERY_S = 3600.0
#: how far the wall clock may run ahead of the session's timeline before retention ignores it
#: (NTP slews and small steps are not worth a log line)
RETENTION_SLACK_NS = 3600 * 10**9
DEVICES_EVERY_S = 1.0  # how often the backend's device list is compared with the recorded one
STORE_CHECK_S = 2.0  # is the store file still there (not deleted with the data folder)?
COMPACT_EVERY_S = 300.0  # merge the small per-flush chunks (bytes on disk per event)
TICK_S = 0.25


@dataclass(frozen=True)
class LiveStats:
    """What a running capture reports (``on_tick``) and what :meth:`CaptureRunner.run` returns."""

    session_id: int | None
    label: str
    backend: str
    elapsed_s: float
    events_per_s: float  # input rate over the last tick (stored, dropped or discarded alike)
    received: int  # every event the backend delivered
    stored: int
    queued: int
    dropped: int
    paused_discarded: int
    paused: bool
    app: str | None
    error: str | None  # the last backend or store error, one line
    write_errors: int = 0  # failed commits and store tasks so far (a full disk)

    @classmethod
    def _from(
        cls, runner: CaptureRunner, w: WriterStats, elapsed_s: float, rate: float
    ) -> LiveStats:
        received = w.accepted + w.dropped + w.paused_discarded
        err = runner.error or w.error
        return cls(
            session_id=w.session_id, label=runner.label, backend=runner.backend.name,
            elapsed_s=elapsed_s, events_per_s=rate, received=received, stored=w.stored,
            queued=w.queued, dropped=w.dropped, paused_discarded=w.paused_discarded,
            paused=w.paused, app=runner.app, error=None if err is None else str(err),
            write_errors=w.write_errors,
        )


class CaptureRunner:
    """Run ``backend`` into the store at ``store_path`` (see module docstring).

    ``label`` overrides the store's current label (``activesec label``), which overrides
    ``owner`` (the profile's user). ``app_probe`` returns the foreground process name (or None).
    """

    def __init__(
        self,
        backend: CaptureBackend,
        store_path: str | Path,
        settings: Settings,
        clock: Clock,
        *,
        app_probe: AppProbe | None = None,
        label: str | None = None,
        owner: str | None = None,
    ) -> None:
        self.backend = backend
        self.store_path = Path(store_path)
        self.settings = settings
        self.clock = clock
        self.app_probe = app_probe
        self._label_override = label
        self._owner = owner or settings.user or "owner"
        self.label = label or self._owner
        self.app: str | None = None
        self.error: ActiveSecError | None = None
        self._stop = threading.Event()
        self._writer: BatchWriter | None = None
        self._t0 = 0
        self._kinds = self._kept_kinds(settings)

    @staticmethod
    def _kept_kinds(settings: Settings) -> np.ndarray | None:
        pointer, keys = settings.capture.pointer, settings.capture.keyboard
        if pointer and keys:
            return None
        kinds = (POINTER_KINDS if pointer else ()) + (KEY_KINDS if keys else ())
        return np.array([int(k) for k in kinds], dtype=np.uint8)

    @property
    def stats(self) -> LiveStats | None:
        """A snapshot of the running capture (any thread); ``None`` when not running."""
        writer, t0 = self._writer, self._t0
        if writer is None:
            return None
        return LiveStats._from(self, writer.stats, (self.clock.monotonic_ns() - t0) / 1e9, 0.0)

    def stop(self) -> None:
        """Ask :meth:`run` to finish (from any thread or a signal handler)."""
        self._stop.set()

    def _sink(self, batch: np.ndarray) -> None:
        writer = self._writer
        if writer is None:
            return
        if self._kinds is not None:
            batch = batch[np.isin(batch["kind"], self._kinds)]
        writer.put(batch)

    def _begin(self, store: Store, info: BackendInfo) -> int:
        return store.begin_session(
            self.label, self.backend.name, screen=info.screen, devices=info.devices,
            wall_ns=self.clock.wall_ns(), mono_ns=self.clock.monotonic_ns(),
        )

    def _begin_after_wipe(self, store: Store) -> int:
        """The wiped session's successor, carrying on with the app in the foreground."""
        sid = self._begin(store, self.backend.info())
        if self.app:
            store.record_app(sid, self.clock.monotonic_ns(), self.app)
        return sid

    def run(
        self,
        duration_s: float | None = None,
        stop_event: threading.Event | None = None,
        on_tick: Callable[[LiveStats], None] | None = None,
        tick_s: float = TICK_S,
        wake: threading.Event | None = None,
        next_wait_s: Callable[[], float] | None = None,
        on_started: Callable[[], None] | None = None,
    ) -> LiveStats:
        """Capture until ``duration_s`` passes, ``stop_event`` is set or :meth:`stop` is
        called; returns the final statistics (a backend failure is in ``error``).

        ``on_tick`` runs every ``tick_s`` on this thread (the agent drains its scoring queue
        there, so its tick bounds the delay from an action's last event to its score), and at
        once whenever ``wake`` is set (the agent sets it when input that can complete an action
        arrives; the loop clears it) or ``next_wait_s()`` seconds after the last call when that
        is sooner (the agent: when silence completes an action). ``on_started`` runs once the
        store is open and the backend started (the CLI says "running" then, not before a
        store or display error)."""
        cfg, clock = self.settings.capture, self.clock
        store = Store.open(self.store_path, create=True)
        writer: BatchWriter | None = None
        session_id: int | None = None
        t0 = self._t0 = clock.monotonic_ns()
        try:
            keep_days = self.settings.store.keep_days
            _retention_at_start(store, keep_days=keep_days, now_wall_ns=clock.wall_ns())
            self.label = self._label_override or store.current_label() or self._owner
            session_id = self._begin(store, self.backend.info())
            writer = self._writer = BatchWriter(
                store, session_id, clock=clock,
                queue_max_events=cfg.queue_max_events, flush_events=cfg.flush_events,
                flush_interval_s=cfg.flush_interval_s,
                on_wipe=self._begin_after_wipe,
            )
            writer.start()
            self.backend.start(self._sink)
            writer.submit(self._record_devices)  # some backends know them once started
            if on_started is not None:
                on_started()
            self._loop(writer, t0, duration_s, stop_event, on_tick, keep_days, tick_s, wake,
                       next_wait_s, store)
        finally:
            self._finish(store, writer, session_id)
        assert writer is not None
        return LiveStats._from(self, writer.stats, (clock.monotonic_ns() - t0) / 1e9, 0.0)

    def _loop(
        self,
        writer: BatchWriter,
        t0: int,
        duration_s: float | None,
        stop_event: threading.Event | None,
        on_tick: Callable[[LiveStats], None] | None,
        keep_days: int,
        tick_s: float,
        wake: threading.Event | None = None,
        next_wait_s: Callable[[], float] | None = None,
        store: Store | None = None,
    ) -> None:
        clock = self.clock
        next_store_check = t0 + int(STORE_CHECK_S * 1e9)
        app_every = int(self.settings.capture.app_poll_s * 1e9)
        next_app, next_retention = t0, t0 + int(RETENTION_EVERY_S * 1e9)
        next_compact = t0 + int(COMPACT_EVERY_S * 1e9)
        next_devices, devices = t0, self.backend.info().devices
        last_t, last_received = t0, 0
        stats: LiveStats | None = None
        while True:
            now = clock.monotonic_ns()
            if self._stop.is_set() or (stop_event is not None and stop_event.is_set()):
                break
            if duration_s is not None and now - t0 >= duration_s * 1e9:
                break
            if self.backend.error is not None:
                exc = self.backend.error
                self.error = exc if isinstance(exc, ActiveSecError) else CaptureError(
                    f"capture backend {self.backend.name} failed: {exc}"
                )
                log.error("%s", self.error)
                break
            if store is not None and now >= next_store_check:
                next_store_check = now + int(STORE_CHECK_S * 1e9)
                if store.file_gone():  # capturing on would write into a deleted file
                    self.error = StoreError(
                        f"the event store {self.store_path} was removed (or replaced) while "
                        "capture ran: stopped, since nothing more could be kept",
                        "if you removed the data on purpose, nothing more is needed; else "
                        "`activesec init` makes a new store, then start capture again")
                    log.error("%s", self.error)
                    break
            if self.app_probe is not None and now >= next_app:
                self._sample_app(writer, now)
                next_app = now + app_every
            if now >= next_retention:
                writer.submit(functools.partial(
                    _retention, keep_days=keep_days, now_wall_ns=clock.wall_ns(),
                    keep_session=writer.session_id, now_mono_ns=now,
                ))
                next_retention = now + int(RETENTION_EVERY_S * 1e9)
            if now >= next_compact:
                writer.submit(self._compact)
                next_compact = now + int(COMPACT_EVERY_S * 1e9)
            if now >= next_devices:
                # a device plugged in (docking, a Bluetooth pen or mouse back after a resume)
                # is recorded with the session, so training knows its kind: its events used to
                # be read as an unknown device's, i.e. a mouse's, whatever it was
                next_devices = now + int(DEVICES_EVERY_S * 1e9)
                seen = self.backend.info().devices
                if seen != devices:
                    devices = seen
                    writer.submit(self._record_devices)
            if on_tick is not None:
                # statistics at capture's own pace; a wake or a faster tick reuses them
                if stats is None or now - last_t >= TICK_S * 1e9:
                    w = writer.stats
                    received = w.accepted + w.dropped + w.paused_discarded
                    dt = (now - last_t) / 1e9
                    rate = (received - last_received) / dt if dt > 0 else 0.0
                    last_t, last_received = now, received
                    stats = LiveStats._from(self, w, (now - t0) / 1e9, rate)
                on_tick(stats)
            wait_s = tick_s if next_wait_s is None else min(tick_s, max(0.0, next_wait_s()))
            if wake is None:
                clock.sleep(wait_s)
            else:
                clock.wait(wake, wait_s)
                wake.clear()  # what set it is queued; the next on_tick takes it

    def _compact(self, store: Store) -> None:
        sid = self._writer.session_id if self._writer is not None else None
        if sid is not None:
            store.compact(sid)

    def _record_devices(self, store: Store) -> None:
        sid = self._writer.session_id if self._writer is not None else None
        if sid is not None:
            store.add_devices(sid, self.backend.info().devices)

    def _sample_app(self, writer: BatchWriter, now: int) -> None:
        try:
            name = self.app_probe() if self.app_probe is not None else None
        except Exception as exc:  # a probe failure never stops capture
            log.debug("foreground app probe failed: %s", exc)
            return
        if name and name != self.app:
            self.app = name
            writer.record_app(now, name)

    def _finish(self, store: Store, writer: BatchWriter | None, session_id: int | None) -> None:
        try:
            try:
                self.backend.stop()  # delivers what the backend still buffers
            except Exception as exc:
                log.error("stopping the capture backend failed: %s", exc)
                self.error = self.error or CaptureError(f"stopping {self.backend.name}: {exc}")
            if writer is not None:
                writer.close()
                session_id = writer.session_id
            self._writer = None
            if session_id is not None:
                store.end_session(session_id, self.clock.wall_ns(), self.clock.monotonic_ns())
                store.compact(session_id)
        finally:
            store.close()


def _retention_at_start(store: Store, *, keep_days: int, now_wall_ns: int) -> None:
    """Apply retention at ``now_wall_ns`` or an hour past the newest recording, whichever is
    sooner (module docstring). The cost: after an absence longer than ``keep_days``, the old
    recordings stay until the run's first hourly retention instead of going at start."""
    newest = store.newest_wall_ns() if keep_days > 0 else None
    if newest is not None and now_wall_ns > newest + RETENTION_SLACK_NS:
        if now_wall_ns - keep_days * NS_PER_DAY > newest:
            log.info("the wall clock is %.1f days past the newest recording: retention waits "
                     "an hour (the clock may be wrong)", (now_wall_ns - newest) / NS_PER_DAY)
        now_wall_ns = newest + RETENTION_SLACK_NS
    n = store.apply_retention(keep_days, now_wall_ns)
    if n:
        log.info("retention: %d events older than %d days deleted", n, keep_days)


def _retention(store: Store, *, keep_days: int, now_wall_ns: int, keep_session: int | None,
               now_mono_ns: int | None = None) -> None:
    """Apply retention at ``now_wall_ns``, or at the running session's own "now" when the wall
    clock is ahead of it (module docstring)."""
    if keep_session is not None and now_mono_ns is not None:
        try:
            s = store.session(keep_session)
        except ActiveSecError:  # wiped meanwhile: its successor starts on the wall clock
            s = None
        timeline = now_wall_ns if s is None else s.started_wall_ns + (now_mono_ns
                                                                      - s.started_mono_ns)
        if now_wall_ns > timeline + RETENTION_SLACK_NS:
            log.warning("the wall clock is %.0f s ahead of this session's own time: retention "
                        "goes by the session's time", (now_wall_ns - timeline) / 1e9)
            now_wall_ns = timeline
    n = store.apply_retention(keep_days, now_wall_ns, keep_session=keep_session)
    if n:
        log.info("retention: %d events older than %d days deleted", n, keep_days)
