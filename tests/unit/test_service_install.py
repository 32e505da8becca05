"""Log-in service installers: generated files validated by their own parsers (and by
``systemd-analyze verify`` where installed); I/O only under tmp_path with a recording runner."""

from __future__ import annotations

import configparser
import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from activesec.core import paths
from activesec.core.errors import EX_CONFIG, ConfigError
from activesec.service import stopped
from activesec.service.installers import (
    LABEL,
    TASK_NS,
    UNIT_NAME,
    Installer,
    install,
    launchd_plist,
    restart,
    status,
    systemd_unit,
    task_xml,
    uninstall,
)

NS = {"t": TASK_NS}


class Recorder:
    """Stands in for systemctl/launchctl/schtasks: records argv, answers with ``rc``."""

    def __init__(self, rc: int = 0, stderr: str = "", stdout: str = "") -> None:
        self.calls: list[list[str]] = []
        self.rc, self.stderr, self.stdout = rc, stderr, stdout

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        return subprocess.CompletedProcess(list(argv), self.rc, self.stdout, self.stderr)


def refuse(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    raise AssertionError(f"no service manager may be called here: {argv}")


@pytest.fixture
def exe(tmp_path: Path) -> Path:
    p = tmp_path / "venv bin" / "activesec"  # a space: quoting must hold
    p.parent.mkdir()
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(0o755)
    return p


def parse_unit(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    cp.read_string(text)
    return cp


# -- systemd ------------------------------------------------------------------------------------
def test_systemd_unit_keys() -> None:
    unit = parse_unit(systemd_unit("/opt/activesec/bin/activesec", home="/srv/as home"))
    assert unit["Unit"]["After"] == "graphical-session.target"
    assert unit["Unit"]["PartOf"] == "graphical-session.target"
    assert unit["Service"]["ExecStart"] == "/opt/activesec/bin/activesec run"
    assert unit["Service"]["Restart"] == "on-failure"
    # a configuration error (78) is not restarted; anything else at most 10 times in 5 minutes
    assert unit["Service"]["RestartPreventExitStatus"] == str(EX_CONFIG) == "78"
    assert unit["Service"]["RestartSec"] == "5"
    assert unit["Unit"]["StartLimitIntervalSec"] == "300"
    assert unit["Unit"]["StartLimitBurst"] == "10"
    assert unit["Service"]["Environment"] == '"ACTIVESEC_HOME=/srv/as home"'
    assert unit["Install"]["WantedBy"] == "graphical-session.target"
    assert "Environment" not in parse_unit(systemd_unit("/usr/bin/activesec"))["Service"]


def test_systemd_unit_escapes_specifiers_and_spaces() -> None:
    unit = parse_unit(systemd_unit("/home/a b/100%/$x/activesec", home="/h/50%"))
    assert unit["Service"]["ExecStart"] == '"/home/a b/100%%/$$x/activesec" run'
    assert unit["Service"]["Environment"] == '"ACTIVESEC_HOME=/h/50%%"'


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, exe: Path) -> None:
    weird = tmp_path / "odd 100% dir" / "activesec"
    weird.parent.mkdir()
    shutil.copy(exe, weird)
    weird.chmod(0o755)

    def verify(text: str) -> subprocess.CompletedProcess[str]:
        unit = tmp_path / UNIT_NAME
        unit.write_text(text)
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}  # the user manager needs one
        return subprocess.run(
            ["systemd-analyze", "--user", "verify", str(unit)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    for path, home in ((exe, str(tmp_path / "h o%me")), (weird, None)):  # None: --all-users
        r = verify(systemd_unit(str(path), home=home))
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    # The check can fail: a bad value and a missing executable are reported.
    bad = systemd_unit(str(tmp_path / "missing" / "activesec")).replace("on-failure", "often")
    r = verify(bad)
    assert r.returncode != 0 and "not executable" in r.stderr and "restart" in r.stderr
    # Only directives this systemd knows: the growing delay of systemd >= 254 is not one of
    # them where it is older (Debian 12: 252), and the check says so.
    newer = systemd_unit(str(exe)).replace("RestartSec=5\n", "RestartSec=5\nRestartSteps=5\n")
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True)
    if int(version.stdout.split()[1]) < 254:
        assert "Unknown key 'RestartSteps'" in verify(newer).stderr


def test_systemd_without_systemd_writes_the_unit_and_says_how_to_start(
    tmp_path: Path, exe: Path
) -> None:
    inst = Installer(
        "systemd", base=tmp_path, runner=refuse, environ={}, platform="linux",
        systemd_dir=tmp_path / "no-systemd",
    )  # fmt: skip
    result = inst.install(str(exe))
    assert result.ok and result.installed and result.running is None
    assert result.path == tmp_path / ".config/systemd/user/activesec.service"
    assert "systemctl --user enable --now activesec.service" in result.detail
    # the folders it made are private (README: directories 0700, the platform's own parents
    # too; only the unit file is the exception): they were 0755
    for d in (tmp_path / ".config", tmp_path / ".config/systemd", result.path.parent):
        assert (d.stat().st_mode & 0o777) == 0o700, d
    # the owner hears of a start that fails for good: nobody reads a service's terminal
    assert parse_unit(result.path.read_text())["Service"]["ExecStart"] == (
        f'"{exe}" run --notify-failure --wait-for-fix')
    assert inst.status().installed
    assert inst.uninstall().ok and not result.path.exists()


def test_systemd_user_unit_follows_xdg_config_home(tmp_path: Path, exe: Path) -> None:
    """systemd reads user units from $XDG_CONFIG_HOME/systemd/user: a unit under ~/.config
    would never be found when it is set elsewhere (a relative value is ignored, per XDG)."""
    xdg = tmp_path / "xdg"

    def make(xdg_config_home: str) -> Installer:
        return Installer("systemd", base=tmp_path / "home", runner=refuse, platform="linux",
                         systemd_dir=tmp_path / "no-systemd",
                         environ={"XDG_CONFIG_HOME": xdg_config_home})

    inst = make(str(xdg))
    result = inst.install(str(exe))
    assert result.ok and result.path == xdg / "systemd" / "user" / "activesec.service"
    assert result.path.is_file() and not (tmp_path / "home" / ".config").exists()
    assert inst.status().installed
    assert inst.uninstall().ok and not result.path.exists()
    default = tmp_path / "home" / ".config" / "systemd" / "user" / "activesec.service"
    assert make("rel/cfg").path == default


def test_systemd_with_systemd_enables_checks_and_disables(tmp_path: Path, exe: Path) -> None:
    (tmp_path / "sd").mkdir()
    rec = Recorder()
    kw = dict(base=tmp_path, runner=rec, platform="linux", systemd_dir=tmp_path / "sd")
    env = {"ACTIVESEC_HOME": str(tmp_path / "state")}
    result = install("systemd", str(exe), environ=env, **kw)
    assert result.ok and result.running, result.detail
    assert rec.calls == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", UNIT_NAME],
    ]
    unit = parse_unit(result.path.read_text())
    assert unit["Service"]["Environment"] == f'"ACTIVESEC_HOME={tmp_path / "state"}"'

    rec.calls.clear()
    st = status("systemd", **kw)
    assert st.installed and st.running
    assert rec.calls == [["systemctl", "--user", "is-active", "--quiet", UNIT_NAME]]

    rec.calls.clear()
    gone = uninstall("systemd", **kw)
    assert gone.ok and not result.path.exists()
    assert rec.calls == [
        ["systemctl", "--user", "disable", "--now", UNIT_NAME],
        ["systemctl", "--user", "daemon-reload"],
    ]
    assert uninstall("systemd", **kw).detail.startswith("not installed")


