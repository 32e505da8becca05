"""Single-instance lock: held by a live process, released with it (even on SIGKILL)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from activesec.core.instance import AlreadyRunning, InstanceLock, is_locked, read_pid


def test_second_holder_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "x.lock"
    with InstanceLock(f):
        assert is_locked(f)
        with pytest.raises(AlreadyRunning, match="already running"):
            InstanceLock(f).acquire()
    assert not is_locked(f)


def test_lock_dies_with_killed_process(tmp_path: Path) -> None:
    f = tmp_path / "x.lock"
    code = (
        "import sys,time; from pathlib import Path;"
        "from activesec.core.instance import InstanceLock;"
        f"InstanceLock(Path({str(f)!r})).acquire(); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert is_locked(f)
        assert read_pid(f) == proc.pid
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while is_locked(f) and time.monotonic() < deadline:
        time.sleep(0.05)
    InstanceLock(f).acquire().release()


def test_a_deleted_lock_file_is_put_back_while_held(tmp_path: Path) -> None:
    """The run folder cleaned while the agent ran: the lock lived on in the unlinked file only,
    so `status` said no agent ran and a second agent started beside the first."""
    import os
    import shutil

    path = tmp_path / "run" / "capture.lock"
    path.parent.mkdir()
    with InstanceLock(path, "agent") as lock:
        assert lock.restore()  # in place: nothing to do
        shutil.rmtree(path.parent)
        assert not is_locked(path)
        assert lock.restore()
        assert is_locked(path) and read_pid(path) == os.getpid()
        assert (path.parent.stat().st_mode & 0o777) == 0o700
        with pytest.raises(AlreadyRunning):
            InstanceLock(path, "agent").acquire()
        path.unlink()  # deleted again, and another agent starts before it is put back
        with InstanceLock(path, "agent"):
            assert not lock.restore()  # this one gives way


class FakeMsvcrt:
    """msvcrt.locking as Windows applies it: from the file position, ``n`` bytes, and
    mandatory — no other process may read a locked byte (ERROR_LOCK_VIOLATION). A lock is
    gone when unlocked (LK_UNLCK); one left to the file's close lasts until Windows gets to it
    ("depends upon available system resources", LockFile): here, for ever."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self) -> None:
        self.locks: list[tuple[int, int, int]] = []  # (inode, first byte, length)

    def locking(self, fd: int, mode: int, n: int) -> None:
        import os

        ino, start = os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR)
        if mode == self.LK_UNLCK:
            if (ino, start, n) not in self.locks:
                raise PermissionError(13, "Permission denied")  # EACCES: not locked
            self.locks.remove((ino, start, n))
            return
        if any(i == ino and start < s + m and s < start + n for i, s, m in self.locks):
            raise PermissionError(13, "Permission denied")
        self.locks.append((ino, start, n))

    def readable(self, path: Path) -> bool:
        """Could another process read the whole file (what `status` does for the pid)?"""
        ino, size = path.stat().st_ino, path.stat().st_size
        return not any(i == ino and s < size for i, s, _ in self.locks)


def instance_on_windows(fake: FakeMsvcrt, monkeypatch: pytest.MonkeyPatch) -> Any:
    """activesec.core.instance as Windows imports it, with ``fake`` as its msvcrt."""
    import importlib.util

    import activesec.core.instance as real

    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(sys, "platform", "win32")
    spec = importlib.util.spec_from_file_location("instance_on_windows", real.__file__)
    assert spec is not None and spec.loader is not None
    win = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(win)
    monkeypatch.undo()
    return win


def test_windows_lock_leaves_the_pid_readable(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows a locked byte cannot be read by anyone else: locking the pid's own first
    byte hid the running agent's pid from `status` (and so the agent's live state)."""
    import os

    fake = FakeMsvcrt()
    win = instance_on_windows(fake, monkeypatch)
    path = tmp_path / "capture.lock"
    with win.InstanceLock(path):
        assert fake.locks and fake.readable(path)
        assert path.read_text() == f"{os.getpid()}\n"  # at the start, no gap before it
        assert win.read_pid(path) == os.getpid()
        with pytest.raises(win.AlreadyRunning, match=f"pid {os.getpid()}"):
            win.InstanceLock(path).acquire()  # the second agent is told which one runs


def test_windows_lock_is_unlocked_before_its_file_is_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CRT's _locking (learn.microsoft.com): regions "should be unlocked before closing a
    file or exiting the program"; closed with the lock held, Windows removes it in its own time.
    `status` probing the lock, or an agent stopping, left it to the close: a new agent started
    meanwhile was refused as already running."""
    fake = FakeMsvcrt()
    win = instance_on_windows(fake, monkeypatch)
    path = tmp_path / "capture.lock"
    assert not win.is_locked(path)  # no file yet
    with win.InstanceLock(path):
        assert win.is_locked(path)
    assert fake.locks == []  # released, not left to the close
    assert not win.is_locked(path)  # the probe took the lock, and gave it back
    assert fake.locks == []
    with win.InstanceLock(path):  # so the next agent starts
        assert len(fake.locks) == 1
