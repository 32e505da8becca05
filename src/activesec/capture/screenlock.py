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
"""

from __future__ import annotations

import contextlib
import os
from typing import Any


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
    from Xlib import X, error

    g = root.get_geometry()
    area = g.width * g.height
    covered = 0
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
    return covered / area if area else 0.0


def _held_by_another(status: int, release: Any) -> bool:
    from Xlib import X

    if status == X.GrabSuccess:  # nobody holds it: give it back at once
        release(X.CurrentTime)
        return False
    return status in (X.AlreadyGrabbed, X.GrabFrozen)


def _locker_up(d: Any) -> bool:
    from Xlib import X

    root = d.screen().root
    if _covered_share(root) < 0.5:
        return False
    keyboard = root.grab_keyboard(False, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
    held = _held_by_another(keyboard, d.ungrab_keyboard)
    if held:
        pointer = root.grab_pointer(False, 0, X.GrabModeAsync, X.GrabModeAsync, X.NONE,
                                    X.NONE, X.CurrentTime)
        held = _held_by_another(pointer, d.ungrab_pointer)
    d.sync()  # the releases reach the server before the connection closes
    return held
