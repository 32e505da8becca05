"""X11 wire parsing and event assembly on synthetic X protocol bytes (no X server needed).

The integration tests (tests/integration/test_x11_capture.py) show the real server's streams
arrive right; these pin down the cases a test server cannot easily produce: split packets,
the 32-bit server-time wrap, a raw event arriving after its core twin, orphans, auto-repeat.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from activesec.capture._x11_wire import (
    Assembler,
    ServerClock,
    split_record,
    split_xi,
)
from activesec.core.events import Flag, Kind
from activesec.core.keys import KeyClass

XI = 131  # the XInputExtension major opcode in these streams
XTEST_POINTER, XTEST_KEYBOARD, MOUSE, KEYBOARD = 4, 5, 6, 7
MS = 1_000_000


def core_event(kind: int, detail: int, time: int, x: int = 0, y: int = 0) -> bytes:
    return struct.pack("=BBHIIIIhhhhHBB", kind, detail, 0, time, 1, 1, 0, x, y, x, y, 0, 1, 0)


def record_reply(category: int, data: bytes = b"", server_time: int = 0) -> bytes:
    return struct.pack("=BBHIBBHIIIII", 1, category, 0, len(data) // 4, 0, 0, 0, 0,
                       server_time, 0, 0, 0) + data


def raw_event(evtype: int, time: int, detail: int, source: int, valuators: int = 0) -> bytes:
    extra = b"\0" * (4 * valuators)
    return struct.pack("=BBHIHHIIHHII", 35, XI, 0, valuators, evtype, 2, time, detail, source,
                       1, 0, 0) + extra


RAW = {"key_press": 13, "key_release": 14, "button_press": 15, "button_release": 16,
       "motion": 17}
CORE = {"key_press": 2, "key_release": 3, "button_press": 4, "button_release": 5, "motion": 6}


def assembler(anchor_ms: int = 1000) -> Assembler:
    classes = np.zeros(256, np.int16)
    classes[38] = KeyClass.LETTER
    classes[50] = KeyClass.MODIFIER
    return Assembler(ServerClock(anchor_ms, 10**12), classes, injectors=[XTEST_POINTER,
                                                                          XTEST_KEYBOARD])


def feed(asm: Assembler, core: list[bytes], raw: list[bytes], now: int = 0,
         final: bool = False, suspended: int = 0) -> np.ndarray:
    rec, _ = split_record(b"".join(record_reply(0, c) for c in core))
    xi, _ = split_xi(b"".join(raw), XI)
    asm.add(rec.events, xi.raw, now, suspended)
    return asm.take(now, final=final)


# -- splitting ----------------------------------------------------------------------------


def test_record_stream_split_keeps_partial_packets_for_the_next_read() -> None:
    stream = (record_reply(4, server_time=999) + record_reply(0, core_event(6, 0, 1000, 5, 6))
              + struct.pack("=BBHI", 34, 0, 0, 0) + b"\0" * 24  # MappingNotify to us
              + record_reply(0, core_event(6, 0, 1001, 7, 8) + core_event(4, 1, 1001, 7, 8)))
    cut = len(stream) - 10
    chunk, used = split_record(stream[:cut])
    assert chunk.start_time == 999 and chunk.mapping_changed and not chunk.ended
    assert chunk.events[["root_x", "root_y"]].tolist() == [(5, 6)]
    rest, used2 = split_record(stream[used:] + record_reply(5))
    assert rest.events["type"].tolist() == [6, 4] and rest.events["time"].tolist() == [1001] * 2
    assert rest.ended and used + used2 == len(stream) + 32


def test_xi_stream_split_handles_valuators_replies_and_hierarchy() -> None:
    hierarchy = struct.pack("=BBHIHH", 35, XI, 0, 0, 11, 0) + b"\0" * 20
    reply = struct.pack("=BBHI", 1, 0, 0, 0) + b"\0" * 24
    stream = (raw_event(17, 1000, 0, MOUSE, valuators=10) + hierarchy
              + raw_event(15, 1001, 1, XTEST_POINTER) + reply + raw_event(13, 1002, 38, 5, 3))
    chunk, used = split_xi(stream + stream[:40], XI)
    assert used == len(stream)
    assert chunk.raw["evtype"].tolist() == [17, 15, 13]
    assert chunk.raw["sourceid"].tolist() == [MOUSE, XTEST_POINTER, 5]
    assert chunk.raw["detail"].tolist() == [0, 1, 38]
    assert chunk.hierarchy_changed and chunk.replies == 1


# -- time -----------------------------------------------------------------------------------


def test_server_time_unwraps_across_the_32_bit_wrap() -> None:
    clock = ServerClock(2**32 - 3, 5 * 10**9)
    ms = clock.unwrap(np.array([2**32 - 2, 2**32 - 1, 0, 1], np.uint32))
    assert ms.tolist() == [2**32 - 2, 2**32 - 1, 2**32, 2**32 + 1]
    assert clock.unwrap(np.array([4], np.uint32)).tolist() == [2**32 + 4]
    assert clock.to_ns(ms).tolist() == [5 * 10**9 + k * MS for k in (1, 2, 3, 4)]


@pytest.mark.parametrize("days", [20, 30, 60, 100])
def test_a_long_silence_is_never_read_as_a_step_back(days: int) -> None:
    """No input at all for weeks (a desktop left on over the holidays): the 32-bit server time
    alone cannot tell 30 days from 30 - 49.7; when the batch was read can. Event times go
    forward by the silence, never weeks back (idle detection, stored order, wall times)."""
    asm = assembler(anchor_ms=1000)
    first = feed(asm, [core_event(6, 0, 1005, 1, 1)], [raw_event(17, 1005, 0, MOUSE)],
                 now=10**12 + 6 * MS)
    later_ms = 1005 + days * 86_400_000
    ev = feed(asm, [core_event(6, 0, later_ms % 2**32, 2, 2)],
              [raw_event(17, later_ms % 2**32, 0, MOUSE)],
              now=10**12 + 6 * MS + days * 86_400 * 10**9)
    assert ev["device"].tolist() == [MOUSE]  # the raw twin unwrapped alike: still matched
    assert int(ev["t_ns"][0] - first["t_ns"][0]) == days * 86_400 * 10**9


def test_event_times_come_from_the_server_clock_across_a_wrap() -> None:
    asm = assembler(anchor_ms=2**32 - 10)
    ev = feed(asm, [core_event(6, 0, 2**32 - 5, 1, 1), core_event(6, 0, 3, 2, 2)],
              [raw_event(17, 2**32 - 5, 0, MOUSE), raw_event(17, 3, 0, MOUSE)])
    assert ((ev["t_ns"] - 10**12) // MS).tolist() == [5, 13]


def test_a_suspend_moves_event_times_on_by_its_length() -> None:
    """The X server's clock (CLOCK_MONOTONIC) stops while the laptop sleeps: two moves 2 s
    apart in server time, either side of a 3-hour suspend, are 3 h 2 s apart on the agent's
    clock — and the move read before the suspend, but delivered after it, keeps its time."""
    asm = assembler()
    night = 3 * 3600 * 10**9
    assert len(feed(asm, [core_event(6, 0, 1005, 1, 1)], [], now=0, suspended=7 * MS)) == 0
    ev = feed(asm, [core_event(6, 0, 3005, 2, 2)],
              [raw_event(17, 1005, 0, MOUSE), raw_event(17, 3005, 0, MOUSE)],
              now=10**9, suspended=7 * MS + night + 123)  # whole ms: reads cannot reorder
    assert ((ev["t_ns"] - 10**12) // MS).tolist() == [5 + 7, 2005 + 7 + night // MS]
    later = feed(asm, [core_event(6, 0, 3006, 3, 3)], [raw_event(17, 3006, 0, MOUSE)],
                 now=2 * 10**9, suspended=7 * MS + night)  # one total read a little lower
    assert int(later["t_ns"][0]) == int(ev["t_ns"][-1]) + MS


# -- matching and flags -----------------------------------------------------------------------


def test_source_device_and_injected_flag_come_from_the_raw_twin() -> None:
    asm = assembler()
    ev = feed(asm,
              [core_event(6, 0, 1001, 10, 20), core_event(6, 0, 1001, 11, 21),
               core_event(4, 1, 1002, 11, 21)],
              [raw_event(17, 1001, 0, MOUSE), raw_event(17, 1001, 0, MOUSE),
               raw_event(15, 1002, 1, XTEST_POINTER)])
    assert ev["device"].tolist() == [MOUSE, MOUSE, XTEST_POINTER]
    assert (ev["flags"] & Flag.INJECTED).tolist() == [0, 0, Flag.INJECTED]
    assert ev["kind"].tolist() == [Kind.MOVE, Kind.MOVE, Kind.BUTTON_DOWN]


def test_a_core_event_waits_for_its_raw_twin_on_the_other_connection() -> None:
    asm = assembler()
    assert len(feed(asm, [core_event(6, 0, 1005, 3, 4)], [], now=0)) == 0
    assert asm.pending == 1
    ev = feed(asm, [], [raw_event(17, 1005, 0, MOUSE)], now=5 * MS)
    assert ev["device"].tolist() == [MOUSE] and ev["flags"].tolist() == [0]


def test_pointer_motion_no_device_made_is_flagged_after_the_grace() -> None:
    """XWarpPointer (an app re-centring the cursor, `xdotool mousemove`) moves the pointer with
    no raw event at all: a warp. A click no device made is injected input, not a warp."""
    asm = assembler()
    feed(asm, [core_event(6, 0, 1005, 3, 4), core_event(4, 1, 1006, 3, 4)], [], now=0)
    assert asm.pending == 2
    ev = asm.take(asm.grace_ns)
    assert ev["device"].tolist() == [0, 0]
    assert ev["flags"].tolist() == [Flag.INJECTED | Flag.WARPED, Flag.INJECTED]
    assert asm.unmatched == 2


def test_events_derived_from_device_input_take_the_nearest_raw_source() -> None:
    """Legacy wheel clicks of smooth scrolling have raw motion, not raw buttons, beside them."""
    asm = assembler()
    ev = feed(asm, [core_event(4, 4, 1010), core_event(5, 4, 1010)],
              [raw_event(17, 1008, 0, XTEST_POINTER), raw_event(17, 1010, 0, MOUSE)])
    assert ev["kind"].tolist() == [Kind.SCROLL] and ev["device"].tolist() == [MOUSE]
    assert ev["flags"].tolist() == [0]


def test_wheel_buttons_become_signed_scroll_steps() -> None:
    asm = assembler()
    core = [core_event(k, b, 1001) for b in (4, 5, 6, 7) for k in (4, 5)]
    raw = [raw_event(e, 1001, b, MOUSE) for b in (4, 5, 6, 7) for e in (15, 16)]
    ev = feed(asm, core, raw)
    assert ev["kind"].tolist() == [Kind.SCROLL] * 4
    assert ev["code"].tolist() == [1, -1, -1, 1]
    assert (ev["flags"] & Flag.HSCROLL).tolist() == [0, 0, Flag.HSCROLL, Flag.HSCROLL]


# -- keys -------------------------------------------------------------------------------------


def test_keys_leave_as_classes_with_stroke_ids_and_repeats_are_dropped() -> None:
    asm = assembler()
    core = [core_event(2, 50, 1001), core_event(2, 38, 1002), core_event(2, 38, 1500),
            core_event(2, 38, 1530), core_event(3, 50, 1600), core_event(3, 38, 1700)]
    raw = [raw_event(13, 1001, 50, KEYBOARD), raw_event(13, 1002, 38, KEYBOARD),
           raw_event(14, 1600, 50, KEYBOARD), raw_event(14, 1700, 38, KEYBOARD)]
    ev = feed(asm, core, raw)  # 1500 and 1530: the server's auto-repeat, no raw twin
    assert ev["kind"].tolist() == [Kind.KEY_DOWN, Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_UP]
    assert ev["code"].tolist() == [KeyClass.MODIFIER, KeyClass.LETTER] * 2
    assert ev["x"].tolist() == [1, 2, 1, 2] and ev["y"].tolist() == [0] * 4
    assert ev["device"].tolist() == [KEYBOARD] * 4 and ev["flags"].tolist() == [0] * 4


def test_a_release_without_press_gets_its_own_stroke_and_no_injected_guess() -> None:
    asm = assembler()
    ev = feed(asm, [core_event(3, 38, 1001), core_event(2, 38, 1002)], [], final=True)
    assert ev["x"].tolist() == [1, 2]
    assert ev["device"].tolist() == [0, 0] and ev["flags"].tolist() == [0, 0]


def test_strokes_pair_across_batches() -> None:
    asm = assembler()
    first = feed(asm, [core_event(2, 38, 1001)], [raw_event(13, 1001, 38, XTEST_KEYBOARD)])
    second = feed(asm, [core_event(3, 38, 1090)], [raw_event(14, 1090, 38, XTEST_KEYBOARD)])
    assert first["x"].tolist() == second["x"].tolist() == [1]
    assert second["flags"].tolist() == [Flag.INJECTED]
