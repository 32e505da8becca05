"""Capture through pynput: the Windows and macOS backend, and a fallback on X11.

pynput is imported lazily (``import pynput`` fails on Linux without a display).

Where events get their stamps
    pynput's callbacks give the position, button and key, but not the OS event time nor the
    raw key code. Both come from pynput's platform hooks, matched to the callbacks of the same
    listener:

    * Windows: ``win32_event_filter(msg, data)`` runs *before* the callback with the low-level
      hook struct: ``data.time`` (ms on the ``GetTickCount`` timeline, 32-bit wrap),
      ``data.flags`` (``LL?HF_INJECTED``/``LOWER_IL_INJECTED``), ``data.vkCode``, and for
      pointer messages ``dwExtraInfo`` (the pen/touch signature of promoted mouse messages).
      The keyboard callback runs later from pynput's message queue, so key stamps queue FIFO.
    * macOS: ``darwin_intercept(event_type, event)`` runs *after* the callback with the
      CGEvent: ``CGEventGetTimestamp`` (mach ticks since boot), the source pid and source
      state id (a hardware event comes from the HID system state with no pid), the key code
      and the tablet subtype. Callbacks park a partial event which the intercept completes.
      The intercept always returns the event unchanged (returning ``None`` would swallow the
      user's input: pynput installs an active tap when an intercept is given). macOS switches
      an event tap off when its callback is too slow (``kCGEventTapDisabledByTimeout``: the
      agent busy scoring, the GIL held) or on secure input (``…ByUserInput``), and tells the
      callback so; pynput ignores that, so capture silently stopped for the rest of the
      session. A listener subclass (:func:`_darwin_reenabling`) keeps its tap and turns it
      back on at once (counted in ``tap_reenabled``, logged).
    * X11 fallback: a listener subclass reads the X event's server time and keycode in
      ``_handle_message`` (pynput's internal, stable since 1.4) before the callbacks run.
      XTEST input is not flagged as injected here (pynput only sees ``send_event``): the
      ``x11`` backend, which reads the XInput2 source device, is the one to use on X11.

Cost
    Callbacks only append a tuple to a list under a lock; a drain thread, woken by the first
    event of a batch, waits ``drain_interval_s`` (20 ms), turns the list into one
    :data:`EVENT_DTYPE` array and calls the sink once (never the sink per event, and no timer
    ticking while the user is idle). Any exception inside a callback or hook is caught and
    kept in ``self.error`` (an exception inside a pynput callback silently stops its
    listener). pynput still costs one Python callback per OS event; on X11 the ``x11``
    backend, which decodes events in bulk, is far cheaper.

Privacy
    A key becomes its :class:`KeyClass` inside the callback; the raw code lives only in the
    stroke pairer until the release.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from activesec.capture.base import BackendInfo, CaptureBackend, Device, Probe, Sink
from activesec.capture.stamping import StrokePairer, TickClock
from activesec.core.clock import Clock, SystemClock, suspended_ns
from activesec.core.errors import CaptureError
from activesec.core.events import EVENT_DTYPE, DeviceType, Flag, Kind
from activesec.core.keys import key_class

log = logging.getLogger(__name__)

__all__ = [
    "DEVICES",
    "MacFields",
    "PynputBackend",
    "Stamp",
    "WheelAccumulator",
    "button_code",
    "key_name",
    "win_pointer_device",
    "win_screen_size",
]

# Device indices carried in events["device"]. pynput cannot tell a mouse from a trackpad; the
# platform hooks do reveal pens and touch screens.
DEV_POINTER, DEV_KEYBOARD, DEV_PEN, DEV_TOUCH = 0, 1, 2, 3
DEVICES = (
    Device(DEV_POINTER, "pointer", DeviceType.UNKNOWN),
    Device(DEV_KEYBOARD, "keyboard", DeviceType.KEYBOARD),
    Device(DEV_PEN, "pen", DeviceType.PEN),
    Device(DEV_TOUCH, "touch", DeviceType.TOUCHSCREEN),
)

_BUTTONS = {"left": 1, "middle": 2, "right": 3, "x1": 8, "x2": 9, "button8": 8, "button9": 9}

# Windows low-level hook flags (KBDLLHOOKSTRUCT / MSLLHOOKSTRUCT).
LLKHF_INJECTED = 0x10
LLKHF_LOWER_IL_INJECTED = 0x02
LLMHF_INJECTED = 0x01
LLMHF_LOWER_IL_INJECTED = 0x02
VK_PACKET = 0xE7
WM_MOUSEWHEEL, WM_MOUSEHWHEEL = 0x020A, 0x020E
WHEEL_DELTA = 120
SM_CXSCREEN, SM_CYSCREEN, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN = 0, 1, 78, 79
# Mouse messages promoted from pen/touch input carry this signature in dwExtraInfo.
MI_WP_SIGNATURE = 0xFF515700
SIGNATURE_MASK = 0xFFFFFF00
TOUCH_BIT = 0x80

_Row = tuple[int, int, int, int, int, int, int]  # EVENT_DTYPE field order
_MOVE, _SCROLL = int(Kind.MOVE), int(Kind.SCROLL)
_DOWN, _UP = int(Kind.BUTTON_DOWN), int(Kind.BUTTON_UP)
_KEY_DOWN, _KEY_UP = int(Kind.KEY_DOWN), int(Kind.KEY_UP)
_INJECTED, _HSCROLL = int(Flag.INJECTED), int(Flag.HSCROLL)


@dataclass(frozen=True)
class MacFields:
    """CGEvent field ids and constants (defaults are the SDK's values; Quartz's win)."""

    keycode: int = 9  # kCGKeyboardEventKeycode
    subtype: int = 7  # kCGMouseEventSubtype
    source_pid: int = 41  # kCGEventSourceUnixProcessID
    source_state: int = 45  # kCGEventSourceStateID
    hid_state: int = 1  # kCGEventSourceStateHIDSystemState
    tablet_point: int = 1  # kCGEventMouseSubtypeTabletPoint
    tablet_proximity: int = 2  # kCGEventMouseSubtypeTabletProximity

    @classmethod
    def from_quartz(cls, quartz: Any) -> MacFields:
        d = cls()

        def g(name: str, default: int) -> int:
            return int(getattr(quartz, name, default))

        return cls(
            keycode=g("kCGKeyboardEventKeycode", d.keycode),
            subtype=g("kCGMouseEventSubtype", d.subtype),
            source_pid=g("kCGEventSourceUnixProcessID", d.source_pid),
            source_state=g("kCGEventSourceStateID", d.source_state),
            hid_state=g("kCGEventSourceStateHIDSystemState", d.hid_state),
            tablet_point=g("kCGEventMouseSubtypeTabletPoint", d.tablet_point),
            tablet_proximity=g("kCGEventMouseSubtypeTabletProximity", d.tablet_proximity),
        )


class Stamp(NamedTuple):
    """What a platform hook knows about one event (a tuple: built once per OS event)."""

    t_ns: int
    raw: int = 0  # raw key code (keys only), for pairing
    injected: bool = False
    device: int = DEV_POINTER


def key_name(key: object) -> str:
    """pynput key -> a name :func:`key_class` understands (``'a'``, ``'shift_r'``, ``''``)."""
    if key is None:
        return ""
    char = getattr(key, "char", None)
    if char:
        return str(char)
    name = getattr(key, "name", None)  # a pynput.keyboard.Key member
    return str(name) if name else ""


def button_code(button: object) -> int:
    """pynput ``Button`` -> :class:`activesec.core.events.Button` value (0 if unknown)."""
    return _BUTTONS.get(str(getattr(button, "name", button)), 0)


def win_pointer_device(extra_info: int | None) -> int:
    """Device index from a mouse hook's ``dwExtraInfo`` (pen/touch promoted messages)."""
    extra = int(extra_info or 0)
    if (extra & SIGNATURE_MASK) == MI_WP_SIGNATURE:
        return DEV_TOUCH if extra & TOUCH_BIT else DEV_PEN
    return DEV_POINTER


