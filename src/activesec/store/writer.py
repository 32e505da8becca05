"""The batch writer: a bounded queue in front of one thread that commits events to the store.

The capture side calls :meth:`BatchWriter.put` from the OS hook's thread. It never blocks and
never grows memory without bound: the queue is counted in *events*, and what does not fit is
dropped and counted (a flood costs data, never the desktop's responsiveness). The writer thread
commits when ``flush_events`` events wait or every ``flush_interval_s`` — so a crash loses at
most one flush interval — and polls the store's control flags every ``poll_s`` so that
``activesec pause`` and ``wipe`` from another process take effect within one poll:

* paused: queued and incoming events are discarded and counted as ``paused_discarded`` (not as
  drops), until resumed;
* a new wipe generation: the queued events (captured before the wipe) are discarded, writing
  into the deleted session stops, and a fresh session is begun through ``on_wipe``.

The control flags are re-read inside each write transaction, so no event ever lands in a session
that a wipe deleted. A write failure (disk full, locked file) does not stop capture: the batch is
counted as dropped, the error is kept in :attr:`WriterStats.error`, and the next flush retries.

Time comes from an injected clock; :meth:`BatchWriter.tick` runs one step of the thread's loop,
so tests drive the writer deterministically with a fake clock and no thread at all.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from activesec.core.clock import Clock
from activesec.core.errors import ActiveSecError, StoreError
from activesec.core.events import EVENT_DTYPE
from activesec.store.db import Store

__all__ = ["BatchWriter", "WriterStats"]

log = logging.getLogger(__name__)

#: Bound on queued non-event items (app changes, maintenance tasks).
_MAX_SIDE_ITEMS = 10_000


@dataclass(frozen=True)
class WriterStats:
    accepted: int = 0  # events taken into the queue
    stored: int = 0  # events committed
    dropped: int = 0  # events lost: queue full, or a failed write
    paused_discarded: int = 0  # events discarded because capture was paused
    wiped_discarded: int = 0  # queued events discarded by a wipe
    queued: int = 0
    peak_queued: int = 0
    commits: int = 0
    write_errors: int = 0
    paused: bool = False
    session_id: int | None = None
    sessions_started: int = 0  # new sessions begun after wipes
    error: ActiveSecError | None = None  # the last write error, kept for the runner to report


_STATS_FIELDS = tuple(f.name for f in fields(WriterStats))


@dataclass
class _State:
    """Mutable twin of :class:`WriterStats`, guarded by the writer's lock."""

    accepted: int = 0
    stored: int = 0
    dropped: int = 0
    paused_discarded: int = 0
    wiped_discarded: int = 0
    queued: int = 0
    peak_queued: int = 0
    commits: int = 0
    write_errors: int = 0
    paused: bool = False
    session_id: int | None = None
    sessions_started: int = 0
    error: ActiveSecError | None = None


@dataclass(frozen=True)
class _App:
    t_ns: int
    name: str


_Item = np.ndarray | _App | Callable[[Store], object]


