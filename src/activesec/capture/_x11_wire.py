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
from dataclasses import dataclass, field

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
        raw = np.frombuffer(buf, np.uint8, count=off)
        idx = np.asarray(starts, np.int64)[:, None] + np.arange(32)
        chunk.raw = np.ascontiguousarray(raw[idx]).view(RAW_DTYPE).reshape(-1)
    return chunk, off


class ServerClock:
    """Server time (32-bit ms, wraps every 49.7 days) -> the monotonic ns timeline.

    Anchored once: server time ``anchor_ms`` happened at ``anchor_ns`` (``time.monotonic_ns``).
    Each stream unwraps its own 32-bit times against the previous one, so a wrap between two
    events is one step forward, never 49 days back.
    """

    def __init__(self, anchor_ms: int, anchor_ns: int) -> None:
        self.anchor_ms = int(anchor_ms)
        self.anchor_ns = int(anchor_ns)
        self._last32 = self.anchor_ms & 0xFFFFFFFF
        self._last = self.anchor_ms

    def unwrap(self, t32: np.ndarray) -> np.ndarray:
        """Unwrapped server ms (int64) for a batch of 32-bit server times, in stream order."""
        t = np.asarray(t32, np.uint32)
        if len(t) == 0:
            return np.empty(0, np.int64)
        prev = np.empty_like(t)
        prev[0] = self._last32
        prev[1:] = t[:-1]
        step = (t - prev).view(np.int32).astype(np.int64)  # uint32 subtraction wraps mod 2**32
        out = self._last + np.cumsum(step)
        self._last = int(out[-1])
        self._last32 = int(t[-1])
        return out

    def to_ns(self, ms: np.ndarray) -> np.ndarray:
        return self.anchor_ns + (np.asarray(ms, np.int64) - self.anchor_ms) * 1_000_000


def _is_key(t: np.ndarray) -> np.ndarray:
    return (t == KEY_PRESS) | (t == KEY_RELEASE)