def _signed16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


class WheelAccumulator:
    """Whole wheel notches from Windows' wheel deltas (120 per notch).

    Precision touchpads and free-spinning wheels send fractions of a notch (e.g. 30); pynput
    floor-divides each one on its own, which turns every small *downward* delta into a full
    notch and drops every small upward one. Accumulating keeps the true count.
    """

    def __init__(self) -> None:
        self._acc = [0, 0]  # vertical, horizontal

    def add(self, horizontal: bool, delta: int) -> tuple[int, int]:
        """``(dx, dy)`` notches completed by this delta (+ = up / right)."""
        i = int(horizontal)
        total = self._acc[i] + delta
        steps = int(total / WHEEL_DELTA)  # toward zero: the remainder keeps its sign
        self._acc[i] = total - steps * WHEEL_DELTA
        return (steps, 0) if horizontal else (0, steps)


def mach_timebase_ns() -> float:
    """Nanoseconds per mach tick (1.0 on Intel Macs, 125/3 on Apple silicon)."""

    class _Timebase(ctypes.Structure):
        _fields_ = [("numer", ctypes.c_uint32), ("denom", ctypes.c_uint32)]

    try:
        libc = ctypes.CDLL("/usr/lib/libSystem.dylib")
        tb = _Timebase()
        if libc.mach_timebase_info(ctypes.byref(tb)) == 0 and tb.denom:
            return tb.numer / tb.denom
    except (OSError, AttributeError):
        pass
    return 1.0


