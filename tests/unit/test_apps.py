"""Foreground process names on Windows and macOS with fake OS APIs, real psutil.

The Windows user32 and macOS Quartz/AppKit calls cannot exist here; the fakes answer with
this test process' own pid, so the name really comes from psutil. The X11 path runs against
a real X server in tests/integration/test_apps_x11.py.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import types
from typing import Any

import psutil

from activesec.capture import apps

ME = psutil.Process().name()


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


class FakeUser32:
    def __init__(self, hwnd: int, pid: int) -> None:
        self.hwnd, self.pid = hwnd, pid

    def GetForegroundWindow(self) -> int:
        return self.hwnd

    def GetWindowThreadProcessId(self, hwnd: int, out: Any) -> int:
        assert hwnd == self.hwnd
        out.contents.value = self.pid  # what user32 writes through the LPDWORD
        return 1


def test_process_name_of_live_dead_and_invalid_pids() -> None:
    assert apps.process_name(os.getpid()) == ME
    assert apps.process_name(dead_pid()) is None
    assert apps.process_name(0) is None and apps.process_name(None) is None


def test_windows_foreground_window_to_process_name() -> None:
    assert apps.windows_foreground(FakeUser32(0x1234, os.getpid())) == ME


def test_windows_no_foreground_window_or_failure_is_none() -> None:
    assert apps.windows_foreground(FakeUser32(0, os.getpid())) is None  # secure desktop
    assert apps.windows_foreground(FakeUser32(0x1234, dead_pid())) is None

    class Broken:
        def GetForegroundWindow(self) -> int:
            raise OSError("access denied")

    assert apps.windows_foreground(Broken()) is None
    assert isinstance(ctypes.c_ulong(0).value, int)


def fake_quartz(windows: list[dict[str, Any]] | None) -> Any:
    q = types.SimpleNamespace(kCGWindowListOptionOnScreenOnly=1,
                              kCGWindowListExcludeDesktopElements=16, kCGNullWindowID=0)
    q.CGWindowListCopyWindowInfo = lambda options, rel: windows
    return q


def fake_appkit(pid: int, localized: str) -> Any:
    app = types.SimpleNamespace(processIdentifier=lambda: pid, localizedName=lambda: localized)
    ws = types.SimpleNamespace(frontmostApplication=lambda: app)
    return types.SimpleNamespace(NSWorkspace=types.SimpleNamespace(sharedWorkspace=lambda: ws))


def test_macos_front_window_owner_skipping_menu_bar_layers() -> None:
    windows: list[dict[str, Any]] = [
        {"kCGWindowLayer": 25, "kCGWindowOwnerPID": 1},  # menu bar / status items
        {"kCGWindowLayer": 0, "kCGWindowOwnerPID": os.getpid(), "kCGWindowName": "secret.txt"},
        {"kCGWindowLayer": 0, "kCGWindowOwnerPID": 1},
    ]
    name = apps.macos_foreground(fake_quartz(windows), fake_appkit(1, "Finder"))
    assert name is not None
    assert name == ME and "secret" not in name


def test_macos_falls_back_to_nsworkspace_then_localized_name() -> None:
    assert apps.macos_foreground(fake_quartz(None), fake_appkit(os.getpid(), "X")) == ME
    assert apps.macos_foreground(fake_quartz([]), fake_appkit(dead_pid(), "Safari")) == "Safari"
    broken = types.SimpleNamespace()  # no Quartz functions at all
    assert apps.macos_foreground(broken, types.SimpleNamespace()) is None


def test_no_display_on_linux_is_none() -> None:
    assert apps.foreground_app(platform="linux", env={}) is None


def test_unreachable_x_display_is_none() -> None:
    assert apps.foreground_app(platform="linux", env={"DISPLAY": ":4321"}) is None
