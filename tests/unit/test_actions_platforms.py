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


# ---------------------------------------------------------------- is the session locked?

class Fn:
    """A ctypes foreign function as far as the code uses it: attributes and a call."""

    def __init__(self, impl: object) -> None:
        self.impl = impl
        self.calls: list[tuple[object, ...]] = []
        self.restype: object = None
        self.argtypes: object = None

    def __call__(self, *args: object) -> object:
        self.calls.append(args)
        return self.impl(*args)  # type: ignore[operator]


class User32:
    def __init__(self, handle: int, desktop: str = "Default", named: bool = True) -> None:
        def info(_desk: object, _index: int, buf: object, _size: int, _needed: object) -> int:
            if named:
                buf.value = desktop  # type: ignore[attr-defined]
            return int(named)

        self.OpenInputDesktop = Fn(lambda *_: handle)
        self.GetUserObjectInformationW = Fn(info)
        self.CloseDesktop = Fn(lambda _desk: 1)


def test_windows_lock_is_known_from_the_input_desktop() -> None:
    from activesec.actions.lock import windows_session_locked

    big = 0x7FF6_0000_1234  # a 64-bit handle: kept whole (restype), passed back to CloseDesktop
    u = User32(big)
    assert windows_session_locked(u, lambda: 0) is False
    assert u.OpenInputDesktop.restype is not None
    assert u.CloseDesktop.calls == [(big,)]
    assert windows_session_locked(User32(big, "Winlogon"), lambda: 0) is True  # a secure desktop
    assert windows_session_locked(User32(0), lambda: 5) is True  # access denied: Winlogon's
    assert windows_session_locked(User32(0), lambda: 6) is None  # anything else: cannot tell
    u = User32(big, named=False)
    assert windows_session_locked(u, lambda: 0) is None and u.CloseDesktop.calls == [(big,)]


def test_windows_lock_query_declares_the_documented_signatures() -> None:
    """learn.microsoft.com (winuser.h): HDESK OpenInputDesktop(DWORD, BOOL, ACCESS_MASK);
    BOOL GetUserObjectInformationW(HANDLE, int, PVOID, DWORD, LPDWORD); BOOL CloseDesktop(HDESK).
    DWORD, ACCESS_MASK and BOOL (``typedef int BOOL``) are 4 bytes — fInherit was declared
    ``c_bool`` (1 byte); handles and pointers are pointer-sized."""
    import ctypes

    from activesec.actions.lock import windows_session_locked

    u = User32(0x7FF6_0000_1234)
    windows_session_locked(u, lambda: 0)
    ptr = ctypes.sizeof(ctypes.c_void_p)

    def sizes(types: object) -> list[int]:
        return [ctypes.sizeof(t) for t in types]  # type: ignore[attr-defined]

    assert sizes(u.OpenInputDesktop.argtypes) == [4, 4, 4]
    assert ctypes.sizeof(u.OpenInputDesktop.restype) == ptr  # type: ignore[arg-type]
    assert sizes(u.GetUserObjectInformationW.argtypes) == [ptr, 4, ptr, 4, ptr]
    assert ctypes.sizeof(u.GetUserObjectInformationW.restype) == 4  # type: ignore[arg-type]
    assert sizes(u.CloseDesktop.argtypes) == [ptr]
    assert ctypes.sizeof(u.CloseDesktop.restype) == 4  # type: ignore[arg-type]


def test_macos_lock_is_known_from_the_window_servers_session() -> None:
    import types

    from activesec.actions.lock import macos_session_locked

    def quartz(session: object) -> object:
        return types.SimpleNamespace(CGSessionCopyCurrentDictionary=lambda: session)

    assert macos_session_locked(quartz({"kCGSSessionOnConsoleKey": 1})) is False
    assert macos_session_locked(quartz({"CGSSessionScreenIsLocked": 1})) is True
    assert macos_session_locked(quartz(None)) is None  # over ssh: no window-server session


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_the_agent_sees_its_lock_and_the_owners_own_on_windows_and_macos(platform: str) -> None:
    """Only Linux's screensaver was asked: on Windows and macOS the agent never knew its lock
    took (the unlock was guessed from input resuming) nor that the owner locked the screen."""
    from activesec.core.clock import FakeClock
    from activesec.service.agent import ScreenWatch, _ScreensaverQuery

    clock = FakeClock()
    locked: list[bool | None] = [False]
    watch = ScreenWatch(clock, query=_ScreensaverQuery(platform, ask=lambda: locked[0]),
                        watch_always=True)
    watch.lock_fired()
    locked[0] = True
    clock.advance(1.0)
    assert watch.update(None) is True
    for _ in range(5):  # a password typed meanwhile is no unlock
        clock.advance(5.0)
        assert watch.update(clock.monotonic_ns()) is True
    locked[0] = False
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns()) is False  # unlocked: grace and full trust
    locked[0] = True  # the owner's own Win+L / Ctrl-Cmd-Q
    clock.advance(6.0)
    watch.update(clock.monotonic_ns())
    assert watch.withholding and not watch.locked

    def broken() -> bool | None:
        raise OSError("the platform's API failed")

    assert _ScreensaverQuery(platform, ask=broken)() is None  # no answer, the agent goes on


