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