class _Channel:
    """One listener's side of the matching between its hook and its callbacks.

    ``order == "before"``: the hook runs first and leaves ``last`` (synchronous dispatch:
    Windows mouse, X11) or queues into ``fifo`` (Windows keyboard, whose callbacks run later
    from pynput's message queue). ``order == "after"`` (macOS): callbacks park ``pending``
    partial events for the hook to complete. Each channel lives on one listener thread and
    owns its tick clock, so nothing here needs a lock.
    """

    def __init__(self, order: str, ticks: TickClock, fifo: bool = False) -> None:
        self.order = order
        self.ticks = ticks
        self.fifo: deque[Stamp | None] | None = deque(maxlen=1024) if fifo else None
        self.last: Stamp | None = None
        self.pending: list[tuple[int, int, int, int, int]] = []  # kind, x, y, code, flags

    def put(self, stamp: Stamp | None) -> None:
        """``None``: this OS event has no stamp (its callback falls back to callback time)."""
        if self.fifo is not None:
            self.fifo.append(stamp)  # a None keeps later stamps aligned with their callbacks
        else:
            self.last = stamp

    def take(self) -> Stamp | None:
        """The stamp for the callback now running (kept for a 2-axis scroll's second row)."""
        if self.fifo is not None:
            return self.fifo.popleft() if self.fifo else None
        return self.last