@dataclass
class Assembler:
    """Turns decoded RECORD core events and XI2 raw events into :data:`EVENT_DTYPE` batches.

    ``key_classes`` maps a keycode (0..255) to its KeyClass; ``injected`` is the set of XI2
    device ids that are software injectors (XTEST). A core event waits for the raw event of
    its class (pointer or keyboard) to catch up at most ``grace_ns``, as the two arrive on
    separate connections.
    """

    clock: ServerClock
    key_classes: np.ndarray
    injected: set[int] = field(default_factory=set)
    grace_ns: int = 250_000_000
    near_ms: int = 4
    unmatched: int = 0  # core events no raw event accounts for (device 0)
    _raw_clock: ServerClock = field(init=False)
    _core: np.ndarray = field(init=False)
    _core_ms: np.ndarray = field(init=False)
    _core_arrival: np.ndarray = field(init=False)
    _raw_key: np.ndarray = field(init=False)
    _raw_src: np.ndarray = field(init=False)
    _raw_max_ms: list[int] = field(init=False)  # newest raw time per class (0 keys, 1 pointer)
    _open: dict[int, int] = field(init=False, default_factory=dict)  # keycode -> stroke id
    _next_stroke: int = field(init=False, default=1)

    def __post_init__(self) -> None:
        self._raw_clock = ServerClock(self.clock.anchor_ms, self.clock.anchor_ns)
        self._core = np.empty(0, CORE_DTYPE)
        self._core_ms = np.empty(0, np.int64)
        self._core_arrival = np.empty(0, np.int64)
        self._raw_key = np.empty(0, np.int64)
        self._raw_src = np.empty(0, np.uint16)
        self._raw_max_ms = [self.clock.anchor_ms, self.clock.anchor_ms]

    @staticmethod
    def _match_key(ms: np.ndarray, ctype: np.ndarray, detail: np.ndarray) -> np.ndarray:
        return (ms << 16) | (ctype.astype(np.int64) << 8) | (detail.astype(np.int64) & 0xFF)

    def add(self, core: np.ndarray, raw: np.ndarray, now_ns: int) -> None:
        """Queue what one read of both connections produced."""
        if len(raw):
            ms = self._raw_clock.unwrap(raw["time"])
            ctype = _RAW_CTYPE[np.minimum(raw["evtype"], 255)]
            key = self._match_key(ms, ctype, raw["detail"])
            self._raw_key = np.concatenate([self._raw_key, key])
            self._raw_src = np.concatenate([self._raw_src, raw["sourceid"]])
            keys = _is_key(ctype)
            if keys.any():
                self._raw_max_ms[0] = max(self._raw_max_ms[0], int(ms[keys].max()))
            if (~keys).any():
                self._raw_max_ms[1] = max(self._raw_max_ms[1], int(ms[~keys].max()))
        if len(core):
            t = core["type"] & 0x7F
            core = core[(t >= KEY_PRESS) & (t <= MOTION_NOTIFY)]
            self._core = np.concatenate([self._core, core])
            self._core_ms = np.concatenate([self._core_ms, self.clock.unwrap(core["time"])])
            self._core_arrival = np.concatenate(
                [self._core_arrival, np.full(len(core), now_ns, np.int64)])

    @property
    def pending(self) -> int:
        return len(self._core)

    def take(self, now_ns: int, final: bool = False) -> np.ndarray:
        """Events ready to deliver, in server order (all of them when ``final``)."""
        n = len(self._core)
        if n == 0:
            self._forget_raw(max(self._raw_max_ms) - 2_000)
            return np.empty(0, EVENT_DTYPE)
        core, ms = self._core, self._core_ms
        ctype = core["type"] & 0x7F
        if final:
            ready_n = n
        else:
            caught_up = np.where(_is_key(ctype), ms <= self._raw_max_ms[0],
                                 ms <= self._raw_max_ms[1])
            ready = caught_up | (now_ns - self._core_arrival >= self.grace_ns)
            ready_n = n if ready.all() else int(np.argmin(ready))  # keep server order
        if ready_n == 0:
            return np.empty(0, EVENT_DTYPE)
        out = self._convert(core[:ready_n], ms[:ready_n], ctype[:ready_n])
        self._core = core[ready_n:]
        self._core_ms = ms[ready_n:]
        self._core_arrival = self._core_arrival[ready_n:]
        oldest = int(self._core_ms[0]) if len(self._core_ms) else max(self._raw_max_ms)
        self._forget_raw(oldest - 2_000)
        return out

    def _forget_raw(self, before_ms: int) -> None:
        keep = (self._raw_key >> 16) >= before_ms
        if not keep.all():
            self._raw_key = self._raw_key[keep]
            self._raw_src = self._raw_src[keep]

    def _sources(self, ms: np.ndarray, ctype: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """XI2 source device id per core event; 0 where no raw event can be its origin.

        The twin is the raw event with the same (server ms, type, detail). Without one, the
        nearest raw event of the same class (pointer or keyboard) within ``near_ms`` is taken:
        events the server derives from device input (legacy wheel buttons of smooth scrolling,
        pointer emulation of touches) come with raw events of another type at the same time.
        """
        src = np.zeros(len(ms), np.uint16)
        if len(self._raw_key) == 0 or len(ms) == 0:
            return src
        order = np.argsort(self._raw_key, kind="stable")
        keys = self._raw_key[order]
        srcs = self._raw_src[order]
        want = self._match_key(ms, ctype, detail)
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        hit = keys[pos] == want
        src[hit] = srcs[pos[hit]]
        if hit.all():
            return src
        raw_ms = keys >> 16
        raw_is_key = _is_key(((keys >> 8) & 0xFF).astype(np.uint8))
        for is_key in (False, True):
            todo = np.flatnonzero(~hit & (_is_key(ctype) == is_key))
            cand = np.flatnonzero(raw_is_key == is_key)
            if len(todo) == 0 or len(cand) == 0:
                continue
            cms = raw_ms[cand]  # sorted: keys sort by time first
            right = np.minimum(np.searchsorted(cms, ms[todo]), len(cms) - 1)
            left = np.maximum(right - 1, 0)
            dl, dr = np.abs(ms[todo] - cms[left]), np.abs(cms[right] - ms[todo])
            best = np.where(dl <= dr, left, right)
            near = np.minimum(dl, dr) <= self.near_ms
            src[todo[near]] = srcs[cand[best[near]]]
        return src

    def _convert(self, core: np.ndarray, ms: np.ndarray, ctype: np.ndarray) -> np.ndarray:
        detail = core["detail"]
        src = self._sources(ms, ctype, detail)
        is_scroll_button = (detail >= 4) & (detail <= 7)
        # Wheel "buttons" become one SCROLL per press; their releases carry nothing.
        keep = ~((ctype == BUTTON_RELEASE) & is_scroll_button)
        keep &= ~self._repeats(ctype, detail)
        core, ms, ctype, detail, src = core[keep], ms[keep], ctype[keep], detail[keep], src[keep]
        is_scroll_button = is_scroll_button[keep]

        out = np.zeros(len(core), EVENT_DTYPE)
        out["t_ns"] = self.clock.to_ns(ms)
        out["device"] = src
        out["x"] = core["root_x"]
        out["y"] = core["root_y"]
        kind = np.zeros(len(core), np.uint8)
        kind[ctype == MOTION_NOTIFY] = Kind.MOVE
        kind[ctype == BUTTON_PRESS] = Kind.BUTTON_DOWN
        kind[ctype == BUTTON_RELEASE] = Kind.BUTTON_UP
        kind[ctype == KEY_PRESS] = Kind.KEY_DOWN
        kind[ctype == KEY_RELEASE] = Kind.KEY_UP
        scroll = (ctype == BUTTON_PRESS) & is_scroll_button
        kind[scroll] = Kind.SCROLL
        out["kind"] = kind
        buttons = (ctype == BUTTON_PRESS) | (ctype == BUTTON_RELEASE)
        out["code"][buttons] = detail[buttons]
        # X buttons 4/5 = wheel up/down, 6/7 = wheel left/right; + is up / right.
        out["code"][scroll] = np.array([0, 0, 0, 0, 1, -1, -1, 1], np.int16)[detail[scroll]]
        flags = np.where(scroll & (detail >= 6), int(Flag.HSCROLL), 0).astype(np.uint8)
        injected = np.isin(src, list(self.injected)) if self.injected else np.zeros(len(src), bool)
        # Pointer events no device produced: XWarpPointer (`xdotool mousemove`), i.e. software.
        orphan = (src == 0) & ~_is_key(ctype)
        self.unmatched += int((src == 0).sum())
        flags |= np.where(injected | orphan, int(Flag.INJECTED), 0).astype(np.uint8)
        out["flags"] = flags
        keys = np.flatnonzero(_is_key(ctype))
        if len(keys):
            codes = detail[keys]
            out["code"][keys] = self.key_classes[codes]
            out["x"][keys] = self._strokes(codes, ctype[keys] == KEY_PRESS)
            out["y"][keys] = 0
        return out

    def _repeats(self, ctype: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """Server auto-repeat: a press of a key that is already down (no release between).

        The stroke stays one press and one release; its dwell says how long it was held.
        """
        rep = np.zeros(len(ctype), bool)
        keys = np.flatnonzero(_is_key(ctype))
        if len(keys) == 0:
            return rep
        down = set(self._open)
        for i in keys:
            kc = int(detail[i])
            if ctype[i] == KEY_PRESS:
                rep[i] = kc in down
                down.add(kc)
            else:
                down.discard(kc)
        return rep

    def _strokes(self, keycodes: Iterable[int], pressed: Iterable[bool]) -> list[int]:
        """Stroke id per key event: a release shares the id of the press of the same keycode.

        An auto-repeat press of a key already down keeps its stroke id; a release without a
        press (key held when capture started) gets a fresh one.
        """
        ids = []
        for kc, down in zip(keycodes, pressed, strict=True):
            kc = int(kc)
            sid = self._open.get(kc) if down else self._open.pop(kc, None)
            if sid is None:
                sid = self._next_stroke
                self._next_stroke += 1
                if down:
                    self._open[kc] = sid
            ids.append(sid)
        return ids
