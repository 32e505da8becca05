"""Windows and macOS paths of notify and lock. Their OS APIs cannot exist here, so the
program runner and ``LockWorkStation`` are fakes that record what would have been called.
Linux's ``loginctl`` is a real script on the action's PATH, run by the real runner."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from activesec.actions.base import Decision
from activesec.actions.lock import LockAction
from activesec.actions.notify import NotifyAction
from activesec.core.errors import ConfigError

D = Decision("lock", "suspicious", 0.1, 0, "pointer unlike owner", {})


class Runner:
    def __init__(self, codes: Mapping[str, int] | None = None) -> None:
        self.calls: list[tuple[list[str], Mapping[str, str] | None]] = []
        self.codes = dict(codes or {})

    def __call__(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), env))
        rc = self.codes.get(Path(argv[0]).name, 0)
        return subprocess.CompletedProcess(list(argv), rc, "", "not allowed" if rc else "")


def test_windows_lock_calls_lockworkstation() -> None:
    calls: list[int] = []

    def win_lock() -> bool:
        calls.append(1)
        return True

    ok = LockAction(platform="win32", win_lock=win_lock).fire(D)
    assert ok.ok and ok.info["method"] == "LockWorkStation" and calls == [1]
    refused = LockAction(platform="win32", win_lock=lambda: False).fire(D)
    assert not refused.ok
    assert (
        refused.detail
        == "could not lock the session, tried LockWorkStation: LockWorkStation returned 0"
    )


def test_macos_lock_falls_back_to_pmset_and_says_what_it_means(tmp_path: Path) -> None:
    for tool in ("osascript", "pmset"):
        (tmp_path / tool).write_text("")
        (tmp_path / tool).chmod(0o755)
    runner = Runner({"osascript": 1})  # no Accessibility permission for the shortcut
    result = LockAction(platform="darwin", path=str(tmp_path), runner=runner).fire(D)
    assert result.ok
    assert result.info["method"] == "pmset"
    assert "locks only if a password is required immediately" in result.detail
    tried = {a["method"]: a["detail"] for a in result.info["tried"]}
    assert tried["CGSession"] == "skipped: not installed"
    assert tried["lock-shortcut"].startswith("failed: exit 1")
    assert [c[0][1:] for c in runner.calls] == [
        [
            "-e",
            'tell application "System Events" to keystroke "q" using {control down, command down}',
        ],
        ["displaysleepnow"],
    ]


def test_unknown_lock_method_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown lock method"):
        LockAction(methods=["loginctl", "slam-the-lid"])
    with pytest.raises(ConfigError):
        LockAction(methods=[])


def test_macos_notification_passes_text_as_arguments() -> None:
    runner = Runner()
    result = NotifyAction(platform="darwin", runner=runner).fire(D)
    assert result.ok and result.detail == "notification shown via osascript"
    argv, _ = runner.calls[0]
    assert argv[0] == "osascript"
    assert argv[-2] == "ActiveSec: Session locked: input did not match the owner"
    assert argv[-1] == "pointer unlike owner (trust 0.10, state suspicious)"
    assert all("pointer unlike owner" not in a for a in argv[:-1])  # never inside the script


def test_windows_toast_passes_text_through_the_environment() -> None:
    runner = Runner()
    assert NotifyAction(platform="win32", runner=runner).fire(D).ok
    argv, env = runner.calls[0]
    assert argv[:2] == ["powershell", "-NoProfile"]
    assert env is not None and env["ACTIVESEC_BODY"].startswith("pointer unlike owner")
    assert "pointer unlike owner" not in " ".join(argv)


def test_missing_notification_program_is_a_result() -> None:
    def missing(argv: Sequence[str], **kw: object) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(argv[0])

    result = NotifyAction(platform="darwin", runner=missing).fire(D)
    assert not result.ok and result.detail == "cannot notify: osascript is not installed"
    failed = NotifyAction(platform="darwin", runner=Runner({"osascript": 1})).fire(D)
    assert not failed.ok and failed.detail == "osascript failed: exit 1: not allowed"


def test_loginctl_locks_the_users_graphical_session_from_a_user_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A systemd user service is in no logind session: the user's Display session is locked.
    ``loginctl`` is a real program on the action's PATH that logs its arguments, answers
    ``show-user`` with a session id and fails for anything else it does not know."""
    monkeypatch.delenv("XDG_SESSION_ID", raising=False)
    bindir, log = tmp_path / "bin", tmp_path / "loginctl.log"
    bindir.mkdir()
    (bindir / "loginctl").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'case "$1" in\n'
        '  show-user) [ "$2" = "$(id -u)" ] && echo c7 ;;\n'
        '  lock-session) [ "$#" -le 2 ] ;;\n'
        "  *) exit 1 ;;\n"
        "esac\n"
    )
    (bindir / "loginctl").chmod(0o755)
    (tmp_path / "seats").mkdir()
    action = LockAction(methods=["loginctl"], path=str(bindir), logind_dir=tmp_path / "seats")

    def calls() -> list[str]:
        out = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return out

    r = action.fire(D)
    assert r.ok, r
    assert calls() == [f"show-user {os.getuid()} --property=Display --value", "lock-session c7"]
    monkeypatch.setenv("XDG_SESSION_ID", "3")
    assert action.fire(D).ok
    assert calls() == ["lock-session 3"]
