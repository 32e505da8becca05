"""App gating on real processes: a counting child is suspended (frozen) and resumed.

Gated programs run under a unique name (a symlink to the Python interpreter or to ``sleep``)
so a rule can never match another process on this machine — other test runs included.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psutil
import pytest
from tests.helpers.procs import Counter, unique, wait_until

from activesec.actions.base import ActionResult, Decision
from activesec.actions.gate import GateAction

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and symlinks")

DECISION = Decision("gate", "suspicious", 0.05, 1_700_000_000 * 10**9, "unlike owner", {})
RESTORE = Decision("restore", "confident", 0.9, 1_700_000_060 * 10**9, "trust recovered", {})


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


def test_hold_catches_apps_started_or_resumed_since_and_is_quiet_otherwise(
    spawn: Callable[..., Counter],
) -> None:
    """What the agent calls every few seconds while gated: None when nothing changed, else the
    result naming what it caught — a new instance, one resumed by hand, a closed app reopened."""
    name, other = unique("ash"), unique("ash")
    a = spawn(name)
    gate = GateAction(rules=[{"name": "game", "match": name},
                             {"name": "chat", "match": other, "mode": "close", "grace_s": 5}])
    assert gate.fire(DECISION).info["new_pids"] == [a.proc.pid]
    assert gate.hold(DECISION) is None  # nothing new: nothing to record

    b, c = spawn(name), spawn(other)  # the game started again, the closed chat reopened
    caught = gate.hold(DECISION)
    assert caught is not None and caught.ok, caught
    assert caught.info["new_pids"] == sorted([b.proc.pid, c.proc.pid])
    assert f"suspended game (pids {b.proc.pid})" in caught.detail
    assert caught.info["closed"] == {c.proc.pid: "terminated"}
    wait_until(b.stopped, "SIGSTOP to land")

    os.kill(a.proc.pid, signal.SIGCONT)  # resumed by hand
    wait_until(a.running, "the manual SIGCONT")
    again = gate.hold(DECISION)
    assert again is not None and again.info["new_pids"] == [a.proc.pid]
    assert "suspended game again (resumed meanwhile)" in again.detail
    wait_until(a.stopped, "SIGSTOP to land again")
    assert gate.held() == [
        {"app": "game", "match": name, "args": None, "mode": "suspend",
         "suspended_pids": sorted([a.proc.pid, b.proc.pid]), "closed_pids": []},
        {"app": "chat", "match": other, "args": None, "mode": "close", "suspended_pids": [],
         "closed_pids": [c.proc.pid]}]

    b.kill()  # a frozen app killed meanwhile is no longer shown as held
    assert gate.held()[0]["suspended_pids"] == [a.proc.pid]
    back = gate.revert(RESTORE)
    assert f"pids {b.proc.pid} exited meanwhile" in back.detail
    assert back.detail.startswith(f"resumed game (pids {a.proc.pid})"), back.detail
    wait_until(a.running, "SIGCONT to land")


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


def test_close_asks_at_once_and_kills_after_the_grace_without_waiting_for_it(
    spawn: Callable[..., Counter],
) -> None:
    """fire() returns at once (an app that ignores SIGTERM with a grace of 60 s still runs
    after it); the kill comes from the hold after the grace, and a restore before the grace
    ends kills nothing."""
    polite, stubborn, patient = unique("asc"), unique("asc"), unique("asc")
    p = spawn(polite)
    s = spawn(stubborn, "ignore-term")
    t = spawn(patient, "ignore-term")
    gate = GateAction(
        rules=[
            {"name": "polite", "match": polite, "mode": "close", "grace_s": 5},
            {"name": "stubborn", "match": stubborn, "mode": "close", "grace_s": 0.3},
            {"name": "patient", "match": patient, "mode": "close", "grace_s": 60},
        ]
    )
    result = gate.fire(DECISION)
    assert result.ok, result.detail
    pids = {c.proc.pid: "terminated" for c in (p, s, t)}
    assert result.info["closed"] == pids
    assert sorted(result.info["new_pids"]) == sorted(pids)
    assert f"asked patient to close, killed if still running after 60 s (pids {t.proc.pid})" \
        in result.detail
    assert t.proc.poll() is None and t.advances()  # not waited for: still running, still its own
    wait_until(lambda: p.proc.poll() is not None, "the polite app to exit")

    caught: list[ActionResult] = []

    def held_something() -> bool:
        r = gate.hold(DECISION)  # what the agent calls every 2 s while gated
        if r is not None:
            caught.append(r)
        return r is not None

    wait_until(held_something, "the hold after the 0.3 s grace")
    assert caught[0].info["closed"] == {s.proc.pid: "killed"}
    assert caught[0].info["new_pids"] == [s.proc.pid]
    assert f"killed stubborn (still running after its grace) (pids {s.proc.pid})" \
        in caught[0].detail
    wait_until(lambda: s.proc.poll() is not None, "the stubborn app to die")

    assert gate.hold(DECISION) is None  # the patient app is not asked again, nor killed yet
    assert gate.closing_pids == [t.proc.pid] and t.advances()
    # status names what was closed (it said "closed when started" as if none had run)
    assert {h["app"]: h["closed_pids"] for h in gate.held()} == {
        "polite": [p.proc.pid], "stubborn": [s.proc.pid], "patient": [t.proc.pid]}
    back = gate.revert(RESTORE)
    assert all(h["closed_pids"] == [] for h in gate.held())  # the next gate starts afresh
    assert f"pids {t.proc.pid} asked to close are left to finish by themselves" in back.detail
    assert "closed apps are not restarted" in back.detail
    assert gate.closing_pids == [] and t.advances()


def test_close_on_windows_asks_through_taskkill_and_kills_only_after_the_grace(
    spawn: Callable[..., Counter],
) -> None:
    """psutil documents ``terminate()`` as "on Windows an alias for kill()"
    (TerminateProcess): ``close`` killed apps at once there, unsaved work lost and the grace
    moot. The request is ``taskkill`` without ``/F`` (which forces); the kill only comes from
    the hold after the grace. The real process stands in for a Windows app, taskkill is faked."""
    name = unique("asw")
    a, b = spawn(name), spawn(name)
    calls: list[list[str]] = []

    def taskkill(argv: Sequence[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))  # the app is asked; a real one may take its time (or refuse)
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    gate = GateAction(rules=[{"name": "chat", "match": name, "mode": "close", "grace_s": 0.3}],
                      platform="win32", runner=taskkill)
    result = gate.fire(DECISION)
    assert result.ok, result.detail
    pids = sorted([a.proc.pid, b.proc.pid])
    assert calls == [["taskkill", "/PID", str(pids[0]), "/PID", str(pids[1])]]  # no /F
    assert a.proc.poll() is None and b.proc.poll() is None  # asked, not killed
    assert gate.closing_pids == pids

    caught: list[ActionResult] = []

    def held_something() -> bool:
        r = gate.hold(DECISION)
        if r is not None:
            caught.append(r)
        return r is not None

    wait_until(held_something, "the hold after the 0.3 s grace")
    assert caught[0].info["closed"] == dict.fromkeys(pids, "killed")
    assert len(calls) == 1  # asked once, never again while it closes
    wait_until(lambda: a.proc.poll() is not None and b.proc.poll() is not None, "the kill")


def test_rule_for_an_app_that_is_not_running_is_reported_not_an_error() -> None:
    result = GateAction(rules=[{"name": "game", "match": unique("nope")}]).fire(DECISION)
    assert result.ok
    assert result.detail == "game: not running"


def test_a_decision_naming_apps_gates_only_those_rules(spawn: Callable[..., Counter]) -> None:
    """``[engine.policy] gate_apps`` picks rules by name: it once gated every rule anyway."""
    game, chat = unique("asg"), unique("asg")
    g, c = spawn(game), spawn(chat)
    rules = [{"name": "game", "match": game}, {"name": "chat", "match": chat}]
    only_game = Decision("gate", "suspicious", 0.05, DECISION.t_wall_ns, "unlike owner",
                         {"apps": ["game"]})
    twin = GateAction(rules=rules, dry_run=True)
    assert twin.fire(only_game).detail == f"dry-run: would suspend game: pid {g.proc.pid}"
    gate = GateAction(rules=rules)
    result = gate.fire(only_game)
    assert result.ok and gate.suspended_pids == [g.proc.pid], result.detail
    wait_until(g.stopped, "SIGSTOP to land")
    assert c.advances()
    assert gate.hold(only_game) is None  # holding keeps to the same rules
    assert c.advances()
    assert gate.revert(RESTORE).ok
    wait_until(g.running, "SIGCONT to land")
    # no rule of that name: nothing gated, and it says so (the config check refuses it first)
    ghost = Decision("gate", "suspicious", 0.05, DECISION.t_wall_ns, "x", {"apps": ["steam"]})
    miss = gate.fire(ghost)
    assert not miss.ok and gate.suspended_pids == []
    assert miss.detail == "no gate rule is called steam (rules: game, chat): nothing gated"
    # no apps in the evidence (a plug-in policy's decision): every rule
    assert sorted(gate.fire(DECISION).info["new_pids"]) == sorted([g.proc.pid, c.proc.pid])
    gate.revert(RESTORE)


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


def test_suspending_an_app_also_suspends_the_processes_it_started(tmp_path: Path) -> None:
    """A game runs as a child of the store app a rule names (the README's `match = "steam"`):
    only the launcher was stopped, and the game went on. Its children are suspended with it
    and resumed with it; one matched by a rule of its own stays that rule's."""
    from tests.helpers.procs import COUNTER

    launcher_name, game_name = unique("asl"), unique("asc")
    launcher_link, game_link = tmp_path / launcher_name, tmp_path / game_name
    for link in (launcher_link, game_link):
        link.symlink_to(os.path.realpath(sys.executable))
    count = tmp_path / "game.count"
    launcher = subprocess.Popen([str(launcher_link), "-c",
                                 "import subprocess, sys; subprocess.Popen(sys.argv[1:]).wait()",
                                 str(game_link), "-c", COUNTER, str(count), "-"])
    try:
        def value() -> int:
            try:
                return int(count.read_text() or 0)
            except (FileNotFoundError, ValueError):
                return 0

        wait_until(lambda: value() > 2, "the game to start")
        (game,) = psutil.Process(launcher.pid).children()
        gate = GateAction(rules=[{"name": "games", "match": launcher_name}])
        fired = gate.fire(DECISION)
        assert fired.info["acted"]["suspended games"] == [launcher.pid, game.pid], fired.detail
        wait_until(lambda: game.status() == psutil.STATUS_STOPPED, "SIGSTOP to the game")
        assert gate.held()[0]["suspended_pids"] == sorted([launcher.pid, game.pid])
        back = gate.revert(RESTORE)
        assert sorted(back.info["resumed"]) == sorted([launcher.pid, game.pid])
        wait_until(lambda: game.status() != psutil.STATUS_STOPPED, "SIGCONT to the game")
        before = value()
        wait_until(lambda: value() != before, "the game to run again")
        # a child with a rule of its own is that rule's, not taken twice
        gate = GateAction(rules=[{"name": "store", "match": launcher_name},
                                 {"name": "game", "match": game_name}])
        acted = gate.fire(DECISION).info["acted"]
        assert acted == {"suspended store": [launcher.pid], "suspended game": [game.pid]}
        gate.revert(RESTORE)
    finally:
        for proc in psutil.Process(launcher.pid).children(recursive=True):
            proc.kill()
        launcher.kill()
        launcher.wait(10)


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


def test_stopping_resumes_what_it_suspended(spawn: Callable[..., Counter],
                                            tmp_path: Path) -> None:
    """The agent's end (SIGTERM, `run` returning) must not leave an app frozen with nothing
    left to resume it; while it is suspended, its pid is kept in a private state file."""
    name = unique("asg")
    c = spawn(name)
    state = tmp_path / "run" / "gated.json"
    gate = GateAction(rules=[{"name": "game", "match": name}], state_file=state)
    gate.start()
    assert gate.fire(DECISION).ok
    wait_until(c.stopped, "SIGSTOP to land")
    saved = json.loads(state.read_text())["suspended"]
    assert [e["pid"] for e in saved] == [c.proc.pid] and saved[0]["rule"] == "game"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    gate.stop()
    wait_until(c.running, "SIGCONT to land")
    assert c.advances() and not state.exists()


def test_start_resumes_what_a_killed_agent_left_frozen(spawn: Callable[..., Counter],
                                                       tmp_path: Path) -> None:
    """An agent that was killed never ran its stop: the next one finds the state file and
    resumes exactly those processes — not a process stopped by someone else, nor a pid
    since reused (its start time differs)."""
    name = unique("asg")
    ours, theirs = spawn(name), spawn(unique("asx"))
    state = tmp_path / "gated.json"
    first = GateAction(rules=[{"name": "game", "match": name}], state_file=state)
    first.start()
    assert first.fire(DECISION).ok
    wait_until(ours.stopped, "SIGSTOP to land")
    del first  # killed: no stop()
    os.kill(theirs.proc.pid, signal.SIGSTOP)  # stopped by the user, listed under a stale time
    wait_until(theirs.stopped, "the user's SIGSTOP")
    entries = json.loads(state.read_text())["suspended"]
    entries.append({"pid": theirs.proc.pid, "create_time": 1.0, "rule": "old"})
    state.write_text(json.dumps({"suspended": entries}))
    GateAction(rules=[{"name": "game", "match": name}], state_file=state).start()
    wait_until(ours.running, "the new agent's SIGCONT")
    assert ours.advances() and theirs.stopped() and not state.exists()
    os.kill(theirs.proc.pid, signal.SIGCONT)


def test_unreadable_state_file_is_ignored_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "gated.json"
    state.write_text("{not json")
    gate = GateAction(rules=[{"name": "game", "match": unique("asg")}], state_file=state)
    gate.start()  # does not raise: gating still works
    assert "ignoring unreadable" in caplog.text and "kill -CONT" in caplog.text
    assert gate.fire(DECISION).ok
    gate.stop()


def test_dry_run_keeps_no_state(tmp_path: Path) -> None:
    state = tmp_path / "gated.json"
    gate = GateAction(rules=[{"name": "game", "match": unique("asg")}], state_file=state,
                      dry_run=True)
    gate.start()
    gate.fire(DECISION)
    gate.stop()
    assert not state.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="starting another account's process needs root")