class BatchWriter:
    """Commit event batches to ``store`` under ``session_id`` (see module docstring).

    ``on_wipe(store) -> session_id`` begins the session that follows a wipe (``None``: stop
    storing until closed). The writer uses ``store`` exclusively until :meth:`close` returns.
    """

    def __init__(
        self,
        store: Store,
        session_id: int,
        *,
        clock: Clock,
        queue_max_events: int = 262_144,
        flush_events: int = 8192,
        flush_interval_s: float = 1.0,
        poll_s: float = 0.25,
        on_wipe: Callable[[Store], int] | None = None,
    ) -> None:
        if queue_max_events < 1 or flush_events < 1 or flush_interval_s <= 0 or poll_s <= 0:
            raise ValueError("queue_max_events, flush_events, flush_interval_s, poll_s must be > 0")
        self._store = store
        self._clock = clock
        self._queue_max = int(queue_max_events)
        self._flush_events = int(flush_events)
        self._flush_ns = int(flush_interval_s * 1e9)
        self._poll_ns = int(min(poll_s, 0.25) * 1e9)
        self._on_wipe = on_wipe

        self._cond = threading.Condition(threading.Lock())
        self._items: deque[_Item] = deque()
        self._side_items = 0
        self._task_pending = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._s = _State(session_id=session_id)
        self._unpersisted = {"drops": 0, "paused_discarded": 0}

        self._s.paused, self._generation = store.control_state()
        now = clock.monotonic_ns()
        self._next_flush = now + self._flush_ns
        self._next_poll = now + self._poll_ns

    # ------------------------------------------------------------------ producer side
    def put(self, batch: np.ndarray) -> bool:
        """Queue a batch without blocking; ``False`` if any of it was dropped or discarded.

        After :meth:`close` nothing can be written any more: such batches count as dropped.
        """
        if batch.dtype != EVENT_DTYPE:
            raise TypeError(f"expected an EVENT_DTYPE batch, got {batch.dtype}")
        n = len(batch)
        if n == 0:
            return True
        with self._cond:
            s = self._s
            if self._closing:
                s.dropped += n
                return False
            if s.paused:
                s.paused_discarded += n
                self._unpersisted["paused_discarded"] += n
                return False
            take = max(min(self._queue_max - s.queued, n), 0)
            if take:
                self._items.append(batch[:take] if take < n else batch)
                s.accepted += take
                was_below = s.queued < self._flush_events
                s.queued += take
                s.peak_queued = max(s.peak_queued, s.queued)
                if was_below and s.queued >= self._flush_events:
                    self._cond.notify()
            lost = n - take
            if lost:
                s.dropped += lost
                self._unpersisted["drops"] += lost
            return lost == 0

    def record_app(self, t_ns: int, name: str) -> None:
        """Queue a foreground-app change (written with the next flush, in order)."""
        self._put_side(_App(int(t_ns), name))

    def submit(self, task: Callable[[Store], object]) -> None:
        """Run ``task(store)`` on the writer's thread at the next step (maintenance such as
        retention); a failure is kept in ``stats.error``."""
        self._put_side(task)
        with self._cond:
            self._task_pending = True
            self._cond.notify()

    def _put_side(self, item: _Item) -> None:
        with self._cond:
            if self._side_items < _MAX_SIDE_ITEMS:
                self._items.append(item)
                self._side_items += 1

    @property
    def stats(self) -> WriterStats:
        # a shallow field copy: asdict() deep-copies (the error too), and the agent reads this
        # on every tick (and every wake on input)
        with self._cond:
            return WriterStats(**{k: getattr(self._s, k) for k in _STATS_FIELDS})

    @property
    def session_id(self) -> int | None:
        with self._cond:
            return self._s.session_id

    # ------------------------------------------------------------------ writer side
    def start(self) -> None:
        """Run the writer loop on a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="activesec-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float | None = None) -> WriterStats:
        """Flush everything still queued, stop the thread, return the final stats."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._drain()
        return self.stats

    def _run(self) -> None:
        while True:
            with self._cond:
                busy = self._task_pending or self._s.queued >= self._flush_events
                if not (self._closing or busy):
                    self._cond.wait(self._wait_s())
                closing = self._closing
            if closing:
                self._drain()
                return
            self.tick()

    def _wait_s(self) -> float:
        due = min(self._next_flush, self._next_poll) - self._clock.monotonic_ns()
        return min(max(due / 1e9, 0.001), self._poll_ns / 1e9)

    def tick(self) -> None:
        """One step of the loop: poll the control flags and flush, each when due."""
        try:
            now = self._clock.monotonic_ns()
            if now >= self._next_poll:
                self._poll()
                self._next_poll = now + self._poll_ns
            with self._cond:
                due = self._task_pending or self._s.queued >= self._flush_events
            if due or now >= self._next_flush:
                self._flush()
                self._next_flush = now + self._flush_ns
        except Exception as exc:  # keep capturing; the runner reports the error
            log.exception("writer step failed")
            self._keep_error(exc)

    def flush(self) -> None:
        """Commit what is queued now (the thread does this on its own schedule)."""
        self._flush()

    def _drain(self) -> None:
        try:
            self._poll()
            self._flush()
        except Exception as exc:
            log.exception("final flush failed")
            self._keep_error(exc)

    def _keep_error(self, exc: Exception) -> None:
        err = exc if isinstance(exc, ActiveSecError) else StoreError(f"writer failed: {exc}")
        with self._cond:
            self._s.error = err
            self._s.write_errors += 1

    def _poll(self) -> None:
        """Apply pause/resume/wipe requested (by any process) since the last poll."""
        paused, generation = self._store.control_state()
        self._apply_control(paused, generation)

    def _apply_control(self, paused: bool, generation: int) -> None:
        if generation != self._generation:
            self._generation = generation
            n = self._discard("wiped_discarded")
            with self._cond:
                self._s.session_id = None  # deleted: never write into it again
                closing = self._closing  # no new, empty session just to end it
            log.info("store wiped: %d queued events discarded", n)
            if not closing and self._on_wipe is not None:
                new_id = self._on_wipe(self._store)
                with self._cond:
                    self._s.session_id = new_id
                    self._s.sessions_started += 1
        with self._cond:
            was_paused = self._s.paused
            self._s.paused = paused
        if paused and not was_paused:
            self._discard("paused_discarded")

    def _discard(self, counter: str) -> int:
        """Drop every queued event (keeping maintenance tasks), counted under ``counter``."""
        with self._cond:
            items = self._take_locked()
            n = sum(len(i) for i in items if isinstance(i, np.ndarray))
            tasks = [i for i in items if callable(i)]
            self._items.extend(tasks)
            self._side_items += len(tasks)
            self._task_pending = bool(tasks)
            setattr(self._s, counter, getattr(self._s, counter) + n)
            if counter in self._unpersisted:
                self._unpersisted[counter] += n
        return n

    def _take_locked(self) -> list[_Item]:
        items = list(self._items)
        self._items.clear()
        self._side_items = 0
        self._task_pending = False
        self._s.queued = 0
        return items

    def _flush(self) -> None:
        store = self._store
        with self._cond:
            items = self._take_locked()
            counters = dict(self._unpersisted)
            self._unpersisted = {k: 0 for k in counters}
        batches = [i for i in items if isinstance(i, np.ndarray)]
        apps = [i for i in items if isinstance(i, _App)]
        tasks = [i for i in items if callable(i)]
        n = sum(len(b) for b in batches)
        try:
            store.begin()  # the write lock: no wipe can slip in between this check and commit
            paused, generation = store.control_state()
            if generation != self._generation or (paused and not self._s.paused):
                store.rollback()
                with self._cond:  # requeue, so the discard below counts these events
                    self._items.extendleft(reversed(batches))
                    self._s.queued += n
                n = 0  # counted by the discard, whatever happens next
                self._apply_control(paused, generation)
                store.begin()
            sid = self.session_id
            if sid is not None:
                for app in apps:
                    store.record_app(sid, app.t_ns, app.name)
                if n:
                    store.append(sid, np.concatenate(batches) if len(batches) > 1 else batches[0])
            for name, value in counters.items():
                store.add_drops(value, name)
            store.commit()
        except Exception as exc:
            store.rollback()
            log.warning("write failed, %d events dropped: %s", n, exc)
            err = exc if isinstance(exc, ActiveSecError) else StoreError(f"write failed: {exc}")
            with self._cond:
                self._s.dropped += n
                self._s.error = err
                self._s.write_errors += 1
                for name, value in counters.items():
                    self._unpersisted[name] += value
                self._unpersisted["drops"] += n
        else:
            with self._cond:
                self._s.stored += n
                self._s.commits += 1
        for task in tasks:
            try:
                task(store)
                store.commit()
            except Exception as exc:
                store.rollback()
                log.warning("writer task failed: %s", exc)
                self._keep_error(exc)
