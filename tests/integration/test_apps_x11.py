"""foreground_app() against a real X server (Xvfb) and a real X client in another process.

Xvfb runs no window manager, so the test does what a WM does: it sets the root window's
``_NET_ACTIVE_WINDOW``. The client sets ``_NET_WM_PID`` and ``WM_CLIENT_MACHINE`` like
toolkits do, and runs under a recognisable process name (a symlink to the interpreter).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from activesec.capture import apps

pytestmark = pytest.mark.x11

CLIENT = r"""
import os, sys
from Xlib import X, Xatom, display
d = display.Display()
s = d.screen()
w = s.root.create_window(0, 0, 200, 100, 0, s.root_depth)
if sys.argv[1] != "nopid":
    w.change_property(d.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
w.change_property(d.intern_atom("WM_CLIENT_MACHINE"), Xatom.STRING, 8, sys.argv[2].encode())
w.set_wm_name("a window title that must never be read")
w.map()
d.sync()
print(w.id, flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def display(xdisplay: str) -> Iterator[str]:
    """The shared Xvfb; the cached connection to it is dropped afterwards."""
    try:
        yield xdisplay
    finally:
        for cached in apps._x11_cache.values():
            cached.close()
        apps._x11_cache.clear()


class Client:
    def __init__(self, exe: Path, *args: str) -> None:
        self.proc = subprocess.Popen([str(exe), "-c", CLIENT, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.window = int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(5)


@pytest.fixture
def editor(tmp_path: Path) -> Path:
    exe = tmp_path / "demo-editor"  # the process name the client will have
    exe.symlink_to(os.path.realpath(sys.executable))
    return exe


def set_active(window: int) -> None:
    """What a window manager does when focus changes."""
    from Xlib import Xatom
    from Xlib import display as xdisplay

    d = xdisplay.Display()
    d.screen().root.change_property(d.intern_atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW, 32,
                                    [window])
    d.sync()
    d.close()


def test_active_window_process_name(display: str, editor: Path) -> None:
    assert apps.foreground_app(platform="linux", env={"DISPLAY": display}) is None  # no WM info
    client = Client(editor, "pid", socket.gethostname())
    try:
        set_active(client.window)
        name = apps.foreground_app(platform="linux", env={"DISPLAY": display})
        assert name == "demo-editor"
        # the same X display inside a Wayland session (XWayland): not trusted
        wl = {"DISPLAY": display, "WAYLAND_DISPLAY": "wayland-0"}
        assert apps.foreground_app(platform="linux", env=wl) is None
        set_active(0)  # focus on no window (e.g. the desktop)
        assert apps.foreground_app(platform="linux", env={"DISPLAY": display}) is None
        set_active(client.window)
    finally:
        client.close()
    # the active window is gone (client exited, WM not updated yet): None, then recovery
    assert apps.foreground_app(platform="linux", env={"DISPLAY": display}) is None
    again = Client(editor, "pid", socket.gethostname())
    try:
        set_active(again.window)
        assert apps.foreground_app(platform="linux", env={"DISPLAY": display}) == "demo-editor"
    finally:
        again.close()


def test_windows_without_pid_or_from_another_host_are_unknown(display: str, editor: Path) -> None:
    nopid = Client(editor, "nopid", socket.gethostname())
    remote = Client(editor, "pid", "some-other-host.example")
    try:
        set_active(nopid.window)
        assert apps.foreground_app(platform="linux", env={"DISPLAY": display}) is None
        set_active(remote.window)  # ssh -X client: its pid is another machine's
        assert apps.foreground_app(platform="linux", env={"DISPLAY": display}) is None
    finally:
        nopid.close()
        remote.close()