def test_an_app_of_another_account_is_refused_by_name_not_called_protected(
        tmp_path: Path) -> None:
    """A parent's agent and the child's game in the child's account: the gate (and doctor)
    said "only protected processes match" — or doctor "a misspelt name" — where the truth is
    that an agent gates only its own account's apps and the child's own agent must do it."""
    from tests.helpers.cli import cli, initialised
    from tests.helpers.unprivileged import NOBODY, drop_privileges, shared_tmp_dir

    sleep = shutil.which("sleep")
    if sleep is None:
        pytest.skip("no sleep binary")
    name = unique("asfor")
    with shared_tmp_dir() as shared:
        (shared / name).symlink_to(os.path.realpath(sleep))
        proc = subprocess.Popen([str(shared / name), "60"], preexec_fn=drop_privileges)
        try:
            wait_until(lambda: psutil.Process(proc.pid).uids().real == NOBODY, "the drop")
            gate = GateAction(rules=[{"name": "game", "match": name}])
            result = gate.fire(DECISION)
            account = psutil.Process(proc.pid).username()
            assert result.detail.startswith(
                f"game: runs only under another account, left alone: {account} (pids "
                f"{proc.pid}) — an agent gates only its own account's apps"), result.detail
            assert psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED
            env = initialised(tmp_path / "home")
            cfg = tmp_path / "home" / "config.toml"
            cfg.write_text(cfg.read_text().replace(
                "[actions]\n", f'[actions]\non_gate = ["gate"]\nparams = {{gate = {{rules = '
                f'[{{name = "game", match = "{name}"}}]}}}}\n', 1))
            r = cli("doctor", "--json", env=env)
            assert "Traceback" not in r.stderr, r.stderr
            (c,) = [c for c in json.loads(r.stdout)["checks"] if c["name"] == "gate"]
            assert c["status"] == "warn" and "misspelt" not in c["detail"], c
            assert f"game ('{name}') runs only under another account" in c["detail"], c
            assert "service install --all-users" in c["hint"]
        finally:
            proc.kill()
            proc.wait(10)


