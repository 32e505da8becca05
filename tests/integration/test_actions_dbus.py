"""Notify and lock over a real D-Bus session bus.

Each test starts its own ``dbus-daemon --session`` (what ``dbus-run-session`` runs) and owns the
service it talks to with dbus-fast — a tiny ``org.freedesktop.Notifications`` or
``org.freedesktop.ScreenSaver`` — so the assertion is on the call that actually arrived; the
screensavers that answer ``GetActive`` are GNOME's, KDE's, Cinnamon's and MATE's as the agent
asks them after its lock fired.
"""

import asyncio
import contextlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

from activesec.actions.base import Decision
from activesec.actions.lock import LINUX_METHODS, LockAction, screensaver_active
from activesec.actions.notify import NotifyAction

pytest.importorskip("dbus_fast")
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusDict, DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, method, signal

pytestmark = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed (apt-get install dbus)"
)


def decision(level: str = "lock") -> Decision:
    return Decision(level, "suspicious", 0.12, 1_700_000_000 * 10**9, "pointer unlike owner", {})


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture
def bus_address(tmp_path: Path) -> Iterator[str]:
    """A private session bus (what ``dbus-run-session`` starts) without service activation, so
    only the services a test runs are on it; yields its address."""
    config = tmp_path / "bus.conf"
    config.write_text(BUS_CONFIG.format(dir=tmp_path))
    proc = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    assert address.startswith("unix:"), address
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Notifications(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.calls: list[tuple[Any, ...]] = []

    @method()
    def Notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: Annotated[list[str], DBusSignature("as")],
        hints: DBusDict,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        self.calls.append((app_name, summary, body, hints["urgency"].value, expire_timeout))
        return 42

    @method()
    def GetServerInformation(self) -> Annotated[list[str], DBusSignature("ssss")]:
        return ["fake", "activesec-tests", "1.0", "1.2"]  # notify-send asks first

    @method()
    def GetCapabilities(self) -> Annotated[list[str], DBusSignature("as")]:
        return ["body"]


class ScreenSaver(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.ScreenSaver")
        self.locks = 0

    @method()
    def Lock(self) -> None:
        self.locks += 1


class Service:
    """Run ``iface`` at ``path`` under ``name`` on the bus, in a thread with its own loop."""

    def __init__(self, address: str, name: str, path: str, iface: ServiceInterface) -> None:
        self.address, self.name, self.path, self.iface = address, name, path, iface
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        bus = await MessageBus(bus_address=self.address).connect()
        bus.export(self.path, self.iface)
        await bus.request_name(self.name)
        self._ready.set()
        await self._stop.wait()
        bus.disconnect()

    def __enter__(self) -> "Service":
        self._thread.start()
        assert self._ready.wait(10), "service did not come up"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# -- notify ---------------------------------------------------------------------------------------


def test_notification_reaches_the_notification_server(bus_address: str) -> None:
    server = Notifications()
    with Service(
        bus_address, "org.freedesktop.Notifications", "/org/freedesktop/Notifications", server
    ):
        result = NotifyAction(bus_address=bus_address, timeout_ms=5000).fire(decision("lock"))
    assert result.ok, result.detail
    assert result.info["id"] == 42
    assert len(server.calls) == 1
    app, summary, body, urgency, timeout = server.calls[0]
    assert app == "ActiveSec"
    assert "Session locked" in summary
    assert "pointer unlike owner" in body and "0.12" in body
    assert urgency == 2  # critical for lock
    assert timeout == 5000


def test_notification_uses_the_session_bus_from_the_environment(
    bus_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_address)
    server = Notifications()
    with Service(
        bus_address, "org.freedesktop.Notifications", "/org/freedesktop/Notifications", server
    ):
        result = NotifyAction().fire(decision("notify"))
    assert result.ok, result.detail
    assert server.calls[0][3] == 1  # normal urgency for a plain notice


def test_no_notification_server_on_the_bus_is_reported(bus_address: str) -> None:
    result = NotifyAction(bus_address=bus_address).fire(decision())
    assert not result.ok
    assert "no notification server" in result.detail


def test_missing_session_bus_is_a_result_not_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert not NotifyAction().fire(decision()).ok
    gone = f"unix:path={tmp_path / 'no-such-socket'}"
    result = NotifyAction(bus_address=gone).fire(decision())
    assert not result.ok
    assert result.detail.startswith("no D-Bus session bus:")


# -- lock -----------------------------------------------------------------------------------------


def test_screensaver_service_receives_lock_after_loginctl_is_skipped(
    bus_address: str, tmp_path: Path
) -> None:
    saver = ScreenSaver()
    action = LockAction(
        bus_address=bus_address,
        logind_dir=tmp_path / "no-logind",  # honest here: no systemd-logind in this container
        platform="linux",
    )
    with Service(bus_address, "org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", saver):
        result = action.fire(decision())
    assert result.ok, result.detail
    assert saver.locks == 1
    assert result.info["method"] == "org.freedesktop.ScreenSaver"
    tried = [(a["method"], a["ok"]) for a in result.info["tried"]]
    assert tried == [("loginctl", False), ("org.freedesktop.ScreenSaver", True)]
    assert "systemd-logind is not running" in result.info["tried"][0]["detail"]


def test_kde_object_path_is_tried_when_the_first_is_missing(bus_address: str) -> None:
    saver = ScreenSaver()
    with Service(bus_address, "org.freedesktop.ScreenSaver", "/ScreenSaver", saver):
        result = LockAction(methods=["org.freedesktop.ScreenSaver"], bus_address=bus_address).fire(
            decision()
        )
    assert result.ok, result.detail
    assert saver.locks == 1


def test_fallback_reaches_a_command_when_no_screensaver_owns_the_bus_name(
    bus_address: str, tmp_path: Path
) -> None:
    """No ScreenSaver service: both D-Bus methods are skipped, xdg-screensaver is absent from
    PATH, and a real ``xscreensaver-command`` script on PATH does the locking."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    marker = tmp_path / "locked"
    script = bindir / "xscreensaver-command"
    script.write_text(f'#!/bin/sh\necho "$@" > {marker}\n')
    script.chmod(0o755)
    action = LockAction(
        bus_address=bus_address, path=str(bindir), logind_dir=tmp_path / "none", platform="linux"
    )
    result = action.fire(decision())
    assert result.ok, result.detail
    assert marker.read_text().strip() == "-lock"
    assert result.info["method"] == "xscreensaver-command"
    details = {a["method"]: a["detail"] for a in result.info["tried"]}
    assert details["org.freedesktop.ScreenSaver"] == "skipped: not on the session bus"
    assert details["org.gnome.ScreenSaver"] == "skipped: not on the session bus"
    assert details["xdg-screensaver"] == "skipped: not installed"
    assert "dm-tool" not in details  # never reached


def test_every_method_failing_is_reported_with_the_list(bus_address: str, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("loginctl", "dm-tool"):
        (bindir / name).write_text("#!/bin/sh\necho 'No session' >&2\nexit 1\n")
        (bindir / name).chmod(0o755)
    logind = tmp_path / "seats"
    logind.mkdir()
    result = LockAction(
        bus_address=bus_address, path=str(bindir), logind_dir=logind, platform="linux"
    ).fire(decision())
    assert not result.ok
    assert result.detail.startswith("could not lock the session, tried loginctl: failed: exit 1")
    for name in ("org.freedesktop.ScreenSaver", "xscreensaver-command", "dm-tool"):
        assert name in result.detail
    assert tuple(a["method"] for a in result.info["tried"]) == LINUX_METHODS


# -- without dbus-fast ----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("notify-send") is None, reason="notify-send not installed")
def test_without_dbus_fast_notify_send_reaches_the_server(
    bus_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Notifications()
    with Service(
        bus_address, "org.freedesktop.Notifications", "/org/freedesktop/Notifications", server
    ):
        monkeypatch.setitem(sys.modules, "dbus_fast", None)  # as if it were not installed
        result = NotifyAction(bus_address=bus_address).fire(decision("gate"))
        lock = LockAction(methods=["org.freedesktop.ScreenSaver"], bus_address=bus_address)
        locked = lock.fire(decision())
    assert result.ok, result.detail
    assert result.detail == "notification shown via notify-send"
    assert server.calls[0][0] == "ActiveSec" and server.calls[0][3] == 2
    assert not locked.ok
    assert "skipped: dbus-fast is not installed" in locked.detail


# -- is the lock up? (GetActive, what the agent polls after its lock fired) --------------------


class ActiveSaver(ServiceInterface):
    """A screensaver that answers ``GetActive`` on ``interface``."""

    def __init__(self, interface: str, active: bool = True) -> None:
        super().__init__(interface)
        self.active = active

    @method()
    def GetActive(self) -> Annotated[bool, DBusSignature("b")]:
        return self.active


class SignallingSaver(ActiveSaver):
    """GNOME's screensaver as it is: ``GetActive``, and ``ActiveChanged`` when it changes."""

    @signal()
    def ActiveChanged(self, active: bool) -> Annotated[bool, DBusSignature("b")]:
        return active


class InhibitOnly(ServiceInterface):
    """GNOME's ``org.freedesktop.ScreenSaver``: inhibition only, no ``GetActive``."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.ScreenSaver")

    @method()
    def Inhibit(self, app: DBusStr, reason: DBusStr) -> DBusUInt32:
        return 1


FREEDESKTOP = ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver")


@pytest.mark.parametrize(("name", "path"), [
    FREEDESKTOP,
    ("org.freedesktop.ScreenSaver", "/ScreenSaver"),  # KDE's path: it was never asked
    ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver"),
    ("org.cinnamon.ScreenSaver", "/org/cinnamon/ScreenSaver"),
    ("org.mate.ScreenSaver", "/org/mate/ScreenSaver"),
])
def test_each_desktops_screensaver_answers_whether_it_is_active(
        bus_address: str, name: str, path: str) -> None:
    saver = ActiveSaver(name)
    with Service(bus_address, name, path, saver):
        assert screensaver_active(bus_address)[0] is True
        saver.active = False
        active, query = screensaver_active(bus_address)
        assert active is False and query == (name, path, name)


def test_gnome_is_asked_when_its_freedesktop_service_lacks_getactive(bus_address: str) -> None:
    """GNOME owns org.freedesktop.ScreenSaver for inhibition only: asking it alone gave no
    answer, so the agent took every lock for unverifiable and guessed the unlock from input."""
    with Service(bus_address, *FREEDESKTOP, InhibitOnly()), \
            Service(bus_address, "org.gnome.ScreenSaver", "/org/gnome/ScreenSaver",
                    ActiveSaver("org.gnome.ScreenSaver")):
        active, query = screensaver_active(bus_address)
    assert active is True and query is not None and query[0] == "org.gnome.ScreenSaver"


def test_no_screensaver_or_no_bus_cannot_tell(bus_address: str, tmp_path: Path) -> None:
    with Service(bus_address, *FREEDESKTOP, InhibitOnly()):
        assert screensaver_active(bus_address) == (None, None)
    assert screensaver_active(f"unix:path={tmp_path / 'no-bus'}") == (None, None)


def test_the_agent_sees_gnomes_lock_and_unlock(bus_address: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's own screen watch (default query, the session bus from the environment)."""
    from activesec.core.clock import FakeClock
    from activesec.service.agent import ScreenWatch

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_address)
    monkeypatch.delenv("DISPLAY", raising=False)  # no X locker probe: the bus alone decides
    saver = ActiveSaver("org.gnome.ScreenSaver", active=False)
    clock = FakeClock()
    watch = ScreenWatch(clock)
    with Service(bus_address, *FREEDESKTOP, InhibitOnly()), \
            Service(bus_address, "org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", saver):
        watch.lock_fired()
        clock.advance(1.0)
        assert watch.update(None) is False  # the locker is not up yet
        saver.active = True
        clock.advance(1.0)
        assert watch.update(None) is True
        clock.advance(30.0)  # a password typed into the lock screen is no unlock
        assert watch.update(clock.monotonic_ns()) is True
        saver.active = False
        clock.advance(1.0)
        assert watch.update(clock.monotonic_ns()) is False


def test_the_owners_own_lock_is_known_when_the_screensaver_announces_it(
        bus_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between its own locks the agent asked the screensaver every 5 s: the owner's own lock
    was seen up to 5 s late, and keys typed meanwhile were kept. Its ActiveChanged signal
    now makes the agent ask at once."""
    import time

    from activesec.core.clock import FakeClock
    from activesec.service.agent import PASSIVE_POLL_S, ScreenWatch

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_address)
    monkeypatch.delenv("DISPLAY", raising=False)
    saver = SignallingSaver("org.gnome.ScreenSaver", active=False)
    clock = FakeClock()
    watch = ScreenWatch(clock)
    service = Service(bus_address, "org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", saver)
    try:
        with service:
            watch.update(None)  # the first look: asks, and starts listening
            assert not watch.withholding
            listener = watch._query._listener  # type: ignore[attr-defined]
            assert listener is not None and listener.ready.wait(10) and not listener.error
            for state in (True, False):  # the owner locks, then unlocks
                saver.active = state
                assert service._loop is not None
                service._loop.call_soon_threadsafe(saver.ActiveChanged, state)
                start, deadline = clock.monotonic_ns(), time.monotonic() + 10
                while watch.withholding != state:
                    assert time.monotonic() < deadline, "the signal was not acted on"
                    time.sleep(0.01)
                    clock.advance(0.01)
                    watch.update(None)
                # well before the next poll: it was the signal, not the poll
                assert clock.monotonic_ns() - start < PASSIVE_POLL_S * 1e9 / 2
    finally:
        watch.close()
    assert not listener.alive


def test_doctor_names_the_screensaver_that_locks_and_answers(bus_address: str,
                                                             tmp_path: Path) -> None:
    """`activesec doctor`'s lock check on a real bus: GNOME's names, as a GNOME session has."""
    import json

    from tests.helpers.cli import cli, initialised

    home = tmp_path / "home"
    env = initialised(home)
    (home / "config.toml").write_text('user = "alice"\n[actions.params.lock]\nmethods = '
                                      '["org.freedesktop.ScreenSaver", "org.gnome.ScreenSaver"]\n')
    env["DBUS_SESSION_BUS_ADDRESS"] = bus_address
    env.pop("DISPLAY", None)
    with Service(bus_address, *FREEDESKTOP, InhibitOnly()), \
            Service(bus_address, "org.gnome.ScreenSaver", "/org/gnome/ScreenSaver",
                    ActiveSaver("org.gnome.ScreenSaver", active=False)):
        r = cli("doctor", "--json", env=env)
    check = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "lock")
    assert check["status"] == "ok", check
    assert check["detail"] == ("lock tries org.freedesktop.ScreenSaver, org.gnome.ScreenSaver; "
                               "the agent learns lock and unlock from org.gnome.ScreenSaver "
                               "(active now: False)")
    r = cli("doctor", "--json", env=env)  # the services gone: nothing on the bus any more
    check = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "lock")
    assert check["status"] == "warn" and "not on the session bus" in check["detail"], check


@pytest.mark.x11
def test_the_real_agent_keeps_no_input_typed_while_the_screen_is_locked(
        bus_address: str, xdisplay: str, tmp_path: Path) -> None:
    """The owner's own lock (GNOME here): what they type into the lock screen — a password —
    reached the event store with its keystroke timing. Now it is withheld until the
    screensaver goes off, and counted."""
    import json
    import signal
    import time

    from tests.helpers.cli import cli, initialised, popen
    from tests.helpers.procs import wait_until
    from tests.helpers.xinject import XInjector

    from activesec.store.db import Store

    home = tmp_path / "home"
    env = initialised(home)
    env.update(DISPLAY=xdisplay, DBUS_SESSION_BUS_ADDRESS=bus_address)

    def status() -> dict[str, Any]:
        try:
            return dict(json.loads((home / "run" / "agent.json").read_text()))
        except (OSError, ValueError):
            return {}

    saver = ActiveSaver("org.gnome.ScreenSaver", active=False)
    with Service(bus_address, "org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", saver):
        agent = popen("run", "--quiet", env=env)
        try:
            with XInjector(xdisplay) as inj:
                def moved_and_stored() -> bool:
                    inj.path([(100 + 7 * i, 300) for i in range(12)], dt=0.01)
                    return bool(status().get("stored"))

                wait_until(moved_and_stored, "pointer input to be stored", limit_s=30)
                saver.active = True  # the owner locks the screen
                wait_until(lambda: status().get("screensaver_active") is True,
                           "the agent to see the screensaver on")
                time.sleep(2.0)  # what was queued before is written
                before = status()["stored"]
                inj.type_text("hunter2 hunter2", hold_s=0.03, gap_s=0.05)  # the password
                wait_until(lambda: status().get("withheld_locked", 0) >= 28,
                           "the typed keys to be withheld")
                time.sleep(2.0)
                assert status()["stored"] == before
                shown = json.loads(cli("status", "--json", env=env).stdout)["agent"]
                assert shown["screensaver_active"] is True and shown["screen_locked"] is False
                assert shown["withheld_locked"] >= 28
                assert "locked by you or the screensaver: input is neither stored nor " \
                    "scored" in " ".join(cli("status", env=env).stdout.split())
                saver.active = False  # unlocked
                wait_until(lambda: status().get("screensaver_active") is False,
                           "the agent to see the screensaver off")

                def moved_and_stored_again() -> bool:
                    inj.path([(300, 100 + 5 * i) for i in range(12)], dt=0.01)
                    return int(status()["stored"]) > before

                wait_until(moved_and_stored_again, "input after the unlock to be stored")
        finally:
            agent.send_signal(signal.SIGTERM)
            _, err = agent.communicate(timeout=60)
        assert agent.returncode == 0, err
    with Store.open(home / "activesec.db") as store:
        assert sum(s.n_keys for s in store.sessions()) == 0  # not one keystroke of it
        assert sum(s.n_pointer for s in store.sessions()) > 0


class StuckSaver(ServiceInterface):
    """A screensaver whose ``GetActive`` never replies (a hung gnome-shell)."""

    def __init__(self, interface: str) -> None:
        super().__init__(interface)

    @method()
    async def GetActive(self) -> Annotated[bool, DBusSignature("b")]:
        await asyncio.sleep(3600)
        return True


def test_the_screensaver_restarting_or_hanging_while_locked_unlocks_nothing(
        bus_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the agent's lock took, GNOME's screensaver left the bus (a restart), then hung:
    nothing answered, so input at the lock screen counted as the owner's unlock — the
    stranger got the grace period and full trust. Now only its "inactive" unlocks."""
    from activesec.core.clock import FakeClock
    from activesec.service.agent import ScreenWatch

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_address)
    monkeypatch.delenv("DISPLAY", raising=False)
    gnome = ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver")
    clock = FakeClock()
    watch = ScreenWatch(clock)
    with Service(bus_address, *gnome, ActiveSaver(gnome[0])):
        watch.lock_fired()
        clock.advance(1.0)
        assert watch.update(None) is True
    for iface in (None, StuckSaver(gnome[0])):  # gone from the bus, then hung
        with contextlib.ExitStack() as stack:
            if iface is not None:
                stack.enter_context(Service(bus_address, *gnome, iface))
            for _ in range(3):  # the stranger moves the mouse at the lock screen
                clock.advance(3.0)
                assert watch.update(clock.monotonic_ns()) is True
    saver = ActiveSaver(gnome[0], active=True)
    with Service(bus_address, *gnome, saver):  # restarted, the lock screen still up
        clock.advance(1.0)
        assert watch.update(clock.monotonic_ns()) is True
        saver.active = False  # the owner's password
        clock.advance(1.0)
        assert watch.update(clock.monotonic_ns()) is False


def test_a_hung_bus_holds_the_agent_up_for_one_timeout_not_one_per_screensaver(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent asks GetActive from its main loop (every 5 s between locks). With the session
    bus hung (dbus-daemon stopped), each of the five screensaver names waited out its own
    0.5 s: the loop stood still 2.5 s of every 5 — no scoring, no decisions meanwhile. (What
    is checked is the time each question was given, not the time it took: no timed
    assertion on a shared machine.)"""
    import os
    import signal

    from activesec.actions import _dbus

    given: list[float] = []
    real_call = _dbus.call

    def spy(*args: Any, **kw: Any) -> list[Any]:
        given.append(float(kw["timeout_s"]))
        return real_call(*args, **kw)

    monkeypatch.setattr(_dbus, "call", spy)
    config = tmp_path / "bus.conf"
    config.write_text(BUS_CONFIG.format(dir=tmp_path))
    proc = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork",
                             "--print-address=1"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        assert screensaver_active(address, timeout_s=0.5) == (None, None)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)
    assert given and sum(given) <= 0.5 + 1e-6, given  # all the questions shared the 0.5 s


@pytest.mark.x11
def test_doctor_says_a_lock_command_is_seen_on_the_display(bus_address: str, xdisplay: str,
                                                           tmp_path: Path) -> None:
    """i3lock as the lock command where xfce's screensaver answers GetActive: doctor said the
    agent learns lock and unlock from that service — which never knows i3lock; the agent
    learns it from the locker holding the X display."""
    import json

    from tests.helpers.cli import cli, initialised

    home = tmp_path / "home"
    env = initialised(home)
    (home / "config.toml").write_text('user = "alice"\n[actions]\non_lock = ["command"]\n'
                                      '[actions.params.command]\nargv = ["sh", "-c", "true"]\n')
    env.update(DBUS_SESSION_BUS_ADDRESS=bus_address, DISPLAY=xdisplay)
    with Service(bus_address, *FREEDESKTOP, ActiveSaver(FREEDESKTOP[0], active=False)):
        r = cli("doctor", "--json", env=env)
    check = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "lock")
    assert check["status"] == "ok", check
    assert "learns lock and unlock from org.freedesktop.ScreenSaver" in check["detail"]
    assert "holds the X display" in check["detail"], check
