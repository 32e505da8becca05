"""`activesec doctor`'s lock check, through the real CLI: can a lock decision lock this session,
and how will the agent learn that it is locked?

Before, nothing told a user that their machine had no way to lock (the first lock decision
then failed, notified and was recorded) or that ``on_lock`` ran nothing that locks."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.cli import cli, initialised


def lock_check(home: Path, config: str, path: str, **env: str) -> dict[str, Any]:
    e = initialised(home)
    (home / "config.toml").write_text('user = "alice"\n' + config)
    e.update(PATH=path, **env)
    e.pop("DBUS_SESSION_BUS_ADDRESS", None) if "DBUS_SESSION_BUS_ADDRESS" not in env else None
    r = cli("doctor", "--json", env=e)
    assert "Traceback" not in r.stderr, r.stderr
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    return checks["lock"]


def script(bin_dir: Path, name: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


ONLY_TWO = """
[actions.params.lock]
methods = ["xscreensaver-command", "dm-tool"]
"""


def test_the_lock_methods_installed_here_are_named(tmp_path: Path) -> None:
    script(tmp_path / "bin", "xscreensaver-command")
    c = lock_check(tmp_path / "home", ONLY_TWO, str(tmp_path / "bin"))
    assert c["status"] == "ok", c
    assert c["detail"].startswith("lock tries xscreensaver-command;"), c
    assert "input resuming after a lock counts as the unlock" in c["detail"]


def test_no_lock_method_installed_is_a_warning_with_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    c = lock_check(tmp_path / "home", ONLY_TWO, str(tmp_path / "empty"))
    assert c["status"] == "warn", c
    assert c["detail"] == ("a lock decision would lock nothing: lock: no method is available "
                           "here (xscreensaver-command: not installed; dm-tool: not installed)")
    assert "i3lock" in c["hint"] and "xscreensaver" in c["hint"]


def test_an_on_lock_that_only_reports_is_a_warning(tmp_path: Path) -> None:
    c = lock_check(tmp_path / "home", '[actions]\non_lock = ["alertlog"]\n', os.environ["PATH"])
    assert c["status"] == "warn" and "runs nothing that locks the session" in c["detail"], c


def test_locking_switched_off_is_fine(tmp_path: Path) -> None:
    c = lock_check(tmp_path / "home", "[actions]\non_lock = []\n", os.environ["PATH"])
    assert c["status"] == "ok" and c["detail"].startswith("locking is off"), c


def test_a_lock_command_that_is_not_installed_is_named(tmp_path: Path) -> None:
    script(tmp_path / "bin", "xscreensaver-command")
    config = ONLY_TWO + """
[actions]
on_lock = ["lock", "command"]
[actions.params.command]
argv = ["my-i3lock", "-c", "000000"]
"""
    c = lock_check(tmp_path / "home", config, str(tmp_path / "bin"))
    assert c["status"] == "warn", c
    assert "lock tries xscreensaver-command; command: my-i3lock is not installed" in c["detail"]
    script(tmp_path / "bin", "my-i3lock")
    c = lock_check(tmp_path / "home2", config, str(tmp_path / "bin"))
    assert c["status"] == "ok" and "command runs my-i3lock" in c["detail"], c


@pytest.mark.x11
def test_with_a_display_and_no_screensaver_the_x11_locker_probe_is_said(
        tmp_path: Path, xdisplay: str) -> None:
    c = lock_check(tmp_path / "home", "", os.environ["PATH"], DISPLAY=xdisplay)
    assert "an X11 locker holding the display counts as locked" in c["detail"], c


def test_a_lock_setting_the_machine_policy_enforces_is_not_the_accounts_to_fix(
        tmp_path: Path) -> None:
    """Before, doctor told the account to add "lock" to an on_lock the policy pins."""
    site = tmp_path / "policy.toml"
    site.write_text('[enforced.actions]\non_lock = ["alertlog"]\n')
    site.chmod(0o644)
    c = lock_check(tmp_path / "home", "", os.environ["PATH"],
                   ACTIVESEC_SITE_CONFIG=str(site))
    assert c["status"] == "warn" and "runs nothing that locks the session" in c["detail"], c
    assert c["hint"] == (f"the machine policy {site} enforces actions.on_lock: ask whoever "
                         'manages this machine (add "lock" to on_lock (or a command that runs '
                         "your own locker))")


def test_with_no_locker_installed_a_policy_pinned_locker_is_the_admins_to_fix(
        tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    site = tmp_path / "policy.toml"
    site.write_text(ONLY_TWO.replace("[actions.params.lock]", "[enforced.actions.params.lock]"))
    site.chmod(0o644)
    c = lock_check(tmp_path / "home", "", str(tmp_path / "empty"),
                   ACTIVESEC_SITE_CONFIG=str(site))
    assert c["status"] == "warn" and c["detail"].startswith("a lock decision would lock nothing")
    assert c["hint"].startswith(f"the machine policy {site} enforces "
                                "actions.params.lock.methods: ask whoever manages this machine "
                                "(install a locker"), c["hint"]


def test_without_a_policy_the_lock_hint_is_the_accounts(tmp_path: Path) -> None:
    c = lock_check(tmp_path / "home", '[actions]\non_lock = ["alertlog"]\n', os.environ["PATH"])
    assert c["hint"] == 'add "lock" to on_lock (or a command that runs your own locker)', c
