"""Lock the session: the strongest action short of logging the user out.

Methods are tried in order and the first that succeeds wins; the result names it and lists what
was tried before (``info["tried"]``). If every method fails the result is ``ok=False`` with the
whole list, so the engine can notify and record the failure — locking never silently does
nothing. ``revert`` is a no-op: ActiveSec never unlocks a session; the owner does.

Linux (default order): ``loginctl lock-session [SESSION]`` (the caller's session, else the
user's graphical one; skipped when systemd-logind is not running),
the ``org.freedesktop.ScreenSaver.Lock`` and ``org.gnome.ScreenSaver.Lock`` D-Bus methods on the
session bus, ``xdg-screensaver lock``, ``xscreensaver-command -lock``, ``dm-tool lock``.

Windows: ``user32.LockWorkStation()`` (must run in the interactive session: see the log-on
task in :mod:`activesec.service.installers`).

macOS — what works on current releases, stated honestly (none of it could be run here):

* ``/System/Library/CoreServices/Menu Extras/User.menu/Contents/Resources/CGSession -suspend``
  (fast user switching to the login window) is widely reported gone since macOS 11 Big Sur;
  it is tried only when the file exists.
* The Lock Screen shortcut (Control-Command-Q, macOS 10.13+) sent through ``osascript`` and
  System Events locks immediately on current releases, but needs two permissions for the agent:
  Accessibility (System Settings > Privacy & Security > Accessibility), to send keystrokes, and
  since macOS 10.14 Automation of System Events (> Automation; asked once in a dialog, else
  osascript fails with -1743 "Not authorized to send Apple events"); without either osascript
  fails and the next method runs. Grant both before relying on it: a lock that first waits
  for a consent dialog does not lock.
* ``pmset displaysleepnow`` only sleeps the display: it *locks* only when "Require password
  immediately after screen saver begins or display is turned off" is set, which pmset cannot
  check — the result says so.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from activesec.actions import _dbus, _proc
from activesec.actions.base import Action, ActionResult, Decision
from activesec.core.errors import ConfigError

LINUX_METHODS: tuple[str, ...] = (
    "loginctl",
    "org.freedesktop.ScreenSaver",
    "org.gnome.ScreenSaver",
    "xdg-screensaver",
    "xscreensaver-command",
    "dm-tool",
)
MACOS_METHODS: tuple[str, ...] = ("CGSession", "lock-shortcut", "pmset")
WINDOWS_METHODS: tuple[str, ...] = ("LockWorkStation",)

CGSESSION = "/System/Library/CoreServices/Menu Extras/User.menu/Contents/Resources/CGSession"

_COMMANDS: dict[str, list[str]] = {
    "loginctl": ["loginctl", "lock-session"],
    "xdg-screensaver": ["xdg-screensaver", "lock"],
    "xscreensaver-command": ["xscreensaver-command", "-lock"],
    "dm-tool": ["dm-tool", "lock"],
    "CGSession": [CGSESSION, "-suspend"],
    "lock-shortcut": [
        "osascript",
        "-e",
        'tell application "System Events" to keystroke "q" using {control down, command down}',
    ],
    "pmset": ["pmset", "displaysleepnow"],
}

#: D-Bus screensaver interfaces: bus name -> (object paths to try, interface).
_DBUS: dict[str, tuple[tuple[str, ...], str]] = {
    "org.freedesktop.ScreenSaver": (
        ("/org/freedesktop/ScreenSaver", "/ScreenSaver"),
        "org.freedesktop.ScreenSaver",
    ),
    "org.gnome.ScreenSaver": (("/org/gnome/ScreenSaver",), "org.gnome.ScreenSaver"),
}

#: Where ``GetActive`` (is the screensaver, hence the lock, up?) is asked, in order: KDE and
#: xfce answer on ``org.freedesktop.ScreenSaver`` (KDE also at ``/ScreenSaver``); GNOME does not
#: implement ``GetActive`` there (only inhibition) but on ``org.gnome.ScreenSaver``; Cinnamon
#: and MATE have their own names. (bus name, object path, interface)
ACTIVE_QUERIES: tuple[tuple[str, str, str], ...] = (
    ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver"),
    ("org.freedesktop.ScreenSaver", "/ScreenSaver", "org.freedesktop.ScreenSaver"),
    ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", "org.gnome.ScreenSaver"),
    ("org.cinnamon.ScreenSaver", "/org/cinnamon/ScreenSaver", "org.cinnamon.ScreenSaver"),
    ("org.mate.ScreenSaver", "/org/mate/ScreenSaver", "org.mate.ScreenSaver"),
)


def screensaver_active(address: str | None = None, timeout_s: float = 0.5,
                       first: tuple[str, str, str] | None = None,
                       ) -> tuple[bool | None, tuple[str, str, str] | None]:
    """Is the session's screensaver (hence its lock) active? Asks :data:`ACTIVE_QUERIES` in
    turn (``first``, the one that answered last time, before the rest) and returns the first
    answer with the query that gave it; ``(None, None)`` when none answers (no session bus, no
    dbus-fast, no such service, a service that does not implement ``GetActive``).
    ``timeout_s`` bounds all the questions together: the agent asks from its main loop, and a
    hung bus made each of the five wait it out (2.5 s every poll, no scoring meanwhile)."""
    order = ACTIVE_QUERIES if first is None else (first, *(q for q in ACTIVE_QUERIES
                                                           if q != first))
    deadline = time.monotonic() + timeout_s
    for query in order:
        name, path, interface = query
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            body = _dbus.call(name, path, interface, "GetActive", address=address,
                              timeout_s=left)
        except _dbus.BusUnavailable:
            return None, None  # no bus (or no dbus-fast): nobody else can answer either
        except (_dbus.CallFailed, TimeoutError):
            continue  # not on the bus, or no GetActive at that path: the next one
        if body and isinstance(body[0], int):  # 'b' arrives as bool
            return bool(body[0]), query
    return None, None


def windows_session_locked(user32: Any = None,
                           last_error: Callable[[], int] | None = None) -> bool | None:
    """Is this Windows session locked (or at another secure-desktop prompt)? The input
    desktop is then Winlogon's, which a user's process may not open (``OpenInputDesktop``
    fails with access denied) or which opens under another name than ``Default``. None when
    it cannot be told (any other failure): a wrong "locked" would withhold all input."""
    if user32 is None:  # pragma: no cover - Windows only
        user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        last_error = ctypes.get_last_error  # type: ignore[attr-defined]
    # The documented signatures (learn.microsoft.com, winuser.h): HDESK OpenInputDesktop(DWORD
    # dwFlags, BOOL fInherit, ACCESS_MASK dwDesiredAccess); BOOL GetUserObjectInformationW(HANDLE,
    # int nIndex, PVOID, DWORD nLength, LPDWORD); BOOL CloseDesktop(HDESK). BOOL is a 4-byte
    # ``int`` (windef.h), not C's 1-byte ``bool`` (ctypes.c_bool); handles are pointer-sized, not
    # ctypes' default int. ctypes.wintypes is not used: its DWORD is c_ulong, 8 bytes off Windows.
    user32.OpenInputDesktop.restype = ctypes.c_void_p
    user32.OpenInputDesktop.argtypes = [ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32]
    user32.GetUserObjectInformationW.restype = ctypes.c_int
    user32.GetUserObjectInformationW.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32,
        ctypes.POINTER(ctypes.c_uint32)]
    user32.CloseDesktop.restype = ctypes.c_int
    user32.CloseDesktop.argtypes = [ctypes.c_void_p]
    desk = user32.OpenInputDesktop(0, False, 0x0001)  # DESKTOP_READOBJECTS
    if not desk:
        return True if last_error is not None and last_error() == 5 else None  # ACCESS_DENIED
    try:
        name = ctypes.create_unicode_buffer(64)
        needed = ctypes.c_uint32(0)
        if not user32.GetUserObjectInformationW(desk, 2, name, ctypes.sizeof(name),  # UOI_NAME
                                                ctypes.byref(needed)):
            return None
        return name.value.lower() != "default"
    finally:
        user32.CloseDesktop(desk)


def macos_session_locked(quartz: Any = None) -> bool | None:
    """Is this macOS session's screen locked? ``CGSSessionScreenIsLocked`` in the window
    server's session dictionary (absent while unlocked); None without a window-server session
    (over ssh) or pyobjc."""
    if quartz is None:  # pragma: no cover - macOS only
        import Quartz as quartz  # type: ignore[no-redef]  # pyobjc
    session = quartz.CGSessionCopyCurrentDictionary()
    if session is None:
        return None
    return bool(session.get("CGSSessionScreenIsLocked", False))


_CAVEATS = {
    "pmset": "display put to sleep; this locks only if a password is required immediately",
}


@dataclass(frozen=True)
class Attempt:
    method: str
    ok: bool
    detail: str


def default_methods(platform: str) -> tuple[str, ...]:
    if platform == "win32":
        return WINDOWS_METHODS
    if platform == "darwin":
        return MACOS_METHODS
    return LINUX_METHODS


def _lock_workstation() -> bool:  # pragma: no cover - Windows only
    return bool(ctypes.windll.user32.LockWorkStation())  # type: ignore[attr-defined]


class LockAction(Action):
    """Lock the session with the first method that works.

    Parameters: ``methods`` (names, in order; default: the platform's list above), ``path``
    (the PATH to find commands in; default ``$PATH``), ``bus_address`` (default: the session
    bus), ``logind_dir`` (its presence means systemd-logind runs), ``timeout_s`` per method
    (at most 600 s);
    ``platform``, ``runner`` and ``win_lock`` are test seams.
    """

    name = "lock"
    locks_session = True
    seams = frozenset({"platform", "runner", "win_lock"})

    def __init__(
        self,
        *,
        methods: Sequence[str] | None = None,
        path: str | None = None,
        bus_address: str | None = None,
        logind_dir: str | os.PathLike[str] = "/run/systemd/seats",
        timeout_s: float = 5.0,
        platform: str | None = None,
        runner: _proc.Runner | None = None,
        win_lock: Callable[[], bool] | None = None,
        dry_run: bool = False,
    ) -> None:
        super().__init__(dry_run=dry_run)
        self.platform = platform or sys.platform
        if isinstance(methods, str):  # iterating it would give letters as method names
            raise ConfigError(f"lock.methods must be a list of methods, got {methods!r}",
                              f"e.g. methods = [{methods!r}]")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not (
                0 < timeout_s <= 600):
            raise ConfigError(f"lock.timeout_s must be seconds in (0, 600], got {timeout_s!r}")
        for key, value in (("path", path), ("bus_address", bus_address)):
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"lock.{key} must be a string, got {value!r}")
        chosen = tuple(methods) if methods is not None else default_methods(self.platform)
        known = set(LINUX_METHODS) | set(MACOS_METHODS) | set(WINDOWS_METHODS)
        unknown = [m for m in chosen if m not in known]
        if unknown or not chosen:
            raise ConfigError(
                f"unknown lock method(s): {', '.join(unknown) or '(empty list)'}",
                f"choose from {', '.join(sorted(known))}",
            )
        self.methods = chosen
        self.path = path
        self.bus_address = bus_address
        self.logind_dir = Path(logind_dir)
        self.timeout_s = timeout_s
        self.runner: _proc.Runner = runner or _proc.run
        self.win_lock = win_lock or _lock_workstation

    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        if op == "revert":
            return "lock: nothing to revert (ActiveSec never unlocks a session)"
        return f"would lock the session, trying in order: {', '.join(self.methods)}"

    def _fire(self, decision: Decision) -> ActionResult:
        tried: list[Attempt] = []
        for method in self.methods:
            attempt = self._try(method)
            tried.append(attempt)
            if attempt.ok:
                before = "; ".join(f"{a.method}: {a.detail}" for a in tried[:-1])
                detail = f"session locked via {method}"
                if attempt.detail:
                    detail += f" ({attempt.detail})"
                if before:
                    detail += f" after trying {before}"
                return ActionResult(
                    True, detail, {"method": method, "tried": [asdict(a) for a in tried]}
                )
        listing = "; ".join(f"{a.method}: {a.detail}" for a in tried)
        return ActionResult(
            False,
            f"could not lock the session, tried {listing}",
            {"method": None, "tried": [asdict(a) for a in tried]},
        )

    def available(self) -> list[Attempt]:
        """Which methods could run here, without locking anything (``activesec doctor``): a
        command on the PATH, a D-Bus name someone owns, systemd-logind running, Windows. That
        one runs is no proof that it locks: ``loginctl lock-session`` only asks the desktop,
        which locks when something listens (GNOME, KDE, xss-lock) — the agent checks after
        each lock that the screensaver reports it active."""
        out = []
        for method in self.methods:
            if method == "LockWorkStation":
                ok = self.platform == "win32"
                out.append(Attempt(method, ok, "" if ok else "Windows only"))
            elif method in _DBUS:
                out.append(self._owned(method))
            elif method == "loginctl" and not self.logind_dir.is_dir():
                out.append(Attempt(method, False, "systemd-logind is not running"))
            else:
                found = self._executable(method) is not None
                out.append(Attempt(method, found, "" if found else "not installed"))
        return out

    def _executable(self, method: str) -> str | None:
        """The command ``method`` runs, found (on ``path`` unless absolute), or None."""
        exe = _COMMANDS[method][0]
        found = exe if os.path.isabs(exe) else shutil.which(exe, path=self.path)
        return found if found is not None and os.path.exists(found) else None

    def _owned(self, bus_name: str) -> Attempt:
        try:
            body = _dbus.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "NameHasOwner", "s", [bus_name],
                              address=self.bus_address, timeout_s=min(self.timeout_s, 2.0))
        except _dbus.BusUnavailable as exc:
            return Attempt(bus_name, False, f"no D-Bus session bus ({exc})")
        except (_dbus.CallFailed, TimeoutError) as exc:
            return Attempt(bus_name, False, f"the bus did not answer ({exc})")
        owned = bool(body and body[0])
        return Attempt(bus_name, owned, "" if owned else "not on the session bus")

    # -- one method -------------------------------------------------------------------------------
    def _try(self, method: str) -> Attempt:
        if method == "LockWorkStation":
            try:
                ok = self.win_lock()
            except (OSError, AttributeError) as exc:
                return Attempt(method, False, f"failed: {exc}")
            return Attempt(method, ok, "" if ok else "LockWorkStation returned 0")
        if method in _DBUS:
            return self._try_dbus(method)
        if method == "loginctl" and not self.logind_dir.is_dir():
            return Attempt(
                method, False, f"skipped: systemd-logind is not running ({self.logind_dir} missing)"
            )
        argv = list(_COMMANDS[method])
        exe = self._executable(method)
        if exe is None:
            return Attempt(method, False, "skipped: not installed")
        if method == "loginctl":
            sid = self._logind_session(exe)
            if sid:
                argv.append(sid)
        ok, why = _proc.try_run(self.runner, [exe, *argv[1:]], self.timeout_s)
        return Attempt(method, ok, _CAVEATS.get(method, "") if ok else f"failed: {why}")

    def _logind_session(self, loginctl: str) -> str:
        """The logind session to lock. An agent started as a systemd *user* service belongs to
        no session, so plain ``loginctl lock-session`` would fail there: use
        ``$XDG_SESSION_ID``, else the user's graphical session (``show-user -p Display``)."""
        sid = os.environ.get("XDG_SESSION_ID", "")
        if sid or not hasattr(os, "getuid"):
            return sid
        argv = [loginctl, "show-user", str(os.getuid()), "--property=Display", "--value"]
        try:
            proc = self.runner(argv, timeout=self.timeout_s)
        except (OSError, subprocess.SubprocessError):
            return ""
        return proc.stdout.strip() if proc.returncode == 0 and proc.stdout else ""

    def _try_dbus(self, bus_name: str) -> Attempt:
        paths, interface = _DBUS[bus_name]
        last = ""
        for path in paths:
            try:
                _dbus.call(
                    bus_name,
                    path,
                    interface,
                    "Lock",
                    address=self.bus_address,
                    timeout_s=self.timeout_s,
                )
                return Attempt(bus_name, True, "")
            except _dbus.DBusFastMissing as exc:
                return Attempt(bus_name, False, f"skipped: {exc}")
            except _dbus.BusUnavailable as exc:
                return Attempt(bus_name, False, f"skipped: no D-Bus session bus: {exc}")
            except _dbus.CallFailed as exc:
                if exc.error_name == _dbus.SERVICE_UNKNOWN:
                    return Attempt(bus_name, False, "skipped: not on the session bus")
                last = f"failed: {exc}"  # e.g. UnknownObject: try the next object path
            except TimeoutError as exc:
                return Attempt(bus_name, False, f"failed: {exc}")
        return Attempt(bus_name, False, last)