class PynputBackend(CaptureBackend):
    """Pointer and keyboard capture through pynput listeners (see the module docstring).

    ``platform`` selects the hook wiring (``win32``, ``darwin``, else the X11 fallback);
    ``clock`` is the monotonic clock event times are anchored to; ``quartz`` and ``tick_ns``
    stand in for pyobjc's Quartz module and the mach timebase (tests, or an embedding app).
    The hooks (``win_*_filter``, ``mac_*_intercept``) and callbacks (``on_*``) are public so
    they can be driven directly with recorded or fake OS data.
    """

    name = "pynput"

    def __init__(
        self,
        *,
        pointer: bool = True,
        keyboard: bool = True,
        clock: Clock | None = None,
        platform: str = sys.platform,
        drain_interval_s: float = 0.02,
        quartz: Any = None,
        tick_ns: float | None = None,
    ) -> None:
        super().__init__()
        self.pointer = pointer
        self.keyboard = keyboard
        self.platform = platform
        self.drain_interval_s = drain_interval_s
        self._clock = clock or SystemClock()
        # time spent suspended, which the hooks' clocks do not count (TickClock): the
        # system's with the system clock, none with a clock of the caller's
        self._suspended: Callable[[], int] = suspended_ns if clock is None else (lambda: 0)
        self._quartz = quartz
        self._mac = MacFields.from_quartz(quartz) if quartz is not None else MacFields()

        def ticks() -> TickClock:
            if platform == "darwin":  # mach ticks since boot, 64-bit — or nanoseconds
                return TickClock(tick_ns or mach_timebase_ns(), or_unit_ns=1.0)
            return TickClock(tick_ns or 1e6, wrap_bits=32)  # GetTickCount / X server time (ms)

        order = "after" if platform == "darwin" else "before"
        self._pointer_ch = _Channel(order, ticks())
        self._key_ch = _Channel(order, ticks(), fifo=platform == "win32")
        self._pairer = StrokePairer()
        self._wheel = WheelAccumulator()
        self._wheel_steps: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._buf: list[_Row] = []
        self._sink: Sink | None = None
        self._listeners: list[Any] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set by the first event of a batch
        self._drain: threading.Thread | None = None
        self._screen: tuple[int, int] | None = None
        self.tap_reenabled = 0  # macOS: times an event tap was switched off and turned back on

    # ------------------------------------------------------------------ probe / info
    @classmethod
    def probe(cls) -> Probe:
        if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
            return Probe(
                cls.name, False, "no X display (DISPLAY is not set)",
                "under Wayland or on a console use the evdev backend",
            )
        try:
            import pynput  # noqa: F401
        except Exception as exc:  # ImportError, or Xlib's display errors
            return Probe(cls.name, False, f"pynput cannot start: {exc}".splitlines()[0],
                         "install pynput (and on macOS pyobjc) in this environment")
        return Probe(cls.name, True)

    def info(self) -> BackendInfo:
        if self._screen is None:
            self._screen = _screen_size(self.platform, self._quartz)
        return BackendInfo(self.name, screen=self._screen, devices=list(DEVICES))

    # ------------------------------------------------------------------ lifecycle
    def start(self, sink: Sink) -> None:
        if self._drain is not None:
            raise CaptureError("pynput backend already started")
        try:
            from pynput import keyboard, mouse
        except Exception as exc:
            raise CaptureError(
                f"pynput cannot start: {str(exc).splitlines()[0]}",
                "run `activesec doctor` to see which backend fits this session",
            ) from None
        self._sink = sink
        self._stopping.clear()
        self._wake.clear()
        if self.pointer:
            self._listeners.append(self._make_mouse_listener(mouse))
        if self.keyboard:
            self._listeners.append(self._make_key_listener(keyboard))
        for lst in self._listeners:
            lst.start()
        for lst in self._listeners:
            lst.wait()  # the hooks are installed when this returns
        self._drain = threading.Thread(target=self._drain_loop, name="pynput-drain", daemon=True)
        self._drain.start()

    def stop(self) -> None:
        if self._drain is None:
            return
        self._stopping.set()
        self._wake.set()
        for lst in self._listeners:
            lst.stop()
            _unblock_xorg(lst)
        for lst in self._listeners:
            try:
                lst.join(2.0)
            except Exception as exc:  # pynput re-raises a listener's failure on join
                self._fail(exc)
        self._drain.join(2.0)
        self._flush()
        self._listeners.clear()
        self._drain = None
        self._pairer.reset()

    # ------------------------------------------------------------------ listener wiring
    def _make_mouse_listener(self, mouse: Any) -> Any:
        kw: dict[str, Any] = dict(
            on_move=self.on_move, on_click=self.on_click, on_scroll=self.on_scroll
        )
        cls = mouse.Listener
        if self.platform == "win32":
            kw["win32_event_filter"] = self.win_mouse_filter
        elif self.platform == "darwin":
            kw["darwin_intercept"] = self.mac_mouse_intercept
            cls = _darwin_reenabling(cls, self._quartz_module, self._tap_disabled)
        else:
            cls = _xorg_stamping(cls, self._pointer_ch, self._x_stamp)
        return cls(**kw)

    def _make_key_listener(self, keyboard: Any) -> Any:
        kw: dict[str, Any] = dict(on_press=self.on_press, on_release=self.on_release)
        cls = keyboard.Listener
        if self.platform == "win32":
            kw["win32_event_filter"] = self.win_key_filter
        elif self.platform == "darwin":
            kw["darwin_intercept"] = self.mac_key_intercept
            cls = _darwin_reenabling(cls, self._quartz_module, self._tap_disabled)
        else:
            cls = _xorg_stamping(cls, self._key_ch, self._x_stamp)
        return cls(**kw)

    # ------------------------------------------------------------------ pynput callbacks
    # Signatures accept pynput >= 1.8's trailing ``injected`` argument and older ones.
    # Plain ints (not the enums) on this path: it runs once per OS event.
    def on_move(self, x: float, y: float, injected: bool = False) -> None:
        self._pointer(_MOVE, x, y, 0, injected)

    def on_click(self, x: float, y: float, button: object, pressed: bool,
                 injected: bool = False) -> None:
        self._pointer(_DOWN if pressed else _UP, x, y, button_code(button), injected)

    def on_scroll(self, x: float, y: float, dx: int, dy: int, injected: bool = False) -> None:
        # One hook event may carry both axes: both rows share its stamp.
        if self._wheel_steps is not None:  # Windows: whole notches counted by the filter
            dx, dy = self._wheel_steps
            self._wheel_steps = None
        if dy:
            self._pointer(_SCROLL, x, y, int(dy), injected)
        if dx:
            self._pointer(_SCROLL, x, y, int(dx), injected, _HSCROLL)

    def on_press(self, key: object, injected: bool = False) -> None:
        self._key(_KEY_DOWN, key, injected)

    def on_release(self, key: object, injected: bool = False) -> None:
        self._key(_KEY_UP, key, injected)

    def _pointer(self, kind: int, x: float, y: float, code: int, injected: bool,
                 flags: int = 0) -> None:
        try:
            ch = self._pointer_ch
            if ch.order == "after":
                ch.pending.append((kind, int(x), int(y), code, flags))
                return
            # the hook's stamp stays for a 2-axis scroll's second row
            stamp = ch.last or Stamp(self._clock.monotonic_ns(), 0, injected, DEV_POINTER)
            self._finish_pointer(kind, int(x), int(y), code, flags, stamp)
        except BaseException as exc:
            self._fail(exc)

    def _key(self, kind: int, key: object, injected: bool) -> None:
        try:
            cls = int(key_class(key_name(key)))  # the key itself is not kept beyond this line
            ch = self._key_ch
            if ch.order == "after":
                ch.pending.append((kind, 0, 0, cls, 0))
                return
            stamp = ch.take()
            ch.last = None  # one key callback per hook event: never reuse a key stamp
            if stamp is None:  # no hook stamp: callback time, pynput's vk as the raw code
                vk = getattr(key, "vk", None)
                raw = int(vk) if isinstance(vk, int) else hash(key_name(key))
                stamp = Stamp(self._clock.monotonic_ns(), raw, injected, DEV_KEYBOARD)
            self._finish_key(kind, cls, stamp)
        except BaseException as exc:
            self._fail(exc)

    def _finish_pointer(self, kind: int, x: int, y: int, code: int, flags: int,
                        stamp: Stamp) -> None:
        if stamp.injected:
            flags |= _INJECTED
        row = (stamp.t_ns, kind, flags, stamp.device, x, y, code)
        with self._lock:
            self._buf.append(row)
            first = len(self._buf) == 1
        if first:
            self._wake.set()

    def _finish_key(self, kind: int, cls: int, stamp: Stamp) -> None:
        if kind == _KEY_DOWN:
            sid = self._pairer.press(stamp.raw, cls)
        else:
            pressed = self._pairer.release(stamp.raw)
            sid, cls = pressed if pressed is not None else (None, cls)
        if sid is None:  # auto-repeat, or a release whose press was before capture started
            return
        row = (stamp.t_ns, kind, _INJECTED if stamp.injected else 0, DEV_KEYBOARD, sid, 0, cls)
        with self._lock:
            self._buf.append(row)
            first = len(self._buf) == 1
        if first:
            self._wake.set()

    # ------------------------------------------------------------------ platform hooks
    def _to_ns(self, ch: _Channel, raw_time: int) -> int:
        return ch.ticks.to_ns(int(raw_time), self._clock.monotonic_ns(), self._suspended())

    def win_mouse_filter(self, msg: int, data: Any) -> bool:
        """pynput ``win32_event_filter`` for the mouse hook (MSLLHOOKSTRUCT)."""
        ch = self._pointer_ch
        ch.put(None)  # the mouse callback runs synchronously right after the filter
        try:
            stamp = Stamp(
                self._to_ns(ch, data.time),
                0,
                bool(data.flags & (LLMHF_INJECTED | LLMHF_LOWER_IL_INJECTED)),
                win_pointer_device(data.dwExtraInfo),
            )
            ch.put(stamp)
            if msg in (WM_MOUSEWHEEL, WM_MOUSEHWHEEL):
                self._wheel_steps = self._wheel.add(msg == WM_MOUSEHWHEEL,
                                                    _signed16(int(data.mouseData) >> 16))
        except BaseException as exc:
            self._fail(exc)
        return True  # never suppress

    def win_key_filter(self, msg: int, data: Any) -> bool:
        """pynput ``win32_event_filter`` for the keyboard hook (KBDLLHOOKSTRUCT)."""
        stamp: Stamp | None = None
        try:
            vk = int(data.vkCode)
            raw = (0x10000 | int(data.scanCode)) if vk == VK_PACKET else vk
            stamp = Stamp(
                self._to_ns(self._key_ch, data.time),
                raw,
                bool(data.flags & (LLKHF_INJECTED | LLKHF_LOWER_IL_INJECTED)),
                DEV_KEYBOARD,
            )
        except BaseException as exc:
            self._fail(exc)
        self._key_ch.put(stamp)  # pynput posts this message to its callbacks either way
        return True

    def _mac_stamp(self, event: Any, *, key: bool) -> Stamp:
        q, f = self._quartz_module(), self._mac
        field = q.CGEventGetIntegerValueField
        injected = field(event, f.source_pid) != 0 or field(event, f.source_state) != f.hid_state
        if key:
            return Stamp(self._to_ns(self._key_ch, q.CGEventGetTimestamp(event)),
                         int(field(event, f.keycode)), injected, DEV_KEYBOARD)
        subtype = field(event, f.subtype)
        device = DEV_PEN if subtype in (f.tablet_point, f.tablet_proximity) else DEV_POINTER
        return Stamp(self._to_ns(self._pointer_ch, q.CGEventGetTimestamp(event)), 0, injected,
                     device)

    def mac_mouse_intercept(self, event_type: int, event: Any) -> Any:
        """pynput ``darwin_intercept`` for the mouse tap: completes the parked events."""
        try:
            pending = self._pointer_ch.pending
            if pending:
                stamp = self._mac_stamp(event, key=False)
                for kind, x, y, code, flags in pending:
                    self._finish_pointer(kind, x, y, code, flags, stamp)
                pending.clear()
        except BaseException as exc:
            self._pointer_ch.pending.clear()
            self._fail(exc)
        return event  # unchanged, always

    def mac_key_intercept(self, event_type: int, event: Any) -> Any:
        """pynput ``darwin_intercept`` for the keyboard tap."""
        try:
            pending = self._key_ch.pending
            if pending:
                stamp = self._mac_stamp(event, key=True)
                for kind, _x, _y, cls, _flags in pending:
                    self._finish_key(kind, cls, stamp)
                pending.clear()
        except BaseException as exc:
            self._key_ch.pending.clear()
            self._fail(exc)
        return event

    def _tap_disabled(self, event_type: int, reenabled: bool) -> None:
        self.tap_reenabled += reenabled
        why = "its callback was too slow" if event_type == TAP_DISABLED_BY_TIMEOUT else (
            "secure input")
        if reenabled:
            log.warning("macOS switched the input tap off (%s) and it was turned back on: "
                        "input in between was not captured", why)
        else:
            log.error("macOS switched the input tap off (%s) and it could not be turned back "
                      "on: restart the agent", why)

    def _x_stamp(self, event: Any, key: bool) -> Stamp:
        if key:
            return Stamp(self._to_ns(self._key_ch, event.time), event.detail,
                         bool(event.send_event), DEV_KEYBOARD)
        return Stamp(self._to_ns(self._pointer_ch, event.time), 0, bool(event.send_event),
                     DEV_POINTER)

    def _quartz_module(self) -> Any:
        if self._quartz is None:
            import Quartz  # pyobjc, a pynput dependency on macOS

            self._quartz = Quartz
            self._mac = MacFields.from_quartz(Quartz)
        return self._quartz

    # ------------------------------------------------------------------ draining
    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc

    def collect(self) -> np.ndarray:
        """Take the events buffered so far as one array (what the drain thread delivers)."""
        with self._lock:
            rows, self._buf = self._buf, []
        return np.array(rows, dtype=EVENT_DTYPE)

    def _flush(self) -> int:
        batch = self.collect()
        if not len(batch) or self._sink is None:
            return 0
        try:
            self._sink(batch)
        except BaseException as exc:
            self._fail(exc)
        return len(batch)

    def _drain_loop(self) -> None:
        # Sleeps until the first event of a batch arrives (no timer ticking while the user is
        # away: every wake-up costs tens of µs), lets the batch gather, then delivers it. The
        # 1 s timeout only checks that the listeners are alive.
        while not self._stopping.is_set():
            if self._wake.wait(1.0):
                self._stopping.wait(self.drain_interval_s)
                self._wake.clear()
                self._flush()
            if (self.error is None and not self._stopping.is_set()
                    and any(not lst.is_alive() for lst in self._listeners)):
                self._fail(CaptureError("a pynput listener stopped unexpectedly",
                                        "run `activesec doctor`"))


