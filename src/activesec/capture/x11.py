"""Linux X11 capture: the RECORD extension for what happened, XInput2 for who made it happen.

Three connections to the X server:

* **control** (python-xlib): set-up, the device list (XIQueryDevice), the keymap, the RECORD
  context, and its disabling at stop;
* **RECORD data**: after one raw ``RecordEnableContext`` request the server streams every core
  device event (pointer motion, buttons, wheel, keys) with its server time and absolute root
  position, whatever window is under the pointer;
* **XInput2 events**: raw events selected on the root window, whose ``sourceid`` is the slave
  device that produced each event — "Virtual core XTEST pointer/keyboard" for software
  injection, the real device otherwise (pynput's own ``injected`` flag is always False here).

The two data sockets are read directly, in bulk, by one reader thread that wakes at most every
``batch_interval`` seconds: the packets are split with one pass over their headers and decoded
by NumPy (:mod:`activesec.capture._x11_wire`), core events are matched to raw events by
(server time, type, detail), and one batch goes to the sink. Nothing runs per event in Python
beyond that header pass, which is what keeps capture far cheaper than a per-event callback.

Timing is the server's: its millisecond clock is anchored to ``time.monotonic_ns`` once, from
the RECORD StartOfData reply (the round trip bounds the error), unwrapped across its 32-bit
wrap, and moved on by the time the machine spent suspended (which neither clock counts), so
event times are on the agent's clock (:func:`activesec.core.clock.monotonic_ns`). Keys leave
as classes with stroke ids; keycodes stay in memory only to pair a release with its press, and
the server's auto-repeat presses are dropped (a held key is one stroke).
Pointer events that no input device produced — ``XWarpPointer``, e.g. ``xdotool mousemove`` —
carry device 0 and the INJECTED flag. python-xlib is imported lazily, so this module imports
without X; the backend needs an X server with RECORD and XInput 2.1+ (see :meth:`probe`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from activesec.capture._x11_wire import (
    RAW_TOUCH,
    RECORD_START_OF_DATA,
    Assembler,
    ServerClock,
    split_record,
    split_xi,
)
from activesec.capture.base import BackendInfo, CaptureBackend, Device, Probe, Sink
from activesec.core.clock import suspended_ns
from activesec.core.errors import CaptureError
from activesec.core.events import LIBINPUT_KIND_PROPERTIES, classify_device
from activesec.core.keys import KeyClass, key_class

log = logging.getLogger(__name__)

_RECORD_ENABLE_CONTEXT = 5
_GET_INPUT_FOCUS = 43
_XI_MIN_VERSION = (2, 1)  # raw events delivered even during grabs, with sourceid
_XI_SLAVE_USES = (3, 4, 5)  # slave pointer, slave keyboard, floating slave
_XI_SLAVE_KEYBOARD = 4


@dataclass
class X11Stats:
    events: int = 0  # events delivered to the sink
    batches: int = 0
    unmatched: int = 0  # events whose source device could not be told (device 0)
    sink_errors: int = 0


def _is_injector(name: str) -> bool:
    """The X server's own injection devices (XTEST); uinput devices are left to evdev."""
    return "xtest" in name.lower()


def _display_name(display: str | None) -> str:
    return display if display is not None else os.environ.get("DISPLAY", "")


def _connect(name: str) -> Any:
    from Xlib.display import Display

    try:
        return Display(name)
    except Exception as exc:  # python-xlib raises several unrelated types here
        raise CaptureError(
            f"cannot connect to X display {name!r}: {exc}".strip(),
            "check DISPLAY and the X authority (XAUTHORITY), or use the evdev backend",
        ) from None


def _xi_version(d: Any) -> tuple[int, int]:
    from Xlib.ext import xinput

    if not d.query_extension("XInputExtension").present:
        return (0, 0)
    reply = xinput.XIQueryVersion(
        display=d.display,
        opcode=d.display.get_extension_major("XInputExtension"),
        major_version=2,
        minor_version=2,
    )
    return (int(reply.major_version), int(reply.minor_version))


