"""`activesec doctor` run outside the desktop session — over SSH, as an administrator checks a
fleet with `doctor --json` — through the real CLI.

Before, such a shell had no display, so the backend and display checks failed on every healthy
machine: `ok` was false and the exit code 1 whatever the agent in the desktop was doing."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.cli import cli, env_for, initialised, popen

SSH = {"SSH_CONNECTION": "192.0.2.7 50022 192.0.2.1 22"}


def doctor(env: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    r = cli("doctor", "--json", env=env)
    assert "Traceback" not in r.stderr, r.stderr
    out = json.loads(r.stdout)
    return r.returncode, out, {c["name"]: c for c in out["checks"]}


def test_over_ssh_with_no_agent_the_desktop_checks_are_not_checked_not_failed(
        tmp_path: Path) -> None:
    env = initialised(tmp_path / "home")
    env.pop("WAYLAND_DISPLAY", None)
    env.update(SSH)
    code, out, checks = doctor(env)
    for name in ("backend", "display"):
        assert checks[name]["status"] == "warn", checks[name]
        assert checks[name]["detail"].startswith("not checked: this shell is outside the "
                                                 "desktop session"), checks[name]
        assert "while the agent runs there" in checks[name]["hint"]
    assert checks["input devices"]["status"] == "ok", checks["input devices"]
    assert "None" not in checks["input devices"]["detail"]
    assert [c for c in out["checks"] if c["status"] == "fail"] == []
    assert code == 0 and out["ok"] is True


def test_a_local_shell_with_no_display_still_fails(tmp_path: Path) -> None:
    """Not over SSH (a console, a container): the agent could not capture here, a failure."""
    env = initialised(tmp_path / "home")
    for v in ("WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"):
        env.pop(v, None)
    code, _, checks = doctor(env)
    if checks["input devices"]["status"] == "ok":
        pytest.skip("this host has readable input devices: evdev could capture here")
    assert checks["backend"]["status"] == "fail" and code == 1, checks["backend"]


def _wait_running(home: Path, limit_s: float = 30.0) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        try:
            if json.loads((home / "run" / "agent.json").read_text()).get("running"):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("the agent did not start")


def test_over_ssh_doctor_checks_the_running_agents_session(tmp_path: Path,
                                                          xdisplay: str) -> None:
    home = tmp_path / "home"
    initialised(home)
    agent = popen("run", "--quiet", env=env_for(home, DISPLAY=xdisplay))
    try:
        _wait_running(home)
        env = env_for(home, **SSH)
        env.pop("WAYLAND_DISPLAY", None)
        code, out, checks = doctor(env)
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, agent.communicate()
    assert out["checks"][0]["name"] == "session", out["checks"][0]
    assert checks["session"] == {
        "name": "session", "status": "ok", "hint": "",
        "detail": "this shell has no display: the checks use the desktop session of the "
                  f"running agent (pid {agent.pid}, DISPLAY={xdisplay})"}
    assert checks["display"]["status"] == "ok", checks["display"]
    assert xdisplay in checks["display"]["detail"]
    assert checks["backend"]["detail"].startswith(f"x11: X11 session (DISPLAY={xdisplay})")
    assert code == 0 and out["ok"] is True, [c for c in out["checks"] if c["status"] == "fail"]
