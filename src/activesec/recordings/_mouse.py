"""Balabit's pointer vocabulary <-> events, shared by the Balabit reader and the generic layout.

Rows are ``(time s, button, state, x, y)`` with button ``NoButton|Left|Right|Middle|Scroll``
(also ``XButton``/``XButton2`` for the side buttons) and state
``Move|Pressed|Released|Drag|Down|Up`` (also ``Left|Right`` for horizontal scrolling):

* ``Move`` and ``Drag`` (a move with a button held) -> MOVE,
* ``<button> Pressed/Released`` -> BUTTON_DOWN/BUTTON_UP with the button code,
* ``Scroll Up/Down`` -> SCROLL with code +1/-1; ``Scroll Right/Left`` -> SCROLL +1/-1 with
  the HSCROLL flag.

Any other combination, a non-finite time or an out-of-range coordinate makes the row bad: it is
skipped and counted by reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from activesec.core.events import EVENT_DTYPE, Button, Flag, Kind, empty
from activesec.recordings._table import Categorical

_BUTTONS = {
    "nobutton": 0,
    "left": int(Button.LEFT),
    "middle": int(Button.MIDDLE),
    "right": int(Button.RIGHT),
    "xbutton": int(Button.BACK),
    "xbutton1": int(Button.BACK),
    "xbutton2": int(Button.FORWARD),
    "scroll": -1,
}
_BUTTON_NAMES = {
    int(Button.LEFT): "Left",
    int(Button.MIDDLE): "Middle",
    int(Button.RIGHT): "Right",
    int(Button.BACK): "XButton",
    int(Button.FORWARD): "XButton2",
}
INT32 = (-(2**31), 2**31 - 1)
#: Times beyond this many seconds do not fit int64 nanoseconds: the row is bad.
MAX_SECONDS = 9.0e9


def seconds_to_ns(t_s: np.ndarray) -> np.ndarray:
    """Integer nanoseconds of finite times in seconds, as exact as the float64 they were read
    into allows. ``rint(t * 1e9)`` rounded Unix-epoch seconds (1.7e9) to the 256 ns of a float64
    near 1.7e18, so a file's steps of 16 ms read as 15.999808 ms or 16.000064 ms, and the same
    recording gave other features and figures with epoch times than counted from zero. The
    whole seconds are taken apart exactly, and the fraction is read on the finest decimal grid
    the float resolves at that magnitude (1 µs at epoch seconds, 1 ns below 8 million s)."""
    t = np.asarray(t_s, dtype=np.float64)
    whole = np.floor(t)
    frac = t - whole  # exact: both are within a factor of two of each other or frac is small
    with np.errstate(divide="ignore"):
        grid = 10.0 ** np.ceil(np.log10(np.maximum(np.spacing(np.abs(t)), 1e-9)))
    frac_ns = np.rint(np.rint(frac / grid) * grid * 1e9)
    return whole.astype(np.int64) * 1_000_000_000 + frac_ns.astype(np.int64)


def _rule(button: str, state: str) -> tuple[int, int, int]:
    """(kind, code, flags) for one vocabulary pair; kind 0 = not a valid pair."""
    b = _BUTTONS.get(button.lower())
    s = state.lower()
    if b is None:
        return 0, 0, 0
    if s in ("move", "drag"):
        return int(Kind.MOVE), 0, 0
    if b > 0 and s in ("pressed", "released"):
        return int(Kind.BUTTON_DOWN if s == "pressed" else Kind.BUTTON_UP), b, 0
    if b == -1 and s in ("up", "down"):
        return int(Kind.SCROLL), 1 if s == "up" else -1, 0
    if b == -1 and s in ("left", "right"):
        return int(Kind.SCROLL), 1 if s == "right" else -1, int(Flag.HSCROLL)
    return 0, 0, 0


def decode(
    t_s: np.ndarray,
    button: Categorical,
    state: Categorical,
    x: np.ndarray,
    y: np.ndarray,
    coord_range: tuple[int, int] = INT32,
    origin: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Events (file order, not yet sorted) and counts of rows dropped per reason. ``origin``:
    the optional ``injected`` column, per row (:func:`origin_flags`)."""
    nb, ns = len(button.values), len(state.values)
    lut = np.zeros((max(nb, 1), max(ns, 1), 3), dtype=np.int64)
    for i, bv in enumerate(button.values):
        for j, sv in enumerate(state.values):
            lut[i, j] = _rule(bv, sv)
    rule = lut[button.codes, state.codes] if len(t_s) else np.zeros((0, 3), np.int64)
    ok_vocab = rule[:, 0] > 0
    with np.errstate(invalid="ignore"):
        ok_time = np.abs(t_s) < MAX_SECONDS  # also False for NaN
    lo, hi = coord_range
    with np.errstate(invalid="ignore"):
        ok_xy = np.isfinite(x) & np.isfinite(y) & (x >= lo) & (x <= hi) & (y >= lo) & (y <= hi)
    keep = ok_vocab & ok_time & ok_xy
    counts = {
        "bad_vocabulary": int(np.count_nonzero(~ok_vocab)),
        "bad_time": int(np.count_nonzero(ok_vocab & ~ok_time)),
        "bad_coordinates": int(np.count_nonzero(ok_vocab & ok_time & ~ok_xy)),
    }
    if origin is not None:  # an unreadable origin could be a bot's row: never read as a person's
        ok_origin = origin_known(origin)
        counts["bad_injected"] = int(np.count_nonzero(keep & ~ok_origin))
        keep &= ok_origin
    ev = empty(int(np.count_nonzero(keep)))
    ev["t_ns"] = seconds_to_ns(t_s[keep])
    ev["kind"] = rule[keep, 0]
    ev["code"] = rule[keep, 1]
    ev["flags"] = rule[keep, 2]
    ev["x"] = np.rint(x[keep]).astype(np.int64)
    ev["y"] = np.rint(y[keep]).astype(np.int64)
    if origin is not None:
        ev["flags"] |= origin_flags(origin[keep])
    return ev, counts


