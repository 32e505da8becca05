"""EvdevBackend: the pure translation with synthetic ``evdev.InputEvent``s, device
classification from capability sets, and the selector loop over pipe-backed fake devices.

No /dev/input nodes exist here or in CI: the live test skips with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import threading
import time
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

evdev = pytest.importorskip("evdev")
from evdev import InputEvent  # noqa: E402
from evdev import ecodes as e  # noqa: E402
from tests.helpers.unprivileged import run_unprivileged, shared_tmp_dir  # noqa: E402

from activesec.capture import evdev_backend as eb  # noqa: E402
from activesec.capture.evdev_backend import (  # noqa: E402
    Cursor,
    DeviceState,
    EvdevBackend,
    classify,
    evdev_key_class,
    is_virtual,
    translate,
)
from activesec.capture.stamping import StrokePairer  # noqa: E402
from activesec.core.errors import CaptureError  # noqa: E402
from activesec.core.events import DeviceType, Flag, Kind  # noqa: E402
from activesec.core.keys import KeyClass  # noqa: E402

SCREEN = (1000, 500)


def ev(t_ms: float, etype: int, code: int, value: int) -> InputEvent:
    us = round(t_ms * 1000)
    return InputEvent(us // 1_000_000, us % 1_000_000, etype, code, value)


def syn(t_ms: float) -> InputEvent:
    return ev(t_ms, e.EV_SYN, e.SYN_REPORT, 0)


def mouse(**kw: Any) -> DeviceState:
    return DeviceState(0, DeviceType.MOUSE, Cursor(SCREEN, 500, 250), **kw)


def kbd(index: int = 1, pairer: StrokePairer | None = None) -> DeviceState:
    return DeviceState(index, DeviceType.KEYBOARD, Cursor(SCREEN), pairer or StrokePairer(),
                       pointer=False, keyboard=True)


def rows(a: np.ndarray, *cols: str) -> list[tuple[int, ...]]:
    return [tuple(int(r[c]) for c in cols) for r in a]


# --------------------------------------------------------------------------- key classes
@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (e.KEY_A, KeyClass.LETTER), (e.KEY_Z, KeyClass.LETTER), (e.KEY_1, KeyClass.DIGIT),
        (e.KEY_KP7, KeyClass.DIGIT), (e.KEY_SPACE, KeyClass.SPACE), (e.KEY_ENTER, KeyClass.ENTER),
        (e.KEY_KPENTER, KeyClass.ENTER), (e.KEY_BACKSPACE, KeyClass.BACKSPACE),
        (e.KEY_DELETE, KeyClass.BACKSPACE), (e.KEY_LEFTSHIFT, KeyClass.MODIFIER),
        (e.KEY_RIGHTALT, KeyClass.MODIFIER), (e.KEY_LEFTMETA, KeyClass.MODIFIER),
        (e.KEY_CAPSLOCK, KeyClass.MODIFIER), (e.KEY_TAB, KeyClass.NAVIGATION),
        (e.KEY_PAGEDOWN, KeyClass.NAVIGATION), (e.KEY_LEFT, KeyClass.NAVIGATION),
        (e.KEY_COMMA, KeyClass.PUNCTUATION), (e.KEY_LEFTBRACE, KeyClass.PUNCTUATION),
        (e.KEY_KPPLUS, KeyClass.PUNCTUATION), (e.KEY_ESC, KeyClass.OTHER),
        (e.KEY_F5, KeyClass.OTHER), (99_999, KeyClass.OTHER),
    ],
)
def test_key_codes_map_to_classes_through_their_names(code: int, cls: KeyClass) -> None:
    assert evdev_key_class(code) == cls


# --------------------------------------------------------------------------- translate
def test_relative_motion_is_one_move_per_frame_at_kernel_time_and_clamped() -> None:
    s = mouse()
    out = translate([
        ev(10.5, e.EV_REL, e.REL_X, 3), ev(10.5, e.EV_REL, e.REL_Y, -2), syn(10.5),
        ev(18.0, e.EV_REL, e.REL_X, 5), syn(18.0),
        ev(20.0, e.EV_REL, e.REL_X, 10_000), ev(20.0, e.EV_REL, e.REL_Y, -10_000), syn(20.0),
    ], s)
    assert rows(out, "kind", "x", "y") == [(Kind.MOVE, 503, 248), (Kind.MOVE, 508, 248),
                                           (Kind.MOVE, 999, 0)]
    assert list(out["t_ns"]) == [10_500_000, 18_000_000, 20_000_000]
    assert (out["device"] == 0).all() and (out["flags"] == 0).all()


def test_buttons_carry_the_frames_position_and_side_buttons_map() -> None:
    s = mouse()
    out = translate([
        ev(1, e.EV_REL, e.REL_X, 4), ev(1, e.EV_KEY, e.BTN_LEFT, 1), syn(1),
        ev(2, e.EV_KEY, e.BTN_LEFT, 0), ev(2, e.EV_KEY, e.BTN_SIDE, 1), syn(2),
        ev(3, e.EV_KEY, e.BTN_EXTRA, 0), ev(3, e.EV_KEY, e.BTN_RIGHT, 1), syn(3),
        ev(4, e.EV_KEY, e.BTN_MIDDLE, 1), syn(4),
    ], s)
    assert rows(out, "kind", "x", "code") == [
        (Kind.MOVE, 504, 0), (Kind.BUTTON_DOWN, 504, 1), (Kind.BUTTON_UP, 504, 1),
        (Kind.BUTTON_DOWN, 504, 8), (Kind.BUTTON_UP, 504, 9), (Kind.BUTTON_DOWN, 504, 3),
        (Kind.BUTTON_DOWN, 504, 2),
    ]


def test_wheels_count_once_even_with_hi_res_twins() -> None:
    s = mouse()
    out = translate([
        ev(1, e.EV_REL, e.REL_WHEEL, 1), ev(1, e.EV_REL, e.REL_WHEEL_HI_RES, 120), syn(1),
        ev(2, e.EV_REL, e.REL_WHEEL_HI_RES, 60), syn(2),  # half a notch: no step yet
        ev(3, e.EV_REL, e.REL_WHEEL, -2), ev(3, e.EV_REL, e.REL_WHEEL_HI_RES, -240), syn(3),
        ev(4, e.EV_REL, e.REL_HWHEEL, 1), ev(4, e.EV_REL, e.REL_HWHEEL_HI_RES, 120), syn(4),
    ], s)
    assert rows(out, "kind", "code", "flags") == [
        (Kind.SCROLL, 1, 0), (Kind.SCROLL, -2, 0), (Kind.SCROLL, 1, Flag.HSCROLL)]


def test_injected_device_flags_every_event_and_offset_shifts_realtime_stamps() -> None:
    s = mouse(injected=True, offset_ns=-1_000_000)
    out = translate([ev(5, e.EV_REL, e.REL_X, 1), syn(5), ev(5, e.EV_KEY, e.BTN_LEFT, 1),
                     syn(5)], s)
    assert (out["flags"] & Flag.INJECTED).all()
    assert (out["t_ns"] == 4_000_000).all()


def test_keys_pair_by_code_skip_autorepeat_and_unmatched_releases() -> None:
    s = kbd()
    out = translate([
        ev(0, e.EV_KEY, e.KEY_A, 0),  # released before capture saw the press
        ev(1, e.EV_KEY, e.KEY_LEFTSHIFT, 1), syn(1),
        ev(2, e.EV_KEY, e.KEY_1, 1), syn(2),
        ev(300, e.EV_KEY, e.KEY_1, 2), syn(300),  # auto-repeat
        ev(330, e.EV_KEY, e.KEY_1, 2), syn(330),
        ev(340, e.EV_KEY, e.KEY_LEFTSHIFT, 0), syn(340),
        ev(350, e.EV_KEY, e.KEY_1, 0), syn(350),
        ev(360, e.EV_REL, e.REL_X, 5), syn(360),  # not a pointer: ignored
    ], s)
    assert rows(out, "kind", "code", "t_ns") == [
        (Kind.KEY_DOWN, KeyClass.MODIFIER, 1_000_000), (Kind.KEY_DOWN, KeyClass.DIGIT, 2_000_000),
        (Kind.KEY_UP, KeyClass.MODIFIER, 340_000_000), (Kind.KEY_UP, KeyClass.DIGIT, 350_000_000)]
    shift, one = out["x"][0], out["x"][1]
    assert list(out["x"]) == [shift, one, shift, one] and shift != one
    assert (out["y"] == 0).all() and (out["device"] == 1).all()


def test_two_keyboards_pressing_the_same_key_are_two_strokes() -> None:
    pairer = StrokePairer()
    a, b = kbd(1, pairer), kbd(2, pairer)
    out = np.concatenate([
        translate([ev(1, e.EV_KEY, e.KEY_A, 1)], a), translate([ev(2, e.EV_KEY, e.KEY_A, 1)], b),
        translate([ev(3, e.EV_KEY, e.KEY_A, 0)], a), translate([ev(4, e.EV_KEY, e.KEY_A, 0)], b),
    ])
    assert out["x"][0] != out["x"][1]
    assert list(out["x"][2:]) == list(out["x"][:2])


def test_syn_dropped_discards_the_partial_frame() -> None:
    s = mouse()
    out = translate([ev(1, e.EV_REL, e.REL_X, 50), ev(1, e.EV_SYN, e.SYN_DROPPED, 0),
                     ev(2, e.EV_REL, e.REL_X, 1), syn(2)], s)
    assert rows(out, "x") == [(501,)]


def test_touchscreen_scales_its_axis_range_and_contact_is_the_primary_button() -> None:
    s = DeviceState(3, DeviceType.TOUCHSCREEN, Cursor(SCREEN), abs_x=(0, 4000),
                    abs_y=(0, 2000))
    out = translate([
        ev(1, e.EV_ABS, e.ABS_X, 2000), ev(1, e.EV_ABS, e.ABS_Y, 2000),
        ev(1, e.EV_KEY, e.BTN_TOUCH, 1), syn(1),
        ev(2, e.EV_ABS, e.ABS_X, 4000), syn(2),
        ev(3, e.EV_KEY, e.BTN_TOUCH, 0), syn(3),
    ], s)
    assert rows(out, "kind", "x", "y", "code") == [
        (Kind.MOVE, 500, 499, 0), (Kind.BUTTON_DOWN, 500, 499, 1), (Kind.MOVE, 999, 499, 0),
        (Kind.BUTTON_UP, 999, 499, 1)]


def test_an_absolute_mouse_puts_the_cursor_where_its_axes_say() -> None:
    """A VM's pointer reports where the host's mouse is on the guest screen (0..32767)."""
    s = DeviceState(5, DeviceType.MOUSE, Cursor(SCREEN), abs_x=(0, 32767), abs_y=(0, 32767))
    out = translate([
        ev(1, e.EV_ABS, e.ABS_X, 0), ev(1, e.EV_ABS, e.ABS_Y, 32767), syn(1),
        ev(2, e.EV_ABS, e.ABS_X, 32767), syn(2),
        ev(3, e.EV_KEY, e.BTN_LEFT, 1), syn(3), ev(4, e.EV_KEY, e.BTN_LEFT, 0), syn(4),
    ], s)
    assert rows(out, "kind", "x", "y", "code") == [
        (Kind.MOVE, 0, 499, 0), (Kind.MOVE, 999, 499, 0), (Kind.BUTTON_DOWN, 999, 499, 1),
        (Kind.BUTTON_UP, 999, 499, 1)]


def test_pen_barrel_button_and_tip() -> None:
    s = DeviceState(4, DeviceType.PEN, Cursor(SCREEN), abs_x=(0, 100), abs_y=(0, 100))
    out = translate([ev(1, e.EV_ABS, e.ABS_X, 0), ev(1, e.EV_KEY, e.BTN_TOOL_PEN, 1),
                     ev(1, e.EV_KEY, e.BTN_TOUCH, 1), ev(1, e.EV_KEY, e.BTN_STYLUS, 1), syn(1)],
                    s)
    assert rows(out, "kind", "code") == [(Kind.MOVE, 0), (Kind.BUTTON_DOWN, 1),
                                         (Kind.BUTTON_DOWN, 3)]


def test_touchpad_moves_the_cursor_by_finger_deltas_and_touch_is_no_click() -> None:
    cur = Cursor(SCREEN, 100, 100)
    s = DeviceState(2, DeviceType.TOUCHPAD, cur, abs_x=(0, 999), abs_y=(0, 499))
    out = translate([
        ev(0, e.EV_ABS, e.ABS_X, 50), syn(0),  # no finger down: nothing moves
        ev(1, e.EV_ABS, e.ABS_X, 700), ev(1, e.EV_ABS, e.ABS_Y, 300),  # contact frame
        ev(1, e.EV_KEY, e.BTN_TOOL_FINGER, 1), ev(1, e.EV_KEY, e.BTN_TOUCH, 1), syn(1),
        ev(2, e.EV_ABS, e.ABS_X, 710), syn(2),
        ev(3, e.EV_ABS, e.ABS_X, 730), ev(3, e.EV_ABS, e.ABS_Y, 290), syn(3),
        ev(4, e.EV_KEY, e.BTN_TOUCH, 0), syn(4),
        ev(5, e.EV_KEY, e.BTN_TOUCH, 1), ev(5, e.EV_ABS, e.ABS_X, 100), syn(5),  # new touch
        ev(6, e.EV_KEY, e.BTN_LEFT, 1), syn(6),  # the physical click
    ], s)
    # finger deltas only (pad width 999 spans the 1000 px screen): no jump on a new touch
    assert rows(out, "kind", "x", "y", "code") == [
        (Kind.MOVE, 110, 100, 0), (Kind.MOVE, 130, 90, 0), (Kind.BUTTON_DOWN, 130, 90, 1)]


# --------------------------------------------------------------------------- discovery
MOUSE_CAPS = {e.EV_KEY: [e.BTN_LEFT, e.BTN_RIGHT, e.BTN_MIDDLE],
              e.EV_REL: [e.REL_X, e.REL_Y, e.REL_WHEEL, e.REL_WHEEL_HI_RES]}
KBD_CAPS = {e.EV_KEY: list(range(1, 120))}
PAD_CAPS = {e.EV_KEY: [e.BTN_LEFT, e.BTN_TOOL_FINGER, e.BTN_TOUCH],
            e.EV_ABS: [e.ABS_X, e.ABS_Y, e.ABS_MT_POSITION_X]}
SCREEN_CAPS = {e.EV_KEY: [e.BTN_TOUCH], e.EV_ABS: [e.ABS_X, e.ABS_Y]}
PEN_CAPS = {e.EV_KEY: [e.BTN_TOOL_PEN, e.BTN_TOUCH, e.BTN_STYLUS], e.EV_ABS: [e.ABS_X, e.ABS_Y]}


@pytest.mark.parametrize(
    ("name", "caps", "props", "pointer", "keyboard"),
    [
        ("Logitech USB Optical Mouse", MOUSE_CAPS, [], DeviceType.MOUSE, False),
        ("AT Translated Set 2 keyboard", KBD_CAPS, [], None, True),
        ("SynPS/2 Synaptics TouchPad", PAD_CAPS, [e.INPUT_PROP_POINTER], DeviceType.TOUCHPAD,
         False),
        ("ELAN2514:00 04F3:2AF1", SCREEN_CAPS, [e.INPUT_PROP_DIRECT], DeviceType.TOUCHSCREEN,
         False),
        ("Wacom Intuos S Pen", PEN_CAPS, [e.INPUT_PROP_POINTER], DeviceType.PEN, False),
        ("Power Button", {e.EV_KEY: [e.KEY_POWER]}, [], None, False),
        ("Keyboard with pointing stick", {**KBD_CAPS, e.EV_REL: [e.REL_X, e.REL_Y]}, [],
         DeviceType.MOUSE, True),
        # absolute mice: a VM's pointer that follows the host's mouse (evtest's capabilities)
        ("VirtualBox mouse integration", {e.EV_KEY: [e.BTN_LEFT], e.EV_ABS: [e.ABS_X, e.ABS_Y]},
         [], DeviceType.MOUSE, False),
        ("QEMU QEMU USB Tablet", {e.EV_KEY: [e.BTN_LEFT, e.BTN_RIGHT, e.BTN_MIDDLE],
                                  e.EV_ABS: [e.ABS_X, e.ABS_Y], e.EV_REL: [e.REL_WHEEL]},
         [], DeviceType.MOUSE, False),
    ],
)
def test_classify_devices_from_capabilities(name: str, caps: dict[int, Sequence[int]],
                                            props: list[int], pointer: DeviceType | None,
                                            keyboard: bool) -> None:
    role = classify(name, caps, props)
    assert (role.pointer, role.keyboard) == (pointer, keyboard)


def test_virtual_devices() -> None:
    assert is_virtual("py-evdev-uinput", "py-evdev-uinput", "")
    assert is_virtual("My Mouse", "", "")  # no physical path
    assert is_virtual("My Mouse", "usb-0000:00:14.0-1/input0", "/sys/devices/virtual/input/input9")
    assert not is_virtual("My Mouse", "usb-0000:00:14.0-1/input0",
                          "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/input/input3")


def test_probe_explains_the_input_group() -> None:
    with shared_tmp_dir() as tmp:
        p = EvdevBackend.probe(str(tmp))
        assert not p.available and "none exist" in p.reason
        # no node at all: the 'input' group cannot help (it was the hint, also to root)
        assert "pass them through" in p.hint and "usermod" not in p.hint
        for i in (0, 1):  # root-owned 0600 nodes, as /dev/input/event* are (crw-rw---- input)
            (tmp / f"event{i}").touch()
            (tmp / f"event{i}").chmod(0o600)
        assert EvdevBackend.probe(str(tmp)).available  # root reads them
        # a user outside the input group cannot: this suite runs as root, so ask a child that
        # dropped to uid 65534
        r = run_unprivileged(
            "import evdev\nfrom activesec.capture.evdev_backend import EvdevBackend\n",
            f"p = EvdevBackend.probe({str(tmp)!r})\nprint(p.available)\nprint(p.reason)\n"
            "print(p.hint)",
        )
    assert r.returncode == 0, r.stderr[-3000:]
    available, reason, hint = r.stdout.splitlines()
    assert available == "False"
    assert reason == f"no readable {tmp}/event* devices (2 exist, permission denied)"
    assert "sudo usermod -aG input $USER" in hint


# --------------------------------------------------------------------------- I/O loop
class PipeDevice:
    """A python-evdev InputDevice stand-in whose fd is a real pipe (selectable)."""

    def __init__(self, path: str, name: str, caps: dict[int, list[int]], phys: str = "usb-1",
                 props: list[int] | None = None) -> None:
        self.path, self.name, self.phys = path, name, phys
        self._caps, self._props = caps, props or []
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self._queue: list[InputEvent] = []
        self._lock = threading.Lock()
        self.unplugged = False
        self.closed = False

    def feed(self, events: list[InputEvent]) -> None:
        with self._lock:
            self._queue.extend(events)
        os.write(self._w, b"x")

    def fileno(self) -> int:
        return self._r

    def read(self) -> Iterator[InputEvent]:
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        with contextlib.suppress(BlockingIOError):
            os.read(self._r, 4096)
        with self._lock:
            out, self._queue = self._queue, []
        return iter(out)

    def capabilities(self, absinfo: bool = True) -> dict[int, list[int]]:
        return self._caps

    def input_props(self) -> list[int]:
        return self._props

    def absinfo(self, code: int) -> Any:
        raise OSError(errno.EINVAL, "no abs")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._r)
            os.close(self._w)


def test_reader_loop_batches_devices_survives_unplug_and_flushes_on_stop(tmp_path: Path) -> None:
    devs = {
        "event0": PipeDevice("event0", "Test Mouse", MOUSE_CAPS),
        "event1": PipeDevice("event1", "Test Keyboard", KBD_CAPS),
        "event2": PipeDevice("event2", "Power Button", {e.EV_KEY: [e.KEY_POWER]}),
        "event3": PipeDevice("event3", "py-evdev-uinput", KBD_CAPS, phys=""),
    }
    for name in devs:
        (tmp_path / name).touch()
    batches: list[np.ndarray] = []
    b = EvdevBackend(dev_dir=str(tmp_path), screen=SCREEN, batch_interval_s=0.01,
                     open_device=lambda p: devs[os.path.basename(p)])
    b.start(batches.append)
    try:
        info = b.info()
        assert [(d.name, d.type) for d in info.devices] == [
            ("Test Mouse", DeviceType.MOUSE), ("Test Keyboard", DeviceType.KEYBOARD),
            ("py-evdev-uinput", DeviceType.VIRTUAL)]
        assert devs["event2"].closed  # not an input we capture
        now = time.time()  # pipes refuse EVIOCSCLOCKID: realtime stamps get shifted
        for i in range(200):
            devs["event0"].feed([ev(now * 1000 + i, e.EV_REL, e.REL_X, 1), syn(now * 1000 + i)])
        devs["event1"].feed([ev(now * 1000, e.EV_KEY, e.KEY_A, 1),
                             ev(now * 1000 + 80, e.EV_KEY, e.KEY_A, 0)])
        devs["event3"].feed([ev(now * 1000 + 40, e.EV_KEY, e.KEY_B, 1)])
        deadline = time.monotonic() + 5
        while sum(map(len, batches)) < 203 and time.monotonic() < deadline:
            time.sleep(0.01)
        devs["event0"].unplugged = True
        devs["event0"].feed([])
        time.sleep(0.05)
        devs["event1"].feed([ev(now * 1000 + 90, e.EV_KEY, e.KEY_LEFTSHIFT, 1)])
    finally:
        b.stop()
    assert b.error is None
    out = np.concatenate(batches)
    assert len(batches) < 100  # delivered in batches, not per read
    moves = out[out["kind"] == Kind.MOVE]
    assert len(moves) == 200 and moves["x"][-1] == 700  # from the centre, 200 x +1
    assert abs(int(moves["t_ns"][0]) - time.monotonic_ns()) < 60 * 10**9  # on the monotonic clock
    keys = out[out["kind"] >= Kind.KEY_DOWN]
    # one time-ordered stream across devices
    assert rows(keys, "device", "kind", "code") == [
        (1, Kind.KEY_DOWN, KeyClass.LETTER), (2, Kind.KEY_DOWN, KeyClass.LETTER),
        (1, Kind.KEY_UP, KeyClass.LETTER), (1, Kind.KEY_DOWN, KeyClass.MODIFIER)]
    assert [bool(f & Flag.INJECTED) for f in keys["flags"]] == [False, True, False, False]
    assert keys["t_ns"][2] - keys["t_ns"][0] == 80_000_000
    assert all(d.closed for d in devs.values())


class AbsolutePipeDevice(PipeDevice):
    """An absolute pointer's axes: 0..32767, as VirtualBox and QEMU report them."""

    def absinfo(self, code: int) -> Any:
        return types.SimpleNamespace(min=0, max=32767)


