"""The notification reaches a real notification daemon: dunst on Xvfb, in ``dbus-run-session``.

The session bus activates dunst on the first Notify call (as on a real desktop without a shell
that owns the name); ``dunstctl history`` then shows what dunst displayed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TOOLS = ("Xvfb", "dbus-run-session", "dunst", "dunstctl")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason=f"needs {', '.join(TOOLS)} (apt-get install xvfb dbus dbus-x11 dunst)",
)

SCRIPT = r"""
import json, subprocess, time
from activesec.actions.base import Decision
from activesec.actions.notify import NotifyAction

d = Decision("gate", "suspicious", 0.07, 1_700_000_000 * 10**9, "keystroke timing unlike owner", {})
result = NotifyAction().fire(d)
history = []
if result.ok:
    subprocess.run(["dunstctl", "close-all"], check=True)
    for _ in range(100):  # closing is asynchronous: wait until dunst has moved it to history
        out = subprocess.run(["dunstctl", "history"], capture_output=True, text=True).stdout
        history = [
            {k: v["data"] for k, v in n.items() if k in ("summary", "body", "appname", "urgency")}
            for n in json.loads(out)["data"][0]
        ]
        if history:
            break
        time.sleep(0.05)
print(json.dumps({"ok": result.ok, "detail": result.detail, "history": history}))
"""


@pytest.fixture
def display() -> Iterator[str]:
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-nolisten", "tcp", "-screen", "0", "640x480x24"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as fh:
        number = fh.readline().strip()  # written once the server accepts connections
    assert number, "Xvfb did not start"
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dunst_displays_the_notification(display: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env["DISPLAY"] = display
    proc = subprocess.run(
        ["dbus-run-session", "--", sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"], out["detail"]
    assert len(out["history"]) == 1, out
    shown = out["history"][0]
    assert shown["appname"] == "ActiveSec"
    assert shown["summary"] == "ActiveSec: Apps paused: input did not match the owner"
    assert "keystroke timing unlike owner" in shown["body"]


FAILED_START = r"""
import json, subprocess, sys, time

def run(*flags):
    return subprocess.run([sys.executable, "-m", "activesec.cli.main", "run", *flags],
                          capture_output=True, text=True, timeout=120).returncode

codes = [run(), run("--notify-failure"), run("--notify-failure")]
history = []
for _ in range(100):  # dunst moves a closed notification to its history asynchronously
    subprocess.run(["dunstctl", "close-all"], capture_output=True)
    out = subprocess.run(["dunstctl", "history"], capture_output=True, text=True).stdout
    history = [{k: v["data"] for k, v in n.items() if k in ("summary", "body", "urgency")}
               for n in json.loads(out)["data"][0]]
    if history:
        break
    time.sleep(0.05)
print(json.dumps({"codes": codes, "history": history}))
"""


def test_a_failed_start_at_log_in_is_announced_on_the_desktop(
        display: str, tmp_path: Path) -> None:
    """`run --notify-failure` (what the log-in service runs) on a configuration no restart
    fixes: exit 78 as without the flag, and dunst shows why the session is unprotected —
    only with the flag (a terminal user reads the error line), and once for the same error
    within the hour (launchd retries every 30 s)."""
    from tests.helpers.cli import initialised

    env = initialised(tmp_path / "home")
    (tmp_path / "home" / "config.toml").write_text("[store]\nkeep_days = -1\n")
    env = {k: v for k, v in env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env["DISPLAY"] = display
    proc = subprocess.run(["dbus-run-session", "--", sys.executable, "-c", FAILED_START],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["codes"] == [78, 78, 78]
    (shown,) = out["history"]  # one notification: the first run with the flag
    assert shown["summary"] == "ActiveSec is not protecting this session"
    assert "store.keep_days" in shown["body"] and "activesec service restart" in shown["body"]
    left = json.loads((tmp_path / "home" / "run" / "stopped.json").read_text())
    assert isinstance(left["notified_wall_ns"], int)  # kept by the retry that stayed silent
