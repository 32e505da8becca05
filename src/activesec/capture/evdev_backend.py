"""Capture from Linux input devices (``/dev/input/event*``) through python-evdev.

Works under Wayland and on a console, where no X server shows other clients' input. Reading
the device nodes needs the ``input`` group (``sudo usermod -aG input $USER``, then log out and
back in). Devices are only read, never grabbed: the desktop keeps receiving its input.

Split in two:

* the pure translation, :func:`translate` (``InputEvent`` list + :class:`DeviceState` ->
  :data:`EVENT_DTYPE` rows), unit-tested with synthetic ``evdev.InputEvent`` objects;
* the I/O, :class:`EvdevBackend`: device discovery (:func:`classify`), a selector loop over the
  device fds, batching, hot-plug rescans.

What evdev can and cannot tell
    * Time: the kernel stamps every event. The backend asks for ``CLOCK_BOOTTIME`` stamps
      (``EVIOCSCLOCKID``), the agent's clock (:func:`activesec.core.clock.monotonic_ns`:
      monotonic, suspend included); if the ioctl is refused, realtime stamps are shifted onto
      that clock with the offset sampled at read time.
    * Position: a relative mouse only reports motion, never where the cursor is. The backend
      integrates motion into a position clamped to the screen (the compositor's pointer
      acceleration is not applied, so positions drift from the real cursor; intervals and
      motion shape are what the features use). Absolute devices (touch screens, pens) scale
      their axis range to the screen; a touchpad moves the cursor by finger deltas scaled so
      the pad's width spans the screen.
    * Scrolling: ``REL_WHEEL``/``REL_HWHEEL`` steps; the ``*_HI_RES`` twins describe the same
      motion in 1/120 steps and are ignored so nothing counts twice. Touchpad scrolling and
      tap-to-click are synthesised by libinput from finger positions and are not seen here.
    * Injection: events from a virtual device (``/devices/virtual`` in sysfs, no physical path,
      or a name saying uinput/virtual) carry the ``INJECTED`` flag.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import selectors
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from activesec.capture.base import BackendInfo, CaptureBackend, Device, Probe, Sink
from activesec.capture.stamping import StrokePairer
from activesec.core.clock import monotonic_ns
from activesec.core.errors import CaptureError
from activesec.core.events import (
    EVENT_DTYPE,
    DeviceType,
    Flag,
    Kind,
    classify_device,
    is_hypervisor_input,
)
from activesec.core.keys import KeyClass, key_class

__all__ = [
    "DEFAULT_SCREEN",
    "Cursor",
    "DeviceState",
    "EvdevBackend",
    "classify",
    "evdev_key_class",
    "is_virtual",
    "readable_devices",
    "translate",
]

# Linux input-event-codes.h values (stable kernel ABI; python-evdev's ecodes agree).
EV_SYN, EV_KEY, EV_REL, EV_ABS = 0x00, 0x01, 0x02, 0x03
SYN_REPORT, SYN_DROPPED = 0, 3
REL_X, REL_Y, REL_HWHEEL, REL_WHEEL = 0x00, 0x01, 0x06, 0x08
REL_WHEEL_HI_RES, REL_HWHEEL_HI_RES = 0x0B, 0x0C
ABS_X, ABS_Y = 0x00, 0x01
BTN_MISC = 0x100
BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA = 0x110, 0x111, 0x112, 0x113, 0x114
BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_TOOL_FINGER = 0x140, 0x141, 0x145
BTN_TOUCH, BTN_STYLUS, BTN_STYLUS2 = 0x14A, 0x14B, 0x14C
KEY_OK = 0x160  # codes from here up are keys again (media, programmable...)
KEY_A, KEY_Z, KEY_SPACE = 30, 44, 57
INPUT_PROP_DIRECT = 0x01
EVIOCSCLOCKID = 0x400445A0  # _IOW('E', 0xa0, int)
CLOCK_BOOTTIME = 7  # Linux's clock id; evdev stamps with it since Linux 3.17 (EV_CLK_BOOT)

DEFAULT_SCREEN = (1920, 1080)

#: the kinds of device a desktop's left-handed setting swaps the buttons of (not pens)
_HANDED = (DeviceType.MOUSE, DeviceType.TOUCHPAD)
_BUTTONS = {BTN_LEFT: 1, BTN_RIGHT: 3, BTN_MIDDLE: 2, BTN_SIDE: 8, BTN_EXTRA: 9,
            BTN_STYLUS: 3, BTN_STYLUS2: 2}

# Keypad and ISO keys whose ecodes names key_class() does not know ("KEY_KP1", "KEY_102ND").
_KEY_OVERRIDES = {
    **{n: KeyClass.DIGIT for n in (f"KEY_KP{i}" for i in range(10))},
    "KEY_KPENTER": KeyClass.ENTER,
    **{n: KeyClass.PUNCTUATION for n in ("KEY_KPPLUS", "KEY_KPMINUS", "KEY_KPASTERISK",
                                         "KEY_KPSLASH", "KEY_KPDOT", "KEY_KPCOMMA",
                                         "KEY_KPEQUAL", "KEY_102ND", "KEY_RO", "KEY_YEN")},
}

_Row = tuple[int, int, int, int, int, int, int]


# --------------------------------------------------------------------------- key classes
def _code_name(code: int) -> str:
    from evdev import ecodes

    name = ecodes.KEY.get(code) or ecodes.BTN.get(code) or ""
    if isinstance(name, (list, tuple)):
        name = name[0]
    return str(name)


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    table = np.zeros(KEY_OK + 0x200, dtype=np.int16)
    for code in range(len(table)):
        name = _code_name(code)
        if name:
            table[code] = _KEY_OVERRIDES.get(name) or key_class(name)
    return table


def evdev_key_class(code: int, table: np.ndarray | None = None) -> KeyClass:
    """Class of an evdev key code through its ecodes name (``KEY_A`` -> letter...), or
    through ``table`` (:func:`layout_class_table`)."""
    if table is None:
        table = _class_table()
    return KeyClass(int(table[code])) if 0 <= code < len(table) else KeyClass.OTHER


def system_layout(path: str = "/etc/default/keyboard") -> str:
    """The console and desktop default layout, ``layout`` or ``layout(variant)``: the
    ``XKB_DEFAULT_LAYOUT``/``_VARIANT`` variables, else ``XKBLAYOUT``/``XKBVARIANT`` of
    ``/etc/default/keyboard`` (Debian, Ubuntu; localectl writes it), else ``''``."""
    layout = os.environ.get("XKB_DEFAULT_LAYOUT", "")
    variant = os.environ.get("XKB_DEFAULT_VARIANT", "")
    if not layout:
        with contextlib.suppress(OSError, UnicodeDecodeError), open(path, encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                value = value.strip().strip("'\"")
                if key == "XKBLAYOUT":
                    layout = value
                elif key == "XKBVARIANT":
                    variant = value
    layout, variant = layout.split(",")[0].strip(), variant.split(",")[0].strip()
    return f"{layout}({variant})" if layout and variant else layout


@lru_cache(maxsize=8)
def layout_class_table(layout: str) -> np.ndarray | None:
    """Code -> KeyClass for ``layout`` (``'de'``, ``'ru'``, ``'us(dvorak)'``; its first group):
    the keys that type a character take that character's class, the others keep their
    ecodes name's. evdev codes name the US QWERTY positions: without this, the Russian
    letters on the ; ' , . [ ] ` keys, German ö ä ü, French m and ù and Dvorak's s w v z
    were punctuation, and Dvorak's ' , . ; letters. None when libxkbcommon is missing or
    does not know the layout."""
    import ctypes
    import ctypes.util

    name, _, variant = layout.partition("(")
    variant = variant.rstrip(")")
    lib_name = ctypes.util.find_library("xkbcommon") or "libxkbcommon.so.0"
    try:
        lib = ctypes.CDLL(lib_name)
    except OSError:
        return None

    class _Names(ctypes.Structure):
        _fields_ = [(f, ctypes.c_char_p) for f in ("rules", "model", "layout", "variant",
                                                     "options")]

    lib.xkb_context_new.restype = ctypes.c_void_p
    lib.xkb_context_new.argtypes = [ctypes.c_int]
    lib.xkb_keymap_new_from_names.restype = ctypes.c_void_p
    lib.xkb_keymap_new_from_names.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Names),
                                              ctypes.c_int]
    lib.xkb_keymap_key_get_syms_by_level.restype = ctypes.c_int
    lib.xkb_keymap_key_get_syms_by_level.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
        ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32))]
    lib.xkb_keysym_to_utf32.restype = ctypes.c_uint32
    lib.xkb_keysym_to_utf32.argtypes = [ctypes.c_uint32]
    lib.xkb_keymap_unref.argtypes = [ctypes.c_void_p]
    lib.xkb_context_unref.argtypes = [ctypes.c_void_p]
    lib.xkb_context_set_log_level.argtypes = [ctypes.c_void_p, ctypes.c_int]
    ctx = lib.xkb_context_new(2)  # XKB_CONTEXT_NO_ENVIRONMENT_NAMES: only what is asked
    if not ctx:
        return None
    try:
        lib.xkb_context_set_log_level(ctx, 10)  # critical only: an unknown layout is said once

        names = _Names(b"evdev", b"pc105", name.encode(), variant.encode(), b"")
        keymap = lib.xkb_keymap_new_from_names(ctx, ctypes.byref(names), 0)
        if not keymap:
            return None
        try:
            table = _class_table().copy()
            syms = ctypes.POINTER(ctypes.c_uint32)()
            for code in range(1, 248):
                for level in (0, 1):
                    n = lib.xkb_keymap_key_get_syms_by_level(keymap, code + 8, 0, level,
                                                             ctypes.byref(syms))
                    char = lib.xkb_keysym_to_utf32(syms[0]) if n > 0 else 0
                    if char > 0x20 and char != 0x7F:
                        table[code] = key_class(chr(char))
                        break
                    if n > 0:
                        break  # a key that types no character keeps its name's class
            return table
        finally:
            lib.xkb_keymap_unref(keymap)
    finally:
        lib.xkb_context_unref(ctx)


# --------------------------------------------------------------------------- state
@dataclass
class Cursor:
    """The pointer position shared by every pointer device (they move one cursor)."""

    screen: tuple[int, int] = DEFAULT_SCREEN
    x: float = -1.0  # negative: start at the screen's centre
    y: float = -1.0
    #: where relative motion may take the cursor: the whole desktop (every connected output
    #: side by side, :func:`desktop_size_from_drm`); None: the screen
    bounds: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        w, h = self.screen
        self.x = w / 2 if self.x < 0 else min(self.x, w - 1.0)
        self.y = h / 2 if self.y < 0 else min(self.y, h - 1.0)

    def move_by(self, dx: float, dy: float) -> None:
        w, h = self.bounds or self.screen
        self.x = min(max(self.x + dx, 0.0), w - 1)
        self.y = min(max(self.y + dy, 0.0), h - 1)


@dataclass
class DeviceState:
    """Per-device translation state.

    ``abs_x``/``abs_y`` are the axis ranges (min, max) of an absolute device; ``offset_ns`` is
    added to kernel stamps: 0 when the device stamps with CLOCK_BOOTTIME, else (``realtime``)
    the monotonic-minus-realtime offset sampled at each read.
    """

    index: int
    type: DeviceType
    cursor: Cursor = field(default_factory=Cursor)
    pairer: StrokePairer = field(default_factory=StrokePairer)
    injected: bool = False
    pointer: bool = True
    keyboard: bool = False
    abs_x: tuple[int, int] | None = None
    abs_y: tuple[int, int] | None = None
    offset_ns: int = 0
    realtime: bool = False
    left_handed: bool = False  # swap BTN_LEFT and BTN_RIGHT (the desktop's left-handed setting)
    key_classes: np.ndarray | None = None  # the keyboard layout's classes (layout_class_table)
    # frame accumulators (one frame ends at SYN_REPORT); not constructor arguments
    _dx: float = field(default=0.0, init=False, repr=False)
    _dy: float = field(default=0.0, init=False, repr=False)
    _ax: int | None = field(default=None, init=False, repr=False)
    _ay: int | None = field(default=None, init=False, repr=False)
    _touching: bool = field(default=False, init=False, repr=False)
    _last_ax: int | None = field(default=None, init=False, repr=False)
    _last_ay: int | None = field(default=None, init=False, repr=False)

    @property
    def relative_pad(self) -> bool:
        """A touchpad: absolute finger positions drive the cursor relatively."""
        return self.type == DeviceType.TOUCHPAD

    def scale(self, value: int, axis: tuple[int, int], size: int) -> float:
        lo, hi = axis
        return (value - lo) / max(hi - lo, 1) * (size - 1)


# --------------------------------------------------------------------------- translation
def translate(events: Iterable[Any], state: DeviceState) -> np.ndarray:
    """Translate one device's kernel events into :data:`EVENT_DTYPE` rows.

    Motion within a frame (up to ``SYN_REPORT``) becomes one MOVE at the frame's time; a
    button or wheel event first settles pending motion so it carries the new position.
    """
    rows: list[_Row] = []
    flags = int(Flag.INJECTED) if state.injected else 0
    dev = state.index
    cur = state.cursor

    def settle(t: int) -> None:
        moved = False
        if state._ax is not None or state._ay is not None:
            moved = _apply_abs(state)
        if state._dx or state._dy:
            cur.move_by(state._dx, state._dy)
            state._dx = state._dy = 0.0
            moved = True
        if moved:
            rows.append((t, Kind.MOVE, flags, dev, round(cur.x), round(cur.y), 0))

    for ev in events:
        t = ev.sec * 1_000_000_000 + ev.usec * 1_000 + state.offset_ns
        etype, code, value = ev.type, ev.code, ev.value
        if etype == EV_SYN:
            if code == SYN_REPORT:
                settle(t)
            elif code == SYN_DROPPED:  # kernel buffer overran: this frame is incomplete
                state._dx = state._dy = 0.0
                state._ax = state._ay = state._last_ax = state._last_ay = None
        elif etype == EV_REL and state.pointer:
            if code == REL_X:
                state._dx += value
            elif code == REL_Y:
                state._dy += value
            elif code in (REL_WHEEL, REL_HWHEEL) and value:
                settle(t)
                hflag = int(Flag.HSCROLL) if code == REL_HWHEEL else 0
                rows.append((t, Kind.SCROLL, flags | hflag, dev, round(cur.x),
                             round(cur.y), int(value)))
            # REL_*_HI_RES: the same wheel motion in 1/120 steps; counted once, above.
        elif etype == EV_ABS and state.pointer:
            if code == ABS_X:
                state._ax = value
            elif code == ABS_Y:
                state._ay = value
        elif etype == EV_KEY:
            if BTN_MISC <= code < KEY_OK:
                if state.pointer:
                    _button(state, rows, t, code, value, flags, settle)
            elif state.keyboard and value in (0, 1):  # 2 = auto-repeat: one stroke stays one
                raw = (dev << 16) | code
                if value == 1:
                    cls = int(evdev_key_class(code, state.key_classes))
                    sid = state.pairer.press(raw, cls)
                    if sid is not None:
                        rows.append((t, Kind.KEY_DOWN, flags, dev, sid, 0, cls))
                else:
                    pressed = state.pairer.release(raw)
                    if pressed is not None:
                        rows.append((t, Kind.KEY_UP, flags, dev, pressed[0], 0, pressed[1]))
    return np.array(rows, dtype=EVENT_DTYPE)


def _apply_abs(state: DeviceState) -> bool:
    cur = state.cursor
    ax, ay = state._ax, state._ay
    state._ax = state._ay = None
    w, h = cur.screen
    if state.relative_pad:
        if not state._touching:
            return False
        # the pad's width spans the screen; one scale for both axes keeps shapes
        span = state.abs_x or state.abs_y or (0, 1)
        k = (w - 1) / max(span[1] - span[0], 1)
        dx = dy = 0.0
        if ax is not None:
            dx = 0.0 if state._last_ax is None else (ax - state._last_ax) * k
            state._last_ax = ax
        if ay is not None:
            dy = 0.0 if state._last_ay is None else (ay - state._last_ay) * k
            state._last_ay = ay
        if dx or dy:
            cur.move_by(dx, dy)
            return True
        return False
    if ax is not None and state.abs_x:
        cur.x = min(max(state.scale(ax, state.abs_x, w), 0.0), w - 1)
    if ay is not None and state.abs_y:
        cur.y = min(max(state.scale(ay, state.abs_y, h), 0.0), h - 1)
    return ax is not None or ay is not None


def _button(state: DeviceState, rows: list[_Row], t: int, code: int, value: int, flags: int,
            settle: Callable[[int], None]) -> None:
    if value not in (0, 1):
        return
    if code == BTN_TOUCH:
        if state.relative_pad:  # a finger on the pad is not a click; restart its deltas
            state._touching = bool(value)
            state._last_ax = state._last_ay = None
            return
        button = 1  # touch screen contact or pen tip: the primary button
    else:
        button = _BUTTONS.get(code, 0)
        if not button:
            return
        if state.left_handed and button in (1, 3) and state.type in _HANDED:
            button = 4 - button  # the primary button, as the desktop (and X11 capture) sees it
    settle(t)
    kind = Kind.BUTTON_DOWN if value else Kind.BUTTON_UP
    rows.append((t, kind, flags, state.index, round(state.cursor.x),
                 round(state.cursor.y), button))


# --------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class Role:
    pointer: DeviceType | None  # the pointer type, or None if not a pointer
    keyboard: bool


def classify(name: str, caps: Mapping[int, Sequence[int]], props: Sequence[int] = ()) -> Role:
    """What a device is, from its capabilities (``capabilities(absinfo=False)``), input
    properties and name."""
    keys = set(caps.get(EV_KEY, ()))
    rel = set(caps.get(EV_REL, ()))
    absolute = set(caps.get(EV_ABS, ()))
    by_name = classify_device(name)
    pointer: DeviceType | None = None
    if {REL_X, REL_Y} <= rel:
        # a trackpoint or a pad in relative mode reports like a mouse; the name may say more
        pointer = by_name if by_name == DeviceType.TOUCHPAD else DeviceType.MOUSE
    elif {ABS_X, ABS_Y} <= absolute and keys:
        if keys & {BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_STYLUS}:
            pointer = DeviceType.PEN
        elif INPUT_PROP_DIRECT in props:
            pointer = DeviceType.TOUCHSCREEN
        elif BTN_TOOL_FINGER in keys or by_name == DeviceType.TOUCHPAD:
            pointer = DeviceType.TOUCHPAD
        elif BTN_TOUCH in keys:
            pointer = DeviceType.TOUCHSCREEN
        elif BTN_LEFT in keys:
            # an absolute mouse: a virtual machine's pointer that follows the host's mouse
            # ("VirtualBox mouse integration", "QEMU USB Tablet"), a KVM switch's or a remote
            # desktop's absolute pointer
            pointer = DeviceType.MOUSE
    keyboard = {KEY_A, KEY_Z, KEY_SPACE} <= keys
    return Role(pointer, keyboard)


def is_virtual(name: str, phys: str, sysfs_path: str = "") -> bool:
    """A software (uinput) device rather than hardware. No physical path says software,
    except for a hypervisor's emulated hardware that lives on a bus ("VirtualBox mouse
    integration" has none, on the PCI bus); uinput devices live under /devices/virtual."""
    if "/devices/virtual/" in sysfs_path or classify_device(name) == DeviceType.VIRTUAL:
        return True
    return not phys and not (sysfs_path and is_hypervisor_input(name))


