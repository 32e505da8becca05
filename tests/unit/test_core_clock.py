"""The agent's clock counts a suspend (CLOCK_BOOTTIME), the wall clock is only for display and
retention, and :class:`FakeClock` keeps the two apart for tests."""

from __future__ import annotations

import time

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


def test_without_boottime_the_clock_is_the_plain_monotonic_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock_mod, "_BOOTTIME", None)
    before = time.monotonic_ns()
    assert before <= SystemClock().monotonic_ns() <= time.monotonic_ns()
    assert suspended_ns() == 0


def test_fake_clock_advance_is_time_passing_and_jump_wall_a_clock_step() -> None:
    c = FakeClock()
    m, w = c.monotonic_ns(), c.wall_ns()
    c.advance(3600)  # a suspend, as the agent's clock counts it
    assert (c.monotonic_ns() - m, c.wall_ns() - w) == (3600 * 10**9, 3600 * 10**9)
    c.jump_wall(-7200)  # NTP or the user sets the wall clock back
    assert (c.monotonic_ns() - m, c.wall_ns() - w) == (3600 * 10**9, -3600 * 10**9)
