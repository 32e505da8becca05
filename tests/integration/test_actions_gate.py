"""App gating on real processes: a counting child is suspended (frozen) and resumed.

Gated programs run under a unique name (a symlink to the Python interpreter or to ``sleep``)
so a rule can never match another process on this machine — other test runs included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from activesec.actions.base import Decision
from activesec.actions.gate import GateAction

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and symlinks")

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

DECISION = Decision("gate", "suspicious", 0.05, 1_700_000_000 * 10**9, "unlike owner", {})
RESTORE = Decision("restore", "confident", 0.9, 1_700_000_060 * 10**9, "trust recovered", {})


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


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Counter]]:
    made: list[Counter] = []

    def make(name: str, mode: str = "") -> Counter:
        c = Counter(tmp_path, name, mode)
        made.append(c)
        return c

    yield make
    for c in made:
        c.kill()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"  # <= 15 chars: the kernel's comm limit


def test_suspend_freezes_and_revert_resumes_a_real_process(spawn: Callable[..., Counter]) -> None:
    name = unique("asg")
    a, b = spawn(name), spawn(name)
    gate = GateAction(rules=[{"name": "game", "match": name, "mode": "suspend"}])

    result = gate.fire(DECISION)
    assert result.ok, result.detail
    assert sorted(result.info["acted"]["suspended game"]) == sorted([a.proc.pid, b.proc.pid])
    for c in (a, b):
        wait_until(c.stopped, "SIGSTOP to land")
        assert not c.advances(window_s=1.0)

    again = gate.fire(DECISION)  # idempotent: nothing suspended twice
    assert again.ok and "already suspended" in again.detail

    back = gate.revert(RESTORE)
    assert back.ok, back.detail
    assert sorted(back.info["resumed"]) == sorted([a.proc.pid, b.proc.pid])
    for c in (a, b):
        wait_until(c.running, "SIGCONT to land")
        assert c.advances()
    assert gate.suspended_pids == []


def test_revert_never_resumes_a_process_it_did_not_suspend(
    spawn: Callable[..., Counter],
) -> None:
    name = unique("asg")
    own = spawn(name)
    users = spawn(name)
    psutil.Process(users.proc.pid).suspend()  # stopped by the user before ActiveSec acted
    wait_until(lambda: users.status() == psutil.STATUS_STOPPED, "the user's SIGSTOP")

    gate = GateAction(rules=[{"name": "game", "match": name}])
    fired = gate.fire(DECISION)
    assert fired.info["acted"]["suspended game"] == [own.proc.pid]
    assert f"pid {users.proc.pid} was already stopped" in fired.detail

    gate.revert(RESTORE)
    wait_until(lambda: own.status() != psutil.STATUS_STOPPED, "the gated app to resume")
    assert users.status() == psutil.STATUS_STOPPED  # still as the user left it
    assert not users.advances(window_s=1.0)


def test_close_terminates_then_kills_after_the_grace(spawn: Callable[..., Counter]) -> None:
    polite, stubborn = unique("asc"), unique("asc")
    p = spawn(polite)
    s = spawn(stubborn, "ignore-term")
    gate = GateAction(
        rules=[
            {"name": "polite", "match": polite, "mode": "close", "grace_s": 5},
            {"name": "stubborn", "match": stubborn, "mode": "close", "grace_s": 0.3},
        ]
    )
    result = gate.fire(DECISION)
    assert result.ok, result.detail
    assert result.info["closed"] == {p.proc.pid: "terminated", s.proc.pid: "killed"}
    for c in (p, s):  # psutil reaped them: gone for good
        assert not psutil.pid_exists(c.proc.pid) or c.status() == psutil.STATUS_ZOMBIE
    assert "closed apps are not restarted" in gate.revert(RESTORE).detail


def test_rule_for_an_app_that_is_not_running_is_reported_not_an_error() -> None:
    result = GateAction(rules=[{"name": "game", "match": unique("nope")}]).fire(DECISION)
    assert result.ok
    assert result.detail == "game: not running"


def test_never_touches_its_own_process_or_parents() -> None:
    """A rule matching the test runner's own name: the runner and its parents are left alone.
    Only those processes are offered, so no other process on the machine can match."""
    me = psutil.Process()
    family = [me, *me.parents()]
    gate = GateAction(
        rules=[{"name": "self", "match": me.name()}], process_iter=lambda: iter(family)
    )
    result = gate.fire(DECISION)
    assert result.ok
    assert gate.suspended_pids == []
    assert "only protected processes match" in result.detail
    assert me.status() != psutil.STATUS_STOPPED


def test_dry_run_names_the_processes_without_touching_them(
    spawn: Callable[..., Counter],
) -> None:
    name = unique("asg")
    c = spawn(name)
    gate = GateAction(rules=[{"name": "game", "match": name}], dry_run=True)
    result = gate.fire(DECISION)
    assert result.ok
    assert result.detail == f"dry-run: would suspend game: pid {c.proc.pid}"
    assert gate.recorded[0].op == "fire"
    assert c.advances()


def test_sleep_binary_is_matched_by_its_name(tmp_path: Path) -> None:
    sleep = shutil.which("sleep")
    if sleep is None:
        pytest.skip("no sleep binary")
    name = unique("ass")
    (tmp_path / name).symlink_to(os.path.realpath(sleep))
    proc = subprocess.Popen([str(tmp_path / name), "60"])
    try:
        gate = GateAction(rules=[{"name": "sleeper", "match": name}])
        assert gate.fire(DECISION).info["acted"]["suspended sleeper"] == [proc.pid]
        wait_until(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED, "SIGSTOP")
        assert gate.revert(RESTORE).info["resumed"] == [proc.pid]
    finally:
        proc.kill()
        proc.wait(10)