def test_a_failing_service_manager_is_reported(tmp_path: Path, exe: Path) -> None:
    (tmp_path / "sd").mkdir()
    rec = Recorder(rc=1, stderr="Failed to connect to bus: No medium found")
    result = Installer(
        "systemd", base=tmp_path, runner=rec, platform="linux", systemd_dir=tmp_path / "sd"
    ).install(str(exe))
    assert not result.ok and result.installed
    assert "exited 1: Failed to connect to bus" in result.detail
    assert len(rec.calls) == 1  # stopped at the first failure


# -- launchd ------------------------------------------------------------------------------------
def test_launchd_plist_round_trips() -> None:
    text = launchd_plist(
        "/usr/local/bin/activesec", log_dir="/Users/a/Library/Logs/activesec", home="/Users/a/as"
    )
    job = plistlib.loads(text.encode("utf-8"))
    assert job == {
        "Label": LABEL,
        "ProgramArguments": ["/usr/local/bin/activesec", "run"],
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 30,  # KeepAlive cannot exempt exit 78: a retry at most every 30 s
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
        "StandardOutPath": "/Users/a/Library/Logs/activesec/agent.out.log",
        "StandardErrorPath": "/Users/a/Library/Logs/activesec/agent.err.log",
        "EnvironmentVariables": {"ACTIVESEC_HOME": "/Users/a/as"},
    }


def test_launchd_install_bootstraps_in_the_gui_domain(tmp_path: Path, exe: Path) -> None:
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    rec = Recorder()
    inst = Installer("launchd", base=tmp_path, runner=rec, environ={}, platform="darwin")
    result = inst.install(str(exe))
    assert result.ok, result.detail
    path = tmp_path / "Library/LaunchAgents/org.activesec.agent.plist"
    assert result.path == path
    assert rec.calls == [["launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"],
                         ["launchctl", "bootstrap", f"gui/{os.getuid()}", str(path)]]
    job = plistlib.loads(path.read_bytes())
    assert job["ProgramArguments"] == [str(exe), "run", "--notify-failure", "--wait-for-fix"]
    assert job["StandardErrorPath"] == str(tmp_path / "Library/Logs/activesec/agent.err.log")
    inst.uninstall()
    assert rec.calls[-1] == ["launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"]


def test_launchd_install_makes_the_log_folder_first(tmp_path: Path, exe: Path) -> None:
    """launchd opens StandardOutPath/StandardErrorPath itself and creates no folder: an install
    before the agent ever ran (no ~/Library/Logs/activesec yet) would fail every start."""
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    inst = Installer("launchd", base=tmp_path, runner=Recorder(), environ={}, platform="darwin")
    assert inst.install(str(exe)).ok
    logs = tmp_path / "Library/Logs/activesec"
    assert logs.is_dir() and (logs.stat().st_mode & 0o777) == 0o700
    job = plistlib.loads(inst.path.read_bytes())
    assert Path(job["StandardOutPath"]).parent == logs
    home = tmp_path / "as home"
    inst = Installer("launchd", base=tmp_path, runner=Recorder(),
                     environ={"ACTIVESEC_HOME": str(home)}, platform="darwin")
    assert inst.install(str(exe)).ok
    assert (home.resolve() / "logs").is_dir()


def test_launchd_manual_load_command_quotes_the_path(tmp_path: Path, exe: Path) -> None:
    """Where launchctl cannot be called, the command to run by hand must survive a home with a
    space in it (`launchctl bootstrap gui/501 /Users/J Doe/...` names two paths)."""
    home = tmp_path / "J Doe"
    result = Installer("launchd", base=home, runner=refuse, environ={},
                       platform="linux").install(str(exe))
    assert result.ok and result.running is None
    assert f"`launchctl bootstrap gui/$(id -u) '{result.path}'`" in result.detail


def test_launchd_plist_is_0644_whatever_the_umask(tmp_path: Path, exe: Path) -> None:
    """launchd refuses a plist the group or others may write (bad ownership/permissions): a
    umask of 002 (shared-group setups) made the agent never start."""
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    old = os.umask(0o002)
    try:
        inst = Installer("launchd", base=tmp_path, runner=Recorder(), environ={},
                         platform="darwin")
        assert inst.install(str(exe)).ok
    finally:
        os.umask(old)
    assert (inst.path.stat().st_mode & 0o777) == 0o644