def _xorg_stamping(base: type, channel: _Channel,
                   stamp: Callable[[Any, bool], Stamp]) -> type:
    """A subclass of pynput's xorg listener that queues the X event's stamp before pynput
    dispatches it (X server time in ms, the hardware keycode for pairing)."""
    if not hasattr(base, "_handle_message"):  # pragma: no cover - not the xorg backend
        return base
    is_keyboard = "keyboard" in base.__module__

    def _handle_message(self: Any, display: Any, event: Any, injected: bool) -> None:
        # Dispatch is synchronous: the callbacks below read this stamp. A failure here must
        # not stop pynput's dispatch: the callbacks then fall back to callback time.
        try:
            channel.last = stamp(event, is_keyboard)
        except Exception:
            channel.last = None
        base._handle_message(self, display, event, injected)

    return type(f"Stamping{base.__name__}", (base,), {"_handle_message": _handle_message})


TAP_DISABLED_BY_TIMEOUT = 0xFFFFFFFE  # kCGEventTapDisabledByTimeout
TAP_DISABLED_BY_USER_INPUT = 0xFFFFFFFF  # kCGEventTapDisabledByUserInput


def _darwin_reenabling(base: type, quartz: Callable[[], Any],
                       on_disabled: Callable[[int, bool], None]) -> type:
    """A subclass of pynput's Quartz listener that keeps the event tap it creates and, when
    macOS reports the tap switched off, turns it back on instead of passing that notice to
    pynput's dispatch (which reads it as an input event); ``on_disabled(type, reenabled)``
    is told either way."""
    if not hasattr(base, "_create_event_tap"):  # pragma: no cover - not pynput's darwin one
        return base
    parent: Any = base

    def _create_event_tap(self: Any) -> Any:
        self._activesec_tap = parent._create_event_tap(self)
        return self._activesec_tap

    def _handler(self: Any, proxy: Any, event_type: int, event: Any, refcon: Any) -> Any:
        if event_type in (TAP_DISABLED_BY_TIMEOUT, TAP_DISABLED_BY_USER_INPUT):
            tap, ok = getattr(self, "_activesec_tap", None), False
            if tap is not None:
                with contextlib.suppress(Exception):
                    quartz().CGEventTapEnable(tap, True)
                    ok = True
            with contextlib.suppress(Exception):  # a log failing must not stop the tap
                on_disabled(event_type, ok)
            return event
        return parent._handler(self, proxy, event_type, event, refcon)

    return type(f"Reenabling{base.__name__}", (base,),
                {"_create_event_tap": _create_event_tap, "_handler": _handler})


