"""The hand-over queue between the capture thread and the agent's engine.

The capture backend's thread appends event batches (:meth:`HandOver.put`, never blocks, bounded:
overflow is counted, not queued); the agent's tick takes them (:meth:`HandOver.take`) and feeds
the engine. *When* to take is the trade-off between latency and CPU:

* an action can only be completed by an event that is not a pointer move — a button release, a
  scroll, a key — or by silence (the segmenter's pause, which the engine's own timer flushes).
  Batches holding such an event are due at once: they set :attr:`HandOver.wake`, which ends the
  agent's wait for its next tick (every 0.25 s otherwise), so a click-ended action reaches the
  trust model within the capture backend's batching (20 ms) plus the engine's work, not a
  polling interval later. Such batches come a few times a second (clicks, keys), so waking for
  them costs little;
* pure pointer motion is the bulk of the stream (125-1000 Hz) and is handed over at least every
  ``max_wait_s`` (0.25 s), which bounds the engine's buffer without running the segmentation
  probe 20 times a second on half-finished movements;
* motion can also complete an action (:mod:`activesec.features.pointer`'s rules): the first move
  after a pause longer than the segmenter's ``pause_s`` ends the movement before it (unless a
  click already ended that one), the first move after a scroll ends the scroll. Such a batch is
  due at once too — once per action, a few times a second at most. Measured with the agent's
  own record (:meth:`~activesec.service.agent.Agent.latency_summary`) while the end-to-end
  test injects a Balabit user's input under Xvfb (2026-12-05): before, such a movement waited
  for the next ``max_wait_s`` due check, up to two ticks — p99 471 ms from that first move to
  trust; now p50 26 ms, p99 39 ms over all actions.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from activesec.core.events import EVENT_DTYPE, Kind
from activesec.features.pointer import PointerConfig

MAX_WAIT_S = 0.25
_EMPTY = np.zeros(0, EVENT_DTYPE)
_EMPTY.flags.writeable = False  # shared by every tick that finds nothing due


class HandOver:
    """Thread-safe, bounded batch queue with the due rule of the module docstring."""

    def __init__(self, max_events: int, max_wait_s: float = MAX_WAIT_S,
                 pause_s: float = PointerConfig().pause_s) -> None:
        self.max_events = max_events
        self.max_wait_ns = int(max_wait_s * 1e9)
        self.pause_ns = int(pause_s * 1e9)
        self._last_t: int | None = None  # the newest pointer event put
        self._last_kind = 0  # ... and its kind
        self.dropped = 0
        self._parts: deque[np.ndarray] = deque()
        self._n = 0
        self._since_ns: int | None = None  # when the oldest queued batch arrived
        self._urgent = False  # a queued batch can complete an action
        self._lock = threading.Lock()
        self.wake = threading.Event()  # set with every batch that can complete an action

    def put(self, batch: np.ndarray, now_ns: int) -> None:
        """Queue a copy of ``batch`` (capture thread); counted as dropped when full."""
        n = len(batch)
        if not n:
            return
        kinds, t = batch["kind"], batch["t_ns"]
        if bool((kinds == Kind.MOVE).all()):  # the bulk: keep this path to two NumPy calls
            urgent = self._ends_an_action(t)
            self._last_t, self._last_kind = int(t[-1]), int(Kind.MOVE)
        else:
            urgent = True
            pointer = np.flatnonzero(kinds < Kind.KEY_DOWN)  # keys do not end a movement
            if len(pointer):
                self._last_t = int(t[pointer[-1]])
                self._last_kind = int(kinds[pointer[-1]])
        part = batch.copy() if batch.dtype == EVENT_DTYPE else np.array(batch, dtype=EVENT_DTYPE)
        with self._lock:
            if self._n + n > self.max_events:
                self.dropped += n
                return
            self._parts.append(part)
            self._n += n
            self._urgent = self._urgent or urgent
            if self._since_ns is None:
                self._since_ns = now_ns
        if urgent:
            self.wake.set()

    def _ends_an_action(self, t: np.ndarray) -> bool:
        """Do these moves end an action (the segmenter's rules): the first move after a scroll,
        after a pause (unless a release came last: it ended its click itself), or a pause
        within the batch?"""
        if self._last_kind == Kind.SCROLL:
            return True
        if self._last_kind != Kind.BUTTON_UP and self._last_t is not None \
                and int(t[0]) - self._last_t > self.pause_ns:
            return True
        return int(t[-1]) - int(t[0]) > self.pause_ns and bool(
            (np.diff(t) > self.pause_ns).any())

    def _due(self, now_ns: int) -> bool:
        """The due rule (module docstring); call with the lock held."""
        return self._n > 0 and (self._urgent or self._since_ns is None
                                or now_ns - self._since_ns >= self.max_wait_ns)

    def due(self, now_ns: int) -> bool:
        with self._lock:
            return self._due(now_ns)

    def take(self, now_ns: int, *, force: bool = False) -> np.ndarray:
        """Everything queued, in time order, if due (or ``force``); else an empty array
        (shared and read-only)."""
        with self._lock:
            if not (self._due(now_ns) or (force and self._n)):
                return _EMPTY
            parts = list(self._parts)
            self._parts.clear()
            self._n, self._since_ns, self._urgent = 0, None, False
        if len(parts) == 1:
            ev = parts[0]
        else:  # filled in place: np.concatenate re-promotes the structured dtype every call
            ev = np.empty(sum(len(q) for q in parts), EVENT_DTYPE)
            i = 0
            for q in parts:
                ev[i:i + len(q)] = q
                i += len(q)
        t = ev["t_ns"]
        if len(t) > 1 and not bool(np.all(t[1:] >= t[:-1])):
            ev = ev[np.argsort(t, kind="stable")]
        return ev