def _frozen_by_a_killed_agent(games: Sequence[Counter], name: str, state: Path) -> None:
    """The gate of an agent that is then killed: ``games`` (processes called ``name``) are
    suspended and the state file ``state`` names them — no stop(), nothing resumes them."""
    gate = GateAction(rules=[{"name": "game", "match": name}], state_file=state)
    gate.start()
    gate.fire(DECISION)
    wait_until(lambda: all(g.stopped() for g in games), "the gate")


def test_status_lists_only_apps_still_left_frozen_by_a_killed_agent(
        spawn: Callable[..., Counter], tmp_path: Path) -> None:
    """A killed agent's gated.json outlives the apps it names: `status` went on calling a game
    the child had killed since (or a pid reused after a restart) frozen, with no way to thaw the
    others but starting the agent."""
    from tests.helpers.cli import cli, initialised

    env = initialised(tmp_path / "home")
    state = tmp_path / "home" / "run" / "gated.json"
    name = unique("asleft")
    a, b = spawn(name), spawn(name)
    _frozen_by_a_killed_agent([a, b], name, state)
    a.kill()  # the child kills one frozen game
    left = json.loads(cli("status", "--json", env=env).stdout)["gate_left_frozen"]
    assert left == [{"pid": b.proc.pid, "app": "game"}], left
    text = " ".join(cli("status", env=env).stdout.split())
    assert f"game pid {b.proc.pid} — the next `activesec run` resumes them (or now: " \
           f"`kill -CONT {b.proc.pid}`)" in text, text
    assert f"pid {a.proc.pid}" not in text