def test_a_virtual_machines_absolute_mouse_is_captured_as_the_owners_mouse(
        tmp_path: Path) -> None:
    """VirtualBox's mouse integration has no physical path, but lives on the PCI bus, not
    under /devices/virtual: a mouse, not injection; its clicks land where its axes put the
    cursor."""
    dev = AbsolutePipeDevice("event6", "VirtualBox mouse integration",
                             {e.EV_KEY: [e.BTN_LEFT], e.EV_ABS: [e.ABS_X, e.ABS_Y]}, phys="")
    (tmp_path / "event6").touch()
    batches: list[np.ndarray] = []
    b = EvdevBackend(dev_dir=str(tmp_path), screen=SCREEN, batch_interval_s=0.01,
                     open_device=lambda p: dev)
    b.start(batches.append)
    try:
        assert [(d.name, d.type) for d in b.info().devices] == [
            ("VirtualBox mouse integration", DeviceType.MOUSE)]
        now = time.time() * 1000
        dev.feed([ev(now, e.EV_ABS, e.ABS_X, 32767), ev(now, e.EV_ABS, e.ABS_Y, 0), syn(now),
                  ev(now + 5, e.EV_KEY, e.BTN_LEFT, 1), syn(now + 5)])
        deadline = time.monotonic() + 5
        while sum(map(len, batches)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        b.stop()
    out = np.concatenate(batches)
    assert rows(out, "kind", "x", "y") == [(Kind.MOVE, 999, 0), (Kind.BUTTON_DOWN, 999, 0)]
    assert not (out["flags"] & int(Flag.INJECTED)).any()


def test_hot_plugged_device_is_picked_up(tmp_path: Path) -> None:
    devs = {"event0": PipeDevice("event0", "Test Mouse", MOUSE_CAPS),
            "event7": PipeDevice("event7", "USB Keyboard", KBD_CAPS)}
    (tmp_path / "event0").touch()
    batches: list[np.ndarray] = []
    b = EvdevBackend(dev_dir=str(tmp_path), screen=SCREEN, batch_interval_s=0.01,
                     rescan_s=0.05, open_device=lambda p: devs[os.path.basename(p)])
    b.start(batches.append)
    try:
        assert [d.name for d in b.info().devices] == ["Test Mouse"]
        (tmp_path / "event7").touch()  # plugged in
        deadline = time.monotonic() + 5
        while len(b.info().devices) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        devs["event7"].feed([ev(1, e.EV_KEY, e.KEY_ENTER, 1), ev(2, e.EV_KEY, e.KEY_ENTER, 0)])
        while sum(map(len, batches)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        b.stop()
    assert [d.name for d in b.info().devices] == ["Test Mouse", "USB Keyboard"]
    out = np.concatenate(batches)
    assert rows(out, "device", "kind", "code") == [(1, Kind.KEY_DOWN, KeyClass.ENTER),
                                                   (1, Kind.KEY_UP, KeyClass.ENTER)]


def test_start_without_devices_is_a_capture_error(tmp_path: Path) -> None:
    from activesec.core.errors import CaptureError

    with pytest.raises(CaptureError, match="no readable") as err:
        EvdevBackend(dev_dir=str(tmp_path)).start(lambda a: None)
    assert "input" in err.value.hint


# --------------------------------------------------------------------------- live
def test_live_devices_open_and_close() -> None:
    readable, unreadable = eb.readable_devices()
    if not readable:
        pytest.skip("no readable /dev/input/event* devices here "
                    f"({len(unreadable)} unreadable): needs real input devices and the "
                    "'input' group")
    b = EvdevBackend()
    b.start(lambda a: None)
    try:
        time.sleep(0.2)
        assert b.info().devices
    finally:
        b.stop()
    assert b.error is None


def _drm(root: Path, outputs: dict[str, tuple[str, str]]) -> str:
    """A /sys/class/drm-like tree: connector -> (status, preferred mode)."""
    for name, (status, mode) in outputs.items():
        (root / name).mkdir(parents=True)
        (root / name / "status").write_text(status + "\n")
        (root / name / "modes").write_text(mode + "\n" if mode else "")
    return str(root)


def test_a_docked_laptop_keeps_its_built_in_panels_size(tmp_path: Path) -> None:
    """The size scales touchpad motion: sorted by name, an external DP or HDMI monitor came
    before the laptop's eDP panel, so docking changed every touchpad feature's magnitude."""
    undocked = _drm(tmp_path / "a", {"card0-eDP-1": ("connected", "1920x1200"),
                                     "card0-DP-1": ("disconnected", "")})
    docked = _drm(tmp_path / "b", {"card0-eDP-1": ("connected", "1920x1200"),
                                   "card0-DP-1": ("connected", "2560x1440"),
                                   "card0-HDMI-A-1": ("connected", "3840x2160")})
    assert eb.screen_size_from_drm(undocked) == (1920, 1200)
    assert eb.screen_size_from_drm(docked) == (1920, 1200)
    desktop = _drm(tmp_path / "c", {"card0-HDMI-A-1": ("connected", "3840x2160"),
                                    "card0-DP-1": ("connected", "2560x1440")})
    assert eb.screen_size_from_drm(desktop) == (2560, 1440)  # no panel: the first, as before


def test_a_left_handed_mouse_records_its_primary_button_as_the_left_click() -> None:
    """evdev reads the physical buttons; a left-handed owner's primary (physical right) button
    was recorded as a right click, every click, while X11 capture and the background
    population see logical buttons — "right click" then singled out the owner's mouse, and
    an impostor at it inherited that (Balabit, 4 of 5 owners: impostor windows caught fell
    from 65-86 % to 24-58 %). With ``left_handed`` the mouse's and touchpad's left and right
    buttons swap back; a pen's do not (its barrel button is not swapped by the desktop)."""
    clicks = [ev(1, e.EV_KEY, e.BTN_RIGHT, 1), syn(1), ev(2, e.EV_KEY, e.BTN_RIGHT, 0), syn(2),
              ev(3, e.EV_KEY, e.BTN_LEFT, 1), syn(3), ev(4, e.EV_KEY, e.BTN_MIDDLE, 1), syn(4)]
    assert rows(translate(clicks, mouse(left_handed=True)), "code") == [(1,), (1,), (3,), (2,)]
    assert rows(translate(clicks, mouse()), "code") == [(3,), (3,), (1,), (2,)]
    pen = DeviceState(4, DeviceType.PEN, Cursor(SCREEN), abs_x=(0, 100), abs_y=(0, 100),
                      left_handed=True)
    out = translate([ev(1, e.EV_KEY, e.BTN_TOOL_PEN, 1), ev(1, e.EV_KEY, e.BTN_STYLUS, 1),
                     syn(1)], pen)
    assert rows(out, "code") == [(3,)]
    dev = PipeDevice("/dev/input/event7", "Logitech USB Optical Mouse",
                     {e.EV_REL: [e.REL_X, e.REL_Y], e.EV_KEY: [e.BTN_LEFT, e.BTN_RIGHT]})
    try:
        for handed in (True, False):
            state = EvdevBackend(left_handed=handed)._state_for(dev)
            assert state is not None and state.left_handed is handed
    finally:
        dev.close()


def test_the_keyboard_layouts_characters_give_the_key_classes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """evdev codes name US QWERTY positions: a Russian typist's ж э х ъ б ю ё (the ; ' [ ] , .
    ` keys), German ö ä ü and Dvorak's s w v z were punctuation, Dvorak's ' , . ; letters —
    and X11 capture of the same typing said otherwise. The layout's own characters decide."""
    if eb.layout_class_table("de") is None:
        pytest.skip("libxkbcommon or the XKB data (xkb-data) is not installed")
    ru, dvorak = eb.layout_class_table("ru"), eb.layout_class_table("us(dvorak)")
    letters_ru = [e.KEY_SEMICOLON, e.KEY_APOSTROPHE, e.KEY_LEFTBRACE, e.KEY_RIGHTBRACE,
                  e.KEY_COMMA, e.KEY_DOT, e.KEY_GRAVE]
    assert [evdev_key_class(c) for c in letters_ru] == [KeyClass.PUNCTUATION] * 7
    assert [evdev_key_class(c, ru) for c in letters_ru] == [KeyClass.LETTER] * 7
    assert [evdev_key_class(c, dvorak) for c in (e.KEY_Q, e.KEY_SEMICOLON, e.KEY_SLASH)] == [
        KeyClass.PUNCTUATION, KeyClass.LETTER, KeyClass.LETTER]
    for code, cls in ((e.KEY_SPACE, KeyClass.SPACE), (e.KEY_ENTER, KeyClass.ENTER),
                      (e.KEY_RIGHTALT, KeyClass.MODIFIER), (e.KEY_1, KeyClass.DIGIT)):
        assert evdev_key_class(code, ru) == cls  # keys of no character keep their class
    s = kbd()
    s.key_classes = ru
    out = translate([ev(1, e.EV_KEY, e.KEY_SEMICOLON, 1), syn(1)], s)
    assert rows(out, "code") == [(KeyClass.LETTER,)]
    # the layout: configured, else the system's (/etc/default/keyboard), else US
    conf = tmp_path / "keyboard"
    conf.write_text('XKBMODEL="pc105"\nXKBLAYOUT="ru,us"\nXKBVARIANT=""\n')
    monkeypatch.delenv("XKB_DEFAULT_LAYOUT", raising=False)
    assert eb.system_layout(str(conf)) == "ru"
    monkeypatch.setenv("XKB_DEFAULT_LAYOUT", "us")
    monkeypatch.setenv("XKB_DEFAULT_VARIANT", "dvorak")
    assert eb.system_layout(str(conf)) == "us(dvorak)"
    backend = EvdevBackend(keyboard_layout="ru")
    backend._key_table = backend._layout_table()
    dev = PipeDevice("/dev/input/event8", "AT Translated Set 2 keyboard", KBD_CAPS)
    try:
        state = backend._state_for(dev)
        assert state is not None and state.key_classes is not None
        assert evdev_key_class(e.KEY_SEMICOLON, state.key_classes) == KeyClass.LETTER
    finally:
        dev.close()
    with pytest.raises(CaptureError, match="keyboard layout 'klingon' is unknown"):
        EvdevBackend(keyboard_layout="klingon")._layout_table()


def test_a_mouse_crosses_onto_a_second_monitor_without_losing_its_motion(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative motion was clamped to one output (the laptop panel, else the first): on a
    desktop of two monitors the integrated cursor stuck at that output's edge while the
    real pointer moved on across the other, and every step beyond the edge was lost. It is
    bounded by the whole desktop now; the size stays the panel's (it scales absolute devices
    and touchpads, and is what sessions record)."""
    root = _drm(tmp_path, {"card0-eDP-1": ("connected", "1920x1200"),
                           "card0-DP-1": ("connected", "2560x1440"),
                           "card0-HDMI-A-1": ("disconnected", "")})
    assert eb.desktop_size_from_drm(root) == (4480, 1440)
    monkeypatch.setattr(eb, "screen_size_from_drm", functools.partial(eb.screen_size_from_drm,
                                                                      root))
    monkeypatch.setattr(eb, "desktop_size_from_drm",
                        functools.partial(eb.desktop_size_from_drm, root))
    backend = EvdevBackend()
    assert backend.cursor.screen == (1920, 1200) and backend.cursor.bounds == (4480, 1440)
    assert backend.info().screen == (1920, 1200)
    s = DeviceState(0, DeviceType.MOUSE, backend.cursor)
    out = translate([ev(i, e.EV_REL, e.REL_X, 100) for i in range(1, 21)] + [syn(21)]
                    + [ev(22, e.EV_REL, e.REL_X, 100), syn(22)], s)
    assert rows(out, "x") == [(960 + 2000,), (960 + 2100,)]
