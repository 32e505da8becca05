"""X11 wire parsing and event assembly for the X11 backend — pure: bytes and arrays in, events out.

Two byte streams come from the X server (see :mod:`activesec.capture.x11`):

* the RECORD data connection: replies (32-byte header + data) whose ``FromServer`` data are
  core device events — fixed 32-byte records with the server time (ms), the detail (button or
  keycode) and the absolute root position, whatever window is under the pointer;
* the XInput2 connection: raw events selected on the root window (generic events, 32 bytes +
  valuators) whose ``sourceid`` names the slave device that produced each event — the only
  place where XTEST injection can be told from hardware.

Both are split into packets with one cheap pass over the headers and then decoded with NumPy
structured dtypes in bulk; python-xlib's per-event parsing is never used on the hot path. The
:class:`Assembler` matches each core event to the raw event with the same (server time, type,
detail), converts server time to the monotonic nanosecond timeline, maps keycodes to key
classes and pairs key presses and releases by keycode into stroke ids (the keycode stays in
memory; only the class and the stroke id leave this module).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from activesec.core.events import EVENT_DTYPE, Flag, Kind

# Core event types (X.h) and the XInput2 raw event types that mirror them.
KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE, MOTION_NOTIFY = 2, 3, 4, 5, 6
MAPPING_NOTIFY, GENERIC_EVENT = 34, 35
XI_HIERARCHY_CHANGED = 11
RAW_TO_CORE = {13: KEY_PRESS, 14: KEY_RELEASE, 15: BUTTON_PRESS, 16: BUTTON_RELEASE,
               17: MOTION_NOTIFY}
RAW_TOUCH = (22, 23, 24)  # RawTouchBegin/Update/End: pointer class, matched by time only
_TOUCH_CTYPE = 7  # no core type: a touch never is an exact twin
_RAW_CTYPE = np.zeros(256, np.uint8)
_RAW_CTYPE[list(RAW_TO_CORE)] = list(RAW_TO_CORE.values())
_RAW_CTYPE[list(RAW_TOUCH)] = _TOUCH_CTYPE
RECORD_FROM_SERVER, RECORD_START_OF_DATA, RECORD_END_OF_DATA = 0, 4, 5

# python-xlib talks to the server in the machine's native byte order, so '=' is right.
CORE_DTYPE = np.dtype([
    ("type", "u1"), ("detail", "u1"), ("seq", "=u2"), ("time", "=u4"), ("root", "=u4"),
    ("event", "=u4"), ("child", "=u4"), ("root_x", "=i2"), ("root_y", "=i2"),
    ("event_x", "=i2"), ("event_y", "=i2"), ("state", "=u2"), ("same_screen", "u1"),
    ("pad", "u1"),
])
RAW_DTYPE = np.dtype([
    ("type", "u1"), ("extension", "u1"), ("seq", "=u2"), ("length", "=u4"), ("evtype", "=u2"),
    ("deviceid", "=u2"), ("time", "=u4"), ("detail", "=u4"), ("sourceid", "=u2"),
    ("valuators_len", "=u2"), ("flags", "=u4"), ("pad", "=u4"),
])
assert CORE_DTYPE.itemsize == 32 and RAW_DTYPE.itemsize == 32

_HEADER = struct.Struct("=BBHI")  # type, detail/category/extension, sequence, length


@dataclass
class RecordChunk:
    """What one read of the RECORD connection held."""

    events: np.ndarray  # CORE_DTYPE
    start_time: int | None = None  # server time of StartOfData
    ended: bool = False  # EndOfData seen: the context was disabled
    mapping_changed: bool = False


@dataclass
class XIChunk:
    """What one read of the XInput2 connection held."""

    raw: np.ndarray  # RAW_DTYPE, only the five raw event types
    hierarchy_changed: bool = False
    mapping_changed: bool = False
    replies: int = 0  # replies seen (a GetInputFocus sent at stop marks "all events read")


def split_record(buf: bytes | bytearray) -> tuple[RecordChunk, int]:
    """Decode complete packets of a RECORD data stream; returns (chunk, bytes consumed)."""
    view = memoryview(buf)
    n = len(buf)
    off = 0
    parts: list[memoryview] = []
    chunk = RecordChunk(np.empty(0, CORE_DTYPE))
    unpack = _HEADER.unpack_from
    while off + 32 <= n:
        kind, category, _seq, length = unpack(buf, off)
        if kind != 1:  # an event or error addressed to the data connection itself
            if kind & 0x7F == MAPPING_NOTIFY:
                chunk.mapping_changed = True
            off += 32
            continue
        end = off + 32 + 4 * length
        if end > n:
            break
        if category == RECORD_FROM_SERVER:
            parts.append(view[off + 32:end])
        elif category == RECORD_START_OF_DATA:
            chunk.start_time = struct.unpack_from("=I", buf, off + 16)[0]
        elif category == RECORD_END_OF_DATA:
            chunk.ended = True
        off = end
    if parts:
        data = b"".join(parts)
        usable = len(data) - len(data) % 32
        chunk.events = np.frombuffer(data[:usable], CORE_DTYPE)
    return chunk, off


def split_xi(buf: bytes | bytearray, extension: int) -> tuple[XIChunk, int]:
    """Decode complete packets of the XInput2 event connection; returns (chunk, consumed)."""
    n = len(buf)
    off = 0
    starts: list[int] = []
    chunk = XIChunk(np.empty(0, RAW_DTYPE))
    unpack = _HEADER.unpack_from
    evtype_at = struct.Struct("=H").unpack_from
    while off + 32 <= n:
        kind, ext, _seq, length = unpack(buf, off)
        kind &= 0x7F
        if kind == GENERIC_EVENT or kind == 1:
            end = off + 32 + 4 * length
            if end > n:
                break
            if kind == 1:
                chunk.replies += 1
            elif ext == extension:
                evtype = evtype_at(buf, off + 8)[0]
                if evtype in RAW_TO_CORE or evtype in RAW_TOUCH:
                    starts.append(off)
                elif evtype == XI_HIERARCHY_CHANGED:
                    chunk.hierarchy_changed = True
            off = end
            continue
        if kind == MAPPING_NOTIFY:
            chunk.mapping_changed = True
        off += 32
    if starts:
        view = memoryview(buf)
        chunk.raw = np.frombuffer(b"".join([view[o:o + 32] for o in starts]), RAW_DTYPE)
    return chunk, off


class ServerClock:
    """Server time (32-bit ms, wraps every 49.7 days) -> the monotonic ns timeline.

    Anchored once: server time ``anchor_ms`` happened at ``anchor_ns`` (``time.monotonic_ns``,
    ``CLOCK_MONOTONIC``: the X server's own base on Linux). Each stream unwraps its own 32-bit
    times against the previous one, so a wrap between two events is one step forward, never 49
    days back. Neither clock counts a suspend; :meth:`to_ns` adds the time spent suspended
    (:func:`activesec.core.clock.suspended_ns`, recorded per event when it arrives), which puts
    event times on the agent's timeline, where a night with the lid closed is a night.
    """

    def __init__(self, anchor_ms: int, anchor_ns: int) -> None:
        self.anchor_ms = int(anchor_ms)
        self.anchor_ns = int(anchor_ns)
        self._last32 = self.anchor_ms & 0xFFFFFFFF
        self._last = self.anchor_ms
        self._last_read_ns = self.anchor_ns

    def unwrap(self, t32: np.ndarray, now_ns: int | None = None) -> np.ndarray:
        """Unwrapped server ms (int64) for a batch of 32-bit server times, in stream order.

        Each time is read as the signed 32-bit step from the previous batch's last one, which
        is right as long as a batch spans less than 24 days. ``now_ns`` (when the batch was
        read, on the anchor's clock) settles how many wraps lie between two batches: after 25
        days without any input (a desktop left on over the holidays) the signed step alone
        would put the next event 24 days *before* the last one.
        """
        t = np.asarray(t32, np.uint32)
        if len(t) == 0:
            return np.empty(0, np.int64)
        step = (t - np.uint32(self._last32)).view(np.int32)  # uint32 subtraction wraps
        out = step.astype(np.int64)
        if now_ns is not None:
            elapsed_ms = (int(now_ns) - self._last_read_ns) // 1_000_000
            wraps = round((elapsed_ms - int(out[0])) / 2**32)  # 0 unless 24.8+ days apart
            if wraps:
                out += wraps << 32
            self._last_read_ns = int(now_ns)
        out += self._last
        self._last = int(out[-1])
        self._last32 = int(t[-1])
        return out

    def to_ns(self, ms: np.ndarray, suspended_ns: object = 0) -> np.ndarray:
        return (self.anchor_ns + (np.asarray(ms, np.int64) - self.anchor_ms) * 1_000_000
                + np.asarray(suspended_ns, np.int64))


# Lookup tables: one indexing operation instead of a comparison per case.
_KIND_OF = np.zeros(8, np.uint8)  # core type -> Kind (wheel presses are fixed up after)
_KIND_OF[[KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE, MOTION_NOTIFY]] = [
    Kind.KEY_DOWN, Kind.KEY_UP, Kind.BUTTON_DOWN, Kind.BUTTON_UP, Kind.MOVE]
_IS_KEY = np.zeros(8, bool)
_IS_KEY[[KEY_PRESS, KEY_RELEASE]] = True
# X buttons 4/5 = wheel up/down, 6/7 = wheel left/right; + is up / right.
_WHEEL_STEP = np.zeros(256, np.int16)
_WHEEL_STEP[[4, 5, 6, 7]] = [1, -1, -1, 1]
_WHEEL_FLAGS = np.zeros(256, np.uint8)
_WHEEL_FLAGS[[6, 7]] = Flag.HSCROLL


def _is_key(ctype: np.ndarray) -> np.ndarray:
    return _IS_KEY[ctype]


class Assembler:
    """Turns decoded RECORD core events and XI2 raw events into :data:`EVENT_DTYPE` batches.

    ``key_classes`` maps a keycode (0..255) to its KeyClass, or (XKB group 0..3, keycode) to
    it: a key event's class is then that of the group its state names. :meth:`set_injectors`
    names the XI2 device ids that are software injectors (XTEST). A core event waits for the
    raw events of its class (pointer or keyboard) to catch up at most ``grace_ns``, as the two
    arrive on separate connections. Core events are in server order; so is the output.
    """

    def __init__(
        self,
        clock: ServerClock,
        key_classes: np.ndarray,
        injectors: Iterable[int] = (),
        grace_ns: int = 250_000_000,
        near_ms: int = 4,
        keep_raw_ms: int = 1_000,
    ) -> None:
        self.clock = clock
        self.key_classes = key_classes
        self.grace_ns = grace_ns
        self.near_ms = near_ms
        self.keep_raw_ms = keep_raw_ms  # raw events kept while no core event comes
        self.unmatched = 0  # core events no raw event accounts for (device 0)
        self._raw_clock = ServerClock(clock.anchor_ms, clock.anchor_ns)
        self._src_flags = np.zeros(1 << 16, np.uint8)
        self.set_injectors(injectors)
        self._core = np.empty(0, CORE_DTYPE)
        self._core_ms = np.empty(0, np.int64)
        self._core_arrival = np.empty(0, np.int64)
        self._core_suspended = np.empty(0, np.int64)
        self._suspended = 0  # the newest suspend total seen, in whole ms (it only grows)
        self._raw_key = np.empty(0, np.int64)
        self._raw_src = np.empty(0, np.uint16)
        self._raw_max_ms = [clock.anchor_ms, clock.anchor_ms]  # newest raw ms: keys, pointer
        self._open: dict[int, int] = {}  # keycode -> stroke id of the key now down
        self._next_stroke = 1

    def set_injectors(self, device_ids: Iterable[int]) -> None:
        """XI2 devices whose events are injected; device 0 (no device at all) always is, and
        its pointer motion is a warp (:attr:`Flag.WARPED`)."""
        self._src_flags[:] = 0
        self._src_flags[0] = Flag.INJECTED | Flag.WARPED
        self._src_flags[list(device_ids)] = Flag.INJECTED

    @staticmethod
    def _match_key(ms: np.ndarray, ctype: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """One sortable int64 per event: server ms, then core type, then detail (8 bits)."""
        low = ctype.astype(np.int64) << 8
        low |= detail & 0xFF
        return (ms << 16) | low

    def add(self, core: np.ndarray, raw: np.ndarray, now_ns: int, suspended_ns: int = 0) -> None:
        """Queue what one read of both connections produced at ``now_ns`` (the anchor's clock,
        ``CLOCK_MONOTONIC``); ``suspended_ns``: the machine's suspend total then
        (:class:`ServerClock`)."""
        # whole ms and never lower: two reads of one suspend total must not reorder events
        self._suspended = max(self._suspended, suspended_ns // 1_000_000 * 1_000_000)
        if len(raw):
            ms = self._raw_clock.unwrap(raw["time"], now_ns)
            ctype = _RAW_CTYPE[raw["evtype"]]  # split_xi keeps only the types in the table
            key = self._match_key(ms, ctype, raw["detail"])
            self._raw_key = np.concatenate([self._raw_key, key]) if len(self._raw_key) else key
            self._raw_src = (np.concatenate([self._raw_src, raw["sourceid"]])
                             if len(self._raw_src) else raw["sourceid"].copy())
            keys = _is_key(ctype)
            n_keys = int(np.count_nonzero(keys))
            if n_keys == 0:
                self._raw_max_ms[1] = max(self._raw_max_ms[1], int(ms.max()))
            else:
                self._raw_max_ms[0] = max(self._raw_max_ms[0], int(ms[keys].max()))
                if n_keys < len(keys):
                    self._raw_max_ms[1] = max(self._raw_max_ms[1], int(ms[~keys].max()))
        if len(core):
            t = core["type"] & 0x7F
            wanted = (t >= KEY_PRESS) & (t <= MOTION_NOTIFY)
            if not wanted.all():
                core = core[wanted]
            ms = self.clock.unwrap(core["time"], now_ns)
            arrival = np.full(len(core), now_ns, np.int64)
            susp = np.full(len(core), self._suspended, np.int64)
            if len(self._core):
                self._core = np.concatenate([self._core, core])
                self._core_ms = np.concatenate([self._core_ms, ms])
                self._core_arrival = np.concatenate([self._core_arrival, arrival])
                self._core_suspended = np.concatenate([self._core_suspended, susp])
            else:
                self._core, self._core_ms, self._core_arrival = core, ms, arrival
                self._core_suspended = susp

    @property
    def pending(self) -> int:
        return len(self._core)

    def take(self, now_ns: int, final: bool = False) -> np.ndarray:
        """Events ready to deliver, in server order (all of them when ``final``)."""
        n = len(self._core)
        if n == 0:
            self._forget_raw(max(self._raw_max_ms) - self.keep_raw_ms)
            return np.empty(0, EVENT_DTYPE)
        core, ms = self._core, self._core_ms
        ctype = core["type"] & 0x7F
        ready_n = n
        if not final:
            is_key = _is_key(ctype)
            caught_up = ms <= np.where(is_key, self._raw_max_ms[0], self._raw_max_ms[1])
            if not caught_up.all():
                ready = caught_up | (now_ns - self._core_arrival >= self.grace_ns)
                ready_n = n if ready.all() else int(np.argmin(ready))  # keep server order
        if ready_n == 0:
            return np.empty(0, EVENT_DTYPE)
        out = self._convert(core[:ready_n], ms[:ready_n], ctype[:ready_n],
                            self._core_suspended[:ready_n])
        self._core = core[ready_n:]
        self._core_ms = ms[ready_n:]
        self._core_arrival = self._core_arrival[ready_n:]
        self._core_suspended = self._core_suspended[ready_n:]
        # The core stream is in server order: older raw events can match nothing still to come.
        oldest = int(self._core_ms[0]) if len(self._core_ms) else int(ms[ready_n - 1])
        self._forget_raw(oldest - self.near_ms - 1)
        return out

    def _forget_raw(self, before_ms: int) -> None:
        if len(self._raw_key) and (self._raw_key[0] >> 16) < before_ms:
            first = int(np.searchsorted(self._raw_key >> 16, before_ms))
            self._raw_key = self._raw_key[first:]
            self._raw_src = self._raw_src[first:]

    def _sources(self, ms: np.ndarray, ctype: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """XI2 source device id per core event; 0 where no raw event can be its origin.

        The twin is the raw event with the same (server ms, type, detail). Without one, the
        nearest raw event of the same class (pointer or keyboard) within ``near_ms`` is taken:
        events the server derives from device input (legacy wheel buttons of smooth scrolling,
        pointer emulation of touches) come with raw events of another type at the same time.
        """
        if len(self._raw_key) == 0:
            return np.zeros(len(ms), np.uint16)
        keys, srcs = self._raw_key, self._raw_src
        if np.any(keys[1:] < keys[:-1]):  # usually sorted already: time is the high part
            order = np.argsort(keys, kind="stable")
            keys, srcs = keys[order], srcs[order]
            self._raw_key, self._raw_src = keys, srcs
        want = self._match_key(ms, ctype, detail)
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        hit = keys[pos] == want
        if hit.all():
            return srcs[pos]
        src = np.where(hit, srcs[pos], 0).astype(np.uint16)
        raw_ms = keys >> 16
        raw_is_key = _is_key(((keys >> 8) & 0x7).astype(np.uint8))
        for is_key in (False, True):
            todo = np.flatnonzero(~hit & (_is_key(ctype) == is_key))
            cand = np.flatnonzero(raw_is_key == is_key)
            if len(todo) == 0 or len(cand) == 0:
                continue
            cms = raw_ms[cand]
            right = np.minimum(np.searchsorted(cms, ms[todo]), len(cms) - 1)
            left = np.maximum(right - 1, 0)
            dl, dr = np.abs(ms[todo] - cms[left]), np.abs(cms[right] - ms[todo])
            best = np.where(dl <= dr, left, right)
            near = np.minimum(dl, dr) <= self.near_ms
            src[todo[near]] = srcs[cand[best[near]]]
        return src

    def _convert(self, core: np.ndarray, ms: np.ndarray, ctype: np.ndarray,
                 suspended: np.ndarray) -> np.ndarray:
        detail = core["detail"]
        src = self._sources(ms, ctype, detail)
        moves_only = bool((ctype == MOTION_NOTIFY).all())
        if not moves_only:
            wheel = (detail >= 4) & (detail <= 7) & ~_is_key(ctype)
            # Wheel "buttons" become one SCROLL per press; their releases carry nothing, and
            # server auto-repeat presses of a key already down are not new strokes.
            drop = (wheel & (ctype == BUTTON_RELEASE)) | self._repeats(ctype, detail)
            if drop.any():
                keep = ~drop
                core, ms, ctype, detail, src, suspended = (
                    core[keep], ms[keep], ctype[keep], detail[keep], src[keep], suspended[keep])
                wheel = wheel[keep]

        out = np.empty(len(core), EVENT_DTYPE)
        out["t_ns"] = self.clock.to_ns(ms, suspended)
        out["device"] = src
        out["x"] = core["root_x"]
        out["y"] = core["root_y"]
        out["kind"] = _KIND_OF[ctype]
        out["code"] = 0
        # XTEST devices, and pointer events no device produced at all: XWarpPointer (an app
        # re-centring the cursor, `xdotool mousemove`) moves the pointer without any input
        # device, i.e. by software — a warp, not input.
        flags = self._src_flags[src]
        orphans = src == 0
        if orphans.any():
            self.unmatched += int(orphans.sum())
        if moves_only:
            out["flags"] = flags
            return out

        buttons = ~_is_key(ctype) & (ctype != MOTION_NOTIFY)
        flags[orphans & buttons] &= ~np.uint8(Flag.WARPED)  # a click no device made: injected
        out["code"][buttons] = detail[buttons]
        if wheel.any():
            out["kind"][wheel] = Kind.SCROLL
            out["code"][wheel] = _WHEEL_STEP[detail[wheel]]
            flags = flags | _WHEEL_FLAGS[np.where(wheel, detail, 0)]
        keys = np.flatnonzero(_is_key(ctype))
        if len(keys):
            flags[keys[src[keys] == 0]] &= ~np.uint8(Flag.INJECTED | Flag.WARPED)  # unknown
            codes = detail[keys]
            table = self.key_classes
            if table.ndim == 2:  # a row per XKB group: the state's bits 13-14 say which
                group = np.minimum((core["state"][keys] >> 13) & 3, len(table) - 1)
                out["code"][keys] = table[group, codes]
            else:
                out["code"][keys] = table[codes]
            out["x"][keys] = self._strokes(codes.tolist(), (ctype[keys] == KEY_PRESS).tolist())
            out["y"][keys] = 0
        out["flags"] = flags
        return out

    def _repeats(self, ctype: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """Server auto-repeat: a press of a key that is already down (no release between).

        The stroke stays one press and one release; its dwell says how long it was held.
        """
        rep = np.zeros(len(ctype), bool)
        keys = np.flatnonzero(_is_key(ctype))
        down = set(self._open)
        for i in keys.tolist():
            kc = int(detail[i])
            if ctype[i] == KEY_PRESS:
                rep[i] = kc in down
                down.add(kc)
            else:
                down.discard(kc)
        return rep

    def _strokes(self, keycodes: list[int], pressed: list[bool]) -> list[int]:
        """Stroke id per key event: a release shares the id of the press of the same keycode.

        A release without a press (the key was down when capture started) gets a fresh id.
        """
        ids = []
        for kc, down in zip(keycodes, pressed, strict=True):
            sid = self._open.get(kc) if down else self._open.pop(kc, None)
            if sid is None:
                sid = self._next_stroke
                self._next_stroke += 1
                if down:
                    self._open[kc] = sid
            ids.append(sid)
        return ids
