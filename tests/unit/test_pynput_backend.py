"""PynputBackend: the code around the Windows/macOS hooks, with fake hook data; the X11
fallback with a real pynput listener under Xvfb fed by xdotool.

Windows and macOS cannot run here: their hook structs (KBDLLHOOKSTRUCT, MSLLHOOKSTRUCT) and
CGEvents are replaced by plain objects with the same fields, called in the order pynput
calls them (Windows: filter before callback; macOS: callback before intercept).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from activesec.capture import pynput_backend as pb
from activesec.capture.pynput_backend import PynputBackend
from activesec.capture.stamping import StrokePairer, TickClock
from activesec.core.clock import FakeClock
from activesec.core.events import Flag, Kind
from activesec.core.keys import KeyClass

MS = 1_000_000


# --------------------------------------------------------------------------- fakes
@dataclass
class FakeKey:
    """A pynput KeyCode (char/vk) or Key member (name)."""

    char: str | None = None
    name: str | None = None
    vk: int | None = None


@dataclass
class FakeButton:
    name: str


@dataclass
class KbdHook:  # KBDLLHOOKSTRUCT
    vkCode: int
    time: int
    flags: int = 0
    scanCode: int = 0


@dataclass
class MouseHook:  # MSLLHOOKSTRUCT
    time: int
    flags: int = 0
    dwExtraInfo: int | None = None
    mouseData: int = 0


def wheel(delta: int) -> int:
    """MSLLHOOKSTRUCT.mouseData for a wheel message: the signed delta in the high word."""
    return (delta & 0xFFFF) << 16


@dataclass
class CGEvent:
    timestamp: int
    fields: dict[int, int] = field(default_factory=dict)


def fake_quartz() -> Any:
    q = types.SimpleNamespace()
    q.CGEventGetTimestamp = lambda ev: ev.timestamp
    q.CGEventGetIntegerValueField = lambda ev, f: ev.fields.get(f, 0)
    q.kCGEventSourceStateHIDSystemState = 1
    return q


def hw(ts: int, **extra: int) -> CGEvent:
    """A hardware CGEvent: HID system state, no source pid."""
    f = pb.MacFields()
    fields = {f.source_state: f.hid_state, f.source_pid: 0}
    fields.update({getattr(f, k): v for k, v in extra.items()})
    return CGEvent(ts, fields)


def win(clock: FakeClock | None = None) -> PynputBackend:
    return PynputBackend(platform="win32", clock=clock or FakeClock())


def mac(clock: FakeClock | None = None, tick_ns: float = 1.0) -> PynputBackend:
    return PynputBackend(platform="darwin", clock=clock or FakeClock(), quartz=fake_quartz(),
                         tick_ns=tick_ns)


def win_key(b: PynputBackend, clock: FakeClock, vk: int, t: int, key: FakeKey, down: bool,
            flags: int = 0, scan: int = 0) -> None:
    """One key message as pynput runs it; Python sees each one late (clock moves 100 ms, more
    than the hook times in these tests), so only the hook's own times can give intervals."""
    clock.advance(0.1)
    b.win_key_filter(0x100 if down else 0x101, KbdHook(vk, t, flags, scan))
    clock.advance(0.003)  # the callback runs later, from pynput's message queue
    (b.on_press if down else b.on_release)(key, bool(flags))


# --------------------------------------------------------------------------- stamping
def test_tick_clock_keeps_event_intervals_not_callback_intervals() -> None:
    c = TickClock(1e6, wrap_bits=32)
    t0 = c.to_ns(1000, now_ns=5_000 * MS)
    t1 = c.to_ns(1016, now_ns=5_040 * MS)  # delivered late: still 16 ms after the first
    assert t1 - t0 == 16 * MS
    assert t0 == 5_000 * MS


def test_tick_clock_unwraps_32_bit_counter() -> None:
    c = TickClock(1e6, wrap_bits=32)
    t0 = c.to_ns(0xFFFF_FFF0, now_ns=10**12)
    t1 = c.to_ns(0x10, now_ns=10**12 + 32 * MS)
    assert t1 - t0 == 32 * MS
    t_old = c.to_ns(0xFFFF_FFFF, now_ns=10**12 + 33 * MS)  # reordered event before the wrap
    assert t_old - t0 == 15 * MS


