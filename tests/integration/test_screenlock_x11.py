"""A locker the screensaver service does not know (i3lock), on a real X server (Xvfb).

Before: with ``command = i3lock`` on a desktop whose ``org.freedesktop.ScreenSaver`` is another
program (xfce, say), that service kept answering "inactive", so the agent counted the lock as
failed after 10 s, retried it every ``lock_cooldown_s`` and never saw the owner unlock — no
grace period, no fresh trust: locked again at once. Where no service answered at all, the
password typed into the locker counted as the owner back.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.helpers.cli import initialised, popen
from tests.helpers.procs import wait_until
from tests.helpers.xinject import XInjector

from activesec.capture import screenlock
from activesec.capture.screenlock import X11LockerWatch, x11_locker_up
from activesec.core.clock import FakeClock
from activesec.service.agent import LOCK_SETTLE_S, ScreenWatch
from activesec.store.db import Store

pytestmark = pytest.mark.x11

# an X client holding both grabs: a menu (small override-redirect window) or, with "cover",
# a full-screen override-redirect window that grabs nothing (an overlay)
CLIENT = r"""
import sys
from Xlib import X, display
d = display.Display()
s = d.screen()
cover = sys.argv[1] == "cover"
size = (s.width_in_pixels, s.height_in_pixels) if cover else (200, 300)
w = s.root.create_window(0, 0, size[0], size[1], 0, s.root_depth, override_redirect=True)
w.map()
d.sync()
if not cover:
    assert w.grab_keyboard(False, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime) == 0
    assert w.grab_pointer(False, 0, X.GrabModeAsync, X.GrabModeAsync, X.NONE, X.NONE,
                          X.CurrentTime) == 0
d.sync()
print("ready", flush=True)
sys.stdin.readline()
"""


def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def i3lock_exe(xdisplay: str) -> str:
    exe = shutil.which("i3lock")
    if exe is None:
        pytest.skip("i3lock not installed (apt-get install i3lock)")
    return exe


@contextmanager
def locker(exe: str) -> Iterator[None]:
    """i3lock in the foreground (-n) until the block ends: killing it is the owner's unlock."""
    proc = subprocess.Popen([exe, "-n"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: x11_locker_up() is True or proc.poll() is not None)
        assert proc.poll() is None, "i3lock ended at once"
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def client(kind: str) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, kind], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_the_probe_tells_a_locker_from_a_menu_and_an_overlay(i3lock_exe: str) -> None:
    assert x11_locker_up() is False
    with client("menu"):  # both grabs, little of the screen
        assert x11_locker_up() is False
    with client("cover"):  # the whole screen, no grab: the probe's own grabs are granted
        assert x11_locker_up() is False
    assert x11_locker_up() is False  # ... and given back: nothing is left grabbed
    with locker(i3lock_exe):
        assert x11_locker_up() is True
    until(lambda: x11_locker_up() is False)


def test_no_display_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    assert x11_locker_up() is None
    assert x11_locker_up(":9999") is None  # no such server


