"""The foreground application's process name, for per-app policies.

Only the process name is ever read (``firefox``, ``Code.exe``), never a window title. Every
failure answers ``None``: a missing name must never stop capture.

* X11: the root window's ``_NET_ACTIVE_WINDOW`` (set by the window manager) -> that window's
  ``_NET_WM_PID`` -> ``psutil.Process(pid).name()``. A window whose ``WM_CLIENT_MACHINE`` is
  another host (``ssh -X``) gives ``None``: its pid means nothing here. The connection is
  cached and re-opened after an error.
* Windows: ``GetForegroundWindow`` -> ``GetWindowThreadProcessId`` -> psutil (ctypes, lazily).
* macOS: the front-most on-screen window's owner pid (``CGWindowListCopyWindowInfo``, which
  stays current without an AppKit run loop), else ``NSWorkspace.frontmostApplication()``;
  its process name through psutil, else the app's localized name.
* Wayland has no portable way to ask (by design): ``None``. XWayland's root properties only
  know X clients and go stale while a native Wayland window has the focus, and a wrong name
  would be worse than none for an app-gating policy.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import sys
import threading
from collections.abc import Mapping
from typing import Any

import psutil

__all__ = ["X11Apps", "foreground_app", "macos_foreground", "process_name", "windows_foreground"]


def process_name(pid: int | None) -> str | None:
    """A live process' name, or None."""
    if not pid or pid <= 0:
        return None
    try:
        return psutil.Process(int(pid)).name() or None
    except (psutil.Error, OSError, ValueError):
        return None


# --------------------------------------------------------------------------- X11
class X11Apps:
    """Reads the active window's process through one cached python-xlib connection."""

    def __init__(self, display: str | None = None) -> None:
        self.display_name = display
        self._d: Any = None
        self._atoms: dict[str, int] = {}
        self._lock = threading.Lock()
        self._host = socket.gethostname()

    def _connect(self) -> Any:
        if self._d is None:
            from Xlib import display as xdisplay

            self._d = xdisplay.Display(self.display_name)
            self._atoms = {
                n: self._d.intern_atom(n)
                for n in ("_NET_ACTIVE_WINDOW", "_NET_WM_PID", "WM_CLIENT_MACHINE")
            }
        return self._d

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._d is not None:
            with contextlib.suppress(Exception):
                self._d.close()
        self._d = None

    def pid(self) -> int | None:
        """The active window's pid, or None."""
        with self._lock:
            try:
                return self._pid()
            except Exception:  # X errors, a lost connection, a vanished window
                self._close()  # next call reconnects
                return None

    def _pid(self) -> int | None:
        from Xlib import X

        d = self._connect()
        root = d.screen().root
        active = root.get_full_property(self._atoms["_NET_ACTIVE_WINDOW"], X.AnyPropertyType)
        if active is None or not len(active.value) or not active.value[0]:
            return None
        win = d.create_resource_object("window", int(active.value[0]))
        machine = win.get_full_property(self._atoms["WM_CLIENT_MACHINE"], X.AnyPropertyType)
        if machine is not None and machine.value:
            host = machine.value
            host = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
            if host.rstrip("\0") not in (self._host, "localhost"):
                return None  # a remote client: its pid is another machine's
        prop = win.get_full_property(self._atoms["_NET_WM_PID"], X.AnyPropertyType)
        if prop is None or not len(prop.value):
            return None
        return int(prop.value[0])

    def name(self) -> str | None:
        return process_name(self.pid())


_x11_cache: dict[str | None, X11Apps] = {}
_x11_cache_lock = threading.Lock()


def _x11_foreground(display: str) -> str | None:
    with _x11_cache_lock:
        apps = _x11_cache.get(display)
        if apps is None:
            apps = _x11_cache[display] = X11Apps(display)
    return apps.name()


# --------------------------------------------------------------------------- Windows
def windows_foreground(user32: Any = None) -> str | None:
    """Foreground window -> owning process name (``user32`` injectable for tests)."""
    try:
        if user32 is None:
            user32 = ctypes.windll.user32  # type: ignore[attr-defined]
        hwnd = user32.GetForegroundWindow()
        if not hwnd:
            return None  # the desktop is switching, or a secure desktop (UAC) is up
        pid = ctypes.c_ulong(0)
        user32.GetWindowThreadProcessId(hwnd, ctypes.pointer(pid))
        return process_name(pid.value)
    except Exception:
        return None


# --------------------------------------------------------------------------- macOS
def macos_foreground(quartz: Any = None, appkit: Any = None) -> str | None:
    """Front-most app's process name (modules injectable for tests)."""
    pid: int | None = None
    with contextlib.suppress(Exception):
        if quartz is None:
            import Quartz

            quartz = Quartz
        windows = quartz.CGWindowListCopyWindowInfo(
            quartz.kCGWindowListOptionOnScreenOnly | quartz.kCGWindowListExcludeDesktopElements,
            quartz.kCGNullWindowID,
        )
        for w in windows or ():  # front to back
            if int(w.get("kCGWindowLayer", 1)) == 0:  # normal app windows, not the menu bar
                pid = int(w["kCGWindowOwnerPID"])
                break
    name = process_name(pid)
    if name:
        return name
    with contextlib.suppress(Exception):
        if appkit is None:
            import AppKit

            appkit = AppKit
        app = appkit.NSWorkspace.sharedWorkspace().frontmostApplication()
        if app is None:
            return None
        return process_name(int(app.processIdentifier())) or (str(app.localizedName()) or None)
    return None


# --------------------------------------------------------------------------- entry point
def foreground_app(
    platform: str = sys.platform, env: Mapping[str, str] | None = None
) -> str | None:
    """The foreground application's process name, or None when it cannot be known."""
    try:
        if platform == "win32":
            return windows_foreground()
        if platform == "darwin":
            return macos_foreground()
        env = os.environ if env is None else env
        if env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE", "").lower() == "wayland":
            return None
        display = env.get("DISPLAY")
        return _x11_foreground(display) if display else None
    except Exception:
        return None
