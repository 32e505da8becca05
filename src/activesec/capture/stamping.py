"""Turning an OS event's own stamps into ActiveSec's: clock anchoring and key-stroke pairing.

Shared by the pynput and evdev backends (pure logic, no OS calls, unit-tested directly).

* :class:`TickClock` maps a platform event clock (Windows hook ``time`` in ms with 32-bit
  wraparound, the X server time, macOS mach ticks) onto the process' monotonic nanoseconds.
  Intervals come from the event clock (the moment the OS saw the input), not from when Python
  got the callback; only the offset between the two clocks is estimated, as the smallest
  observed delivery delay.
* :class:`StrokePairer` gives a press and its release the same *stroke id* from the raw,
  layout-independent key code (a shifted key reports different characters on press and
  release), so nothing downstream needs the key's identity.
"""

from __future__ import annotations

import math

__all__ = ["StrokePairer", "TickClock"]


class TickClock:
    """Convert raw event ticks to monotonic ns on the caller's clock.

    ``unit_ns`` is the length of one tick in ns (1e6 for millisecond clocks, numer/denom of
    ``mach_timebase_info`` on macOS); ``wrap_bits`` the counter width when it wraps (32 for
    ``GetTickCount``/X server time: every 49.7 days), ``None`` for 64-bit counters.

    The offset between the two clocks is the minimum of ``now - event`` seen so far, i.e. the
    fastest delivery. Time the machine spent suspended, which the receive clock counts and the
    X server's and mach clocks do not, is taken out of ``now`` (``suspended_ns`` at receipt,
    :func:`activesec.core.clock.suspended_ns`) and added back to the result, so a suspend
    moves no anchor: events after it are as far after the ones before as the night was long.
    An event arriving more than ``resync_ns`` later than the anchor predicts is a *backlog*
    (the process was frozen — ``kill -STOP``, swapped out — or busy, while the OS queued
    input): it keeps the anchor, so the queued events keep their own intervals. Until
    2026-12-07 such an event re-anchored the clock, and every event of the backlog was
    stamped with its receive time: two seconds of movement became one instant. Only when
    events keep arriving that late for ``resync_ns`` of the receive clock (the counter itself
    jumped: a reset) is the clock re-anchored, to the fastest delivery seen meanwhile.

    ``or_unit_ns``: where the platform's stamps may come in either of two units, the clock
    tells them apart by the receive clock over the first ``settle_ns`` of events (stamped with
    their receive time meanwhile). macOS: Apple documents ``CGEventGetTimestamp`` in
    nanoseconds, but developers measure mach ticks (41.67 ns each on Apple silicon) — and
    nanoseconds for some pointer events (Mac Mouse Fix's ``EventUtility.m`` notes both) —:
    one unit assumed wrongly makes every interval 41.67 times too long or too short, and every
    feature absurd, without a sign.
    """

    def __init__(
        self, unit_ns: float, wrap_bits: int | None = None, resync_ns: int = 1_000_000_000,
        *, or_unit_ns: float | None = None, settle_ns: int = 250_000_000,
    ) -> None:
        if unit_ns <= 0 or (or_unit_ns is not None and or_unit_ns <= 0):
            raise ValueError("unit_ns must be positive")
        self.unit_ns = unit_ns
        self.resync_ns = resync_ns
        self._modulus = (1 << wrap_bits) if wrap_bits else 0
        self._last_raw: int | None = None
        self._unwrapped = 0
        self._offset: int | None = None
        # or_unit_ns: a second unit the stamps may be in, told apart from unit_ns by the
        # receive clock once settle_ns of events have passed (module docstring of TickClock)
        self._units = (unit_ns, or_unit_ns) if or_unit_ns not in (None, unit_ns) else None
        self._settle_ns = settle_ns
        self._first: tuple[int, int] | None = None  # (ticks, now) of the first event
        self._floor = 0  # the last time returned while the unit was not known
        # events late by more than resync_ns: (smallest offset among them, when the first came)
        self._late: tuple[int, int] | None = None

    def _settle(self, ticks: int, now_ns: int) -> bool:
        """Choose between the two units once their stamps span ``settle_ns`` of the receive
        clock: the one whose tick length matches it on a log scale. The units differ 41.67-fold
        and the choice flips only past 6.45-fold, so even a delivery delay of 100 ms on
        250 ms of events cannot mislead it. True once chosen."""
        assert self._units is not None
        if self._first is None:
            self._first = (ticks, now_ns)
        d_ticks, d_now = ticks - self._first[0], now_ns - self._first[1]
        if d_now > 20 * self._settle_ns:
            # a long gap may hold a sleep, which the receive clock counts and mach ticks do
            # not: measured across it, nanosecond stamps would pass for ticks. Start again.
            self._first = (ticks, now_ns)
            return False
        if d_now < self._settle_ns or d_ticks <= 0:
            return False
        ratio = d_now / d_ticks
        self.unit_ns = min(self._units, key=lambda u: abs(math.log(ratio / u)))
        self._units = None
        return True

    def unwrap(self, raw: int) -> int:
        """Raw counter value -> a non-wrapping tick count (small reorderings are allowed)."""
        if not self._modulus:
            return raw
        raw %= self._modulus
        if self._last_raw is None:
            self._unwrapped = raw
        else:
            delta = (raw - self._last_raw) % self._modulus
            if delta >= self._modulus // 2:  # slightly older event than the last one
                delta -= self._modulus
            self._unwrapped += delta
        self._last_raw = raw
        return self._unwrapped

    def to_ns(self, raw: int, now_ns: int, suspended_ns: int = 0) -> int:
        """Event time on the monotonic clock for a raw stamp received at ``now_ns``, when the
        machine had been suspended ``suspended_ns`` in all (its receive time while the unit is
        still being told apart)."""
        ticks = self.unwrap(raw)
        if self._units is not None and not self._settle(ticks, now_ns):
            self._floor = now_ns
            return now_ns
        ev_ns = int(ticks * self.unit_ns)
        candidate = now_ns - suspended_ns - ev_ns
        if self._offset is None or candidate < self._offset:
            self._offset, self._late = candidate, None
        elif candidate - self._offset <= self.resync_ns:
            self._late = None  # on time again: what came late was a backlog
        elif self._late is None:
            self._late = (candidate, now_ns)
        else:
            late = min(self._late[0], candidate)
            if now_ns - self._late[1] >= self.resync_ns:  # late for that long: a new counter
                self._offset, self._late = late, None
            else:
                self._late = (late, self._late[1])
        # never before a receive time given
        return max(ev_ns + self._offset + suspended_ns, self._floor)


class StrokePairer:
    """Stroke ids from raw key codes.

    ``press(raw, cls)`` returns a new id, or ``None`` for an auto-repeat (the key is already
    down: one physical stroke is one press). ``release(raw)`` returns ``(id, cls)`` of the
    press, or ``None`` when the press was never seen (pressed before capture started): such a
    release has no timing. The class is fixed at the press, so ``!`` released after Shift
    stays punctuation instead of becoming the digit ``1``. Raw codes live only in this
    in-memory map and leave it at release.
    """

    def __init__(self, max_down: int = 64) -> None:
        self._down: dict[int, tuple[int, int]] = {}
        self._next = 1
        self._max_down = max_down

    def press(self, raw: int, cls: int = 0) -> int | None:
        if raw in self._down:
            return None
        if len(self._down) >= self._max_down:  # releases were lost (focus grab): start over
            self._down.clear()
        sid = self._next
        self._next = self._next + 1 if self._next < 0x7FFFFFFF else 1
        self._down[raw] = (sid, cls)
        return sid

    def release(self, raw: int) -> tuple[int, int] | None:
        return self._down.pop(raw, None)

    def reset(self) -> None:
        self._down.clear()

    @property
    def held(self) -> int:
        return len(self._down)
