"""Real child processes for app-gating tests: a counter that keeps writing a rising number to
a file, under a unique process name (a symlink to the Python interpreter) so a gate rule can
never match another process on this machine — other test runs included."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

COUNTER = """
import signal, sys, time
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
path, n = sys.argv[1], 0
while True:
    n += 1
    with open(path + ".tmp", "w") as fh:
        fh.write(str(n))
    import os; os.replace(path + ".tmp", path)
    time.sleep(0.01)
"""


def wait_until(cond: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Wait for a state change (not a timing assertion: the limit only bounds a hang)."""
    end = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Counter:
    """A child process under a unique name that keeps incrementing a number in a file."""

    def __init__(self, tmp: Path, name: str, mode: str = "") -> None:
        link = tmp / name
        if not link.exists():
            link.symlink_to(os.path.realpath(sys.executable))
        self.file = tmp / f"{name}-{uuid.uuid4().hex[:6]}.count"
        self.proc = subprocess.Popen([str(link), "-c", COUNTER, str(self.file), mode or "-"])
        wait_until(lambda: self.value() > 2, "the counter to start")

    def value(self) -> int:
        try:
            return int(self.file.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def status(self) -> str:
        return str(psutil.Process(self.proc.pid).status())

    def stopped(self) -> bool:
        return self.status() == psutil.STATUS_STOPPED

    def running(self) -> bool:
        return self.status() != psutil.STATUS_STOPPED

    def advances(self, window_s: float = 10.0) -> bool:
        """Does the counter move within ``window_s``? Returns as soon as it does, so a long
        window costs nothing for a live process and keeps a loaded machine from failing it."""
        before = self.value()
        end = time.monotonic() + window_s
        while time.monotonic() < end:
            if self.value() != before:
                return True
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"  # <= 15 chars: the kernel's comm limit