def readable_devices(dev_dir: str = "/dev/input") -> tuple[list[str], list[str]]:
    """``(readable, unreadable)`` event device nodes."""
    def number(p: str) -> int:
        digits = "".join(c for c in p.rsplit("event", 1)[-1] if c.isdigit())
        return int(digits or 0)

    nodes = sorted(glob.glob(os.path.join(dev_dir, "event*")), key=number)
    readable = [p for p in nodes if os.access(p, os.R_OK)]
    return readable, [p for p in nodes if p not in readable]


#: connector names of a built-in panel (``card0-eDP-1``, ``card1-LVDS-1``, ``card0-DSI-1``)
_BUILT_IN = ("-edp-", "-lvds-", "-dsi-")


def screen_size_from_drm(root: str = "/sys/class/drm") -> tuple[int, int] | None:
    """The preferred mode of a laptop's built-in panel when it is connected, else of the first
    connected output (no display server needed).

    The size scales touchpad motion and bounds the integrated cursor, so it must not change
    with what is plugged in: sorted by name, ``card0-DP-1`` and ``card0-HDMI-A-1`` come before
    ``card0-eDP-1``, and a docked laptop used to take the external monitor's size — its
    touchpad's movements, and so their features, grew or shrank with the monitor on the
    desk, against a model learnt undocked. The panel stays connected with the lid closed."""
    found = _connected_modes(root)
    built_in = [size for name, size in found if any(k in name.lower() for k in _BUILT_IN)]
    return next(iter(built_in + [size for _, size in found]), None)