class Launchd:
    """launchctl as it answers: ``bootstrap`` of a job still loaded fails with 5 (EIO), for
    ``lag`` more tries after a ``bootout`` (which returns before the job is gone)."""

    def __init__(self, lag: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.loaded, self.lag, self.left = False, lag, 0

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[1] == "bootout":
            if not self.loaded:
                return subprocess.CompletedProcess(list(argv), 3, "",
                                                   "Boot-out failed: 3: No such process")
            self.loaded, self.left = False, self.lag
        elif argv[1] == "print":
            if not self.loaded:
                return subprocess.CompletedProcess(
                    list(argv), 113, "", f"Could not find service \"{LABEL}\" in domain")
            return subprocess.CompletedProcess(list(argv), 0, "state = running\n", "")
        elif argv[1] == "bootstrap":
            if self.loaded or self.left:
                self.left = max(0, self.left - 1)
                return subprocess.CompletedProcess(list(argv), 5, "",
                                                   "Bootstrap failed: 5: Input/output error")
            self.loaded = True
        return subprocess.CompletedProcess(list(argv), 0, "", "")


def test_launchd_install_again_replaces_the_loaded_agent(tmp_path: Path, exe: Path) -> None:
    """`service install` again (what `service status` says to do for an outdated file): launchd
    refuses to bootstrap a job that is loaded, so the old one is booted out first, and the
    bootstrap retried while launchd is still removing it."""
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    launchctl = Launchd(lag=2)
    waits: list[float] = []
    inst = Installer("launchd", base=tmp_path, runner=launchctl, environ={}, platform="darwin",
                     sleep=waits.append)
    first = inst.install(str(exe))  # nothing loaded yet: the failed bootout is harmless
    assert first.ok and launchctl.loaded, first.detail
    assert waits == []
    again = inst.install(str(exe))
    assert again.ok and launchctl.loaded, again.detail
    assert [c[1] for c in launchctl.calls[2:]] == ["bootout", "bootstrap", "bootstrap",
                                                    "bootstrap"]
    assert waits == [1.0, 1.0]
    stuck = Installer("launchd", base=tmp_path, runner=Launchd(lag=99), environ={},
                      platform="darwin", sleep=waits.append)
    stuck.install(str(exe))
    result = stuck.install(str(exe))  # it never goes: said, not waited for forever
    assert not result.ok and "Input/output error" in result.detail


def test_launchd_uninstall_of_a_job_not_loaded_succeeds(tmp_path: Path, exe: Path) -> None:
    """``launchctl bootout`` fails for a job launchd does not have loaded (booted out already,
    or installed while no one was logged in): uninstall removed the file yet said it failed.
    A job that is loaded and will not go is still a failure."""
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    launchctl = Launchd()
    inst = Installer("launchd", base=tmp_path, runner=launchctl, environ={}, platform="darwin")
    assert inst.install(str(exe)).ok and launchctl.loaded
    launchctl.loaded = False  # e.g. `launchctl bootout` by hand
    result = inst.uninstall()
    assert result.ok, result.detail
    assert not inst.path.exists() and "failed" not in result.detail
    assert [c[1] for c in launchctl.calls[-2:]] == ["bootout", "print"]

    def stuck(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if argv[1] == "bootout":
            return subprocess.CompletedProcess(list(argv), 5, "", "Boot-out failed: 5: I/O error")
        return subprocess.CompletedProcess(list(argv), 0, "state = running\n", "")

    assert inst.install(str(exe)).ok
    result = Installer("launchd", base=tmp_path, runner=stuck, environ={},
                       platform="darwin").uninstall()
    assert not result.ok and "I/O error" in result.detail


# -- Windows task --------------------------------------------------------------------------------
def test_task_xml_has_logon_trigger_interactive_token_and_command() -> None:
    text = task_xml(r"C:\Program Files\ActiveSec\activesec.exe", user=r"PC\alice")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>')
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.tag == f"{{{TASK_NS}}}Task"
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", NS).text == r"PC\alice"  # type: ignore[union-attr]
    principal = root.find("t:Principals/t:Principal", NS)
    assert principal is not None
    assert principal.find("t:LogonType", NS).text == "InteractiveToken"  # type: ignore[union-attr]
    assert principal.find("t:RunLevel", NS).text == "LeastPrivilege"  # type: ignore[union-attr]
    exec_ = root.find("t:Actions/t:Exec", NS)
    assert exec_ is not None
    # quoted: the first word of the command line Task Scheduler gives the program
    assert exec_.find("t:Command", NS).text == r'"C:\Program Files\ActiveSec\activesec.exe"'  # type: ignore[union-attr]
    assert exec_.find("t:Arguments", NS).text == "run"  # type: ignore[union-attr]
    settings = root.find("t:Settings", NS)
    assert settings is not None
    assert settings.find("t:ExecutionTimeLimit", NS).text == "PT0S"  # type: ignore[union-attr]
    assert settings.find("t:MultipleInstancesPolicy", NS).text == "IgnoreNew"  # type: ignore[union-attr]
    # a launch that failed is retried 3 times, no more (an agent that exited is not: MS-TSCH)
    assert settings.find("t:RestartOnFailure/t:Count", NS).text == "3"  # type: ignore[union-attr]
    assert settings.find("t:RestartOnFailure/t:Interval", NS).text == "PT1M"  # type: ignore[union-attr]


#: The Task Scheduler schema (learn.microsoft.com, "Task Scheduler Schema", version 1.2 of
#: taskType): the children each element may have. Most types are ``xs:all`` (any order, each
#: at most once); the triggers are ``xs:sequence`` — triggerBaseType's elements first, in
#: their order, then LogonTrigger's own (UserId, Delay) — so their order is listed in full.
TASK_CHILDREN: dict[str, tuple[bool, tuple[str, ...]]] = {  # tag: (ordered, allowed children)
    "Task": (False, ("RegistrationInfo", "Triggers", "Settings", "Data", "Principals",
                     "Actions")),
    "RegistrationInfo": (False, ("URI", "SecurityDescriptor", "Source", "Date", "Author",
                                 "Version", "Description", "Documentation")),
    "Triggers": (False, ("LogonTrigger",)),
    "LogonTrigger": (True, ("Enabled", "StartBoundary", "EndBoundary", "Repetition",
                            "ExecutionTimeLimit", "UserId", "Delay")),
    "Principals": (False, ("Principal",)),
    "Principal": (False, ("UserId", "LogonType", "GroupId", "DisplayName", "RunLevel",
                          "ProcessTokenSidType", "RequiredPrivileges")),
    "Settings": (False, ("AllowStartOnDemand", "RestartOnFailure", "MultipleInstancesPolicy",
                         "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries",
                         "AllowHardTerminate", "StartWhenAvailable", "NetworkProfileName",
                         "RunOnlyIfNetworkAvailable", "WakeToRun", "Enabled", "Hidden",
                         "DeleteExpiredTaskAfter", "IdleSettings", "NetworkSettings",
                         "ExecutionTimeLimit", "Priority", "RunOnlyIfIdle")),
    "IdleSettings": (False, ("Duration", "WaitTimeout", "StopOnIdleEnd", "RestartOnIdle")),
    "RestartOnFailure": (False, ("Interval", "Count")),
    "Actions": (False, ("Exec",)),
    "Exec": (False, ("Command", "Arguments", "WorkingDirectory")),
}


@pytest.mark.parametrize("user", [r"PC\alice", None])
def test_task_xml_follows_the_task_scheduler_schema(user: str | None) -> None:
    """schtasks /Create /XML validates the file against the schema: an element it does not
    know, one in the wrong place of a sequence, or one twice refuses the whole task."""
    text = task_xml(r"C:\Program Files\ActiveSec\activesec.exe", user=user)
    root = ET.fromstring(text.split("\n", 1)[1])

    def walk(el: ET.Element) -> None:
        ns, _, tag = el.tag[1:].partition("}")
        assert ns == TASK_NS, el.tag
        if tag not in TASK_CHILDREN:
            assert len(el) == 0, f"{tag} has children the schema gives it none of"
            return
        ordered, allowed = TASK_CHILDREN[tag]
        names = [c.tag.partition("}")[2] for c in el]
        assert set(names) <= set(allowed), f"{tag}: {sorted(set(names) - set(allowed))}"
        assert len(names) == len(set(names)), f"{tag}: an element twice"
        if ordered:
            assert names == sorted(names, key=allowed.index), f"{tag}: out of order {names}"
        for c in el:
            walk(c)

    walk(root)
    assert root.get("version") == "1.2"
    principal = root.find("t:Principals/t:Principal", NS)
    actions = root.find("t:Actions", NS)
    assert principal is not None and actions is not None
    assert actions.get("Context") == principal.get("id")  # the schema's ContextKeyRef
    command = root.find("t:Actions/t:Exec/t:Command", NS)
    assert command is not None and command.text and len(command.text) <= 260  # pathType


@pytest.mark.parametrize("user", [r"PC\alice", None])
def test_task_runs_the_agent_at_an_interactive_priority(user: str | None) -> None:
    """Priority (settingsType) Element, learn.microsoft.com: "priority levels 7 and 8 are used
    for background tasks, and priority levels 4, 5, and 6 are used for interactive tasks"; 7,
    the default the task had, starts the agent with BELOW_NORMAL_PRIORITY_CLASS. Its low-level
    input hooks must answer within LowLevelHooksTimeout, else Windows 7 and later remove them
    silently (LowLevelKeyboardProc / LowLevelMouseProc remarks): capture would stop unseen."""
    root = ET.fromstring(task_xml(r"C:\as\activesec.exe", user=user).split("\n", 1)[1])
    priority = root.find("t:Settings/t:Priority", NS)
    assert priority is not None and priority.text is not None
    assert int(priority.text) in (4, 5, 6)


def test_task_install_registers_with_schtasks(tmp_path: Path, exe: Path) -> None:
    rec = Recorder()
    env = {"USERDOMAIN": "PC", "USERNAME": "alice", "ACTIVESEC_HOME": str(tmp_path / "my h")}
    result = Installer("task", base=tmp_path, runner=rec, environ=env, platform="win32").install(
        str(exe)
    )
    assert result.ok, result.detail
    assert rec.calls.pop(0) == ["schtasks", "/Query", "/TN", "ActiveSec", "/XML"]  # whose?
    assert rec.calls[0] == [
        "schtasks",
        "/Create",
        "/XML",
        str(result.path),
        "/TN",
        "ActiveSec",
        "/F",
    ]
    assert rec.calls[1] == ["schtasks", "/Run", "/TN", "ActiveSec"]
    # quoted: `setx ACTIVESEC_HOME C:\Users\J Doe\as` is refused ("Invalid syntax")
    assert f'`setx ACTIVESEC_HOME "{(tmp_path / "my h").resolve()}"`' in result.detail
    raw = result.path.read_bytes()
    assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with BOM, as schtasks expects
    root = ET.parse(result.path).getroot()  # the declared encoding matches the bytes
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", NS).text == r"PC\alice"  # type: ignore[union-attr]


# -- after the agent stopped ----------------------------------------------------------------------
def test_status_says_why_the_agent_stopped(tmp_path: Path, exe: Path) -> None:
    """The reason the agent left (a real file in the data folder named by ACTIVESEC_HOME, as
    the unit carries it) is in status while the agent does not run, with the restart command."""
    (tmp_path / "sd").mkdir()
    env = {"ACTIVESEC_HOME": str(tmp_path / "state")}
    kw = dict(base=tmp_path, environ=env, platform="linux", systemd_dir=tmp_path / "sd")
    assert install("systemd", str(exe), runner=Recorder(), **kw).ok
    p = paths.resolve(tmp_path / "state")
    stopped.record(p, ConfigError("invalid configuration value for 'store.keep_days'",
                                  "set it to 0 or more"), EX_CONFIG)
    down = status("systemd", runner=Recorder(rc=3), **kw)
    assert down.running is False and down.stopped == stopped.read(p)
    assert down.detail.startswith(f"installed at {down.path}, not running; the agent stopped at ")
    assert "'store.keep_days' — set it to 0 or more; after fixing it" in down.detail
    assert down.detail.endswith("`activesec service restart`")
    up = status("systemd", runner=Recorder(), **kw)  # running: a reason left is not shown
    assert up.running and up.stopped is None and "stopped" not in up.detail
    # ... unless the running service is an agent waiting for the file (run --wait-for-fix)
    stopped.record(p, ConfigError("invalid configuration value for 'store.keep_days'"),
                   EX_CONFIG, waiting=True)
    waiting = status("systemd", runner=Recorder(), **kw)
    assert waiting.running and waiting.stopped == stopped.read(p)
    assert "the agent has been waiting since " in waiting.detail
    assert "starts by itself" in waiting.detail and "service restart" not in waiting.detail


def test_launchd_status_tells_a_loaded_job_from_a_running_agent(tmp_path: Path,
                                                                exe: Path) -> None:
    """`launchctl print` succeeds for any loaded job: an agent that exited (between throttled
    restarts) was reported running, and the reason it stopped was hidden."""
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    env = {"ACTIVESEC_HOME": str(tmp_path / "state")}

    def launchctl(state: str) -> Recorder:  # `launchctl print gui/<uid>/<label>`, abridged
        return Recorder(stdout=f"gui/501/{LABEL} = {{\n\tactive count = 0\n\tstate = {state}"
                               "\n\tlast exit code = 2\n}\n")

    kw = dict(base=tmp_path, environ=env, platform="darwin")
    assert install("launchd", str(exe), runner=Recorder(), **kw).ok
    p = paths.resolve(tmp_path / "state")
    stopped.record(p, ConfigError("the event store is damaged"), EX_CONFIG)
    down = status("launchd", runner=launchctl("not running"), **kw)
    assert down.running is False and down.stopped == stopped.read(p)
    assert down.detail.startswith(f"installed at {down.path}, not running; the agent stopped")
    up = status("launchd", runner=launchctl("running"), **kw)
    assert up.running and up.stopped is None


def test_restart_clears_systemds_failed_state_first(tmp_path: Path, exe: Path) -> None:
    """After the start limit, systemd refuses a start until reset-failed; reset-failed itself
    fails harmlessly when nothing failed. The restart's own failure is reported."""
    (tmp_path / "sd").mkdir()
    kw = dict(base=tmp_path, platform="linux", systemd_dir=tmp_path / "sd")
    rec = Recorder()
    res = restart("systemd", runner=rec, **kw)
    assert res.ok and res.running
    assert rec.calls == [["systemctl", "--user", "reset-failed", UNIT_NAME],
                         ["systemctl", "--user", "restart", UNIT_NAME]]

    def only_restart_fails(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        rc = 1 if "restart" in argv else 0
        return subprocess.CompletedProcess(list(argv), rc, "", "Unit activesec.service not found.")

    res = restart("systemd", runner=only_restart_fails, **kw)
    assert not res.ok and res.detail.endswith("exited 1: Unit activesec.service not found.")
    res = restart("systemd", runner=Recorder(rc=1, stderr="Unit not loaded."), **kw)
    assert not res.ok and len(res.commands) == 2  # reset-failed's failure did not stop it
    none = restart("systemd", base=tmp_path, runner=refuse, platform="linux",
                   systemd_dir=tmp_path / "absent")
    assert not none.ok and "activesec run" in none.detail


def test_restart_on_launchd_and_task_scheduler(tmp_path: Path) -> None:
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    rec = Recorder()
    assert restart("launchd", base=tmp_path, runner=rec, platform="darwin").ok
    assert rec.calls == [["launchctl", "kickstart", "-k", f"gui/{os.getuid()}/{LABEL}"]]
    rec = Recorder()
    assert restart("task", base=tmp_path, runner=rec, platform="win32").ok
    assert rec.calls == [["schtasks", "/Query", "/TN", "ActiveSec", "/XML"],  # whose task?
                         ["schtasks", "/End", "/TN", "ActiveSec"],
                         ["schtasks", "/Run", "/TN", "ActiveSec"]]


# -- bad input ------------------------------------------------------------------------------------
def test_bad_kind_or_missing_exe_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown service kind"):
        Installer("cron", base=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        Installer("systemd", base=tmp_path, runner=refuse, platform="linux").install(
            str(tmp_path / "nope")
        )
    assert not (tmp_path / ".config").exists()


def test_status_when_not_installed(tmp_path: Path) -> None:
    st = Installer("systemd", base=tmp_path, runner=refuse, platform="linux").status()
    assert st.ok and not st.installed and st.detail.startswith("not installed")


# -- for every account ----------------------------------------------------------------------------
@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A folder every account can enter: pytest's tmp_path sits in a 0700 folder, which the
    --all-users check rightly refuses."""
    top = Path(tempfile.mkdtemp(prefix="activesec-public-"))
    try:
        top.chmod(0o755)
        yield top
    finally:
        shutil.rmtree(top)


@pytest.fixture
def public_exe(public_dir: Path) -> Path:
    """A launcher every account can run."""
    p = public_dir / "bin dir" / "activesec"
    p.parent.mkdir(mode=0o755)
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(0o755)
    return p


SYSTEMCTL = shutil.which("systemctl")


@pytest.mark.skipif(SYSTEMCTL is None, reason="systemctl not installed")
def test_systemd_for_every_account_is_a_global_unit(tmp_path: Path, public_exe: Path) -> None:
    """The real systemctl, in a temporary root: `--global enable` only edits files, so it works
    where systemd is not running (this container; a chroot building a machine image)."""
    root = tmp_path / "root"
    kw = dict(base=tmp_path / "admin", platform="linux", systemd_dir=tmp_path / "no-systemd",
              all_users=True, root=root)
    env = {"ACTIVESEC_HOME": str(tmp_path / "admins-own-state"), "PATH": os.environ["PATH"]}
    result = install("systemd", str(public_exe), environ=env, **kw)
    assert result.ok and result.running is None and result.enabled, result.detail
    assert result.path == root / "etc/systemd/user" / UNIT_NAME
    assert (result.path.stat().st_mode & 0o777) == 0o644  # every account's manager reads it
    assert "every account's next log-in" in result.detail
    assert result.commands == [["systemctl", "--root", str(root), "--global", "enable", UNIT_NAME]]
    wants = root / "etc/systemd/user/graphical-session.target.wants" / UNIT_NAME
    assert wants.is_symlink() and os.readlink(wants) == f"/etc/systemd/user/{UNIT_NAME}"
    unit = parse_unit(result.path.read_text())
    assert "Environment" not in unit["Service"]  # each account keeps its own data
    # an account's first log-in has no profile: plain `run` would refuse and be restarted
    assert unit["Service"]["ExecStart"].endswith(
        "/activesec\" run --init --notify-failure --wait-for-fix")
    assert not (tmp_path / "admin").exists()  # nothing in the admin's own home

    st = status("systemd", environ=env, **kw)
    assert st.installed and st.enabled and "for every account, enabled" in st.detail
    wants.unlink()  # disabled by hand: status says so (the check can fail)
    st = status("systemd", environ=env, **kw)
    assert st.installed and st.enabled is False and "not enabled" in st.detail
    install("systemd", str(public_exe), environ=env, **kw)

    policy = root / "etc/activesec/config.toml"
    policy.parent.mkdir(parents=True)
    policy.write_text("[enforced.train]\ntarget_far = 0.02\n")
    gone = uninstall("systemd", environ=env, **kw)
    assert gone.ok and not result.path.exists() and not wants.exists() and not gone.enabled
    # it says what it leaves: running agents, each account's data, the policy file
    assert len(gone.remains) == 3 and "left in place" in gone.detail
    assert "systemctl --user stop" in gone.remains[0]
    assert "~/.local/share/activesec" in gone.remains[1] and "activesec wipe" in gone.remains[1]
    assert str(policy) in gone.remains[2]
    again = uninstall("systemd", environ=env, **kw)
    assert again.ok and again.detail.startswith("not installed") and not again.remains
    assert not status("systemd", environ=env, **kw).enabled


def test_every_account_without_systemctl_or_rights(tmp_path: Path, public_exe: Path) -> None:
    kw = dict(runner=refuse, platform="linux", systemd_dir=tmp_path / "no-systemd",
              all_users=True, environ={"PATH": str(tmp_path / "no-tools")})
    result = install("systemd", str(public_exe), root=tmp_path, **kw)
    assert result.ok and "systemctl --global enable activesec.service" in result.detail
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # /etc cannot be made below a file: the write fails for real
    with pytest.raises(ConfigError) as exc:
        install("systemd", str(public_exe), root=blocked, **kw)
    assert "cannot write" in exc.value.message and "--all-users" in exc.value.hint


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_every_account_refuses_a_launcher_other_accounts_cannot_run(
    tmp_path: Path, public_dir: Path, public_exe: Path
) -> None:
    """A venv in root's or the admin's home (0700/0750): the unit would be installed and enabled,
    and every account's agent would fail at each log-in. Refused, with where to install."""
    kw = dict(runner=refuse, platform="linux", systemd_dir=tmp_path / "no-systemd",
              all_users=True, root=tmp_path / "root", environ={"PATH": ""})
    private = public_dir / "home" / "admin"
    (private / "venv/bin").mkdir(parents=True)
    private.chmod(0o750)
    launcher = private / "venv/bin/activesec"
    shutil.copy(public_exe, launcher)
    launcher.chmod(0o755)
    with pytest.raises(ConfigError) as exc:
        install("systemd", str(launcher), **kw)
    assert f"{private} is not open to other accounts (mode 0750)" in exc.value.message
    assert "/opt/activesec" in exc.value.hint
    assert not (tmp_path / "root").exists()  # nothing written

    # the launcher is open, but its interpreter (the venv's python) is not
    interp_dir = public_dir / "pyenv"
    interp_dir.mkdir(mode=0o700)
    interp = interp_dir / "python"
    interp.write_text("")
    interp.chmod(0o755)
    script = public_exe.parent / "activesec-script"
    script.write_text(f"#!{interp}\n")
    script.chmod(0o755)
    with pytest.raises(ConfigError, match=f"{interp_dir} is not open"):
        install("systemd", str(script), **kw)
    public_exe.chmod(0o750)  # not executable by others
    with pytest.raises(ConfigError, match="cannot be run by other accounts"):
        install("systemd", str(public_exe), **kw)
    assert Installer("systemd", base=tmp_path, runner=refuse, platform="linux",
                     systemd_dir=tmp_path / "no-systemd",
                     environ={}).install(str(launcher)).ok  # for one's own account: fine


def test_launchd_for_every_account(tmp_path: Path, public_exe: Path) -> None:
    exe = public_exe
    inst = Installer("launchd", runner=refuse, environ={"ACTIVESEC_HOME": "/x"},
                     platform="darwin", all_users=True, root=tmp_path)
    result = inst.install(str(exe))  # launchd loads it at each log-in: no command
    assert result.ok and result.path == tmp_path / "Library/LaunchAgents" / f"{LABEL}.plist"
    job = plistlib.loads(result.path.read_bytes())
    assert job["ProgramArguments"] == [str(exe), "run", "--init", "--notify-failure",
                                       "--wait-for-fix"]
    assert job["LimitLoadToSessionType"] == "Aqua"
    assert not {"StandardOutPath", "StandardErrorPath", "EnvironmentVariables"} & set(job)
    assert "for every account" in inst.status().detail
    assert inst.uninstall().ok and not result.path.exists()


def test_task_for_every_account_runs_as_whoever_logs_on(
    tmp_path: Path, public_exe: Path
) -> None:
    exe = public_exe
    text = task_xml(r"C:\Program Files\ActiveSec\activesec.exe", user=None)
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", NS) is None  # any account's log-on
    principal = root.find("t:Principals/t:Principal", NS)
    assert principal is not None and principal.find("t:UserId", NS) is None
    assert principal.find("t:GroupId", NS).text == "S-1-5-32-545"  # type: ignore[union-attr]
    rec = Recorder()
    env = {"PROGRAMDATA": str(tmp_path / "ProgramData"), "USERNAME": "admin"}
    result = Installer("task", runner=rec, environ=env, platform="win32",
                       all_users=True).install(str(exe))
    assert result.ok and result.path == tmp_path / "ProgramData/ActiveSec/activesec-logon-task.xml"
    assert rec.calls == [["schtasks", "/Create", "/XML", str(result.path), "/TN", "ActiveSec",
                          "/F"]]  # not /Run: that would start it in the administrator's session
    written = ET.parse(result.path).getroot()
    assert written.find("t:Principals/t:Principal/t:GroupId", NS) is not None
    args = written.find("t:Actions/t:Exec/t:Arguments", NS)
    assert args is not None and args.text == "run --init --notify-failure --wait-for-fix"


def test_task_for_every_account_starts_at_each_accounts_log_on() -> None:
    """Task Scheduler counts a task's instances whatever the account: IgnoreNew would skip
    the second account's log-on (fast user switching) while the first one's agent runs."""
    root = ET.fromstring(task_xml(r"C:\as\activesec.exe", user=None).split("\n", 1)[1])
    policy = root.find("t:Settings/t:MultipleInstancesPolicy", NS)
    assert policy is not None and policy.text == "Parallel"
    mine = ET.fromstring(task_xml(r"C:\as\activesec.exe", user=r"PC\a").split("\n", 1)[1])
    assert mine.find("t:Settings/t:MultipleInstancesPolicy", NS).text == "IgnoreNew"  # type: ignore[union-attr]


def test_task_for_every_account_refuses_a_launcher_in_the_admins_profile(
    tmp_path: Path,
) -> None:
    """Windows profiles admit only their account (and SYSTEM, administrators): the task for
    every account would fail for everyone else with Python installed "for me only" (the
    python.org default, %LOCALAPPDATA%\\Programs\\Python) or a venv based on it."""
    profile = tmp_path / "Users" / "admin"
    own = profile / "AppData/Local/Programs/Python/Python312/Scripts/activesec.exe"
    venv = tmp_path / "ActiveSec"
    shared = venv / "Scripts" / "activesec.exe"
    for exe in (own, shared):
        exe.parent.mkdir(parents=True)
        exe.write_bytes(b"MZ")
    (venv / "pyvenv.cfg").write_text(f"home = {own.parent.parent}\nversion = 3.12.1\n")
    env = {"PROGRAMDATA": str(tmp_path / "ProgramData"), "USERPROFILE": str(profile)}
    for exe in (own, shared):
        with pytest.raises(ConfigError, match="other accounts cannot open") as err:
            Installer("task", runner=refuse, environ=env, platform="win32",
                      all_users=True).install(str(exe))
        assert "install Python for all users" in err.value.hint
    (venv / "pyvenv.cfg").write_text("home = C:\\Program Files\\Python312\n")
    assert Installer("task", runner=Recorder(), environ=env, platform="win32",
                     all_users=True).install(str(shared)).ok
    # for one's own account, one's own profile is fine
    assert Installer("task", base=profile, runner=Recorder(), environ=env,
                     platform="win32").install(str(own)).ok


@pytest.mark.skipif(os.name != "posix", reason="POSIX launcher layout")
def test_the_launcher_beside_this_python_wins_over_path(tmp_path: Path) -> None:
    """`sudo /opt/activesec/bin/activesec service install`: sudo's PATH may hold an older
    system-wide activesec; the unit must start the one that was run."""
    venv_bin, other = tmp_path / "venv" / "bin", tmp_path / "usr-local-bin"
    venv_bin.mkdir(parents=True)
    other.mkdir()
    (venv_bin / "python").symlink_to(os.path.realpath(sys.executable))
    for d in (venv_bin, other):
        (d / "activesec").write_text("#!/bin/sh\nexit 0\n")
        (d / "activesec").chmod(0o755)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PATH": f"{other}:{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(
        [str(venv_bin / "python"), "-c",
         "from activesec.service.installers import find_exe; print(find_exe())"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str((venv_bin / "activesec").resolve())
    (venv_bin / "activesec").unlink()  # none beside it: the one on PATH
    r = subprocess.run(
        [str(venv_bin / "python"), "-c",
         "from activesec.service.installers import find_exe; print(find_exe())"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.stdout.strip() == str((other / "activesec").resolve()), r.stderr


# -- an install from an older version ------------------------------------------------------------
def _old(inst: Installer, exe: str, **kw: object) -> str:
    """What ``inst`` wrote before 2026-12-06: plain ``run``, no --notify-failure/--wait-for-fix."""
    if inst.kind == "systemd":
        return systemd_unit(exe, home=inst.home, args=("run",))
    if inst.kind == "launchd":
        return launchd_plist(exe, log_dir=str(kw["log_dir"]), home=inst.home, args=("run",))
    return task_xml(exe, user=inst.user, args=("run",))


def test_status_finds_a_unit_written_by_an_older_version(tmp_path: Path) -> None:
    """A real systemd user unit written by the generator of before 2026-12-06 is told apart from
    a current one, launcher path (spaces, %, $) and ACTIVESEC_HOME read back from the file."""
    exe = tmp_path / "my venv %h $X" / "activesec"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    state = tmp_path / "state 50%"
    env = {"ACTIVESEC_HOME": str(state)}
    inst = Installer("systemd", base=tmp_path, runner=refuse, environ=env, platform="linux",
                     systemd_dir=tmp_path / "no-systemd")
    assert inst.install(str(exe)).ok
    current = inst.status()
    assert current.installed and not current.outdated and "again" not in current.detail
    # asked without ACTIVESEC_HOME (another shell): the file's own home is what it is checked with
    assert not Installer("systemd", base=tmp_path, runner=refuse, environ={}, platform="linux",
                         systemd_dir=tmp_path / "no-systemd").status().outdated

    inst.path.write_text(_old(inst, str(exe)))
    old = inst.status()
    assert old.installed and old.outdated
    assert old.detail == (f"installed at {inst.path}; cannot query the service manager here; "
                          "that file differs from what this version of ActiveSec installs (it "
                          "lacks later fixes): run `activesec service install` again")
    assert "\n" not in old.detail
    inst.path.write_text("not a unit\n")  # hand-edited beyond recognition: not what we write
    assert inst.status().outdated
    assert inst.install(str(exe)).ok and not inst.status().outdated  # the fix it names works


def test_status_finds_an_old_unit_while_systemd_runs(tmp_path: Path, exe: Path) -> None:
    (tmp_path / "sd").mkdir()
    kw = dict(base=tmp_path, runner=Recorder(), environ={}, platform="linux",
              systemd_dir=tmp_path / "sd")
    inst = Installer("systemd", **kw)  # type: ignore[arg-type]
    assert inst.install(str(exe)).ok
    inst.path.write_text(_old(inst, str(exe)))
    st = status("systemd", **kw)
    assert st.running and st.outdated
    assert st.detail.startswith(f"installed at {inst.path}, running; that file differs")


def test_status_finds_an_old_launch_agent_and_task(tmp_path: Path, exe: Path) -> None:
    agent = Installer("launchd", base=tmp_path, runner=Recorder(), environ={}, platform="darwin")
    if hasattr(os, "getuid"):
        assert agent.install(str(exe)).ok
        assert not agent.status().outdated
        agent.path.write_text(_old(agent, str(exe),
                                   log_dir=tmp_path / "Library/Logs/activesec"))
        st = agent.status()
        assert st.outdated and st.detail.endswith("run `activesec service install` again")
    env = {"USERDOMAIN": "PC", "USERNAME": "alice"}
    task = Installer("task", base=tmp_path, runner=Recorder(), environ=env, platform="win32")
    assert task.install(str(exe)).ok
    assert not task.status().outdated
    # the account comes from the file: a status run with another USERNAME does not misread it
    assert not Installer("task", base=tmp_path, runner=Recorder(), environ={"USERNAME": "bob"},
                         platform="win32").status().outdated
    task.path.write_text(_old(task, str(exe)), encoding="utf-16")
    st = task.status()
    assert st.outdated and st.detail.endswith("run `activesec service install` again")


def test_a_task_file_with_windows_line_ends_is_current(tmp_path: Path, exe: Path) -> None:
    """On Windows ``write_text`` turns each ``\\n`` into CRLF: the file install just wrote must not
    read as outdated there (every ``service status`` and ``doctor`` said to install again)."""
    env = {"USERDOMAIN": "PC", "USERNAME": "alice"}
    task = Installer("task", base=tmp_path, runner=Recorder(), environ=env, platform="win32")
    assert task.install(str(exe)).ok
    text = task.path.read_bytes().decode("utf-16")
    task.path.write_bytes(text.replace("\n", "\r\n").encode("utf-16"))  # as Windows writes it
    assert not task.status().outdated
    task.path.write_bytes(_old(task, str(exe)).replace("\n", "\r\n").encode("utf-16"))
    assert task.status().outdated


def test_every_account_unit_from_an_older_version(tmp_path: Path, public_exe: Path) -> None:
    inst = Installer("systemd", all_users=True, root=tmp_path, runner=Recorder(), environ={},
                     platform="linux", systemd_dir=tmp_path / "no-systemd")
    assert inst.install(str(public_exe)).ok
    assert not inst.status().outdated
    inst.path.write_text(systemd_unit(str(public_exe), args=("run",)))  # before `run --init`
    assert inst.status().outdated


def test_doctor_says_the_service_file_is_outdated(tmp_path: Path, exe: Path) -> None:
    from activesec.cli.cmd_capture import _service_check

    kw = dict(base=tmp_path, environ={}, platform="linux", systemd_dir=tmp_path / "no-systemd",
              root=tmp_path / "machine", runner=refuse)
    assert _service_check(**kw) is None  # nothing installed: nothing to say
    inst = Installer("systemd", **kw)  # type: ignore[arg-type]
    inst.install(str(exe))
    check = _service_check(**kw)
    assert check.status == "ok"
    inst.path.write_text(_old(inst, str(exe)))
    check = _service_check(**kw)
    assert check.status == "warn" and check.name == "service"
    assert check.detail == (f"the log-in service file {inst.path} differs from what this version "
                            "of ActiveSec installs (it lacks later fixes)")
    assert check.hint == "run `activesec service install` again"


class Schtasks:
    """schtasks with a task registered as ActiveSec, defined by ``xml`` (None: none)."""

    def __init__(self, xml: str | None) -> None:
        self.xml = xml
        self.calls: list[list[str]] = []
        self.fail: set[str] = set()  # subcommands that fail

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[1] in self.fail:
            return subprocess.CompletedProcess(list(argv), 1, "", "ERROR: not running")
        if argv[1] == "/Query":
            if self.xml is None:
                return subprocess.CompletedProcess(list(argv), 1, "", "ERROR: cannot find it")
            return subprocess.CompletedProcess(list(argv), 0, self.xml, "")
        return subprocess.CompletedProcess(list(argv), 0, "", "")


@pytest.mark.parametrize("codec", ["cp1252", "latin-1"])
def test_every_accounts_task_is_recognised_in_utf_16_read_as_8_bit(
        tmp_path: Path, exe: Path, codec: str) -> None:
    """The task's XML declares UTF-16; should schtasks write it so to the pipe, the locale's
    8-bit decoding gives a NUL after each character and "ÿþ" first: the all-users task was
    then unparsed, taken for none, and an account's install replaced it for everyone."""
    xml = task_xml(r"C:\as\activesec.exe", user=None)
    garbled = ("\ufeff" + xml).encode("utf-16-le").decode(codec)
    assert "\x00" in garbled
    everyone = Schtasks(garbled)
    kw: dict[str, Any] = dict(base=tmp_path, environ={"USERDOMAIN": "PC", "USERNAME": "parent"},
                              platform="win32")
    with pytest.raises(ConfigError, match="every account's"):
        Installer("task", runner=everyone, **kw).install(str(exe))
    assert [c[1] for c in everyone.calls] == ["/Query"]  # nothing created


def test_an_accounts_own_install_leaves_every_accounts_task_alone(
        tmp_path: Path, exe: Path) -> None:
    """Task names are machine-wide: a parent who set up the family's task (--all-users) and
    then ran `service install` in their own (administrator) account replaced it with theirs
    (schtasks /Create /F) — no agent for the children any more —, and `service uninstall`
    there deleted it."""
    everyone = Schtasks(task_xml(r"C:\as\activesec.exe", user=None))
    env = {"USERDOMAIN": "PC", "USERNAME": "parent"}
    kw: dict[str, Any] = dict(base=tmp_path, environ=env, platform="win32")
    with pytest.raises(ConfigError, match="every account's"):
        Installer("task", runner=everyone, **kw).install(str(exe))
    assert [c[1] for c in everyone.calls] == ["/Query"]  # nothing created
    assert not Installer("task", runner=refuse, **kw).path.exists()
    result = Installer("task", runner=everyone, **kw).uninstall()
    assert result.ok and "left in place" in result.detail
    assert [c[1] for c in everyone.calls] == ["/Query", "/Query"]  # nothing deleted
    mine = Schtasks(task_xml(r"C:\as\activesec.exe", user=r"PC\parent"))  # an earlier own
    assert Installer("task", runner=mine, **kw).install(str(exe)).ok
    assert [c[1] for c in mine.calls] == ["/Query", "/Create", "/Run"]
    assert Installer("task", runner=mine, **kw).uninstall().ok
    # the agent the task started is stopped (/Delete alone leaves it running until log-off)
    assert [c[1] for c in mine.calls][-2:] == ["/End", "/Delete"]
    ended_nothing = Schtasks(task_xml(r"C:\as\activesec.exe", user=r"PC\parent"))
    ended_nothing.fail = {"/End"}  # no running instance: harmless
    assert Installer("task", runner=ended_nothing, **kw).install(str(exe)).ok
    assert Installer("task", runner=ended_nothing, **kw).uninstall().ok
    none = Schtasks(None)
    assert Installer("task", runner=none, **kw).install(str(exe)).ok
    assert [c[1] for c in none.calls] == ["/Query", "/Create", "/Run"]


@pytest.mark.skipif(SYSTEMCTL is None, reason="systemctl not installed")
def test_an_accounts_service_commands_see_every_accounts_unit(tmp_path: Path,
                                                              public_exe: Path) -> None:
    """After `sudo activesec service install --all-users`, an account's own `service status`
    said "not installed" and `service uninstall` "not installed" — while that unit (the same
    name, which the account's systemd loads) started its agent at every log-in. Now both say
    so, and an account's own install says that it takes the place of that unit for it."""
    root = tmp_path / "root"
    env = {"PATH": os.environ["PATH"]}
    machine = install("systemd", str(public_exe), environ=env, base=tmp_path / "admin",
                      platform="linux", systemd_dir=tmp_path / "no-systemd", all_users=True,
                      root=root)
    assert machine.ok, machine.detail
    home = tmp_path / "alice"
    runner = Recorder(rc=0)  # systemd runs in alice's session: is-active answers "running"
    kw = dict(base=home, environ={}, platform="linux", systemd_dir=tmp_path, root=root,
              runner=runner)
    st = status("systemd", **kw)
    assert st.installed and st.running and st.path == machine.path, st
    assert st.detail == (f"installed for every account at {machine.path} (`service install "
                         "--all-users`): it starts your agent at log-in, running")
    assert ["systemctl", "--user", "is-active", "--quiet", UNIT_NAME] in runner.calls
    assert not st.outdated
    machine.path.write_text(systemd_unit(str(public_exe), args=("run",)))  # an older version's
    st = status("systemd", **kw)
    assert st.outdated and "`sudo activesec service install --all-users` again" in st.detail
    install("systemd", str(public_exe), environ=env, base=tmp_path / "admin", platform="linux",
            systemd_dir=tmp_path / "no-systemd", all_users=True, root=root)

    gone = uninstall("systemd", **kw)
    assert gone.ok and gone.installed and machine.path.exists(), gone
    assert gone.detail.startswith(f"no unit of your own ({home}/.config/systemd/user/")
    assert (f"{machine.path}, every account's (`service install --all-users`), still starts "
            "your agent at log-in: an administrator removes it with `sudo activesec service "
            "uninstall --all-users`") in gone.detail

    own = install("systemd", str(public_exe), **kw)
    assert own.ok and own.path == home / ".config/systemd/user" / UNIT_NAME
    assert f"for you it takes the place of every account's {machine.path}" in own.detail
    st = status("systemd", **kw)
    assert st.path == own.path and st.detail.startswith(f"installed at {own.path}, running")
    gone = uninstall("systemd", **kw)
    assert gone.detail.startswith(f"removed {own.path}; {machine.path}, every account's")

    uninstall("systemd", environ=env, base=tmp_path / "admin", platform="linux",
              systemd_dir=tmp_path / "no-systemd", all_users=True, root=root)
    st = status("systemd", **kw)  # without it, the account's status is as before
    assert not st.installed and st.detail.startswith("not installed")


def test_an_accounts_launchd_commands_see_every_accounts_agent(tmp_path: Path,
                                                               public_exe: Path) -> None:
    """macOS after `sudo activesec service install --all-users`: an account's `service status`
    said "not installed" while /Library/LaunchAgents started its agent; its `service install`
    added a second plist of the same label (which one a log-in loads is not defined); its
    `service uninstall` booted the running agent out. launchctl stands in (no Mac here)."""
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX uid")
    root = tmp_path / "root"
    machine = Installer("launchd", runner=refuse, environ={}, platform="darwin",
                        all_users=True, root=root).install(str(public_exe))
    assert machine.ok, machine.detail
    home = tmp_path / "alice"
    running = Recorder(stdout=f"gui/501/{LABEL} = {{\n\tstate = running\n}}\n")
    kw = dict(base=home, environ={}, platform="darwin", root=root)
    st = status("launchd", runner=running, **kw)
    assert st.installed and st.running and st.path == machine.path, st
    assert st.detail == (f"installed for every account at {machine.path} (`service install "
                         "--all-users`): it starts your agent at log-in, running")
    assert running.calls == [["launchctl", "print", f"gui/{os.getuid()}/{LABEL}"]]

    with pytest.raises(ConfigError, match="every account's LaunchAgent") as caught:
        install("launchd", str(public_exe), runner=refuse, **kw)
    assert "service uninstall --all-users" in (caught.value.hint or "")
    assert not (home / "Library/LaunchAgents" / f"{LABEL}.plist").exists()

    gone = uninstall("launchd", runner=refuse, **kw)  # no bootout of everyone's agent
    assert gone.ok and machine.path.exists(), gone
    assert gone.detail.startswith(f"no LaunchAgent of your own ({home}/Library/LaunchAgents/")
    assert "still starts your agent at log-in" in gone.detail


def _crt_argv(line: str) -> list[str]:
    """A Windows command line split as the Microsoft C runtime splits it (CommandLineToArgvW;
    learn.microsoft.com, "Parsing C command-line arguments"): the program name ends at the
    next quote when it starts with one, else at the first space or tab, with no escapes;
    then arguments, where ``2n`` backslashes before a quote are ``n`` backslashes and the
    quote toggles quoting, ``2n+1`` are ``n`` and a literal quote, other backslashes are
    literal, and ``""`` inside quotes is one literal quote."""
    n = len(line)
    if line.startswith('"'):
        end = line.index('"', 1)
        argv, i = [line[1:end]], end + 1
    else:
        i = 0
        while i < n and line[i] not in " \t":
            i += 1
        argv = [line[:i]]
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return argv
        arg: list[str] = []
        quoted = False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                k = i
                while k < n and line[k] == "\\":
                    k += 1
                if k < n and line[k] == '"':
                    arg.append("\\" * ((k - i) // 2))
                    if (k - i) % 2:
                        arg.append('"')
                        k += 1
                else:
                    arg.append("\\" * (k - i))
                i = k
            elif line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    arg.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                arg.append(line[i])
                i += 1
        argv.append("".join(arg))


def test_crt_argv_follows_microsofts_examples() -> None:
    """_crt_argv, which the test below checks the task with, against Microsoft's examples."""
    for line, want in (
        ('p "abc" d e', ["p", "abc", "d", "e"]),
        (r'p a\\b d"e f"g h', ["p", r"a\\b", "de fg", "h"]),
        (r'p a\\\"b c d', ["p", r'a\"b', "c", "d"]),
        (r'p a\\\\"b c" d e', ["p", r"a\\b c", "d", "e"]),
        ('p a"b"" c d', ["p", 'ab" c d']),
        (r'"C:\Program Files\x.exe" run', [r"C:\Program Files\x.exe", "run"]),
        (r"C:\Program Files\x.exe run", [r"C:\Program", r"Files\x.exe", "run"]),
    ):
        assert _crt_argv(line) == want, line


@pytest.mark.parametrize("user", [r"PC\alice", None])
@pytest.mark.parametrize("exe", [r"C:\Program Files\Active Sec\activesec.exe",
                                 r"C:\ActiveSec\Scripts\activesec.exe"])
def test_task_command_line_gives_the_launcher_and_its_arguments(user: str | None,
                                                                exe: str) -> None:
    """Task Scheduler starts ``<Command> <Arguments>`` as one command line. The Command was the
    bare launcher path: under "C:\\Program Files" the program name ended at the space, and the
    launcher took "Files\\…" for its first argument (or CreateProcess ran C:\\Program.exe).
    Arguments holding spaces, quotes and trailing backslashes come back as given."""
    args = ("run", "--notify-failure", r"C:\My Data\state", 'say "hi"', "ends\\", r"a\\b", "")
    root = ET.fromstring(task_xml(exe, user=user, args=args).split("\n", 1)[1])
    command = root.find("t:Actions/t:Exec/t:Command", NS)
    arguments = root.find("t:Actions/t:Exec/t:Arguments", NS)
    assert command is not None and command.text and arguments is not None
    assert _crt_argv(f"{command.text} {arguments.text}") == [exe, *args]


def test_restart_leaves_other_accounts_agents_of_every_accounts_task_alone(
        tmp_path: Path) -> None:
    """`schtasks /End` stops every instance of a task (IRegisteredTask::Stop): an
    administrator's `service restart` under every account's task (--all-users) ended the agent
    of every account logged on — a child's session unprotected until its next log-on — to
    restart one. It now says so and ends nothing."""
    everyone = Schtasks(task_xml(r"C:\as\activesec.exe", user=None))
    res = restart("task", base=tmp_path, runner=everyone, platform="win32",
                  environ={"USERDOMAIN": "PC", "USERNAME": "parent"})
    assert not res.ok and "every account's" in res.detail and "activesec run" in res.detail
    assert [c[1] for c in everyone.calls] == ["/Query"]  # no /End, no /Run
    own = Schtasks(task_xml(r"C:\as\activesec.exe", user=r"PC\parent"))
    assert restart("task", base=tmp_path, runner=own, platform="win32",
                   environ={"USERDOMAIN": "PC", "USERNAME": "parent"}).ok
    assert [c[1] for c in own.calls] == ["/Query", "/End", "/Run"]