def test_a_start_refused_for_its_configuration_still_resumes_what_a_killed_agent_left_frozen(
        spawn: Callable[..., Counter], tmp_path: Path) -> None:
    """After a `kill -9` the next start resumes the frozen apps — but a start that refused its
    config (exit 78, which the log-in service does not restart) left the child's game frozen
    until someone fixed the file. It resumes them now (never under a running agent) and says
    so in its one error line."""
    from tests.helpers.cli import cli, initialised, one_line_error

    from activesec.core.errors import EX_CONFIG
    from activesec.core.instance import InstanceLock

    env = initialised(tmp_path / "home")
    run_dir = tmp_path / "home" / "run"
    name = unique("asrefused")
    game = spawn(name)
    _frozen_by_a_killed_agent([game], name, run_dir / "gated.json")
    (tmp_path / "home" / "config.toml").write_text("[engine.policy]\nnotify_below = 300\n")
    with InstanceLock(run_dir / "capture.lock"):  # another agent runs: its gate is its own
        r = cli("run", "--quiet", env=env)
        assert r.returncode == EX_CONFIG and "meanwhile" not in r.stderr, r.stderr
        assert game.stopped()
    line = one_line_error(cli("run", "--quiet", env=env), EX_CONFIG)
    assert "engine.policy.notify_below" in line
    assert f"meanwhile resumed game (pids {game.proc.pid}), which an agent that was killed " \
           "had left suspended" in line, line
    wait_until(game.running, "the refused start's SIGCONT")
    assert game.advances() and not (run_dir / "gated.json").exists()


