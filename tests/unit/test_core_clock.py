"""The agent's clock counts a suspend (Linux CLOCK_BOOTTIME, macOS CLOCK_MONOTONIC), the wall
clock is only for display and retention, and :class:`FakeClock` keeps the two apart for tests."""

from __future__ import annotations

import ctypes
import time
from typing import Any

import pytest

from activesec.core import clock as clock_mod
from activesec.core.clock import FakeClock, SystemClock, suspended_ns

NIGHT_NS = 8 * 3600 * 10**9

needs_boottime = pytest.mark.skipif(not hasattr(time, "CLOCK_BOOTTIME"),
                                    reason="CLOCK_BOOTTIME is Linux's")


@needs_boottime
def test_the_system_clock_counts_the_time_the_machine_was_suspended(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that slept 8 h since boot: CLOCK_MONOTONIC lags CLOCK_BOOTTIME by 8 h. The
    agent's monotonic time is BOOTTIME, so a night with the lid closed is a night-long gap for
    trust, the policy's timers and the stored events' wall times — not a few seconds."""
    real = time.clock_gettime_ns

    def os_clock(clk: int) -> int:
        return real(clk) + NIGHT_NS if clk == time.CLOCK_BOOTTIME else real(clk)

    monkeypatch.setattr(time, "clock_gettime_ns", os_clock)
    before = time.monotonic_ns()
    now = SystemClock().monotonic_ns()
    after = time.monotonic_ns()
    assert before + NIGHT_NS <= now <= after + NIGHT_NS
    assert NIGHT_NS - 10**9 < suspended_ns() <= NIGHT_NS


def test_without_a_clock_that_counts_suspend_the_clock_is_the_plain_monotonic_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock_mod, "_WITH_SUSPEND", None)
    before = time.monotonic_ns()
    assert before <= SystemClock().monotonic_ns() <= time.monotonic_ns()
    assert suspended_ns() == 0


def test_each_platform_gets_its_clock_that_counts_suspend(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux: BOOTTIME (its MONOTONIC stops in suspend). macOS: MONOTONIC, which counts sleep
    there, against UPTIME_RAW, which does not (macOS's ids, absent on Linux, stand in).
    Windows: no clock_gettime id (its own reader below)."""
    monkeypatch.setattr(time, "CLOCK_BOOTTIME", 7, raising=False)
    monkeypatch.setattr(time, "CLOCK_UPTIME_RAW", 8, raising=False)
    assert clock_mod.clock_ids("linux") == (7, time.CLOCK_MONOTONIC)
    assert clock_mod.clock_ids("darwin") == (time.CLOCK_MONOTONIC, 8)
    assert clock_mod.clock_ids("win32") == (None, None)
    monkeypatch.delattr(time, "CLOCK_UPTIME_RAW")
    assert clock_mod.clock_ids("darwin") == (time.CLOCK_MONOTONIC, None)


def test_suspended_time_is_the_difference_of_the_two_clocks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a Mac that slept 8 h: the suspend-counting clock is 8 h ahead of the other."""
    monkeypatch.setattr(clock_mod, "_WITH_SUSPEND", 101)
    monkeypatch.setattr(clock_mod, "_WITHOUT_SUSPEND", 102)
    monkeypatch.setattr(time, "clock_gettime_ns",
                        lambda clk: {101: 5 * NIGHT_NS, 102: 4 * NIGHT_NS}[clk])
    assert SystemClock().monotonic_ns() == 5 * NIGHT_NS
    assert suspended_ns() == NIGHT_NS


def test_fake_clock_advance_is_time_passing_and_jump_wall_a_clock_step() -> None:
    c = FakeClock()
    m, w = c.monotonic_ns(), c.wall_ns()
    c.advance(3600)  # a suspend, as the agent's clock counts it
    assert (c.monotonic_ns() - m, c.wall_ns() - w) == (3600 * 10**9, 3600 * 10**9)
    c.jump_wall(-7200)  # NTP or the user sets the wall clock back
    assert (c.monotonic_ns() - m, c.wall_ns() - w) == (3600 * 10**9, -3600 * 10**9)


QUERY = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_ulonglong))  # QueryInterruptTimePrecise
TICKS = ctypes.CFUNCTYPE(ctypes.c_ulonglong)  # GetTickCount64


class _Dll:
    def __init__(self, **functions: Any) -> None:
        self.__dict__.update(functions)


def _loader(dlls: dict[str, _Dll]) -> Any:
    def load(name: str) -> _Dll:
        if name not in dlls:
            raise OSError(f"[WinError 126] {name} not found")
        return dlls[name]
    return load


@QUERY
def _interrupt_time(out: Any) -> None:  # 8 h and 1.5 s since boot, in 100 ns units
    out[0] = (NIGHT_NS + 1_500_000_000) // 100


@TICKS
def _tick_count() -> int:  # the same, in ms
    return (NIGHT_NS + 1_500_000_000) // 10**6


@pytest.mark.parametrize("dll", ["api-ms-win-core-realtime-l1-1-1.dll", "KernelBase.dll"])
def test_windows_reads_the_interrupt_time_that_counts_sleep(dll: str) -> None:
    """Windows 10+: QueryInterruptTimePrecise (counts sleep, 100 ns units) through ctypes, from
    whichever of its two DLLs loads; the C function here has its exact signature."""
    read = clock_mod.windows_interrupt_time(_loader({dll: _Dll(
        QueryInterruptTimePrecise=_interrupt_time), "kernel32.dll": _Dll(
        GetTickCount64=_tick_count)}))
    assert read is not None and read() == NIGHT_NS + 1_500_000_000


def test_older_windows_falls_back_to_the_tick_count_and_elsewhere_there_is_none() -> None:
    """Windows 8 has no QueryInterruptTimePrecise: GetTickCount64 (ms, also counts sleep)."""
    read = clock_mod.windows_interrupt_time(_loader({
        "KernelBase.dll": _Dll(), "kernel32.dll": _Dll(GetTickCount64=_tick_count)}))
    assert read is not None and read() == NIGHT_NS + 1_500_000_000
    assert clock_mod.windows_interrupt_time(_loader({})) is None
    if not hasattr(ctypes, "WinDLL"):  # not Windows: no reader, the plain monotonic clock
        assert clock_mod.windows_interrupt_time() is None


def test_the_agent_clock_on_windows_is_the_interrupt_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock_mod, "_WITH_SUSPEND", None)
    monkeypatch.setattr(clock_mod, "_WINDOWS_CLOCK", lambda: 5 * NIGHT_NS)
    assert SystemClock().monotonic_ns() == 5 * NIGHT_NS
    assert suspended_ns() == 0  # the hook's own times (GetTickCount) count sleep too