#: the optional ``injected`` column: 0 a device's input, 1 injected by software (XTEST,
#: SendInput), 2 a pointer warp (moved by software with no input at all: never scored)
ORIGIN_VALUES = {0: Flag.NONE, 1: Flag.INJECTED, 2: Flag.INJECTED | Flag.WARPED}


def origin_known(values: np.ndarray) -> np.ndarray:
    """Which ``injected`` column values are one of :data:`ORIGIN_VALUES` (empty ones are not)."""
    return np.isin(np.asarray(values, np.float64), list(ORIGIN_VALUES))


def origin_flags(values: np.ndarray) -> np.ndarray:
    """Event flags for ``injected`` column values (:func:`origin_known` ones)."""
    v = np.nan_to_num(np.asarray(values, np.float64), nan=0.0)
    out = np.zeros(len(v), np.uint8)  # EVENT_DTYPE's flags
    out[v == 1] = int(Flag.INJECTED)
    out[v == 2] = int(Flag.INJECTED | Flag.WARPED)
    return out


def origin_value(flags: int) -> int:
    """The ``injected`` column value of an event's flags (:data:`ORIGIN_VALUES`)."""
    if not flags & Flag.INJECTED:
        return 0
    return 2 if flags & Flag.WARPED else 1


def format_seconds(t_ns: int) -> str:
    """Exact decimal seconds for a nanosecond time, without trailing zeros."""
    q, r = divmod(abs(int(t_ns)), 1_000_000_000)
    s = f"{q}.{r:09d}".rstrip("0").rstrip(".")
    return "-" + s if t_ns < 0 else s


def encode(events: np.ndarray) -> Iterator[tuple[int, str, str, int, int, int]]:
    """Rows ``(t_ns, button, state, x, y, origin)`` for the pointer events of ``events``
    (``origin``: :func:`origin_value`).

    Moves while a button is held are written ``NoButton,Drag`` as Balabit does; a scroll of
    ``n`` steps becomes ``|n|`` rows at the same time (the layout has one step per row).
    Buttons without a name in the vocabulary are not written.
    """
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"events must be EVENT_DTYPE, got {events.dtype}")
    kind = events["kind"]
    held = np.cumsum(kind == Kind.BUTTON_DOWN) - np.cumsum(kind == Kind.BUTTON_UP)
    for e, h in zip(events.tolist(), held.tolist(), strict=True):
        t, k, flags, _dev, x, y, code = e
        o = origin_value(flags)
        if k == Kind.MOVE:
            yield t, "NoButton", "Drag" if h > 0 else "Move", x, y, o
        elif k in (Kind.BUTTON_DOWN, Kind.BUTTON_UP):
            name = _BUTTON_NAMES.get(code)
            if name is not None:
                yield t, name, "Pressed" if k == Kind.BUTTON_DOWN else "Released", x, y, o
        elif k == Kind.SCROLL and code != 0:
            if flags & Flag.HSCROLL:
                state = "Right" if code > 0 else "Left"
            else:
                state = "Up" if code > 0 else "Down"
            for _ in range(abs(code)):
                yield t, "Scroll", state, x, y, o