def _missing_extension(d: Any) -> tuple[str, str] | None:
    """(reason, hint) when the server lacks RECORD or XInput 2.1+, else None."""
    if not d.query_extension("RECORD").present:
        return (
            "the X server has no RECORD extension",
            'enable it (Xorg: Load "record" in Section "Module"), or use the evdev backend',
        )
    version = _xi_version(d)
    if version < _XI_MIN_VERSION:
        return (
            f"the X server's XInput is {version[0]}.{version[1]}, 2.1 or later is needed",
            "upgrade the X server, or use the evdev backend",
        )
    return None


def _keysym_names() -> dict[int, str]:
    """Keysym -> name, for the keys that type no character. The XKB group (ISO_Level3_Shift,
    the AltGr of every QWERTZ and AZERTY layout, the dead keys, ISO_Left_Tab, the layout-switch
    keys) is not loaded by python-xlib by default: unnamed, those keys were OTHER."""
    from Xlib import XK

    XK.load_keysym_group("xkb")
    names: dict[int, str] = {}
    for attr, value in vars(XK).items():
        if attr.startswith("XK_") and isinstance(value, int):
            names.setdefault(value, attr[3:])
    return names


@functools.cache
def _keysym_to_utf32() -> Callable[[int], int] | None:
    """libxkbcommon's ``xkb_keysym_to_utf32`` (on every X11 and Wayland desktop), None
    without the library."""
    import ctypes
    import ctypes.util

    for lib in (ctypes.util.find_library("xkbcommon"), "libxkbcommon.so.0"):
        if not lib:
            continue
        try:
            fn = ctypes.CDLL(lib).xkb_keysym_to_utf32
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_uint32], ctypes.c_uint32
        return fn
    return None


def _keysym_class(keysym: int, names: dict[int, str]) -> KeyClass:
    """The class of the character a keysym types. The legacy keysyms of other scripts
    (Cyrillic ``0x6c6``, Greek, Arabic, Hebrew, Thai, kana, Hangul…) are what a layout of
    those scripts alone maps its letter keys to: they are turned into their character by
    libxkbcommon; python-xlib names none of them, which made every letter of a Russian or
    Greek typist OTHER. Function and keypad keys (``0xfe00`` up) keep their names."""
    if 0x20 <= keysym <= 0xFF:  # Latin-1: the keysym is the character
        return key_class(chr(keysym))
    if 0x1000100 <= keysym <= 0x110FFFF:  # Unicode keysyms
        return key_class(chr(keysym - 0x1000000))
    if 0x100 <= keysym < 0xFE00 and (to_utf32 := _keysym_to_utf32()) is not None:
        code = int(to_utf32(keysym))
        if 0x20 <= code <= 0x10FFFF:
            return key_class(chr(code))
    if keysym in names:
        return key_class(names[keysym])
    if 0xFE01 <= keysym <= 0xFE13:  # ISO level and group keys python-xlib may not name
        return KeyClass.MODIFIER
    if 0xFE50 <= keysym <= 0xFE93:  # dead keys, likewise
        return KeyClass.PUNCTUATION
    return KeyClass.OTHER


def _key_classes(d: Any) -> np.ndarray:
    """(XKB group, keycode) -> KeyClass for the current keymap (unshifted level, else the
    shifted one), one row per group 1-4: with two layouts ("us,ru", switched by a key) the
    core keymap holds group 2 in a key's 3rd and 4th keysyms, and an event's state says which
    group typed it. Before 2026-12-08 only group 1 was read, so a Russian typist on "us,ru"
    had ж э х ъ б ю ё as punctuation. Groups 3 and 4 have no fixed place in the core keymap:
    they take group 1's classes."""
    table = np.zeros((4, 256), np.int16)
    first = int(d.display.info.min_keycode)
    count = int(d.display.info.max_keycode) - first + 1
    names = _keysym_names()
    for i, syms in enumerate(d.get_keyboard_mapping(first, count)):
        syms = [int(s) for s in list(syms)[:4]]
        for group in (0, 1):
            keysym = next((s for s in syms[2 * group : 2 * group + 2] if s), 0)
            if keysym:
                table[group, first + i] = _keysym_class(keysym, names)
            else:  # a key of one group types group 1's keysym in every group
                table[group, first + i] = table[0, first + i]
    table[2:] = table[0]
    return table


