"""Single-instance lock: one capturing agent per user, proven by an OS file lock.

The lock dies with its process (even on kill -9), so a stale lock file never blocks a restart.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from activesec.core.errors import ActiveSecError
from activesec.core.paths import PRIVATE_FILE_MODE, make_private_dirs


class AlreadyRunning(ActiveSecError):
    """Another ActiveSec agent holds the lock."""


class InstanceLock:
    def __init__(self, path: Path, what: str = "capture") -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        except IsADirectoryError:
            raise ActiveSecError(
                f"the lock file {self.path} is a directory",
                f"move {self.path} out of the way (ActiveSec never deletes it); "
                "the lock is recreated as a file",
            ) from None
        except OSError as exc:
            raise ActiveSecError(
                f"cannot open the lock file {self.path}: {exc.strerror}",
                f"make {self.path.parent} a writable directory of yours",
            ) from None
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            pid = read_pid(self.path)
            raise AlreadyRunning(
                f"another ActiveSec {self.what} is already running"
                + (f" (pid {pid})" if pid else ""),
                "stop it first, or check `activesec status`",
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the lock holds without it, the pid is only a courtesy
            pass
        self._fd = fd
        return self

    def restore(self) -> bool:
        """Put the lock back when its file was deleted or replaced while held (a cleaned-up
        run folder, the data folder removed): the lock lived on in the unlinked file only, so
        `status` said no agent ran and a second one could start beside this one. False when
        another process already holds the new file (it started meanwhile)."""
        if self._fd is None:
            return True
        try:
            st, held = os.stat(self.path), os.fstat(self._fd)
            if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
                return True
        except FileNotFoundError:
            pass
        except OSError:
            return True  # cannot tell: leave it as it is
        try:
            make_private_dirs(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        except OSError:
            return True  # cannot put it back now; tried again at the next call
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            return False
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        _close(self._fd)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            _close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def is_locked(path: Path) -> bool:
    """True when a live process holds the lock at ``path``."""
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        _lock(fd)
    except OSError:
        os.close(fd)
        return True
    _close(fd)  # the probe held the lock: drop it now, not whenever Windows gets to it
    return False


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


#: Windows: where the locked byte lies. Its locks are mandatory (no other process may read a
#: locked byte), so a lock on the pid's own bytes left `status` unable to read the pid of the
#: agent that runs; a lock may lie beyond the end of the file.
WINDOWS_LOCK_OFFSET = 1 << 30


def windows_locking(msvcrt: Any) -> tuple[Callable[[int], None], Callable[[int], None]]:
    """(lock, unlock) of the byte at WINDOWS_LOCK_OFFSET through ``msvcrt.locking`` (the
    module is passed in: tests stand one in). The CRT's ``_locking`` documentation
    (learn.microsoft.com): regions "should be unlocked before closing a file or exiting the
    program" — a lock left to the close is removed when Windows gets to it (LockFile: "depends
    upon available system resources"), so an agent starting right after `status` probed the
    lock, or right after the previous agent stopped, could be refused as already running."""

    def at_offset(fd: int, mode: int) -> None:
        at = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)  # msvcrt locks from the file position
        try:
            msvcrt.locking(fd, mode, 1)
        finally:
            os.lseek(fd, at, os.SEEK_SET)

    return (lambda fd: at_offset(fd, msvcrt.LK_NBLCK)), (lambda fd: at_offset(fd, msvcrt.LK_UNLCK))


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _lock, _unlock = windows_locking(msvcrt)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        """Nothing: a flock goes with the last close of its open file, at once."""


def _close(fd: int) -> None:
    """Unlock, then close, a descriptor whose lock this process holds."""
    with contextlib.suppress(OSError):
        _unlock(fd)
    os.close(fd)