def _unblock_xorg(listener: Any) -> None:
    """pynput's xorg listener disables its RECORD context on the blocked connection without
    flushing, so ``stop`` waits for the next input event; sending the disable on its other
    connection ends the recording at once (best effort: pynput internals)."""
    display, context = getattr(listener, "_display_stop", None), getattr(listener, "_context", None)
    if display is None or context is None:
        return
    with contextlib.suppress(Exception):
        display.record_disable_context(context)
        display.flush()


def win_screen_size(user32: Any = None) -> tuple[int, int]:
    """The Windows virtual screen (all monitors) in physical pixels, the space of the mouse
    hook's coordinates. The query runs per-monitor DPI aware on this thread only: a
    DPI-unaware process would get scaled sizes that disagree with the hook's points."""
    if user32 is None:
        user32 = ctypes.windll.user32  # type: ignore[attr-defined]
    previous = None
    set_context = getattr(user32, "SetThreadDpiAwarenessContext", None)  # Windows 10 1607+
    with contextlib.suppress(Exception):  # handles are pointer-sized: not the default c_int
        set_context.restype = ctypes.c_void_p  # type: ignore[union-attr]
        set_context.argtypes = [ctypes.c_void_p]  # type: ignore[union-attr]
    with contextlib.suppress(Exception):
        previous = set_context(ctypes.c_void_p(-4))  # type: ignore[misc]  # PER_MONITOR_AWARE_V2
    try:
        w, h = user32.GetSystemMetrics(SM_CXVIRTUALSCREEN), user32.GetSystemMetrics(
            SM_CYVIRTUALSCREEN)
        if w <= 0 or h <= 0:  # very old systems: the primary screen
            w, h = user32.GetSystemMetrics(SM_CXSCREEN), user32.GetSystemMetrics(SM_CYSCREEN)
        return int(w), int(h)
    finally:
        if previous:
            with contextlib.suppress(Exception):
                set_context(ctypes.c_void_p(previous))  # type: ignore[misc]


def _screen_size(platform: str, quartz: Any) -> tuple[int, int] | None:
    """Screen size in pixels (X: the root window, Windows: the virtual screen, macOS: the
    main display), or None when it cannot be read."""
    try:
        if platform == "win32":
            return win_screen_size()
        if platform == "darwin":
            if quartz is None:
                import Quartz

                quartz = Quartz
            main = quartz.CGMainDisplayID()
            return int(quartz.CGDisplayPixelsWide(main)), int(quartz.CGDisplayPixelsHigh(main))
        from Xlib import display as xdisplay

        d = xdisplay.Display()
        try:
            s = d.screen()
            return int(s.width_in_pixels), int(s.height_in_pixels)
        finally:
            d.close()
    except Exception:
        return None

