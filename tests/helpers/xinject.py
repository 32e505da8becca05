"""Realistic input for a real X server through the XTEST extension (python-xlib).

Every fake event is followed by an ``XSync``, so it has been processed by the server (and
stamped with its server time) when the call returns; holds and intervals are real sleeps.
``stamps`` brackets each request on the monotonic clock (before sending, after the sync): the
server stamped it in between, so an interval the server saw between two requests is at most
``later.after - earlier.before`` and at least ``later.before - earlier.after`` however
loaded the machine is (``Stamp.most_between``, ``Stamp.least_between``).
This is what a user's input looks like to capture, except that XInput2 reports the source
as the "Virtual core XTEST pointer/keyboard" — which is how capture tells injected input.
(``xdotool click`` holds buttons for 0 ms and ``xdotool mousemove`` warps the pointer without
any XInput2 raw motion, so tests use this instead.)

    with XInjector(":99") as inj:
        inj.path([(10, 10), (20, 15), (30, 20)], dt=0.01)
        inj.click(1, hold_s=0.08)
        inj.type_text("Hello, world.", hold_s=0.03, gap_s=0.05)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import NamedTuple

from Xlib import XK, X
from Xlib.display import Display
from Xlib.ext import xtest

from activesec.core.clock import monotonic_ns

_CHAR_NAMES = {" ": "space", "\n": "Return", "\t": "Tab", "\b": "BackSpace"}


class Stamp(NamedTuple):
    """One XTEST request: its X event type and detail, and monotonic ns around it."""

    kind: int
    detail: int
    before_ns: int
    after_ns: int

    def most_between(self, later: Stamp) -> int:
        """The longest the server can have seen between this request and ``later`` (ns)."""
        return later.after_ns - self.before_ns

    def least_between(self, later: Stamp) -> int:
        """The shortest the server can have seen between this request and ``later`` (ns)."""
        return later.before_ns - self.after_ns


class XInjector:
    """Inject pointer and key input into ``display`` (a name such as ``':99'``)."""

    def __init__(self, display: str | None = None) -> None:
        self.d = Display(display)
        if not self.d.query_extension("XTEST"):
            raise RuntimeError("the X server has no XTEST extension")
        self._shift = self._keycode("Shift_L")
        self.stamps: list[Stamp] = []

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.d.close()

    def __enter__(self) -> XInjector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _fake(self, kind: int, detail: int = 0, x: int = 0, y: int = 0) -> None:
        before = monotonic_ns()  # the agent's clock: event times are on it
        if kind == X.MotionNotify:
            xtest.fake_input(self.d, kind, x=x, y=y)
        else:
            xtest.fake_input(self.d, kind, detail)
        self.d.sync()
        self.stamps.append(Stamp(kind, detail, before, monotonic_ns()))

    # -- pointer -------------------------------------------------------------------------
    def move(self, x: int, y: int) -> None:
        """Move the pointer to absolute root coordinates."""
        self._fake(X.MotionNotify, x=int(x), y=int(y))

    def path(self, points: Iterable[Sequence[int]], dt: float = 0.01) -> None:
        """Move through ``points``, one every ``dt`` seconds (paced on a deadline, no drift)."""
        t = time.monotonic()
        for x, y in points:
            self.move(x, y)
            t += dt
            pause = t - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    def press(self, button: int) -> None:
        self._fake(X.ButtonPress, button)

    def release(self, button: int) -> None:
        self._fake(X.ButtonRelease, button)

    def click(self, button: int = 1, hold_s: float = 0.08) -> None:
        self.press(button)
        time.sleep(hold_s)
        self.release(button)

    def drag(
        self, button: int, points: Sequence[Sequence[int]], dt: float = 0.01
    ) -> None:
        """Press at the first point, move through the rest, release at the last."""
        self.move(*points[0])
        self.press(button)
        self.path(points[1:], dt)
        self.release(button)

    def scroll(self, dy: int = 0, dx: int = 0, gap_s: float = 0.02) -> None:
        """Wheel steps: ``dy`` > 0 up (button 4), < 0 down (5); ``dx`` > 0 right (7), < 0 left
        (6)."""
        steps = [(4 if dy > 0 else 5)] * abs(dy) + [(7 if dx > 0 else 6)] * abs(dx)
        for b in steps:
            self.press(b)
            self.release(b)
            time.sleep(gap_s)

    # -- keys ----------------------------------------------------------------------------
    def _keycode(self, keysym_name: str) -> int:
        keysym = XK.string_to_keysym(keysym_name)
        code = self.d.keysym_to_keycode(keysym) if keysym else 0
        if not code:
            raise ValueError(f"no keycode for keysym {keysym_name!r} on this server")
        return int(code)

    def key_down(self, keysym_name: str) -> None:
        self._fake(X.KeyPress, self._keycode(keysym_name))

    def key_up(self, keysym_name: str) -> None:
        self._fake(X.KeyRelease, self._keycode(keysym_name))

    def key(self, keysym_name: str, hold_s: float = 0.05) -> None:
        """Press and release one key named by its keysym (``'a'``, ``'Return'``, ``'Shift_L'``)."""
        self.key_down(keysym_name)
        time.sleep(hold_s)
        self.key_up(keysym_name)

    def _char(self, c: str) -> tuple[int, bool]:
        """Keycode for a character and whether Shift is needed (from the server's keymap)."""
        keysym = XK.string_to_keysym(_CHAR_NAMES[c]) if c in _CHAR_NAMES else ord(c)
        for code, index in self.d.keysym_to_keycodes(keysym):
            if index in (0, 1):
                return int(code), index == 1
        raise ValueError(f"character {c!r} cannot be typed with this keymap")

    def type_text(self, text: str, hold_s: float = 0.04, gap_s: float = 0.06) -> None:
        """Type ``text`` with real holds; capitals and shifted symbols press Shift around them."""
        for c in text:
            code, shifted = self._char(c)
            if shifted:
                self._fake(X.KeyPress, self._shift)
                time.sleep(hold_s / 2)
            self._fake(X.KeyPress, code)
            time.sleep(hold_s)
            self._fake(X.KeyRelease, code)
            if shifted:
                time.sleep(hold_s / 4)
                self._fake(X.KeyRelease, self._shift)
            time.sleep(gap_s)