def desktop_size_from_drm(root: str = "/sys/class/drm") -> tuple[int, int] | None:
    """Every connected output's preferred mode side by side (widths summed, the tallest
    height): where a mouse can take the pointer on a multi-monitor desktop. Bounded by one
    output, the integrated cursor stuck at its edge while the real one moved on across the
    next monitor, and that motion was lost."""
    sizes = [size for _, size in _connected_modes(root)]
    w, h = sum(w for w, _ in sizes), max((h for _, h in sizes), default=0)
    return (w, h) if w and h else None


def _connected_modes(root: str) -> list[tuple[str, tuple[int, int]]]:
    """(connector name, preferred mode) of every connected output under ``root``, by name."""
    out = []
    for status in sorted(glob.glob(os.path.join(root, "*", "status"))):
        try:
            if Path(status).read_text().strip() != "connected":
                continue
            modes = Path(status).with_name("modes").read_text().split()
        except OSError:
            continue
        if modes and "x" in modes[0]:
            w, _, h = modes[0].partition("x")
            with contextlib.suppress(ValueError):
                out.append((Path(status).parent.name,
                            (int(w), int("".join(c for c in h if c.isdigit())))))
    return out


_NO_DEVICES_HINT = (
    "add your user to the 'input' group (sudo usermod -aG input $USER), log out and back in"
)
#: where no device node exists at all, the 'input' group cannot help
NONE_EXIST_HINT = (
    "this machine shows no input devices: in a container or VM, pass them through; on a "
    "desktop, run activesec inside its session (the display backends need no devices)"
)