def _kind_atoms(d: Any) -> dict[int, str]:
    """The atoms of the libinput X driver's telling properties (:data:`LIBINPUT_KIND_PROPERTIES`)
    the server knows: none where no device of that driver ever appeared."""
    out = {}
    for prop, _ in LIBINPUT_KIND_PROPERTIES:
        atom = int(d.intern_atom(prop, only_if_exists=True))
        if atom:
            out[atom] = prop
    return out


def _kind_properties(d: Any, deviceid: int, atoms: dict[int, str]) -> list[str]:
    """Which of ``atoms``' properties the device has (one request: its property list)."""
    from Xlib import error

    if not atoms:
        return []
    try:
        has = d.xinput_list_device_properties(deviceid).atoms
    except error.XError:  # the device went between the listing and this request
        return []
    return [atoms[a] for a in has if a in atoms]


def _devices(d: Any) -> list[Device]:
    """XInput2 slave devices: the ones that appear as event sources (``index``: the X id).
    A pointer's type comes from its name and, when the name names no kind of device, from the
    libinput driver's properties (:func:`~activesec.core.events.classify_device`)."""
    from Xlib.ext import xinput

    atoms = _kind_atoms(d)
    found = []
    for info in d.xinput_query_device(xinput.AllDevices).devices:
        if info.use in _XI_SLAVE_USES:
            name = info.name.decode() if isinstance(info.name, bytes) else str(info.name)
            props = [] if info.use == _XI_SLAVE_KEYBOARD else _kind_properties(
                d, int(info.deviceid), atoms)
            found.append(Device(int(info.deviceid), name, classify_device(name, props)))
    return sorted(found, key=lambda dev: dev.index)


#: first index given to a device that reuses an X id another device had (X ids stay < 256)
REUSED_ID_BASE = 1 << 12


class DeviceIndex:
    """The index events carry for each X device: its X id, unless that id belonged to another
    device earlier in this capture — the X server hands a freed id to the next device plugged
    in (a mouse unplugged, a touchpad or pen plugged in). Such a device gets an index of its
    own (from :data:`REUSED_ID_BASE`), so the session records both devices and each one's
    events keep its own type; before 2026-12-08 the store kept the first device's type for the
    id (and training read the pen's strokes as the mouse's). A device is (X id, name, type):
    the same mouse plugged in again keeps its index."""

    def __init__(self) -> None:
        self._index: dict[tuple[int, str, int], int] = {}
        self._seen: set[int] = set()  # X ids some device had in this capture
        self._next = REUSED_ID_BASE
        self.remap = np.arange(1 << 16, dtype=np.uint16)  # X id -> index, for event arrays

    def assign(self, devices: list[Device]) -> list[Device]:
        """The devices the X server lists now, with their indexes (new ones assigned)."""
        out = []
        for dev in devices:
            key = (dev.index, dev.name, int(dev.type))
            idx = self._index.get(key)
            if idx is None:
                if dev.index in self._seen:  # the id of a device seen before: reused
                    idx, self._next = self._next, self._next + 1
                else:
                    idx = dev.index
                self._index[key] = idx
            self._seen.add(dev.index)
            if dev.index < len(self.remap) and idx < len(self.remap):
                self.remap[dev.index] = idx
            out.append(Device(idx, dev.name, dev.type))
        return out