def test_the_watch_sees_a_locker_come_and_go_and_tests_an_overlay_once(
        i3lock_exe: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch the agent asks every second between its locks: X events tell it when an
    override-redirect window appears, and a full-screen one that is no locker is grabbed at
    once only (each grab is a focus change its window sees), not at every question."""
    grabs: list[bool] = []
    real = screenlock._grabs_refused

    def counted(d: object, root: object) -> bool:
        grabs.append(real(d, root))
        return grabs[-1]

    monkeypatch.setattr(screenlock, "_grabs_refused", counted)
    now = [0.0]
    watch = X11LockerWatch(monotonic=lambda: now[0])
    try:
        assert watch() is False
        with client("menu"):
            for _ in range(5):
                now[0] += 1.0
                assert watch() is False
        with client("cover"):
            def tested() -> bool:  # once its map event arrived and it stayed SETTLE_S
                now[0] += 1.0
                assert watch() is False
                return bool(grabs)

            until(tested)
            for _ in range(10):
                now[0] += 1.0
                assert watch() is False
        assert grabs == [False]  # tested once, granted and given back
        with locker(i3lock_exe):

            def seen() -> bool:
                now[0] += 1.0
                return watch() is True
            until(seen)
        until(lambda: watch() is False)
        assert grabs[1:] and all(grabs[1:])
        assert x11_locker_up() is False  # nothing is left grabbed
    finally:
        watch.close()


def test_the_watch_without_a_display_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    assert X11LockerWatch()() is None
    watch = X11LockerWatch(":9999")  # no such server: None, and asked again next time
    assert watch() is None and watch() is None


S = 1_000_000_000


def test_a_locker_the_screensaver_does_not_know_locks_and_unlocks(i3lock_exe: str) -> None:
    clock = FakeClock()
    watch = ScreenWatch(clock, query=lambda: False, locker=x11_locker_up)  # "inactive" always
    watch.lock_fired()
    with locker(i3lock_exe):
        for _ in range(int(LOCK_SETTLE_S) + 5):  # past the settle time: still a lock
            clock.advance(1.0)
            assert watch.update(clock.monotonic_ns()) is True
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns()) is False  # the owner unlocked: seen


def test_without_a_locker_the_lock_still_fails(xdisplay: str) -> None:
    clock = FakeClock()
    watch = ScreenWatch(clock, query=lambda: False, locker=x11_locker_up)
    watch.lock_fired()
    for _ in range(int(LOCK_SETTLE_S) + 1):
        clock.advance(1.0)
        watch.update(None)
    assert watch.locked is False
    clock.advance(60.0)
    assert watch.update(clock.monotonic_ns()) is False  # input later is no unlock either


def test_with_no_screensaver_service_typing_into_the_locker_is_no_unlock(
        i3lock_exe: str) -> None:
    clock = FakeClock()
    watch = ScreenWatch(clock, query=lambda: None, locker=x11_locker_up)  # nothing answers
    watch.lock_fired()
    with locker(i3lock_exe):
        clock.advance(1.0)
        assert watch.update(None) is True
        for _ in range(5):  # a password typed 30 s later: input resumes, the locker holds
            clock.advance(30.0)
            assert watch.update(clock.monotonic_ns() - S // 2) is True
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns() - S // 2) is False


def bare_window_manager(home: Path, xdisplay: str
                        ) -> tuple[dict[str, str], Callable[[], dict[str, object]]]:
    """An initialised profile in ``home`` whose agent runs on ``xdisplay`` with no session bus
    (no screensaver service: a bare window manager), and a reader of its status file."""
    env = initialised(home)
    env["DISPLAY"] = xdisplay
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)

    def status() -> dict[str, object]:
        try:
            return dict(json.loads((home / "run" / "agent.json").read_text()))
        except (OSError, ValueError):
            return {}

    return env, status


def type_a_password_into_the_locker(inj: XInjector, status: Callable[[], dict[str, object]]
                                    ) -> None:
    """Once the agent sees the locker, type a password (7 keys: 14 events) into it and wait
    until the agent has withheld every event of it."""
    wait_until(lambda: status().get("screensaver_active") is True,
               "the agent to see the locker", limit_s=30)
    inj.type_text("hunter2", hold_s=0.03, gap_s=0.05)
    wait_until(lambda: int(str(status().get("withheld_locked") or 0)) >= 14,
               "the typed keys to be withheld")


@contextmanager
def an_agent_storing_no_key(env: dict[str, str], home: Path) -> Iterator[None]:
    """The real `activesec run` for the block, stopped by SIGTERM at its end however it ends;
    when the block succeeded, the agent exited 0 and its store holds not one keystroke."""
    agent = popen("run", "--quiet", env=env)
    try:
        yield
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err
    with Store.open(home / "activesec.db") as store:
        assert sum(s.n_keys for s in store.sessions()) == 0


def test_the_real_agent_started_under_i3lock_keeps_no_password(
        i3lock_exe: str, xdisplay: str, tmp_path: Path) -> None:
    """A bare window manager, no screensaver service: the agent (re)started while i3lock held
    the display, and what the owner typed into i3lock — the password — was stored with its
    keystroke timing (the watch between locks asks D-Bus only)."""
    home = tmp_path / "home"
    env, status = bare_window_manager(home, xdisplay)
    with locker(i3lock_exe), XInjector(xdisplay) as inj, an_agent_storing_no_key(env, home):
        type_a_password_into_the_locker(inj, status)


def test_i3lock_as_the_lock_command_locks_and_stays(i3lock_exe: str, xdisplay: str) -> None:
    """`[actions.params.command] argv = ["i3lock"]`: i3lock forks into the background, and
    the action waited for its output to end — 10 s, then killed it: the lock failed."""
    import contextlib
    import os

    import psutil

    from activesec.actions.base import Decision
    from activesec.actions.command import CommandAction

    def lockers() -> list[psutil.Process]:
        out = []
        for proc in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                if proc.info["name"] == "i3lock" and proc.environ().get("DISPLAY") == xdisplay:
                    out.append(proc)
        return out

    d = Decision("lock", "locked", 20.0, 1_700_000_000 * S, "trust 20 < 40", {})
    result = CommandAction(argv=[i3lock_exe], timeout_s=10).fire(d)
    try:
        assert result.ok, result.detail  # not "timed out after 10 s and was killed"
        until(lambda: x11_locker_up() is True)
        time.sleep(1.0)
        assert x11_locker_up() is True and lockers()  # still locked: not killed
    finally:
        for proc in lockers():
            with contextlib.suppress(ProcessLookupError):  # it may have gone by itself
                os.kill(proc.pid, signal.SIGTERM)
    until(lambda: x11_locker_up() is False)


def test_the_real_agent_keeps_no_password_typed_into_the_owners_own_i3lock(
        i3lock_exe: str, xdisplay: str, tmp_path: Path) -> None:
    """``xss-lock -- i3lock`` on a bare window manager, no screensaver service: the owner
    locked the screen with i3lock while the agent ran, and the password typed into it was
    stored with its keystroke timing (the agent looked for a locker at its start only)."""
    home = tmp_path / "home"
    env, status = bare_window_manager(home, xdisplay)
    with XInjector(xdisplay) as inj, an_agent_storing_no_key(env, home):
        wait_until(lambda: status().get("running") is True, "the agent to start", limit_s=30)
        with locker(i3lock_exe):
            type_a_password_into_the_locker(inj, status)
        wait_until(lambda: status().get("screensaver_active") is False,
                   "the agent to see the locker go")
