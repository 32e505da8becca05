"""A real X server for tests: start Xvfb on a free display, wait until it answers, kill it after.

``xvfb()`` is a context manager usable from fixtures, benchmarks and scripts; ``xdisplay`` is
the pytest fixture (function scope) that also points ``DISPLAY`` at it. Tests needing an X
server are skipped with a clear reason when Xvfb or python-xlib is missing.

Xvfb's ``-displayfd`` picks a free display number itself and writes it to a pipe once the
server is ready to accept connections, so there is no guessing and no sleep-and-hope.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SCREEN = (1280, 1024)
SERVER_PIDS: dict[str, int] = {}  # display -> Xvfb pid, for benchmarks measuring server CPU


def xvfb_missing() -> str:
    """Why an X server cannot be started here ('' if it can)."""
    if shutil.which("Xvfb") is None:
        return "Xvfb not installed (apt-get install xvfb)"
    try:
        import Xlib.display  # noqa: F401
    except ImportError:
        return "python-xlib not installed (pip install python-xlib)"
    return ""


@contextmanager
def xvfb(screen: tuple[int, int] = SCREEN, timeout: float = 10.0) -> Iterator[str]:
    """Run Xvfb on a free display number; yields the display name (``':N'``)."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            "Xvfb", "-displayfd", str(write_fd), "-screen", "0",
            f"{screen[0]}x{screen[1]}x24", "-nolisten", "tcp", "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write_fd)
    display = ""
    try:
        number = b""
        deadline = time.monotonic() + timeout
        while not number.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                raise RuntimeError("Xvfb did not report a display within the timeout")
            chunk = os.read(read_fd, 32)
            if not chunk:
                raise RuntimeError(f"Xvfb exited early (code {proc.poll()})")
            number += chunk
        display = f":{int(number)}"
        _wait_answers(display, deadline)
        SERVER_PIDS[display] = proc.pid
        yield display
    finally:
        SERVER_PIDS.pop(display, None)
        os.close(read_fd)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_answers(display: str, deadline: float) -> None:
    from Xlib.display import Display

    while True:
        try:
            Display(display).close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def xdisplay(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Xvfb for one test; ``DISPLAY`` points at it (Wayland variables removed)."""
    reason = xvfb_missing()
    if reason:
        pytest.skip(reason)
    with xvfb() as display:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
        yield display
