"""Is an X11 screen locker up? For lockers the session's screensaver service does not know.

The agent learns that its lock took from ``org.freedesktop.ScreenSaver.GetActive``
(:class:`activesec.service.agent.ScreenWatch`). A locker started by other means — ``i3lock``,
``xsecurelock`` or ``slock`` as the user's own lock ``command``, or by ``xss-lock`` on a desktop
whose screensaver service is another program — is invisible to that service, which keeps
answering "inactive": the lock then looked failed, was retried every ``lock_cooldown_s``, and
the owner's unlock was never seen (no grace period, no fresh trust, locked again at once).

On X11 a locker does two things that no ordinary client does together: it maps
override-redirect windows over the screen (the window manager can neither move nor cover
them) and it holds active grabs of both the keyboard and the pointer, so no other client gets
input. :func:`x11_locker_up` checks both, the one with a side effect last: it reads the window
tree (no side effect) and only when viewable override-redirect windows cover at least half of
the screen — one per monitor for some lockers, and a monitor layout can leave parts of the root
window uncovered — does it try to grab the keyboard and the pointer itself. A locker refuses
those grabs (AlreadyGrabbed); without one they are granted and released at once, which the
focused window sees as a brief focus change. A menu grabs both but covers little of the
screen; a full-screen game or video covers it with a managed window, not an override-redirect
one. Verified here with ``i3lock`` on Xvfb (``tests/integration/test_screenlock_x11.py``).

Between the agent's own locks the owner may lock the screen with such a locker too (``xss-lock
-- i3lock`` on a bare window manager, where no screensaver service exists), and what they then
type into it is a password. :class:`X11LockerWatch` answers the same question continuously
without re-probing: it keeps one connection that listens to the root window's structure
events, re-reads the window tree only after an override-redirect window was mapped, moved,
unmapped or destroyed (a menu, a tooltip, a locker), and tries the grabs once per new set of
covering windows, ``SETTLE_S`` after it appeared (a locker maps its window, then grabs). So
asking it every second costs a non-blocking read of the socket while nothing changes (~5 µs
of CPU on Xvfb, against ~4 ms for :func:`x11_locker_up`), a re-read after a menu or tooltip
~2 ms with 80 top-level windows (at most one per question), and a full-screen
override-redirect window that is not a locker sees one brief focus change when it appears,
not one per question.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SETTLE_S = 0.5  # a covering set this old is tested: a locker grabs right after mapping


def x11_locker_up(display: str | None = None) -> bool | None:
    """True while a screen locker holds the X display (module docstring), False when none
    does, None when it cannot be told (no ``DISPLAY``, no python-xlib, no connection)."""
    name = display if display is not None else os.environ.get("DISPLAY", "")
    if not name:
        return None
    try:
        from Xlib import display as xdisplay

        d = xdisplay.Display(name)
    except Exception:  # python-xlib raises several unrelated types for a refused connection
        return None
    try:
        return _locker_up(d)
    except Exception:  # the connection broke meanwhile (the X server went away)
        return None
    finally:
        with contextlib.suppress(Exception):
            d.close()


def _covered_share(root: Any) -> float:
    """The share of the root window that viewable override-redirect children cover (summed:
    the windows of one locker do not overlap)."""
    return _covering(root)[0]


def _covering(root: Any) -> tuple[float, frozenset[int]]:
    """:func:`_covered_share`, and the ids of the viewable override-redirect children."""
    from Xlib import X, error

    g = root.get_geometry()
    area = g.width * g.height
    covered = 0
    ids: set[int] = set()
    for w in root.query_tree().children:
        try:
            a = w.get_attributes()
            if not a.override_redirect or a.map_state != X.IsViewable:
                continue
            wg = w.get_geometry()
        except error.XError:  # the window went away between the two requests
            continue
        dx = min(wg.x + wg.width, g.width) - max(wg.x, 0)
        dy = min(wg.y + wg.height, g.height) - max(wg.y, 0)
        covered += max(dx, 0) * max(dy, 0)
        ids.add(w.id)
    return (covered / area if area else 0.0), frozenset(ids)


def _held_by_another(status: int, release: Any) -> bool:
    from Xlib import X

    if status == X.GrabSuccess:  # nobody holds it: give it back at once
        release(X.CurrentTime)
        return False
    return status in (X.AlreadyGrabbed, X.GrabFrozen)


def _locker_up(d: Any) -> bool:
    root = d.screen().root
    if _covered_share(root) < 0.5:
        return False
    return _grabs_refused(d, root)


def _grabs_refused(d: Any, root: Any) -> bool:
    """Another client holds both the keyboard and the pointer grab (the probe's own, when
    granted, are given back at once)."""
    from Xlib import X

    keyboard = root.grab_keyboard(False, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
    held = _held_by_another(keyboard, d.ungrab_keyboard)
    if held:
        pointer = root.grab_pointer(False, 0, X.GrabModeAsync, X.GrabModeAsync, X.NONE,
                                    X.NONE, X.CurrentTime)
        held = _held_by_another(pointer, d.ungrab_pointer)
    d.sync()  # the releases reach the server before the connection closes
    return held


class X11LockerWatch:
    """:func:`x11_locker_up`, asked often: event-driven (module docstring). Call it (no
    arguments) for True / False / None like the probe; None while no X server can be reached
    (it reconnects at the next call)."""

    def __init__(self, display: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._name = display if display is not None else os.environ.get("DISPLAY", "")
        self._monotonic = monotonic
        self._d: Any = None
        self._dirty = True  # read the window tree at the next call
        self._override: set[int] = set()  # override-redirect children of the root, as seen
        self._covering: frozenset[int] = frozenset()  # ... that cover half of the screen
        self._since = 0.0  # when that covering set appeared
        self._verdict: bool | None = None  # the grabs' answer for it; None: not tested yet

    def __call__(self) -> bool | None:
        if not self._name:
            return None
        try:
            if self._d is None:
                self._connect()
            return self._poll()
        except Exception:  # python-xlib raises several unrelated types for a lost server
            self.close()
            return None

    def close(self) -> None:
        if self._d is not None:
            with contextlib.suppress(Exception):
                self._d.close()
        self._d = None

    def _connect(self) -> None:
        from Xlib import X
        from Xlib import display as xdisplay

        self._d = xdisplay.Display(self._name)
        self._d.screen().root.change_attributes(event_mask=X.SubstructureNotifyMask)
        self._d.sync()
        self._dirty, self._override = True, set()
        self._covering, self._verdict = frozenset(), None

    def _poll(self) -> bool:
        from Xlib import X

        d = self._d
        while d.pending_events():
            e = d.next_event()
            wid = getattr(getattr(e, "window", None), "id", None)
            if not isinstance(wid, int):
                continue
            if e.type in (X.MapNotify, X.ConfigureNotify, X.CreateNotify):
                if getattr(e, "override", False):
                    self._override.add(wid)
                    self._dirty = self._dirty or e.type != X.CreateNotify
            elif e.type in (X.UnmapNotify, X.DestroyNotify, X.ReparentNotify) \
                    and wid in self._override:
                self._dirty = True
                if e.type != X.UnmapNotify:
                    self._override.discard(wid)
        root = d.screen().root
        if self._dirty:
            self._dirty = False
            share, ids = _covering(root)
            self._override |= ids
            covering = ids if share >= 0.5 else frozenset()
            if covering != self._covering:
                self._covering, self._since, self._verdict = covering, self._monotonic(), None
        if not self._covering:
            return False
        if self._verdict is None:
            if self._monotonic() - self._since < SETTLE_S:
                return False  # mapped, maybe not grabbing yet: ask again at the next call
            self._verdict = _grabs_refused(d, root)
            if self._verdict:
                log.debug("an X11 screen locker holds the display")
        return self._verdict