class X11Backend(CaptureBackend):
    """Capture pointer and key timing from an X server (see the module docstring).

    ``display`` defaults to ``$DISPLAY``. Batches reach the sink at most every
    ``batch_interval`` seconds, on the backend's reader thread. ``match_grace`` bounds how long
    a core event waits for its XInput2 twin (it arrives on another connection).
    """

    name = "x11"

    def __init__(
        self,
        display: str | None = None,
        batch_interval: float = 0.02,
        match_grace: float = 0.25,
    ) -> None:
        super().__init__()
        self.display = display
        self.batch_interval = batch_interval
        self.match_grace = match_grace
        self.stats = X11Stats()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._screen: tuple[int, int] | None = None
        self._devices: list[Device] = []
        self._sink: Sink | None = None
        self._x: dict[str, Any] = {}
        self._known = np.zeros(1 << 16, bool)
        # kept across stop and start: a session may outlive one run of the backend
        self._ids = DeviceIndex()

    # -- probe ---------------------------------------------------------------------------
    @classmethod
    def probe(cls, display: str | None = None) -> Probe:
        try:
            import Xlib.display  # noqa: F401
        except ImportError:
            return Probe(cls.name, False, "python-xlib is not installed", "pip install python-xlib")
        name = _display_name(display)
        if not name:
            return Probe(
                cls.name, False, "no X display: DISPLAY is not set",
                "set DISPLAY, or use the evdev backend under Wayland or on a console",
            )
        if os.environ.get("WAYLAND_DISPLAY"):
            return Probe(
                cls.name, False, "Wayland session: X11 capture would see XWayland windows only",
                "use the evdev backend (add your user to the 'input' group)",
            )
        try:
            d = _connect(name)
        except CaptureError as exc:
            return Probe(cls.name, False, exc.message, exc.hint)
        try:
            missing = _missing_extension(d)
        finally:
            d.close()
        if missing:
            return Probe(cls.name, False, *missing)
        return Probe(cls.name, True)

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, sink: Sink) -> None:
        if self._thread is not None and not self._thread.is_alive():
            self.stop()  # the reader ended on an error; collect it before starting afresh
        if self._thread is not None:
            raise CaptureError("X11 capture is already running", "stop it before starting again")
        found = self.probe(self.display)
        if not found.available:
            raise CaptureError(found.reason, found.hint)
        self.error = None
        self.stats = X11Stats()
        self._sink = sink
        self._stop.clear()
        try:
            assembler = self._open(_display_name(self.display))
        except Exception as exc:
            self._close()
            if isinstance(exc, CaptureError):
                raise
            raise CaptureError(
                f"cannot start X11 capture: {exc}", "run `activesec doctor`"
            ) from None
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(
            target=self._run, args=(assembler,), name="activesec-x11", daemon=True
        )
        self._thread.start()

    def _open(self, name: str) -> Assembler:
        from Xlib import X
        from Xlib.ext import record, xinput

        ctrl = self._x["ctrl"] = _connect(name)
        xi = self._x["xi"] = _connect(name)
        data = self._x["data"] = _connect(name)
        _xi_version(ctrl)
        _xi_version(xi)
        screen = ctrl.screen()
        self._screen = (int(screen.width_in_pixels), int(screen.height_in_pixels))
        listed = _devices(ctrl)
        with self._lock:
            self._devices = self._ids.assign(listed)
        self._set_known(listed)
        raw_mask = (xinput.RawKeyPressMask | xinput.RawKeyReleaseMask | xinput.RawButtonPressMask
                    | xinput.RawButtonReleaseMask | xinput.RawMotionMask)
        raw_mask |= sum(1 << t for t in RAW_TOUCH)  # XI 2.2 touch: the origin of emulated clicks
        xi.screen().root.xinput_select_events(
            [(xinput.AllMasterDevices, raw_mask), (xinput.AllDevices, xinput.HierarchyChangedMask)]
        )
        xi.sync()
        self._x["xi_opcode"] = xi.display.get_extension_major("XInputExtension")
        ctx = ctrl.record_create_context(0, [record.AllClients], [{
            "core_requests": (0, 0), "core_replies": (0, 0),
            "ext_requests": (0, 0, 0, 0), "ext_replies": (0, 0, 0, 0),
            "delivered_events": (0, 0), "device_events": (X.KeyPress, X.MotionNotify),
            "errors": (0, 0), "client_started": False, "client_died": False,
        }])
        ctrl.sync()
        self._x["context"] = ctx
        table = _key_classes(ctrl)

        # From here on the data and XI2 sockets are ours: python-xlib never reads them again.
        sock: socket.socket = data.display.socket
        opcode = data.display.get_extension_major("RECORD")
        before = time.monotonic_ns()
        sock.sendall(struct.pack("=BBHI", opcode, _RECORD_ENABLE_CONTEXT, 2, ctx))
        buf = bytearray()
        deadline = time.monotonic() + 5.0
        start_ms = None
        while start_ms is None:
            if not select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise CaptureError("the X server did not start recording", "run `activesec doctor`")
            got = sock.recv(4096)
            if not got:
                raise CaptureError("the X server closed the connection", "run `activesec doctor`")
            buf += got
            # StartOfData (32 bytes, no data) comes first; only 32-byte events may precede it.
            while start_ms is None and len(buf) >= 32:
                if buf[0] == 1 and buf[1] == RECORD_START_OF_DATA:
                    start_ms = struct.unpack_from("=I", buf, 16)[0]
                del buf[:32]
        after = time.monotonic_ns()
        self._x["record_buf"] = buf  # events recorded right after the start: the first batch
        self._x["xi_buf"] = bytearray()
        sock.setblocking(False)
        xi.display.socket.setblocking(False)
        clock = ServerClock(start_ms, (before + after) // 2)
        return Assembler(
            clock,
            table,
            injectors=[d.index for d in listed if _is_injector(d.name)],
            grace_ns=int(self.match_grace * 1e9),
        )

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        thread.join(10.0)
        self._thread = None
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def info(self) -> BackendInfo:
        if self._screen is None:
            self._query_info()
        with self._lock:
            return BackendInfo(self.name, self._screen, list(self._devices))

    def _query_info(self) -> None:
        name = _display_name(self.display)
        if not name:
            return
        try:
            d = _connect(name)
        except CaptureError:
            return
        try:
            s = d.screen()
            self._screen = (int(s.width_in_pixels), int(s.height_in_pixels))
            if _xi_version(d) >= _XI_MIN_VERSION:
                listed = _devices(d)
                with self._lock:
                    self._devices = self._ids.assign(listed)
        finally:
            d.close()

    # -- reader thread -------------------------------------------------------------------
    def _run(self, asm: Assembler) -> None:
        try:
            self._loop(asm)
        except Exception as exc:
            self.error = CaptureError(
                f"X11 capture stopped: {type(exc).__name__}: {exc}", "run `activesec doctor`"
            )
            log.error("%s", self.error)
        finally:
            self._close()

    def _loop(self, asm: Assembler) -> None:
        """Wait for input while idle; while input flows, drain once per ``batch_interval``.

        One wake-up per batch: after a drain that found events the thread just sleeps the
        interval (on the wake pipe, so ``stop`` is immediate) and drains what piled up.
        """
        rec_sock: socket.socket = self._x["data"].display.socket
        xi_sock: socket.socket = self._x["xi"].display.socket
        idle_watch: list[Any] = [rec_sock, xi_sock, self._wake_r]
        busy = self._drain(asm, final=False)[2]  # events read while starting
        while not self._stop.is_set():
            if busy or asm.pending:
                select.select([self._wake_r], [], [], self.batch_interval)
            else:
                select.select(idle_watch, [], [])
            if self._stop.is_set():
                break
            busy = self._drain(asm, final=False)[2]
        self._finish(asm)

    def _read(self, key: str, sock: socket.socket) -> int:
        """Append what the socket holds to its buffer; returns the number of bytes read."""
        buf: bytearray = self._x[key]
        total = 0
        while True:
            try:
                got = sock.recv(1 << 18)
            except (BlockingIOError, InterruptedError):
                return total
            if not got:
                raise ConnectionError("the X server closed the connection")
            buf += got
            total += len(got)
            if len(got) < (1 << 18):
                return total

    def _drain(self, asm: Assembler, final: bool) -> tuple[bool, int, bool]:
        """Read both sockets, assemble, deliver.

        Returns (RECORD ended, XI2 replies seen, anything read).
        """
        # RECORD first: any raw twin of a core event read now is already in the XI2 socket.
        got = self._read("record_buf", self._x["data"].display.socket) > 0
        got = self._read("xi_buf", self._x["xi"].display.socket) > 0 or got
        rec, used = split_record(self._x["record_buf"])
        del self._x["record_buf"][:used]
        xic, used = split_xi(self._x["xi_buf"], self._x["xi_opcode"])
        del self._x["xi_buf"][:used]
        if xic.hierarchy_changed:
            self._refresh_devices(asm)
        if rec.mapping_changed or xic.mapping_changed:
            asm.key_classes = _key_classes(self._x["ctrl"])
        asm.add(rec.events, xic.raw, time.monotonic_ns(), suspended_ns())
        events = asm.take(time.monotonic_ns(), final=final)
        self.stats.unmatched = asm.unmatched
        if len(events):
            if not self._known[events["device"]].all():
                self._refresh_devices(asm)  # a device appeared between two hierarchy events
            events["device"] = self._ids.remap[events["device"]]  # X id -> index
            self._deliver(events)
        return rec.ended, xic.replies, got

    def _refresh_devices(self, asm: Assembler) -> None:
        listed = _devices(self._x["ctrl"])
        with self._lock:
            self._devices = self._ids.assign(listed)
        self._set_known(listed)
        asm.set_injectors(d.index for d in listed if _is_injector(d.name))

    def _set_known(self, devices: list[Device]) -> None:
        """X ids seen in events without a refresh: the listed ones and 0 (no device)."""
        self._known[:] = False
        self._known[[0, *(d.index for d in devices)]] = True

    def _deliver(self, events: np.ndarray) -> None:
        self.stats.events += len(events)
        self.stats.batches += 1
        assert self._sink is not None
        try:
            self._sink(events)
        except Exception as exc:  # the sink's failure must not end capture silently
            self.stats.sink_errors += 1
            if self.error is None:
                self.error = exc
                log.error("capture sink failed (%s); capture continues", type(exc).__name__)

    def _finish(self, asm: Assembler) -> None:
        """Disable recording and read both streams to their end, so nothing buffered is lost."""
        ctrl = self._x["ctrl"]
        ctrl.record_disable_context(self._x["context"])
        ctrl.sync()
        # A request on the XI2 connection: its reply follows every event queued before it.
        self._x["xi"].display.socket.sendall(struct.pack("=BBH", _GET_INPUT_FOCUS, 0, 1))
        ended, replies = False, 0
        deadline = time.monotonic() + 2.0
        watch = [self._x["data"].display.socket, self._x["xi"].display.socket]
        while not (ended and replies) and time.monotonic() < deadline:
            select.select(watch, [], [], max(0.0, deadline - time.monotonic()))
            e, r, _ = self._drain(asm, final=False)
            ended, replies = ended or e, replies + r
        self._drain(asm, final=True)
        ctrl.record_free_context(self._x["context"])
        ctrl.sync()

    def _close(self) -> None:
        for key in ("data", "xi", "ctrl"):
            d = self._x.pop(key, None)
            if d is not None:
                with contextlib.suppress(Exception):
                    d.close()
        self._x.clear()

    def __repr__(self) -> str:
        return f"X11Backend(display={_display_name(self.display)!r}, running={self.running})"

