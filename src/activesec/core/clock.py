"""Injected clocks: monotonic for intervals, wall for display and retention.

Nothing below the CLI reads ``time`` directly, so tests drive time with :class:`FakeClock`.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def wall_ns(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep up to ``seconds``, less if ``event`` is set; whether it is set."""
        ...


class SystemClock:
    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def wall_ns(self) -> int:
        return time.time_ns()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


class FakeClock:
    """A clock that moves only when told; ``jump_wall`` simulates NTP or manual clock changes."""

    def __init__(self, monotonic_ns: int = 1_000_000_000, wall_ns: int = 1_700_000_000 * 10**9):
        self._mono = monotonic_ns
        self._wall = wall_ns

    def monotonic_ns(self) -> int:
        return self._mono

    def wall_ns(self) -> int:
        return self._wall

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """The whole ``seconds`` pass whatever the event (fake time stays deterministic)."""
        self.sleep(seconds)
        return event.is_set()

    def advance(self, seconds: float) -> None:
        step = int(seconds * 1e9)
        self._mono += step
        self._wall += step

    def jump_wall(self, seconds: float) -> None:
        self._wall += int(seconds * 1e9)