def test_service_uninstall_resumes_what_the_agent_it_stopped_left_frozen(
        spawn: Callable[..., Counter], tmp_path: Path) -> None:
    """A service manager that stops the agent hard (Windows' `/End`, systemd's SIGKILL after
    a stop that timed out) leaves its gated apps suspended; after `service uninstall` no agent
    ever starts again to resume them, so the child's game stayed frozen for good."""
    from tests.helpers.cli import cli, initialised

    from activesec.core.instance import InstanceLock

    env = dict(initialised(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    run_dir = tmp_path / "home" / "run"
    name = unique("asuninst")
    game = spawn(name)
    _frozen_by_a_killed_agent([game], name, run_dir / "gated.json")
    with InstanceLock(run_dir / "capture.lock"):  # an agent still runs: its gate is its own
        r = cli("service", "uninstall", "--kind", "systemd", "--json", env=env)
        assert r.returncode == 0 and "suspended" not in r.stdout, r.stdout + r.stderr
        assert game.stopped()
    r = cli("service", "uninstall", "--kind", "systemd", "--json", env=env)
    assert r.returncode == 0, r.stderr
    detail = json.loads(r.stdout)["detail"]
    assert detail.endswith(f"; resumed game (pids {game.proc.pid}), which the stopped agent had "
                           "left suspended"), detail
    wait_until(game.running, "uninstall's SIGCONT")
    assert game.advances() and not (run_dir / "gated.json").exists()
    r = cli("service", "uninstall", "--kind", "systemd", env=env)  # nothing left: said nothing
    assert r.returncode == 0 and "suspended" not in r.stdout, r.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's 15-character comm")
def test_a_long_name_matches_as_ps_shows_it(tmp_path: Path) -> None:
    """`ps -e` (which the rules' error hint names) shows a long name cut to 15 characters: a
    rule copied from it matched nothing, silently."""
    sleep = shutil.which("sleep")
    if sleep is None:
        pytest.skip("no sleep binary")
    name = unique("aslongname") + "-launcher"
    assert len(name) > 16
    (tmp_path / name).symlink_to(os.path.realpath(sleep))
    proc = subprocess.Popen([str(tmp_path / name), "60"])
    try:
        wait_until(lambda: psutil.Process(proc.pid).name() == name, "the exec")
        shown = subprocess.run(["ps", "-o", "comm=", "-p", str(proc.pid)], capture_output=True,
                               text=True).stdout.strip()
        assert shown == name[:15]
        for match, pids in ((name, [proc.pid]), (shown, [proc.pid]), (name[:14], [])):
            assert GateAction(rules=[{"name": "game", "match": match}]).running() == {
                "game": pids}, match
    finally:
        proc.kill()
        proc.wait(10)


def test_activesecs_own_commands_are_never_gated_with_the_interpreter_a_rule_names(
        spawn: Callable[..., Counter], tmp_path: Path) -> None:
    """A game written in Python is gated by naming its interpreter; the rule then also froze
    ActiveSec's own commands run by that interpreter — the agent's trainer, the parent's
    `status` or, here, the dashboard — mid-run."""
    import socket

    from tests.helpers.cli import env_for, initialised

    name = unique("aspy")
    game = spawn(name)  # python under the name the rule matches
    initialised(tmp_path / "home")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dash = subprocess.Popen([str(tmp_path / name), "-m", "activesec", "dashboard", "--no-open",
                             "--port", str(port)], env=env_for(tmp_path / "home"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert dash.stdout is not None and "127.0.0.1" in dash.stdout.readline()
        gate = GateAction(rules=[{"name": "pygame", "match": name}])
        assert gate.fire(DECISION).info["acted"] == {"suspended pygame": [game.proc.pid]}
        assert psutil.Process(dash.pid).status() != psutil.STATUS_STOPPED
        gate.revert(RESTORE)
    finally:
        dash.kill()
        dash.wait(10)


def test_a_rule_with_args_gates_only_the_processes_whose_command_line_holds_them(
        spawn: Callable[..., Counter]) -> None:
    """A game run by an interpreter (Minecraft by ``java``): by name alone, the rule gated
    every other program of that interpreter too; ``args`` narrows it to the game."""
    name = unique("asjava")
    game, tool = spawn(name, "MineCraft-Launcher"), spawn(name)
    gate = GateAction(rules=[{"name": "minecraft", "match": name, "args": "minecraft"}])
    result = gate.fire(DECISION)
    assert result.info["acted"] == {"suspended minecraft": [game.proc.pid]}, result.detail
    wait_until(game.stopped, "SIGSTOP to land")
    assert tool.advances(), "a program of the same name without the game's arguments ran on"
    assert gate.held()[0]["args"] == "minecraft"
    gate.revert(RESTORE)
    wait_until(game.running, "SIGCONT to land")

    # beside a rule for the same program without args, each process goes to one rule
    both = GateAction(rules=[{"name": "java", "match": name, "mode": "suspend"},
                             {"name": "minecraft", "match": name, "args": "minecraft"}])
    acted = both.fire(DECISION).info["acted"]
    assert acted == {"suspended minecraft": [game.proc.pid], "suspended java": [tool.proc.pid]}
    both.revert(RESTORE)
