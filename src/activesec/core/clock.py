"""Injected clocks: monotonic for intervals, wall for display and retention.

Nothing below the CLI reads ``time`` directly, so tests drive time with :class:`FakeClock`.

"Monotonic" is :func:`monotonic_ns`: on Linux ``CLOCK_BOOTTIME``, which never steps like the
wall clock and, unlike Linux's ``CLOCK_MONOTONIC``, keeps counting while the machine is
suspended; on macOS ``CLOCK_MONOTONIC``, which there does count sleep (:func:`time.monotonic`
reads ``mach_absolute_time``, which does not: Apple's clock_gettime(3), and libc++'s
steady_clock moved off ``CLOCK_UPTIME_RAW`` for that reason). A
laptop closed for the night is then a night-long gap, as it is for the person: trust's idle
decay and fusion-window reset, the policy's cool-downs, escalation window and grace, idle
detection and the event store's wall times (``session start + elapsed``) all see it. With
``CLOCK_MONOTONIC`` a suspend of hours looked like seconds: evidence from before it was fused
with the next person's, notifications before and after it escalated together, and stored
events drifted behind the wall clock by every suspend of the session. Elsewhere it is
the plain :func:`time.monotonic_ns`, except on Windows: Python reads ``GetTickCount64`` there
(15.6 ms steps) or, from 3.13, ``QueryPerformanceCounter``, whose behaviour across sleep
Microsoft does not document; ActiveSec reads ``QueryInterruptTimePrecise`` (Windows 10+), the
interrupt time that Microsoft documents as counting sleep and hibernation (its *unbiased* twin
is the one that does not), in 100 ns units read from the timer hardware; on older Windows
``GetTickCount64``, documented to count them too. Not run on a real Windows machine here: the
tests call the reader through a ctypes function of the same signature.
:func:`suspended_ns` is the time spent suspended (Linux ``BOOTTIME - MONOTONIC``, macOS
``MONOTONIC - UPTIME_RAW``), for platform clocks that stop during suspend (the X server's time;
macOS event stamps are mach ticks: :class:`~activesec.capture.stamping.TickClock` adds it).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def wall_ns(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep up to ``seconds``, less if ``event`` is set; whether it is set."""
        ...


def clock_ids(platform: str = sys.platform) -> tuple[int | None, int | None]:
    """``(with suspend, without suspend)`` clock ids for ``platform``; ``(None, None)`` where
    no clock that counts suspend is known (module docstring)."""
    if platform.startswith("linux"):
        return getattr(time, "CLOCK_BOOTTIME", None), getattr(time, "CLOCK_MONOTONIC", None)
    if platform == "darwin":
        return getattr(time, "CLOCK_MONOTONIC", None), getattr(time, "CLOCK_UPTIME_RAW", None)
    return None, None


_WITH_SUSPEND, _WITHOUT_SUSPEND = clock_ids()


def windows_interrupt_time(loader: Callable[[str], Any] | None = None
                           ) -> Callable[[], int] | None:
    """A reader of Windows' interrupt time in ns, which counts sleep and hibernation
    (module docstring): ``QueryInterruptTimePrecise``, else ``GetTickCount64``; None when
    neither loads (not Windows). ``loader`` opens a DLL by name (default ``ctypes.WinDLL``)."""
    import ctypes

    load = loader or getattr(ctypes, "WinDLL", None)
    if load is None:
        return None
    for dll in ("api-ms-win-core-realtime-l1-1-1.dll", "KernelBase.dll"):
        try:
            fn = load(dll).QueryInterruptTimePrecise
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.POINTER(ctypes.c_ulonglong)]
        fn.restype = None

        def precise(fn: Any = fn) -> int:
            out = ctypes.c_ulonglong()
            fn(ctypes.byref(out))
            return out.value * 100
        return precise
    try:
        ticks = load("kernel32.dll").GetTickCount64
    except (OSError, AttributeError):
        return None
    ticks.argtypes = []
    ticks.restype = ctypes.c_ulonglong

    def coarse(ticks: Any = ticks) -> int:
        return int(ticks()) * 1_000_000
    return coarse


_WINDOWS_CLOCK = windows_interrupt_time() if sys.platform == "win32" else None


def monotonic_ns() -> int:
    """The monotonic timeline (module docstring): suspend included where the OS can say."""
    if _WITH_SUSPEND is not None:
        return time.clock_gettime_ns(_WITH_SUSPEND)
    if _WINDOWS_CLOCK is not None:
        return _WINDOWS_CLOCK()
    return time.monotonic_ns()


def suspended_ns() -> int:
    """How long the machine was suspended since boot (0 where the monotonic timeline has no
    suspend in it): add it to a time on the suspend-free clock's base (Linux
    ``CLOCK_MONOTONIC``, the X server's) to put it on :func:`monotonic_ns`'s."""
    if _WITH_SUSPEND is None or _WITHOUT_SUSPEND is None:
        return 0
    return max(0, time.clock_gettime_ns(_WITH_SUSPEND) - time.clock_gettime_ns(_WITHOUT_SUSPEND))


class SystemClock:
    def monotonic_ns(self) -> int:
        return monotonic_ns()

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
