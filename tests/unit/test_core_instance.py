"""Single-instance lock: held by a live process, released with it (even on SIGKILL)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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