# --------------------------------------------------------------------------- backend
class EvdevBackend(CaptureBackend):
    """Read pointer and keyboard devices under ``dev_dir`` (see the module docstring)."""

    name = "evdev"

    def __init__(
        self,
        *,
        pointer: bool = True,
        keyboard: bool = True,
        screen: tuple[int, int] | None = None,
        dev_dir: str = "/dev/input",
        batch_interval_s: float = 0.005,
        rescan_s: float = 2.0,
        open_device: Callable[[str], Any] | None = None,
        left_handed: bool = False,
        keyboard_layout: str = "",
    ) -> None:
        super().__init__()
        self.left_handed = left_handed
        self.keyboard_layout = keyboard_layout  # '' = the system's (system_layout())
        self._key_table: np.ndarray | None = None
        self.pointer = pointer
        self.keyboard = keyboard
        self.dev_dir = dev_dir
        self.batch_interval_s = batch_interval_s
        self.rescan_s = rescan_s
        self._open_device = open_device or _open_evdev
        self.cursor = Cursor(screen or screen_size_from_drm() or DEFAULT_SCREEN)
        if screen is None:
            desktop = desktop_size_from_drm()
            if desktop and desktop[0] >= self.cursor.screen[0]:
                self.cursor.bounds = (desktop[0], max(desktop[1], self.cursor.screen[1]))
        self._pairer = StrokePairer()
        self._devices: dict[str, tuple[Any, DeviceState]] = {}
        self._known: list[Device] = []
        self._skipped: set[str] = set()
        self._sel: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sink: Sink | None = None

    @classmethod
    def probe(cls, dev_dir: str = "/dev/input") -> Probe:
        try:
            import evdev  # noqa: F401
        except ImportError:
            return Probe(cls.name, False, "python-evdev is not installed",
                         "pip install evdev (Linux only)")
        readable, unreadable = readable_devices(dev_dir)
        if readable:
            return Probe(cls.name, True, f"{len(readable)} readable input devices")
        if unreadable:
            return Probe(cls.name, False,
                         f"no readable {dev_dir}/event* devices ({len(unreadable)} exist, "
                         "permission denied)", _NO_DEVICES_HINT)
        return Probe(cls.name, False, f"no readable {dev_dir}/event* devices (none exist)",
                     NONE_EXIST_HINT)

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, screen=self.cursor.screen, devices=list(self._known))

    # ------------------------------------------------------------------ lifecycle
    def start(self, sink: Sink) -> None:
        if self._thread is not None:
            raise CaptureError("evdev backend already started")
        probe = self.probe(self.dev_dir)
        if not probe.available:
            raise CaptureError(probe.reason, probe.hint)
        self._key_table = self._layout_table()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._scan()
        if not self._devices:
            self._close_all()
            raise CaptureError(
                f"no pointer or keyboard among the readable {self.dev_dir}/event* devices",
                "check `activesec doctor`; some devices may need the 'input' group",
            )
        self._sink = sink
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="evdev-reader", daemon=True)
        self._thread.start()

    def _layout_table(self) -> np.ndarray | None:
        """The classes of the configured layout, else of the system's, else None (the US
        QWERTY positions' names); a configured layout xkbcommon cannot build is an error."""
        layout = self.keyboard_layout or system_layout()
        if not layout or layout in ("us", "us()"):
            return None
        table = layout_class_table(layout)
        if table is None and self.keyboard_layout:
            raise CaptureError(
                f"keyboard layout {layout!r} is unknown (or libxkbcommon is not installed)",
                "set [capture] keyboard_layout to a layout of /usr/share/X11/xkb/symbols, "
                "e.g. de, fr, ru or us(dvorak), or leave it empty",
            )
        return table

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(2.0)
        self._thread = None
        self._close_all()
        self._pairer.reset()

    # ------------------------------------------------------------------ I/O
    def _scan(self) -> None:
        """Open new pointer/keyboard devices (hot-plug); remember the ones to ignore."""
        assert self._sel is not None
        readable, _ = readable_devices(self.dev_dir)
        for path in readable:
            if path in self._devices or path in self._skipped:
                continue
            try:
                dev = self._open_device(path)
            except OSError:
                continue  # vanished or not ours to read: try again next scan
            try:
                state = self._state_for(dev)
            except OSError:  # unplugged while being inspected: look again next scan
                with contextlib.suppress(OSError):
                    dev.close()
                continue
            if state is None:
                dev.close()
                self._skipped.add(path)
                continue
            _set_monotonic(dev, state)
            self._devices[path] = (dev, state)
            self._sel.register(dev.fileno(), selectors.EVENT_READ, path)

    def _state_for(self, dev: Any) -> DeviceState | None:
        caps = dev.capabilities(absinfo=False)
        role = classify(dev.name, caps, dev.input_props())
        pointer = self.pointer and role.pointer is not None
        keyboard = self.keyboard and role.keyboard
        if not (pointer or keyboard):
            return None
        sysfs = _sysfs_path(dev.path)
        injected = is_virtual(dev.name, dev.phys or "", sysfs)
        dtype = role.pointer if pointer and role.pointer is not None else DeviceType.KEYBOARD
        index = len(self._known)
        self._known.append(Device(index, dev.name, DeviceType.VIRTUAL if injected else dtype))
        state = DeviceState(index, dtype, self.cursor, self._pairer, injected, pointer, keyboard,
                            left_handed=self.left_handed, key_classes=self._key_table)
        if pointer and (dtype != DeviceType.MOUSE or {ABS_X, ABS_Y} <= set(caps.get(EV_ABS, ()))):
            state.abs_x = _axis(dev, ABS_X)
            state.abs_y = _axis(dev, ABS_Y)
        return state

    def _run(self) -> None:
        """Reader thread: collect kernel events per device, translate and deliver them once
        per ``batch_interval_s`` (per-read translation would cost a NumPy array per frame)."""
        assert self._sel is not None
        pending: dict[str, tuple[DeviceState, list[Any]]] = {}
        first_pending = 0.0
        next_scan = time.monotonic() + self.rescan_s
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                timeout = next_scan - now
                if pending:
                    timeout = min(timeout, first_pending + self.batch_interval_s - now)
                for key, _ in self._sel.select(max(timeout, 0.0)):
                    if key.data is None:  # woken by stop()
                        continue
                    events = self._read(key.data)
                    if events:
                        if not pending:
                            first_pending = time.monotonic()
                        state = self._devices[key.data][1] if key.data in self._devices else None
                        if state is not None:
                            pending.setdefault(key.data, (state, []))[1].extend(events)
                now = time.monotonic()
                if pending and now - first_pending >= self.batch_interval_s:
                    self._deliver(pending)
                    pending = {}
                if now >= next_scan:
                    self._scan()
                    next_scan = now + self.rescan_s
        except BaseException as exc:  # keep it for the runner instead of dying silently
            self.error = exc
        finally:
            try:
                self._deliver(pending)
            except BaseException as exc:
                self.error = self.error or exc

    def _read(self, path: str) -> list[Any]:
        dev, _ = self._devices[path]
        try:
            return list(dev.read())
        except BlockingIOError:
            return []
        except OSError as exc:
            if exc.errno not in (errno.ENODEV, errno.EIO, errno.EBADF):
                raise
            self._drop(path)  # unplugged
            return []

    def _deliver(self, pending: dict[str, tuple[DeviceState, list[Any]]]) -> None:
        if not pending or self._sink is None:
            return
        parts = []
        for state, events in pending.values():
            if state.realtime:
                state.offset_ns = monotonic_ns() - time.time_ns()
            parts.append(translate(events, state))
        batch = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if len(parts) > 1:  # several devices: one time-ordered batch
            batch = batch[np.argsort(batch["t_ns"], kind="stable")]
        if len(batch):
            self._sink(batch)

    def _drop(self, path: str) -> None:
        dev, _ = self._devices.pop(path)
        if self._sel is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(dev.fileno())
        with contextlib.suppress(OSError):
            dev.close()

    def _close_all(self) -> None:
        for path in list(self._devices):
            self._drop(path)
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1


def _open_evdev(path: str) -> Any:
    from evdev import InputDevice

    return InputDevice(path)


def _set_monotonic(dev: Any, state: DeviceState) -> None:
    """Ask the kernel for CLOCK_BOOTTIME stamps, the agent's clock (python-evdev has no call
    for it). On refusal, realtime stamps are shifted by an offset refreshed at each read."""
    import fcntl  # POSIX only: this module stays importable everywhere

    try:
        fcntl.ioctl(dev.fileno(), EVIOCSCLOCKID, struct.pack("i", CLOCK_BOOTTIME))
        state.realtime, state.offset_ns = False, 0
    except (OSError, ValueError, TypeError):
        state.realtime, state.offset_ns = True, monotonic_ns() - time.time_ns()


def _axis(dev: Any, code: int) -> tuple[int, int] | None:
    try:
        info = dev.absinfo(code)
    except (OSError, KeyError, TypeError):
        return None
    return (int(info.min), int(info.max)) if info.max > info.min else None


def _sysfs_path(dev_path: str) -> str:
    name = os.path.basename(dev_path)
    try:
        return os.path.realpath(f"/sys/class/input/{name}/device")
    except OSError:
        return ""