# ---------------------------------------------------------------- gating on Windows

class WinProcess:
    """A psutil.Process as psutil builds it on Windows: no ``uids`` (POSIX only); the owner is
    ``username()``, which raises AccessDenied for a process this account may not inspect."""

    def __init__(self, pid: int, owner: str | None) -> None:
        self.pid, self.owner, self.suspended = pid, owner, 0

    def name(self) -> str:
        return "Game.exe"

    def exe(self) -> str:
        import psutil

        if self.owner is None:
            raise psutil.AccessDenied(self.pid)
        return r"C:\Games\Game.exe"

    def username(self) -> str:
        import psutil

        if self.owner is None:
            raise psutil.AccessDenied(self.pid)
        return self.owner

    def cmdline(self) -> list[str]:
        import psutil

        if self.owner is None:
            raise psutil.AccessDenied(self.pid)
        return [self.exe()]

    def status(self) -> str:
        return "stopped" if self.suspended else "running"

    def create_time(self) -> float:
        return 1000.0 + self.pid

    def children(self, recursive: bool = False) -> list[WinProcess]:
        return []

    def suspend(self) -> None:
        self.suspended += 1


def test_gate_on_windows_leaves_other_accounts_processes_alone() -> None:
    """The gate never touches another account's processes; on POSIX it compares uids, which
    psutil has only there. On Windows the other account's game was suspended like the owner's
    (an elevated agent froze the sibling's game under fast user switching) or, unprivileged,
    every hold failed with "no permission to suspend"."""
    import psutil

    from activesec.actions.gate import GateAction

    me = psutil.Process().username()
    mine, theirs, unreadable = (WinProcess(90001, me), WinProcess(90002, r"PC\sibling"),
                                WinProcess(90003, None))
    gate = GateAction(rules=[{"name": "game", "match": "game"}], platform="win32",
                      process_iter=lambda: [mine, theirs, unreadable])
    result = gate.fire(Decision("gate", "suspicious", 0.1, 0, "r", {}))
    assert result.ok, result.detail
    assert result.info["acted"] == {"suspended game": [90001]}
    assert (mine.suspended, theirs.suspended, unreadable.suspended) == (1, 0, 0)
    alone = GateAction(rules=[{"name": "game", "match": "game"}], platform="win32",
                       process_iter=lambda: [theirs, unreadable])
    detail = alone.fire(D).detail
    assert detail.startswith("game: runs only under another account, left alone: PC\\sibling "
                             "(pids 90002); an account this one cannot read (pids 90003)")


class HalfSuspendable(WinProcess):
    """A process NtSuspendProcess cannot wholly suspend (a thread waiting in the kernel on a
    pipe never shows the Suspended wait reason: System Informer issue #856, Chrome and Steam's
    helpers among them): psutil's Windows ``status()``, "stopped" only when every thread is
    seen suspended, says running. Each suspend adds one to the suspend count, each resume
    takes one off (SuspendThread / ResumeThread, learn.microsoft.com)."""

    def status(self) -> str:
        return "running"

    def resume(self) -> None:
        self.suspended = max(0, self.suspended - 1)


def test_gate_on_windows_never_suspends_its_own_suspended_process_twice() -> None:
    """Every hold (every 2 s while gated) took "running" for "resumed by hand" and suspended
    it again: after a minute the count was 30, and the restore's one resume left the app
    frozen — also after the agent stopped."""
    import psutil

    from activesec.actions.gate import GateAction

    game = HalfSuspendable(90011, psutil.Process().username())
    gate = GateAction(rules=[{"name": "game", "match": "game"}], platform="win32",
                      process_iter=lambda: [game])
    decision = Decision("gate", "suspicious", 0.1, 0, "r", {})
    assert gate.fire(decision).info["new_pids"] == [90011]
    for _ in range(3):
        assert gate.hold(decision) is None  # nothing new: not suspended again
    assert game.suspended == 1  # so the restore's one resume lets it run