def test_tick_clock_takes_fastest_delivery_and_counts_a_suspend() -> None:
    c = TickClock(1e6, wrap_bits=32, resync_ns=1_000 * MS)
    c.to_ns(100, now_ns=1_010 * MS)  # 10 ms delivery
    assert c.to_ns(200, now_ns=1_102 * MS) == 1_102 * MS  # 2 ms delivery: better anchor
    # the event clock stood still for 5 s (suspended): no lag behind the receive clock
    assert c.to_ns(300, now_ns=6_300 * MS, suspended_ns=5_098 * MS) == 6_300 * MS
    assert c.to_ns(320, now_ns=6_322 * MS, suspended_ns=5_098 * MS) == 6_320 * MS


def test_tick_clock_keeps_the_intervals_of_a_backlog() -> None:
    # the process was frozen (kill -STOP, swapped out) while the OS queued 2 s of motion:
    # read in one go 3 s late, the events keep their own 20 ms steps, not one instant
    c = TickClock(1e6, wrap_bits=32, resync_ns=1_000 * MS)
    assert c.to_ns(1_000, now_ns=1_001 * MS) == 1_001 * MS
    got = [c.to_ns(2_000 + 20 * i, now_ns=(5_000 + i // 10) * MS) for i in range(100)]
    assert [b - a for a, b in itertools.pairwise(got)] == [20 * MS] * 99
    assert got[0] == 2_001 * MS
    assert c.to_ns(4_100, now_ns=5_200 * MS) == 4_101 * MS  # caught up: the same anchor


def test_tick_clock_reanchors_when_the_counter_itself_jumps() -> None:
    c = TickClock(1e6, wrap_bits=32, resync_ns=1_000 * MS)
    c.to_ns(50_000, now_ns=1_000 * MS)
    # the counter restarted near 0 (every event now ~50 s late): late for over resync_ns
    # of the receive clock, it is a new counter, and events are near their receipt again
    for i in range(12):
        c.to_ns(100 + 100 * i, now_ns=(2_000 + 100 * i) * MS)
    assert c.to_ns(1_300, now_ns=3_200 * MS) == 3_200 * MS


def test_tick_clock_scales_mach_ticks() -> None:
    c = TickClock(125 / 3)  # Apple silicon: 41.67 ns per tick
    t0 = c.to_ns(24_000_000, now_ns=2 * 10**9)
    t1 = c.to_ns(24_000_024, now_ns=2 * 10**9 + 5000)
    assert t1 - t0 == 1000


def test_stroke_pairer_pairs_by_raw_code_and_ignores_autorepeat() -> None:
    p = StrokePairer()
    a = p.press(30, KeyClass.LETTER)
    b = p.press(31, KeyClass.LETTER)  # rollover
    assert p.press(30, KeyClass.LETTER) is None  # auto-repeat
    assert p.release(30) == (a, KeyClass.LETTER)
    assert p.release(31) == (b, KeyClass.LETTER)
    assert p.release(31) is None  # unmatched release
    assert a != b and p.held == 0


# --------------------------------------------------------------------------- mapping
@pytest.mark.parametrize(
    ("key", "cls"),
    [
        (FakeKey(char="a"), KeyClass.LETTER),
        (FakeKey(char="Q"), KeyClass.LETTER),
        (FakeKey(char="7"), KeyClass.DIGIT),
        (FakeKey(char="!"), KeyClass.PUNCTUATION),
        (FakeKey(name="space"), KeyClass.SPACE),
        (FakeKey(name="shift_r"), KeyClass.MODIFIER),
        (FakeKey(name="cmd"), KeyClass.MODIFIER),
        (FakeKey(name="backspace"), KeyClass.BACKSPACE),
        (FakeKey(name="enter"), KeyClass.ENTER),
        (FakeKey(name="page_down"), KeyClass.NAVIGATION),
        (FakeKey(vk=0x1234), KeyClass.OTHER),
        (None, KeyClass.OTHER),
    ],
)
def test_keys_map_to_classes(key: FakeKey | None, cls: KeyClass) -> None:
    from activesec.core.keys import key_class

    assert key_class(pb.key_name(key)) == cls


def test_buttons_and_windows_pen_touch_signature() -> None:
    assert [pb.button_code(FakeButton(n)) for n in ("left", "middle", "right", "x1", "x2")] == [
        1, 2, 3, 8, 9]
    assert pb.button_code(FakeButton("unknown")) == 0
    assert pb.win_pointer_device(None) == pb.DEV_POINTER
    assert pb.win_pointer_device(0xFF515700) == pb.DEV_PEN
    assert pb.win_pointer_device(0xFF515780) == pb.DEV_TOUCH
    assert pb.win_pointer_device(0x12345680) == pb.DEV_POINTER


# --------------------------------------------------------------------------- Windows
def test_windows_keys_use_hook_time_flags_and_vk_pairing() -> None:
    clock = FakeClock()
    b = win(clock)
    win_key(b, clock, 0xA0, 50_000, FakeKey(name="shift"), True)
    win_key(b, clock, 0x31, 50_080, FakeKey(char="!"), True, flags=pb.LLKHF_INJECTED)
    win_key(b, clock, 0xA0, 50_150, FakeKey(name="shift"), False)
    win_key(b, clock, 0x31, 50_190, FakeKey(char="1"), False, flags=pb.LLKHF_INJECTED)
    ev = b.collect()
    assert list(ev["kind"]) == [Kind.KEY_DOWN, Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_UP]
    assert list(np.diff(ev["t_ns"])) == [80 * MS, 70 * MS, 40 * MS]  # hook times, not callbacks
    shift_id, one_id = ev["x"][0], ev["x"][1]
    assert list(ev["x"]) == [shift_id, one_id, shift_id, one_id] and shift_id != one_id
    # "!" released as "1" after Shift: the class stays the one of the press
    assert list(ev["code"]) == [KeyClass.MODIFIER, KeyClass.PUNCTUATION] * 2
    assert list(ev["flags"] & Flag.INJECTED) == [0, Flag.INJECTED, 0, Flag.INJECTED]
    assert set(ev["device"]) == {pb.DEV_KEYBOARD}
    assert b.error is None


def test_windows_key_filters_queue_ahead_of_callbacks() -> None:
    # pynput posts key messages to its queue: several hook calls may precede the callbacks
    clock = FakeClock()
    b = win(clock)
    b.win_key_filter(0x100, KbdHook(0x41, 1000))
    clock.advance(0.1)
    b.win_key_filter(0x101, KbdHook(0x41, 1090))
    b.on_press(FakeKey(char="a"))
    b.on_release(FakeKey(char="a"))
    ev = b.collect()
    assert ev["t_ns"][1] - ev["t_ns"][0] == 90 * MS
    assert ev["x"][0] == ev["x"][1]


def test_windows_unicode_packets_pair_by_scan_code_and_autorepeat_is_one_stroke() -> None:
    clock = FakeClock()
    b = win(clock)
    for t in (10, 40, 70):  # held key: repeated downs
        win_key(b, clock, pb.VK_PACKET, t, FakeKey(char="é"), True, scan=0xE9)
    win_key(b, clock, pb.VK_PACKET, 90, FakeKey(char="é"), False, scan=0xE9)
    ev = b.collect()
    assert list(ev["kind"]) == [Kind.KEY_DOWN, Kind.KEY_UP]
    assert list(ev["code"]) == [KeyClass.LETTER, KeyClass.LETTER]
    assert ev["t_ns"][1] - ev["t_ns"][0] == 80 * MS


def test_windows_tick_wraparound_keeps_intervals() -> None:
    clock = FakeClock()
    b = win(clock)
    win_key(b, clock, 0x41, 0xFFFF_FFFA, FakeKey(char="a"), True)
    win_key(b, clock, 0x41, 0x0000_0004, FakeKey(char="a"), False)
    ev = b.collect()
    assert ev["t_ns"][1] - ev["t_ns"][0] == 10 * MS


def test_windows_pointer_events_take_the_hook_stamp() -> None:
    clock = FakeClock()
    b = win(clock)
    b.win_mouse_filter(0x200, MouseHook(7000, flags=0))
    b.on_move(10, 20, False)
    clock.advance(0.1)
    b.win_mouse_filter(0x201, MouseHook(7012, flags=pb.LLMHF_INJECTED, dwExtraInfo=0xFF515780))
    b.on_click(10, 20, FakeButton("left"), True, True)
    clock.advance(0.1)
    b.win_mouse_filter(0x20A, MouseHook(7020, dwExtraInfo=0xFF515700, mouseData=wheel(-120)))
    b.on_scroll(11, 21, 0, -1, False)
    b.win_mouse_filter(0x20E, MouseHook(7030, dwExtraInfo=0xFF515700, mouseData=wheel(240)))
    b.on_scroll(11, 21, 2, 0, False)
    clock.advance(0.1)
    b.win_mouse_filter(0x202, MouseHook(7050))
    b.on_click(12, 22, FakeButton("x2"), False, False)
    ev = b.collect()
    assert list(ev["kind"]) == [Kind.MOVE, Kind.BUTTON_DOWN, Kind.SCROLL, Kind.SCROLL,
                                Kind.BUTTON_UP]
    assert list(ev["t_ns"] - ev["t_ns"][0]) == [0, 12 * MS, 20 * MS, 30 * MS, 50 * MS]
    assert list(ev["device"]) == [pb.DEV_POINTER, pb.DEV_TOUCH, pb.DEV_PEN, pb.DEV_PEN,
                                  pb.DEV_POINTER]
    assert list(ev["flags"]) == [0, Flag.INJECTED, 0, Flag.HSCROLL, 0]
    assert list(ev["code"]) == [0, 1, -1, 2, 9]
    assert list(ev["x"]) == [10, 10, 11, 11, 12] and list(ev["y"]) == [20, 20, 21, 21, 22]


def test_windows_touchpad_wheel_fractions_add_up_to_notches() -> None:
    # pynput floor-divides each delta: four -30 deltas would be four notches down, four +30
    # none; the filter's accumulation gives one each way.
    clock = FakeClock()
    b = win(clock)
    for delta, pynput_dy in [(-30, -1)] * 4 + [(30, 0)] * 4 + [(-360, -3)]:
        clock.advance(0.01)
        b.win_mouse_filter(0x20A, MouseHook(1000, mouseData=wheel(delta)))
        b.on_scroll(5, 5, 0, pynput_dy, False)
    ev = b.collect()
    assert list(ev["code"]) == [-1, 1, -3]
    assert (ev["kind"] == Kind.SCROLL).all() and not (ev["flags"] & Flag.HSCROLL).any()


def test_filters_never_suppress_and_keep_failures() -> None:
    b = win()
    assert b.win_mouse_filter(0x200, object()) is True  # malformed struct: caught
    assert isinstance(b.error, AttributeError)
    b.on_move(1, 2)  # the listener keeps going, with the callback time
    assert len(b.collect()) == 1


def test_a_failing_key_filter_keeps_later_stamps_aligned() -> None:
    clock = FakeClock()
    b = win(clock)
    b.win_key_filter(0x100, object())  # malformed: no stamp, but pynput still posts it
    clock.advance(0.1)
    b.win_key_filter(0x100, KbdHook(0x42, 5000))
    clock.advance(0.1)
    b.win_key_filter(0x101, KbdHook(0x42, 5070))
    b.on_press(FakeKey(char="a", vk=0x41))  # falls back to callback time and pynput's vk
    b.on_press(FakeKey(char="b", vk=0x42))
    b.on_release(FakeKey(char="b", vk=0x42))
    ev = b.collect()
    assert isinstance(b.error, AttributeError)
    assert list(ev["kind"]) == [Kind.KEY_DOWN, Kind.KEY_DOWN, Kind.KEY_UP]
    assert ev["x"][1] == ev["x"][2] != ev["x"][0]
    assert ev["t_ns"][2] - ev["t_ns"][1] == 70 * MS  # b's own hook times, not a's


def test_a_failing_callback_is_caught_and_later_events_still_arrive() -> None:
    class Exploding:
        @property
        def char(self) -> str:
            raise RuntimeError("boom")

    b = win()
    b.on_press(Exploding())  # would silently stop a real pynput listener
    assert isinstance(b.error, RuntimeError)
    b.on_press(FakeKey(char="a"))
    b.on_release(FakeKey(char="a"))
    assert len(b.collect()) == 2


class FakeMetricsUser32:
    """GetSystemMetrics answers depend on the thread's DPI awareness, as on Windows."""

    def __init__(self, virtual: tuple[int, int] = (5120, 1440)) -> None:
        self.aware = False
        self.virtual = virtual

    def SetThreadDpiAwarenessContext(self, ctx: Any) -> int:
        handle = ctx.value  # a c_void_p, like the real function's argtypes ask for
        before, self.aware = self.aware, handle == 2**64 - 4  # (DPI_AWARENESS_CONTEXT)-4
        return 0x7FF0_0000_0011 if not before else 0x7FF0_0000_0012  # a 64-bit handle

    def GetSystemMetrics(self, index: int) -> int:
        scale = 1.0 if self.aware else 0.5  # 200 % scaling seen by an unaware thread
        sizes = {0: (2560, 1440), 78: self.virtual}
        if index in (0, 78):
            return int(sizes[index][0] * scale)
        return int(sizes[index - 1][1] * scale)


def test_windows_screen_is_the_physical_virtual_screen_and_awareness_is_restored() -> None:
    u = FakeMetricsUser32()
    assert pb.win_screen_size(u) == (5120, 1440)
    assert u.aware is False  # restored for the rest of the thread
    assert pb.win_screen_size(FakeMetricsUser32(virtual=(0, 0))) == (2560, 1440)


# --------------------------------------------------------------------------- macOS
def settle_keys(b: PynputBackend, clock: FakeClock, tick_ns: float, at: int) -> int:
    """A first keystroke over 0.3 s, as long in stamps of ``tick_ns`` each: the key channel's
    clock has told their unit apart. Returns the stamp after it."""
    b.on_press(FakeKey(char="q"))
    b.mac_key_intercept(10, hw(at, keycode=12))
    clock.advance(0.3)
    at += round(0.3e9 / tick_ns)
    b.on_release(FakeKey(char="q"))
    b.mac_key_intercept(11, hw(at, keycode=12))
    b.collect()
    return at


def test_macos_intercept_completes_parked_events_with_cgevent_stamps() -> None:
    clock = FakeClock()
    b = mac(clock, tick_ns=125 / 3)
    settle_keys(b, clock, 125 / 3, 23_000_000)
    b.on_press(FakeKey(char="a"))
    ev_down = hw(24_000_000, keycode=0)
    assert b.mac_key_intercept(10, ev_down) is ev_down  # the event passes through unchanged
    clock.advance(0.5)  # slow callbacks do not matter
    b.on_release(FakeKey(char="a"))
    b.mac_key_intercept(11, hw(24_000_000 + 2_400_000, keycode=0))  # +100 ms in mach ticks
    ev = b.collect()
    assert list(ev["kind"]) == [Kind.KEY_DOWN, Kind.KEY_UP]
    assert ev["t_ns"][1] - ev["t_ns"][0] == 100 * MS
    assert ev["x"][0] == ev["x"][1] and list(ev["code"]) == [KeyClass.LETTER] * 2
    assert not (ev["flags"] & Flag.INJECTED).any()


@pytest.mark.parametrize("stamps_ns", [125 / 3, 1.0])
def test_macos_stamps_in_mach_ticks_or_nanoseconds_give_true_intervals(stamps_ns: float) -> None:
    """Apple documents CGEventGetTimestamp in nanoseconds; developers measure mach ticks
    (41.67 ns on Apple silicon), and nanoseconds for some pointer events. Assuming one unit
    made every interval of the other 41.67 times too long or short. Whichever the stamps are
    in, the first 0.25 s of events tell it (stamped at receipt meanwhile), and intervals are
    then true."""
    clock = FakeClock()
    b = mac(clock, tick_ns=125 / 3)  # the timebase says 41.67 ns per tick
    at = settle_keys(b, clock, stamps_ns, 50_000_000)
    b.on_press(FakeKey(char="a"))
    b.mac_key_intercept(10, hw(at + round(1e9 / stamps_ns), keycode=0))
    clock.advance(1.004)
    b.on_release(FakeKey(char="a"))
    b.mac_key_intercept(11, hw(at + round(1.1e9 / stamps_ns), keycode=0))
    ev = b.collect()
    assert abs(int(ev["t_ns"][1] - ev["t_ns"][0]) - 100 * MS) <= 1


def test_tick_clock_stamps_at_receipt_until_it_tells_the_unit() -> None:
    c = TickClock(125 / 3, or_unit_ns=1.0)
    assert c.to_ns(1_000, now_ns=10 * MS) == 10 * MS
    assert c.to_ns(2_000, now_ns=100 * MS) == 100 * MS  # 90 ms: not yet
    t = c.to_ns(300 * MS, now_ns=310 * MS)  # 300 ms of nanosecond stamps: nanoseconds
    assert c.unit_ns == 1.0 and t == 310 * MS
    assert c.to_ns(316 * MS, now_ns=330 * MS) == 326 * MS  # intervals from the stamps now
    assert TickClock(1.0, or_unit_ns=1.0).to_ns(5, now_ns=7) == 7  # one unit: nothing to tell
    # a sleep between the first two events (counted by the receive clock, not by the stamps)
    # would make nanosecond stamps look like ticks: a long gap starts the measure again
    c = TickClock(125 / 3, or_unit_ns=1.0)
    c.to_ns(1_000 * MS, now_ns=1_000 * MS)
    assert c.to_ns(1_001 * MS, now_ns=3_601_000 * MS) == 3_601_000 * MS  # an hour asleep
    c.to_ns(1_301 * MS, now_ns=3_601_300 * MS)
    assert c.unit_ns == 1.0


def test_macos_injected_by_source_pid_or_private_source_state() -> None:
    f = pb.MacFields()
    b = mac()
    cases = [
        hw(1000),  # hardware
        CGEvent(2000, {f.source_state: f.hid_state, f.source_pid: 4242}),  # CGEventPost by pid
        CGEvent(3000, {f.source_state: -1, f.source_pid: 0}),  # private event source
    ]
    for e in cases:
        b.on_move(5, 6, False)
        b.mac_mouse_intercept(5, e)
    ev = b.collect()
    assert list(ev["flags"] & Flag.INJECTED) == [0, Flag.INJECTED, Flag.INJECTED]


def test_macos_tablet_subtype_is_a_pen_and_caps_lock_pair_shares_one_stamp() -> None:
    b = mac()
    b.on_click(1, 2, FakeButton("left"), True, False)
    b.mac_mouse_intercept(1, hw(5000, subtype=pb.MacFields().tablet_point))
    b.on_press(FakeKey(name="caps_lock"))  # pynput fakes press+release for one caps event
    b.on_release(FakeKey(name="caps_lock"))
    b.mac_key_intercept(12, hw(6000, keycode=57))
    ev = b.collect()
    assert ev["device"][0] == pb.DEV_PEN
    assert list(ev["kind"][1:]) == [Kind.KEY_DOWN, Kind.KEY_UP]
    assert ev["x"][1] == ev["x"][2] and list(ev["code"][1:]) == [KeyClass.MODIFIER] * 2


def test_macos_intercept_returns_the_event_even_when_it_fails() -> None:
    b = PynputBackend(platform="darwin", clock=FakeClock(), quartz=types.SimpleNamespace(),
                      tick_ns=1.0)
    b.on_move(1, 1)
    e = object()
    assert b.mac_mouse_intercept(5, e) is e  # never swallow the user's input
    assert isinstance(b.error, AttributeError)
    assert not b._pointer_ch.pending


# --------------------------------------------------------------------------- lifecycle
class _FakeListener:
    """Stands in for pynput's listeners: a thread that calls the hook then the callback."""

    n_events = 2000

    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self._t = threading.Thread(target=self._run, daemon=True)
        self._stop = threading.Event()

    def _run(self) -> None:
        for i in range(self.n_events):
            if "on_move" in self.kw:
                self.kw["win32_event_filter"](0x200, MouseHook(i))
                self.kw["on_move"](i, i, False)
            else:
                self.kw["win32_event_filter"](0x100 + (i & 1), KbdHook(0x41, i))
                (self.kw["on_release"] if i & 1 else self.kw["on_press"])(FakeKey(char="a"))
            if i % 200 == 0:
                time.sleep(0.002)
        self._stop.wait()

    def start(self) -> None:
        self._t.start()

    def wait(self) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._t.join(timeout)

    def is_alive(self) -> bool:
        return self._t.is_alive()


@pytest.fixture
def fake_pynput(monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = types.ModuleType("pynput")
    pkg.mouse = types.SimpleNamespace(Listener=_FakeListener)  # type: ignore[attr-defined]
    pkg.keyboard = types.SimpleNamespace(Listener=_FakeListener)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynput", pkg)


@pytest.mark.usefixtures("fake_pynput")
def test_start_delivers_batches_not_events_and_stop_flushes_everything() -> None:
    batches: list[np.ndarray] = []
    b = PynputBackend(platform="win32", drain_interval_s=0.005)
    b.start(batches.append)
    deadline = time.monotonic() + 10
    while sum(map(len, batches)) < 2 * _FakeListener.n_events and time.monotonic() < deadline:
        time.sleep(0.01)
    b.stop()
    b.stop()  # idempotent
    ev = np.concatenate(batches)
    assert len(ev) == 2 * _FakeListener.n_events
    assert len(batches) < len(ev) // 10  # the sink sees batches
    keys = ev[ev["kind"] >= Kind.KEY_DOWN]
    assert (keys["code"] == KeyClass.LETTER).all()
    assert b.error is None


class _DyingListener(_FakeListener):
    n_events = 10

    def _run(self) -> None:  # ends on its own, as pynput's thread does after an X error
        self._stop.set()
        super()._run()


def test_a_listener_that_dies_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = types.ModuleType("pynput")
    pkg.mouse = types.SimpleNamespace(Listener=_DyingListener)  # type: ignore[attr-defined]
    pkg.keyboard = types.SimpleNamespace(Listener=_FakeListener)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynput", pkg)
    b = PynputBackend(platform="win32")
    b.start(lambda a: None)
    deadline = time.monotonic() + 10
    while b.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    b.stop()
    assert b.error is not None and "stopped unexpectedly" in str(b.error)


def test_start_without_pynput_is_a_capture_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from activesec.core.errors import CaptureError

    monkeypatch.setitem(sys.modules, "pynput", None)  # import fails like on a headless Linux
    with pytest.raises(CaptureError, match="pynput cannot start"):
        PynputBackend(platform="win32").start(lambda a: None)


def test_probe_on_linux_without_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    p = PynputBackend.probe()
    assert not p.available and "DISPLAY" in p.reason and "evdev" in p.hint


# --------------------------------------------------------------------------- real X11
def _xdo(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True)


@pytest.mark.x11
@pytest.mark.usefixtures("xdisplay")
def test_x11_fallback_real_listener_captures_pointer_and_keys() -> None:
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is needed (apt-get install xdotool)")
    batches: list[np.ndarray] = []
    b = PynputBackend(platform="linux")
    assert b.probe().available
    b.start(batches.append)
    try:
        # pynput marks its xorg listener ready just before it enables RECORD: wiggle until
        # events flow, then start from a clean slate.
        deadline = time.monotonic() + 10
        while not batches and time.monotonic() < deadline:
            _xdo("mousemove", "1", "1", "mousemove", "2", "2")
            time.sleep(0.02)
        time.sleep(0.05)
        batches.clear()
        _xdo("mousemove", "100", "200")
        _xdo("mousedown", "1")
        time.sleep(0.05)
        _xdo("mousemove", "150", "220")
        _xdo("mouseup", "1")
        _xdo("click", "5")
        _xdo("type", "--delay", "20", "Ab 1!")
        time.sleep(0.3)
    finally:
        b.stop()
    assert b.error is None
    ev = np.concatenate(batches)
    ptr = ev[ev["kind"] < Kind.KEY_DOWN]
    moves = ptr[ptr["kind"] == Kind.MOVE]
    assert (100, 200) in set(zip(moves["x"].tolist(), moves["y"].tolist(), strict=True))
    down = ptr[ptr["kind"] == Kind.BUTTON_DOWN][0]
    up = ptr[ptr["kind"] == Kind.BUTTON_UP][0]
    assert (down["code"], down["x"], down["y"]) == (1, 100, 200)
    assert (up["code"], up["x"], up["y"]) == (1, 150, 220)
    assert up["t_ns"] - down["t_ns"] >= 40 * MS  # the X server's own event times
    assert list(ptr[ptr["kind"] == Kind.SCROLL]["code"]) == [-1]
    keys = ev[ev["kind"] >= Kind.KEY_DOWN]
    downs, ups = keys[keys["kind"] == Kind.KEY_DOWN], keys[keys["kind"] == Kind.KEY_UP]
    # xdotool presses Shift for "A" and "!": strokes pair up by keycode
    assert sorted(downs["x"].tolist()) == sorted(ups["x"].tolist())
    by_class = [KeyClass(c) for c in downs["code"]]
    assert by_class.count(KeyClass.LETTER) == 2 and KeyClass.PUNCTUATION in by_class
    assert KeyClass.DIGIT in by_class and KeyClass.SPACE in by_class
    for sid in downs["x"]:  # a release carries the class of its press
        assert len(set(keys[keys["x"] == sid]["code"].tolist())) == 1
    assert (np.diff(ev["t_ns"][ev["kind"] >= Kind.KEY_DOWN]) >= 0).all()


# --------------------------------------------------------------------------- macOS tap off

class FakeQuartzListener:
    """pynput's darwin ListenerMixin as far as the subclass relies on it: ``_run`` creates
    the tap with ``_create_event_tap`` and macOS calls ``_handler`` for every event."""

    __module__ = "pynput.mouse._darwin"

    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self.dispatched: list[int] = []

    def _create_event_tap(self) -> object:
        return "the-tap"

    def _handler(self, proxy: Any, event_type: int, event: Any, refcon: Any) -> Any:
        self.dispatched.append(event_type)
        return self.kw["darwin_intercept"](event_type, event)


def test_a_tap_macos_switches_off_is_turned_back_on(caplog: pytest.LogCaptureFixture) -> None:
    """macOS switches an active event tap off when its callback is slow (the agent busy) and
    says so through the callback; pynput passed that on as an input event and never turned
    the tap on again: capture stopped for the rest of the session, silently."""
    q = fake_quartz()
    enabled: list[tuple[object, bool]] = []
    q.CGEventTapEnable = lambda tap, on: enabled.append((tap, on))
    b = PynputBackend(platform="darwin", clock=FakeClock(), quartz=q, tick_ns=1.0)
    mouse = types.SimpleNamespace(Listener=FakeQuartzListener)
    listener = b._make_mouse_listener(mouse)
    tap = listener._create_event_tap()  # as pynput's _run does
    ev = hw(5)
    with caplog.at_level("WARNING"):
        assert listener._handler(None, pb.TAP_DISABLED_BY_TIMEOUT, ev, None) is ev
    assert enabled == [(tap, True)]
    assert listener.dispatched == [] and b.tap_reenabled == 1
    assert "turned back on" in caplog.text
    assert listener._handler(None, 5, ev, None) is ev  # an ordinary event: pynput's dispatch
    assert listener.dispatched == [5]
    keyboard = types.SimpleNamespace(Listener=FakeQuartzListener)
    klistener = b._make_key_listener(keyboard)
    klistener._create_event_tap()
    klistener._handler(None, pb.TAP_DISABLED_BY_USER_INPUT, ev, None)
    assert b.tap_reenabled == 2 and klistener.dispatched == []


def test_pynput_s_quartz_listener_still_has_what_the_subclass_overrides() -> None:
    """The subclass relies on two internals of pynput's darwin listener (importable on macOS
    only): read its source, so an upgrade that renames them fails here, not on a Mac."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("pynput")
    assert spec is not None and spec.origin is not None
    src = (Path(spec.origin).parent / "_util" / "darwin.py").read_text()
    assert "tap = self._create_event_tap()" in src
    assert "def _handler(self, proxy, event_type, event, refcon):" in src
    assert "self._handler," in src  # the bound method macOS calls
