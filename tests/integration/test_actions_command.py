"""The command action runs real programs: decision JSON on stdin, exit codes, timeouts."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from activesec.actions.base import Decision
from activesec.actions.command import CommandAction
from activesec.core.errors import ConfigError

PY = sys.executable
D = Decision("gate", "suspicious", 0.25, 1_700_000_000 * 10**9, "unlike owner", {"score": 0.9})


def test_decision_arrives_as_json_on_stdin_and_in_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    script = (
        "import json, os, sys; d = json.loads(sys.stdin.readline());"
        "d['env'] = {k: v for k, v in os.environ.items() if k.startswith('ACTIVESEC_')};"
        f"open({str(out)!r}, 'w').write(json.dumps(d))"
    )
    result = CommandAction(argv=[PY, "-c", script]).fire(D)
    assert result.ok, result.detail
    assert result.info["returncode"] == 0
    seen = json.loads(out.read_text())
    assert Decision.from_json(json.dumps(seen)) == D
    assert seen["env"]["ACTIVESEC_OP"] == "fire"
    assert seen["env"]["ACTIVESEC_LEVEL"] == "gate"
    assert seen["env"]["ACTIVESEC_STATE"] == "suspicious"
    assert seen["env"]["ACTIVESEC_TRUST"] == "0.25"


def test_nonzero_exit_is_a_failure_with_code_and_stderr() -> None:
    argv = [PY, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]
    result = CommandAction(argv=argv).fire(D)
    assert not result.ok
    assert result.info["returncode"] == 3
    assert result.detail.endswith("exited 3: boom")


def test_timeout_kills_the_command_and_what_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time;"
        f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
        f"open({str(pidfile)!r}, 'w').write(str(c.pid)); time.sleep(120)"
    )
    result = CommandAction(argv=[PY, "-c", script], timeout_s=2).fire(D)
    assert not result.ok
    assert "timed out after 2 s" in result.detail
    if os.name == "posix":
        child = int(pidfile.read_text())

        def gone() -> bool:
            try:
                return psutil.Process(child).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        end = time.monotonic() + 20  # SIGKILL lands asynchronously; this only bounds a hang
        while not gone() and time.monotonic() < end:
            time.sleep(0.05)
        assert gone(), "the grandchild survived the timeout"


def test_missing_program_is_reported() -> None:
    result = CommandAction(argv=["/nonexistent/activesec-hook"]).fire(D)
    assert not result.ok
    assert result.detail == "command not found: /nonexistent/activesec-hook"


def test_no_shell_unless_asked(tmp_path: Path) -> None:
    marker = tmp_path / "x"
    # Without a shell the ';' is a literal argument to echo, so no file is created.
    result = CommandAction(argv=f"echo hi; touch {marker}").fire(D)
    assert result.ok and result.info["stdout"].strip() == f"hi; touch {marker}"
    assert not marker.exists()
    if os.name == "posix":
        assert CommandAction(argv=f"echo hi; touch {marker}", shell=True).fire(D).ok
        assert marker.exists()


def test_revert_runs_its_own_command_or_nothing(tmp_path: Path) -> None:
    log = tmp_path / "ops"
    append = f"import os; open({str(log)!r}, 'a').write(os.environ['ACTIVESEC_OP'] + '\\n')"
    action = CommandAction(argv=[PY, "-c", append], revert_argv=[PY, "-c", append])
    assert action.fire(D).ok and action.revert(D).ok
    assert log.read_text().split() == ["fire", "revert"]
    assert CommandAction(argv=["true"]).revert(D).detail == "command: nothing to revert"


def test_bad_configuration_is_a_config_error() -> None:
    for bad in ([], "", [""], [1]):
        with pytest.raises(ConfigError, match="argv"):
            CommandAction(argv=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="timeout_s"):
        CommandAction(argv=["true"], timeout_s=0)


def test_dry_run_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    action = CommandAction(argv=["touch", str(marker)], dry_run=True)
    result = action.fire(D)
    assert result.ok and result.detail == (
        f"dry-run: would run touch {marker} with the gate decision on stdin"
    )
    assert not marker.exists()


@pytest.mark.skipif(os.name != "posix", reason="fork")
def test_a_command_that_forks_into_the_background_is_done_when_it_exits(tmp_path: Path) -> None:
    """i3lock forks its locker into the background and exits 0; the child keeps the output
    open. The action waited for the end of that output: the timeout, then it killed the
    locker and reported the lock failed — `command = i3lock`, the README's own example,
    never locked for more than 10 s."""
    import contextlib
    import signal

    pidfile = tmp_path / "locker.pid"
    script = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "print('forked')\n"
    )
    result = CommandAction(argv=[PY, "-c", script], timeout_s=10).fire(D)
    try:
        assert result.ok, result.detail  # not "timed out after 10 s and was killed"
        assert result.info["stdout"] == "forked\n"
        end = time.monotonic() + 10
        while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < end:
            time.sleep(0.05)
        child = psutil.Process(int(pidfile.read_text()))
        assert child.status() != psutil.STATUS_ZOMBIE  # the locker still runs
    finally:
        if pidfile.exists() and pidfile.read_text():
            with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
