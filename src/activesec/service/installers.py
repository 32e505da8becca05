"""Start the agent at user log-in: ``activesec service install | uninstall | status | restart``.

One mechanism per platform, always *per user* and *in the graphical session*, because input
capture needs the user's display (X11/Wayland), the Aqua session, or the interactive Windows
desktop:

* **systemd** (Linux): a user unit ``$XDG_CONFIG_HOME/systemd/user/activesec.service``
  (``~/.config/…`` when XDG_CONFIG_HOME is unset or relative), ordered after
  and bound to ``graphical-session.target`` (started by GNOME, KDE and other systemd-managed
  sessions, which also import ``DISPLAY``/``WAYLAND_DISPLAY`` into the user manager), restarted
  on failure — not on exit status 78 (a configuration error), and not after ten starts in five
  minutes (:func:`systemd_unit`). Enabled with ``systemctl --user enable --now`` when systemd
  runs; otherwise the file is written and the result says how to start the agent.
* **launchd** (macOS): a LaunchAgent ``~/Library/LaunchAgents/org.activesec.agent.plist``
  loaded in the Aqua session, run at load, restarted after a crash (not after a clean exit),
  stdout/stderr in ``~/Library/Logs/activesec``. ``KeepAlive`` cannot exempt an exit status, so
  a configuration error is retried too, at most every ``THROTTLE_S`` (30 s). Loaded with
  ``launchctl bootstrap gui/<uid>``, after ``bootout`` of the job an earlier install loaded
  (bootstrap refuses a loaded job).
* **task** (Windows): a Task Scheduler log-on task running with the user's interactive token —
  not a Windows service: services live in session 0, where input hooks see no user input.
  Registered with ``schtasks /Create /XML <file> /TN ActiveSec``. ``ACTIVESEC_HOME`` is not
  carried into the task (tasks see the user's persistent environment): use ``setx``. The
  console launcher opens a console window at log-on (known limitation). An agent that exits
  (crashes, or fails to start) is *not* started again until the next log-on or ``service
  restart``: ``RestartOnFailure`` (3 tries, a minute apart) only retries a task that could not
  be launched — a start condition not met, the launcher missing — not a process that ended
  with an error ([MS-TSCH] 2.5.4.2); ``--notify-failure`` tells the user.

Whatever the platform, the agent leaves why it stopped for ``service status``, ``status`` and
``doctor`` (:mod:`activesec.service.stopped`), and ``service restart`` starts it again through
the service manager once it is fixed (systemd: ``reset-failed`` first, which a start limit
hit needs; launchd: ``kickstart -k``; Task Scheduler: ``/End`` then ``/Run``).

**For every account** (``--all-users``, run as root / an administrator; a fleet or a family
machine): ``activesec run --init`` (an account's first log-in creates its profile), started at
each user's own log-in with that user's own data —
``/etc/systemd/user/activesec.service`` enabled with ``systemctl --global enable``,
``/Library/LaunchAgents/org.activesec.agent.plist`` (launchd loads it in every Aqua session), or
the log-on task for the built-in Users group (``%ProgramData%\\ActiveSec``). Files are 0644 (every
account reads them); ``ACTIVESEC_HOME`` is not carried over (each account keeps its own data).
``systemctl --global`` only edits files, so it runs wherever systemctl is installed (also when
systemd is not running: an image being built; ``root`` other than ``/`` adds ``--root``). A
launcher other accounts cannot run (a venv in a 0700/0750 home) is refused
(:func:`unreachable_for_others`). Uninstalling names what it leaves (``remains``): agents in
open sessions, each account's data, the policy file. Pair it with the machine policy file
(:mod:`activesec.core.site`).

The generators (:func:`systemd_unit`, :func:`launchd_plist`, :func:`task_xml`) are pure
functions returning text. :class:`Installer` does the I/O with an injectable ``base`` (the
user's home directory) and ``runner``, so tests never touch the real user's configuration.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import plistlib
import re
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PureWindowsPath
from typing import Any, Literal

from activesec.core.errors import EX_CONFIG, ConfigError
from activesec.core.paths import make_private_dirs
from activesec.core.paths import resolve as resolve_paths
from activesec.core.site import platform_file
from activesec.service.stopped import describe
from activesec.service.stopped import read as read_stopped

Kind = Literal["systemd", "launchd", "task"]
KINDS: tuple[str, ...] = ("systemd", "launchd", "task")

UNIT_NAME = "activesec.service"
LABEL = "org.activesec.agent"
TASK_NAME = "ActiveSec"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
USERS_GROUP_SID = "S-1-5-32-545"  # BUILTIN\Users: every interactive account
TASK_PRIORITY = 5  # NORMAL_PRIORITY_CLASS, as an app started from the desktop (task_xml)
DESCRIPTION = "ActiveSec continuous authentication agent"
# what `run` adds under a service manager (Installer.args)
SERVICE_FLAGS = ("--notify-failure", "--wait-for-fix")
# systemd: retry a failure after RESTART_SEC, at most START_LIMIT_BURST starts per
# START_LIMIT_INTERVAL_S (systemd_unit); the defaults (5 per 10 s) never stop a 5 s loop
RESTART_SEC = 5
START_LIMIT_INTERVAL_S = 300
START_LIMIT_BURST = 10
# launchd restarts after any non-zero exit, 78 included (KeepAlive cannot exempt a status): one
# failing start costs ~0.6 s of CPU, so at most one per THROTTLE_S (launchd_plist)
THROTTLE_S = 30
# launchd: `bootstrap` refuses a job that is still loaded, and `bootout` may return before the
# old job is gone, so a reinstall's bootstrap is tried BOOTSTRAP_TRIES times, BOOTSTRAP_WAIT_S
# apart
BOOTSTRAP_TRIES = 5
BOOTSTRAP_WAIT_S = 1.0


# -- pure generators ------------------------------------------------------------------------------
def _systemd_word(word: str) -> str:
    """Quote one ExecStart word: ``%`` specifiers and ``$`` variables are escaped."""
    w = word.replace("%", "%%").replace("$", "$$")
    if any(c in w for c in " \t\"'\\;") or not w:
        w = '"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return w


def systemd_unit(
    exe: str,
    *,
    home: str | None = None,
    args: Sequence[str] = ("run",),
    target: str = "graphical-session.target",
) -> str:
    """The user unit that runs ``exe run`` in the graphical session.

    Restarted 5 s after a failure, except exit status 78 (``EX_CONFIG``: a configuration error,
    :mod:`activesec.core.errors`), which the same start would hit again: the unit stays failed
    and the agent's reason is in ``status``. A failure that persists otherwise (no display ever
    comes) ends at the start limit: ``START_LIMIT_BURST`` starts within
    ``START_LIMIT_INTERVAL_S`` — about a minute of retries at 5 s — then the unit is failed
    (``start-limit-hit``) instead of restarting every 5 s for the whole session; an agent that
    fails rarely (a crash an hour) is restarted every time. systemd >= 254 could instead
    lengthen the delay at each retry (``RestartSteps=``, ``RestartMaxDelaySec=``: 5 s up to
    minutes, retrying longer at less cost); Debian 12 and Ubuntu 22.04 ship 252 and 249, which
    reject those keys (``systemd-analyze verify``), so they are not used."""
    env = ""
    if home:
        value = f"ACTIVESEC_HOME={home}".replace("%", "%%")
        env = 'Environment="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"\n'
    exec_start = " ".join(_systemd_word(w) for w in (exe, *args))
    return (
        "[Unit]\n"
        f"Description={DESCRIPTION}\n"
        f"After={target}\n"
        f"PartOf={target}\n"
        f"StartLimitIntervalSec={START_LIMIT_INTERVAL_S}\n"
        f"StartLimitBurst={START_LIMIT_BURST}\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        f"{env}"
        "Restart=on-failure\n"
        f"RestartSec={RESTART_SEC}\n"
        f"# {EX_CONFIG}: a configuration error; fix it, then `activesec service restart`\n"
        f"RestartPreventExitStatus={EX_CONFIG}\n"
        "\n"
        "[Install]\n"
        f"WantedBy={target}\n"
    )


def launchd_plist(
    exe: str,
    *,
    log_dir: str | None,
    home: str | None = None,
    args: Sequence[str] = ("run",),
) -> str:
    """The LaunchAgent property list (XML) that runs ``exe run`` in the user's Aqua session.
    ``log_dir=None`` (a LaunchAgent for every account, which cannot name a per-user folder):
    stdout/stderr are not kept — the agent writes its own log in each user's log folder."""
    job: dict[str, object] = {
        "Label": LABEL,
        "ProgramArguments": [exe, *args],
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart after a crash, not after a clean exit
        "ThrottleInterval": THROTTLE_S,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }
    if log_dir is not None:
        job["StandardOutPath"] = str(Path(log_dir) / "agent.out.log")
        job["StandardErrorPath"] = str(Path(log_dir) / "agent.err.log")
    if home:
        job["EnvironmentVariables"] = {"ACTIVESEC_HOME": home}
    return plistlib.dumps(job, fmt=plistlib.FMT_XML).decode("utf-8")


def task_command(exe: str) -> str:
    """The task's ``<Command>`` for the launcher ``exe``: quoted when it holds a space or tab,
    as the Task Scheduler console quotes what it stores. The program gets the command line
    ``<Command> <Arguments>``; unquoted, ``C:\\Program Files\\…`` ends at the space there by
    the C runtime's rules — the launcher (pip's ``activesec.exe``), which finds its own
    arguments by skipping that first word, took ``Files\\…`` for the first argument, and
    ``CreateProcess``'s search for an unquoted path tries ``C:\\Program.exe`` first. A Windows
    path holds no ``"``, so the quotes need no escaping."""
    return f'"{exe}"' if any(c in exe for c in " \t") else exe


def task_xml(exe: str, *, user: str | None, args: Sequence[str] = ("run",)) -> str:
    """Task Scheduler XML: at ``user``'s log-on, run ``exe run`` with the interactive token;
    ``user=None``: at any account's log-on, as that account (the built-in Users group)."""
    ET.register_namespace("", TASK_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    task = ET.Element(f"{{{TASK_NS}}}Task", {"version": "1.2"})
    reg = sub(task, "RegistrationInfo")
    sub(reg, "Author", "ActiveSec")
    sub(reg, "Description", DESCRIPTION)
    sub(reg, "URI", "\\" + TASK_NAME)
    logon = sub(sub(task, "Triggers"), "LogonTrigger")
    sub(logon, "Enabled", "true")
    principal = sub(sub(task, "Principals"), "Principal", id="Author")
    if user is not None:
        sub(logon, "UserId", user)
        sub(principal, "UserId", user)
        sub(principal, "LogonType", "InteractiveToken")
    else:  # no UserId on the trigger: any log-on; a group principal runs as whoever logged on
        sub(principal, "GroupId", USERS_GROUP_SID)
    sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")
    # instances are counted per task, not per account: with IgnoreNew the task for every
    # account would not start at a second account's log-on while the first one's agent runs
    for tag, text in (
        ("MultipleInstancesPolicy", "IgnoreNew" if user is not None else "Parallel"),
        ("DisallowStartIfOnBatteries", "false"),
        ("StopIfGoingOnBatteries", "false"),
        ("AllowHardTerminate", "true"),
        ("StartWhenAvailable", "false"),
        ("RunOnlyIfNetworkAvailable", "false"),
        ("AllowStartOnDemand", "true"),
        ("Enabled", "true"),
        ("Hidden", "false"),
        ("RunOnlyIfIdle", "false"),
        ("ExecutionTimeLimit", "PT0S"),  # no limit: the agent runs for the whole session
        # 4-6 are for interactive tasks, 7 (the default) for background ones, which run with
        # BELOW_NORMAL_PRIORITY_CLASS (Priority (settingsType) Element, learn.microsoft.com).
        # The agent's input hooks must answer within LowLevelHooksTimeout, or Windows 7+
        # removes them silently (LowLevelKeyboardProc): a busy desktop must not starve them.
        ("Priority", str(TASK_PRIORITY)),
    ):
        sub(settings, tag, text)
    idle = sub(settings, "IdleSettings")
    sub(idle, "StopOnIdleEnd", "false")
    sub(idle, "RestartOnIdle", "false")
    restart = sub(settings, "RestartOnFailure")
    sub(restart, "Interval", "PT1M")
    sub(restart, "Count", "3")
    exec_ = sub(sub(task, "Actions", Context="Author"), "Exec")
    sub(exec_, "Command", task_command(exe))
    # one string, split by the program's C runtime (CommandLineToArgvW rules): list2cmdline
    sub(exec_, "Arguments", subprocess.list2cmdline(list(args)))
    ET.indent(task)
    body = ET.tostring(task, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + body + "\n"


class _Unset:
    """The default of :meth:`Installer.render`'s overrides (None is a value there)."""


UNSET = _Unset()
#: what `service status` and `doctor` say of a file :meth:`Installer.outdated` finds
OUTDATED_WHY = "differs from what this version of ActiveSec installs (it lacks later fixes)"
OUTDATED = f"that file {OUTDATED_WHY}: run `activesec service install` again"
OUTDATED_EVERYONE = (f"that file {OUTDATED_WHY}: an administrator runs `sudo activesec service "
                     "install --all-users` again")


def _systemd_unword(text: str, *, dollars: bool = True) -> tuple[str, str]:
    """The first word of a unit value as :func:`_systemd_word` wrote it, and the rest
    (``dollars=False``: an ``Environment=`` value, where only ``%`` is doubled)."""
    text = text.lstrip()
    if text.startswith('"'):
        out, i = [], 1
        while i < len(text) and text[i] != '"':
            if text[i] == "\\" and i + 1 < len(text):
                i += 1
            out.append(text[i])
            i += 1
        word, rest = "".join(out), text[i + 1:]
    else:
        word, _, rest = text.partition(" ")
    word = word.replace("%%", "%")
    return (word.replace("$$", "$") if dollars else word), rest


def _installed_as(kind: str, text: str) -> tuple[str, str | None, str | None] | None:
    """(launcher, ACTIVESEC_HOME, task account) an installed file names; None when it is not
    a file ``install`` could have written."""
    try:
        if kind == "systemd":
            exe = home = None
            for line in text.splitlines():
                if line.startswith("ExecStart="):
                    exe = _systemd_unword(line[len("ExecStart="):])[0]
                elif line.startswith("Environment="):
                    value = _systemd_unword(line[len("Environment="):], dollars=False)[0]
                    if value.startswith("ACTIVESEC_HOME="):
                        home = value[len("ACTIVESEC_HOME="):]
            return (exe, home, None) if exe else None
        if kind == "launchd":
            job = plistlib.loads(text.encode("utf-8"))
            argv = job.get("ProgramArguments") or []
            env = job.get("EnvironmentVariables") or {}
            if not argv or not isinstance(argv[0], str) or not isinstance(env, dict):
                return None
            return argv[0], env.get("ACTIVESEC_HOME"), None
        root = ET.fromstring(text.split("\n", 1)[1] if text.startswith("<?xml") else text)
        ns = {"t": TASK_NS}
        command = root.find("t:Actions/t:Exec/t:Command", ns)
        user = root.find("t:Principals/t:Principal/t:UserId", ns)
        if command is None or not command.text:
            return None
        exe = command.text
        if len(exe) > 1 and exe[0] == exe[-1] == '"':  # task_command quoted it
            exe = exe[1:-1]
        return exe, None, user.text if user is not None else None
    except (ValueError, ET.ParseError, plistlib.InvalidFileException, AttributeError):
        return None


# -- I/O -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceResult:
    """What install/uninstall/status did or found; ``detail`` is one line for the user."""

    kind: str
    path: Path
    ok: bool
    installed: bool
    running: bool | None
    detail: str
    commands: list[list[str]] = field(default_factory=list)
    enabled: bool | None = None  # --all-users: enabled for every account (None: not asked)
    remains: list[str] = field(default_factory=list)  # uninstall: what it leaves, and why
    # status: why the agent last stopped on an error (:mod:`activesec.service.stopped`), while
    # it is not running; None otherwise
    stopped: dict[str, Any] | None = None
    # status: the installed file differs from what install writes now (OUTDATED)
    outdated: bool = False


def default_kind(platform: str | None = None) -> Kind:
    p = platform or sys.platform
    if p == "win32":
        return "task"
    if p == "darwin":
        return "launchd"
    return "systemd"


def find_exe() -> str:
    """Absolute path of the ``activesec`` launcher this Python would run: the one beside this
    interpreter first (``sudo /opt/activesec/bin/activesec service install`` must not register
    an older ``activesec`` that happens to be first on root's PATH), else the one on PATH."""
    candidates = [
        Path(sys.executable).with_name("activesec"),
        Path(sys.executable).with_name("activesec.exe"),
        Path(sys.executable).parent / "Scripts" / "activesec.exe",
    ]
    found = shutil.which("activesec")
    if found:
        candidates.append(Path(found))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c.resolve())
    raise ConfigError(
        "cannot find the activesec executable to start at log-in",
        "install ActiveSec (pip install activesec) or pass its path with --exe",
    )


def unreachable_for_others(exe: Path, *, platform: str | None = None,
                           environ: Mapping[str, str] | None = None) -> str | None:
    """Why another account could not run ``exe`` (POSIX modes), or None. The unit of
    ``--all-users`` runs as each account that logs in, so the launcher, its interpreter (a
    venv's ``#!`` line) and every folder above them must be open to *others*: a venv in root's
    or the admin's home (0700/0750) is not, and every account's agent would fail at log-in.
    Windows: a launcher inside the installing account's profile (``%USERPROFILE%``, whose access
    list admits only that account, SYSTEM and the administrators) — Python installed "for me
    only" (``%LOCALAPPDATA%\\Programs\\Python``, the python.org installer's default), a venv
    there, or a venv elsewhere whose base Python (``pyvenv.cfg``'s ``home``) is there."""
    if (platform or sys.platform) == "win32":
        profile = (os.environ if environ is None else environ).get("USERPROFILE")
        if not profile:
            return None
        places = [str(exe)]
        with contextlib.suppress(OSError, ValueError):  # a venv runs its base Python (home)
            for line in (exe.parent.parent / "pyvenv.cfg").read_text("utf-8").splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "home" and value.strip():
                    places.append(value.strip())
        for place in places:
            if PureWindowsPath(place).is_relative_to(PureWindowsPath(profile)):
                return f"{place} is inside {profile}, which other accounts cannot open"
        return None
    if os.name != "posix":
        return None
    targets = [exe]
    try:
        with open(exe, "rb") as fh:
            first = fh.readline(4096)
    except OSError:
        first = b""
    if first.startswith(b"#!"):
        words = first[2:].decode("utf-8", "replace").split()
        if words and os.path.isabs(words[0]):
            targets.append(Path(words[0]))
    for target in targets:
        try:
            real = target.resolve(strict=True)
            mode = real.stat().st_mode
        except OSError as exc:
            return f"{target}: {exc.strerror}"
        # the folders of the path as written and, for a symlink (a venv's python), its target's
        for folder in (*reversed(Path(os.path.abspath(target)).parents), *reversed(real.parents)):
            try:
                fmode = folder.stat().st_mode
            except OSError:
                continue
            if not fmode & 0o001:
                return f"{folder} is not open to other accounts (mode {fmode & 0o777:04o})"
        if (mode & 0o005) != 0o005:
            return f"{real} cannot be run by other accounts (mode {mode & 0o777:04o})"
    return None


EVERYONE_HINT = (
    "install ActiveSec where every account can run it, e.g. `sudo python3 -m venv "
    "/opt/activesec && sudo /opt/activesec/bin/pip install .`, then `sudo "
    "/opt/activesec/bin/activesec service install --all-users`"
)
EVERYONE_HINT_WINDOWS = (
    "install Python for all users (C:\\Program Files\\Python3x), then from an elevated prompt "
    "`py -m venv C:\\ActiveSec && C:\\ActiveSec\\Scripts\\pip install activesec` (outside your "
    "profile) and `C:\\ActiveSec\\Scripts\\activesec service install --all-users`"
)


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


class Installer:
    """Install, remove or inspect the log-in service of one ``kind``.

    ``base`` is the user's home directory (default ``Path.home()``); ``runner`` runs
    systemctl/launchctl/schtasks (default ``subprocess.run``); ``environ`` is where
    ``ACTIVESEC_HOME`` is read; ``systemd_dir`` exists when systemd is the running init;
    ``platform`` decides whether the platform's tool is called at all. ``all_users``: the
    machine-wide form (module docstring) under ``root`` (default ``/``; Windows:
    ``%ProgramData%``). ``sleep`` waits between retries of a launchd bootstrap (a test seam).
    """

    def __init__(
        self,
        kind: str | None = None,
        *,
        base: str | os.PathLike[str] | None = None,
        runner: Runner | None = None,
        environ: Mapping[str, str] | None = None,
        platform: str | None = None,
        systemd_dir: str | os.PathLike[str] = "/run/systemd/system",
        user: str | None = None,
        all_users: bool = False,
        root: str | os.PathLike[str] = "/",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.platform = platform or sys.platform
        k = kind or default_kind(self.platform)
        if k not in KINDS:
            raise ConfigError(f"unknown service kind {k!r}", f"choose {', '.join(KINDS)}")
        self.kind: Kind = k  # type: ignore[assignment]
        self.base = Path(base) if base is not None else Path.home()
        self.runner = runner or _run
        self.environ = os.environ if environ is None else environ
        self._xdg_applies = base is None or environ is not None
        self.systemd_dir = Path(systemd_dir)
        self._user = user
        self.all_users = all_users
        self.root = Path(root)
        self._sleep = sleep

    # -- where things go ----------------------------------------------------------------------
    @property
    def path(self) -> Path:
        if self.all_users:
            if self.kind == "systemd":
                return self.root / "etc" / "systemd" / "user" / UNIT_NAME
            if self.kind == "launchd":
                return self.root / "Library" / "LaunchAgents" / f"{LABEL}.plist"
            data = self.environ.get("PROGRAMDATA")
            return ((Path(data) if data else self.root / "ProgramData") / "ActiveSec"
                    / "activesec-logon-task.xml")
        if self.kind == "systemd":
            return self._config_home / "systemd" / "user" / UNIT_NAME
        if self.kind == "launchd":
            return self.base / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        return self.base / "AppData" / "Local" / "activesec" / "activesec-logon-task.xml"

    def _everyones_unit(self) -> Path | None:
        """For one account: the file ``--all-users`` installed, when it is there. systemd: the
        same unit name, so it starts this account's agent at log-in unless the account's own
        file (which systemd prefers) takes its place. launchd: the same label, loaded into
        every Aqua session — an account's own plist beside it is a second job of that label,
        and which of the two a log-in loads is not defined."""
        if self.all_users or self.kind == "task":
            return None
        unit = (self.root / "etc" / "systemd" / "user" / UNIT_NAME if self.kind == "systemd"
                else self.root / "Library" / "LaunchAgents" / f"{LABEL}.plist")
        return unit if unit.is_file() else None

    @property
    def _config_home(self) -> Path:
        """``$XDG_CONFIG_HOME`` (where systemd looks for user units; the XDG spec ignores a
        relative value), else ``~/.config``. A ``base`` given without ``environ`` stands in for
        the whole home, so the process's own XDG_CONFIG_HOME does not apply to it."""
        xdg = self.environ.get("XDG_CONFIG_HOME", "") if self._xdg_applies else ""
        return Path(xdg) if xdg and os.path.isabs(xdg) else self.base / ".config"

    @property
    def home(self) -> str | None:
        if self.all_users:  # each account keeps its own data
            return None
        h = self.environ.get("ACTIVESEC_HOME")
        return str(Path(h).expanduser().resolve()) if h else None

    @property
    def user(self) -> str:
        if self._user:
            return self._user
        domain, name = self.environ.get("USERDOMAIN"), self.environ.get("USERNAME")
        return f"{domain}\\{name}" if domain and name else getpass.getuser()

    @property
    def args(self) -> tuple[str, ...]:
        """What the service runs: for every account ``run --init``, since an account's first
        log-in has no profile yet (plain ``run`` refuses that, and the service manager would
        restart it every few seconds for ever); and everywhere ``--notify-failure``, since no
        one reads the service's terminal (when the agent cannot start for a reason no restart
        fixes, the owner learns from a desktop notification that the session is unprotected),
        and ``--wait-for-fix``: an invalid configuration — a typo, or a machine policy pushed
        with a mistake — is waited out, so fixing the file restarts protection everywhere
        without a restart command or a new log-in."""
        flags = ("run", "--init") if self.all_users else ("run",)
        return (*flags, *SERVICE_FLAGS)

    def render(self, exe: str, *, home: str | _Unset | None = UNSET,
               user: str | _Unset | None = UNSET) -> str:
        """The file ``install`` writes for ``exe``; ``home``/``user`` default to this
        process's (``outdated`` passes the ones an installed file names instead)."""
        h = self.home if isinstance(home, _Unset) else home
        if self.kind == "systemd":
            return systemd_unit(exe, home=h, args=self.args)
        if self.kind == "launchd":
            if self.all_users:
                return launchd_plist(exe, log_dir=None, args=self.args)
            return launchd_plist(exe, log_dir=str(self._log_dir(h)), home=h, args=self.args)
        u = (None if self.all_users else self.user) if isinstance(user, _Unset) else user
        return task_xml(exe, user=u, args=self.args)

    def _log_dir(self, home: str | None) -> Path:
        """The LaunchAgent's folder for stdout/stderr (the agent's own log folder)."""
        return Path(home) / "logs" if home else self.base / "Library/Logs/activesec"

    def outdated(self) -> bool:
        """Does the installed file differ from what ``install`` would write now (with the
        launcher, ACTIVESEC_HOME and account that file names)? The generated content changes
        between versions (2026-12-06: ``--notify-failure --wait-for-fix``, exit 78 not
        restarted), and the service manager keeps running the old one until ``install`` runs
        again. A file that cannot be read or parsed is outdated too. False when none is
        installed."""
        try:
            if self.kind == "task":  # written in text mode: CRLF line ends on Windows
                text = self.path.read_bytes().decode("utf-16").replace("\r\n", "\n")
            else:
                text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        except (OSError, UnicodeError):
            return True
        named = _installed_as(self.kind, text)
        if named is None:
            return True
        exe, home, user = named
        return text != self.render(exe, home=home, user=user)

    def _native(self) -> bool:
        """Can the platform's service manager be called here? ``systemctl --global`` only
        edits files (no manager is asked), so it works where systemd is installed but not
        running: a container or chroot building a machine image."""
        if self.kind == "systemd":
            if not self.platform.startswith("linux"):
                return False
            if self.all_users:
                found = shutil.which("systemctl", path=self.environ.get("PATH", os.defpath))
                return self.systemd_dir.is_dir() or found is not None
            return self.systemd_dir.is_dir()
        return self.platform == ("darwin" if self.kind == "launchd" else "win32")

    def _call(self, argv: list[str], done: list[list[str]]) -> tuple[bool, str]:
        done.append(argv)
        try:
            proc = self.runner(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"{argv[0]}: {exc}"
        if proc.returncode != 0:
            text = (proc.stderr or proc.stdout or "").strip().splitlines()
            return False, f"`{' '.join(argv)}` exited {proc.returncode}" + (
                f": {text[-1]}" if text else ""
            )
        return True, ""

    # -- install / uninstall / status -----------------------------------------------------------
    def install(self, exe: str | None = None) -> ServiceResult:
        exe_path = Path(exe).expanduser() if exe else Path(find_exe())
        if not exe_path.is_absolute():
            exe_path = exe_path.resolve()
        if not exe_path.is_file():
            raise ConfigError(
                f"{exe_path} does not exist", "pass the path of the activesec executable"
            )
        if self.all_users:
            why = unreachable_for_others(exe_path, platform=self.platform, environ=self.environ)
            if why:
                raise ConfigError(f"every account would fail to start {exe_path}: {why}",
                                  EVERYONE_HINT_WINDOWS if self.platform == "win32"
                                  else EVERYONE_HINT)
        if self.kind == "launchd" and (plist := self._everyones_unit()) is not None:
            raise ConfigError(
                f"{plist} is every account's LaunchAgent (installed with --all-users): it "
                f"already starts the agent at your log-in, and a plist of your own with its "
                f"label {LABEL} would leave which of the two starts undefined",
                "keep it; or, to use one of your own, have an administrator run "
                "`sudo activesec service uninstall --all-users` first",
            )
        if self._everyones_task([]):
            raise ConfigError(
                f"the {TASK_NAME} log-on task on this machine is every account's (installed "
                "with --all-users): it already starts the agent at your log-in, and yours "
                "would replace it for everyone",
                "keep it; or, to use a task of your own, have an administrator run "
                "`activesec service uninstall --all-users` first",
            )
        text = self.render(str(exe_path))
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            if self.all_users:  # every account's service manager reads the folders too
                self.path.parent.mkdir(parents=True, exist_ok=True)
            else:  # the folders it makes in your home are private, as every other (README)
                make_private_dirs(self.path.parent)
                if self.kind == "launchd":  # launchd opens the log files, never makes a folder:
                    make_private_dirs(self._log_dir(self.home))  # the start fails without it
            tmp.write_text(text, encoding="utf-16" if self.kind == "task" else "utf-8")
            # every account's service manager reads it; launchd also refuses a plist that the
            # group or others may write, which a umask of 002 would have left
            tmp.chmod(0o644)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise ConfigError(
                f"cannot write {self.path}: {exc.strerror}",
                "run it as root / an administrator (sudo activesec service install --all-users)"
                if self.all_users else f"make {self.path.parent} writable by you",
            ) from None
        done: list[list[str]] = []
        if not self._native():
            return ServiceResult(
                self.kind, self.path, True, True, None,
                f"wrote {self.path}; {self._manual_start()}", done,
            )  # fmt: skip
        unloaded = False
        for argv, needed in self._install_commands():
            ok, why = self._call(argv, done)
            if argv[:2] == ["launchctl", "bootout"]:
                unloaded = ok
            elif argv[:2] == ["launchctl", "bootstrap"] and unloaded:
                for _ in range(BOOTSTRAP_TRIES - 1):  # the old job may not be gone yet
                    if ok:
                        break
                    self._sleep(BOOTSTRAP_WAIT_S)
                    ok, why = self._call(argv, done)
            if not ok and needed:
                return ServiceResult(
                    self.kind, self.path, False, True, False,
                    f"wrote {self.path} but {why}; {self._manual_start()}", done,
                )  # fmt: skip
        extra = ""
        everyones = self._everyones_unit()
        if everyones is not None:
            extra = (f"; for you it takes the place of every account's {everyones} (`service "
                     "uninstall` goes back to that one)")
        if self.all_users:
            return ServiceResult(
                self.kind, self.path, True, True, None,
                f"installed {self.path}: the agent starts at every account's next log-in",
                done, enabled=True,
            )  # fmt: skip
        if self.kind == "task" and self.home:
            extra += (
                "; the task does not inherit ACTIVESEC_HOME: run "
                f'`setx ACTIVESEC_HOME "{self.home}"`'  # quoted: setx refuses a path with spaces
            )
        return ServiceResult(
            self.kind, self.path, True, True, True,
            f"installed {self.path} and started the agent{extra}", done,
        )  # fmt: skip

    def uninstall(self) -> ServiceResult:
        done: list[list[str]] = []
        problems: list[str] = []
        if self._everyones_task(done):  # not yours to delete: every account's agent
            had_file = self.path.exists()
            with contextlib.suppress(OSError):
                self.path.unlink()
            return ServiceResult(
                self.kind, self.path, True, False, None,
                (f"removed {self.path}; " if had_file else "")
                + f"the {TASK_NAME} task registered here is every account's (installed with "
                "--all-users) and starts your agent too: left in place (an administrator "
                "removes it with `activesec service uninstall --all-users`)", done,
            )  # fmt: skip
        # launchd: booting out the label would stop the agent every account's plist started
        # (until the next log-in), though nothing of this account's is removed
        theirs = self.kind == "launchd" and not self.path.exists() and (
            self._everyones_unit() is not None)
        if self._native() and not theirs:
            for argv, needed in self._uninstall_commands():
                ok, why = self._call(argv, done)
                if not ok and needed and self.path.exists() and self._was_loaded(argv, done):
                    problems.append(why)
        existed = self.path.exists()
        if existed:
            try:
                self.path.unlink()
            except OSError as exc:
                raise ConfigError(f"cannot remove {self.path}: {exc.strerror}",
                                  "run it as root / an administrator") from None
        if self.kind == "systemd" and self._native() and existed and not self.all_users:
            self._call(["systemctl", "--user", "daemon-reload"], done)
        everyones = self._everyones_unit()
        detail = (f"removed {self.path}" if existed else f"not installed ({self.path} absent)"
                  if everyones is None else
                  f"no {'unit' if self.kind == 'systemd' else 'LaunchAgent'} of your own "
                  f"({self.path} absent)")
        if everyones is not None:  # it said "not installed" while this still started the agent
            detail += (f"; {everyones}, every account's (`service install --all-users`), still "
                       "starts your agent at log-in: an administrator removes it with `sudo "
                       "activesec service uninstall --all-users`")
        if problems:
            detail += "; " + "; ".join(problems)
        remains = self._remains() if existed else []
        if remains:
            detail += "; left in place: " + "; ".join(remains)
        return ServiceResult(self.kind, everyones or self.path, not problems,
                             everyones is not None, False, detail, done,
                             enabled=False if self.all_users else None, remains=remains)

    def _remains(self) -> list[str]:
        """What uninstalling does not touch, each with what to do about it: agents already
        running (for every account: in sessions open now) and the accounts' own data."""
        if not self.all_users:
            p = resolve_paths(self.home)
            folders = sorted({str(d) for d in (p.config_dir, p.data_dir, p.log_dir)})
            return [f"your profile and recordings in {', '.join(folders)} "
                    "(`activesec wipe` deletes the recordings and models; delete the folders "
                    "to remove everything)"]
        left = []
        if self.kind == "systemd":
            left.append(f"agents in sessions open now run until those sessions end (in one: "
                        f"`systemctl --user stop {UNIT_NAME}`)")
            where = "~/.config/activesec, ~/.local/share/activesec, ~/.local/state/activesec"
        elif self.kind == "launchd":
            left.append("agents in sessions open now run until those sessions end")
            where = ("~/Library/Application Support/activesec, ~/Library/Logs/activesec")
        else:
            # /Delete leaves them; /End (which ends every account's instance) needs the task
            left.append("agents in sessions open now run until those sessions end (with the "
                        "task gone `schtasks /End` no longer reaches them; to stop them all at "
                        f"once, run `schtasks /End /TN {TASK_NAME}` from an elevated prompt "
                        "before uninstalling: it ends the task's instance in every account's "
                        "session)")
            where = r"%LOCALAPPDATA%\activesec"
        left.append(f"each account's profile and recordings ({where} in its home; "
                    "`activesec wipe` as that account deletes the recordings and models)")
        policy = platform_file(self.platform, self.environ)
        if self.root.resolve() != Path("/").resolve() and policy.is_absolute():
            policy = self.root / policy.relative_to(policy.anchor)
        if policy.exists():
            left.append(f"the machine policy {policy} (delete it if no agent should follow it)")
        return left

    def status(self) -> ServiceResult:
        everyones = self._everyones_unit()
        if everyones is not None and not self.path.exists():
            return self._everyones_status(everyones)
        res = self._status()
        if res.installed and self.outdated():
            return replace(res, outdated=True, detail=f"{res.detail}; {OUTDATED}")
        return res

    def _everyones_status(self, unit: Path) -> ServiceResult:
        """An account's ``service status`` under the unit ``--all-users`` installed: it said
        "not installed" while that unit started the account's agent at every log-in."""
        machine = Installer(self.kind, runner=self.runner, environ=self.environ,
                            platform=self.platform, systemd_dir=self.systemd_dir,
                            all_users=True, root=self.root)
        done: list[list[str]] = []
        running: bool | None = None
        if self._native() and self.kind == "launchd":
            running = self._launchd_running(done)
        elif self._native():
            running, _ = self._call(["systemctl", "--user", "is-active", "--quiet", UNIT_NAME],
                                    done)
        why = self._stopped()
        if running and not (why and why.get("waiting")):
            why = None
        state = ("" if running is None else ", running" if running else ", not running")
        detail = (f"installed for every account at {unit} (`service install --all-users`): it "
                  f"starts your agent at log-in{state}"
                  + ("" if self._native() else "; cannot query the service manager here")
                  + (f"; the agent {describe(why)}" if why else ""))
        res = ServiceResult(self.kind, unit, True, True, running, detail, done, stopped=why)
        if machine.outdated():
            res = replace(res, outdated=True, detail=f"{res.detail}; {OUTDATED_EVERYONE}")
        return res

    def _status(self) -> ServiceResult:
        installed = self.path.exists()
        done: list[list[str]] = []
        if not installed:
            return ServiceResult(
                self.kind, self.path, True, False, False, f"not installed ({self.path} absent)",
                enabled=False if self.all_users else None,
            )
        if self.all_users:  # running, and why not, is each account's own
            return (self._machine_status(done) if self._native() else ServiceResult(
                self.kind, self.path, True, True, None,
                f"installed at {self.path}; cannot query the service manager here"))
        if not self._native():
            why = self._stopped()
            return ServiceResult(
                self.kind, self.path, True, True, None,
                f"installed at {self.path}; cannot query the service manager here"
                + (f"; the agent {describe(why)}" if why else ""), stopped=why,
            )  # fmt: skip
        if self.kind == "systemd":
            running, _ = self._call(
                ["systemctl", "--user", "is-active", "--quiet", UNIT_NAME], done
            )
        elif self.kind == "launchd":
            running = self._launchd_running(done)
        else:
            running, _ = self._call(["schtasks", "/Query", "/TN", TASK_NAME], done)
        state = "running" if running else "not running"
        if self.kind == "task":  # registered, not running: schtasks /Query does not say that
            state = "registered" if running else "not registered"
        why = self._stopped()  # a running service may be an agent waiting for a fixed file
        if running and self.kind != "task" and not (why and why.get("waiting")):
            why = None
        detail = f"installed at {self.path}, {state}"
        return ServiceResult(self.kind, self.path, True, True, running,
                             detail + (f"; the agent {describe(why)}" if why else ""), done,
                             stopped=why)

    def _everyones_task(self, done: list[list[str]]) -> bool:
        """Windows, per account: is the task registered as ``ActiveSec`` the all-users one
        (a group principal)? Task names are machine-wide: ``schtasks /Create /F`` by an
        administrator's own install would turn it into theirs — no agent for anyone else —,
        and their uninstall would delete it."""
        if self.kind != "task" or self.all_users or not self._native():
            return False
        argv = ["schtasks", "/Query", "/TN", TASK_NAME, "/XML"]
        done.append(argv)
        try:
            proc = self.runner(argv)
        except (OSError, subprocess.SubprocessError):
            return False
        if proc.returncode != 0 or not proc.stdout:
            return False  # none registered (or it cannot be read: schtasks will say)
        # the XML says it is UTF-16: if schtasks wrote it so to the pipe, what the locale's
        # 8-bit decoding made of it holds a NUL after every ASCII character and a byte-order
        # mark read as "ÿþ" — unparsed, an all-users task would pass for none and be replaced
        text = proc.stdout.replace("\x00", "").lstrip("\ufeff\xff\xfe")
        try:
            root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text))
        except ET.ParseError:
            return False
        return root.find(f"{{{TASK_NS}}}Principals/{{{TASK_NS}}}Principal/"
                         f"{{{TASK_NS}}}GroupId") is not None

    def _launchd_print(self, done: list[list[str]]) -> subprocess.CompletedProcess[str] | None:
        """``launchctl print`` of the job: it succeeds for any *loaded* job — also between the
        throttled restarts of an agent that keeps failing, or after it exited —, and fails
        for one launchd does not know. None when launchctl cannot be run."""
        argv = ["launchctl", "print", f"gui/{os.getuid()}/{LABEL}"]
        done.append(argv)
        try:
            return self.runner(argv)
        except (OSError, subprocess.SubprocessError):
            return None

    def _launchd_running(self, done: list[list[str]]) -> bool:
        """The job is loaded and its first ``state =`` line says the process runs."""
        proc = self._launchd_print(done)
        if proc is None or proc.returncode != 0:
            return False
        state = re.search(r"^\s*state = (.*?)\s*$", proc.stdout or "", re.MULTILINE)
        return state is not None and state.group(1) == "running"

    def _was_loaded(self, argv: Sequence[str], done: list[list[str]]) -> bool:
        """After a failed ``launchctl bootout``: was the job loaded? ``launchctl print`` fails
        for one launchd does not have (installed while no one was logged in, or booted out
        already) — nothing was left to stop, so uninstalling succeeded (it said "failed" while
        removing the file). True for any other command: its failure stands."""
        if argv[:2] != ["launchctl", "bootout"]:
            return True
        proc = self._launchd_print(done)
        return proc is None or proc.returncode == 0

    def _stopped(self) -> dict[str, Any] | None:
        """The reason the agent left when it last stopped on an error (the same data folder
        the service's agent uses: ACTIVESEC_HOME as installed, else the platform's)."""
        return read_stopped(resolve_paths(self.home))

    def restart(self) -> ServiceResult:
        """Start the agent again now (after fixing what stopped it): the service manager stops
        it if it runs, forgets a failed state that would refuse the start (systemd's start
        limit), and starts it. Whether the unit file is yours or every account's, it is your
        agent that restarts."""
        done: list[list[str]] = []
        if not self._native():
            return ServiceResult(self.kind, self.path, False, self.path.exists(), None,
                                 "cannot reach the service manager here: start the agent with "
                                 "`activesec run`")
        if self._everyones_task(done):
            # `schtasks /End` stops every instance of a task (IRegisteredTask::Stop): run by an
            # administrator, the agent of every account logged on, not only this one's
            return ServiceResult(
                self.kind, self.path, False, True, None,
                f"not restarted: the {TASK_NAME} task here is every account's (installed with "
                "--all-users), and ending it (`schtasks /End`) would stop the agent of every "
                "account logged on, not only yours; start yours with `activesec run` in your "
                "session, or log off and on again", done,
            )  # fmt: skip
        for argv, needed in self._restart_commands():
            ok, why = self._call(argv, done)
            if not ok and needed:
                return ServiceResult(self.kind, self.path, False, self.path.exists(), False,
                                     f"could not restart the agent: {why}", done)
        return ServiceResult(self.kind, self.path, True, True, True,
                             "restarted the agent; `activesec service status` says whether it "
                             "stays up", done)

    def _restart_commands(self) -> list[tuple[list[str], bool]]:
        """(argv, must succeed): clearing a failed state, or ending a task that does not
        run, may fail harmlessly."""
        if self.kind == "systemd":
            return [(["systemctl", "--user", "reset-failed", UNIT_NAME], False),
                    (["systemctl", "--user", "restart", UNIT_NAME], True)]
        if self.kind == "launchd":
            return [(["launchctl", "kickstart", "-k", f"gui/{os.getuid()}/{LABEL}"], True)]
        return [(["schtasks", "/End", "/TN", TASK_NAME], False),
                (["schtasks", "/Run", "/TN", TASK_NAME], True)]

    @property
    def _global(self) -> list[str]:
        """``systemctl`` options for every account, under ``root`` when it is not ``/``."""
        at_root = self.root.resolve() != Path("/").resolve()
        return (["--root", str(self.root)] if at_root else []) + ["--global"]

    def _machine_status(self, done: list[list[str]]) -> ServiceResult:
        """For every account: enabled/registered is what can be asked (running is per user)."""
        if self.kind == "launchd":  # launchd loads the file at each log-in: nothing to ask
            return ServiceResult(self.kind, self.path, True, True, None,
                                 f"installed at {self.path} for every account")
        argv = (["systemctl", *self._global, "is-enabled", "--quiet", UNIT_NAME]
                if self.kind == "systemd" else ["schtasks", "/Query", "/TN", TASK_NAME])
        on, _ = self._call(argv, done)
        state = "enabled" if self.kind == "systemd" else "registered"
        return ServiceResult(self.kind, self.path, True, True, None,
                             f"installed at {self.path} for every account, "
                             f"{state if on else 'not ' + state}", done, enabled=on)

    def _install_commands(self) -> list[tuple[list[str], bool]]:
        """(argv, must succeed): unloading a LaunchAgent that is not loaded fails harmlessly."""
        if self.all_users:
            if self.kind == "systemd":
                return [(["systemctl", *self._global, "enable", UNIT_NAME], True)]
            if self.kind == "launchd":
                return []
            return [(["schtasks", "/Create", "/XML", str(self.path), "/TN", TASK_NAME, "/F"],
                     True)]
        if self.kind == "systemd":
            return [
                (["systemctl", "--user", "daemon-reload"], True),
                (["systemctl", "--user", "enable", "--now", UNIT_NAME], True),
            ]
        if self.kind == "launchd":
            # a loaded job (an earlier install) makes bootstrap fail ("Bootstrap failed: 5:
            # Input/output error") and keeps running the old file: unload it first
            domain = f"gui/{os.getuid()}"
            return [(["launchctl", "bootout", f"{domain}/{LABEL}"], False),
                    (["launchctl", "bootstrap", domain, str(self.path)], True)]
        return [
            (["schtasks", "/Create", "/XML", str(self.path), "/TN", TASK_NAME, "/F"], True),
            (["schtasks", "/Run", "/TN", TASK_NAME], True),
        ]

    def _uninstall_commands(self) -> list[tuple[list[str], bool]]:
        """(argv, must succeed), as :meth:`_restart_commands`: ending a task that does not run
        may fail harmlessly (a failed ``launchctl bootout`` is judged by :meth:`_was_loaded`)."""
        if self.all_users:
            if self.kind == "systemd":
                return [(["systemctl", *self._global, "disable", UNIT_NAME], True)]
            if self.kind == "launchd":
                return []
            return [(["schtasks", "/Delete", "/TN", TASK_NAME, "/F"], True)]
        if self.kind == "systemd":
            return [(["systemctl", "--user", "disable", "--now", UNIT_NAME], True)]
        if self.kind == "launchd":
            return [(["launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"], True)]
        # /Delete unregisters the task but leaves the agent it started running until log-off
        # (systemd's --now and launchd's bootout stop theirs): /End stops it first
        return [(["schtasks", "/End", "/TN", TASK_NAME], False),
                (["schtasks", "/Delete", "/TN", TASK_NAME, "/F"], True)]

    def _manual_start(self) -> str:
        if self.all_users:
            if self.kind == "systemd":
                return (f"systemd is not running here: enable it for every account with "
                        f"`systemctl --global enable {UNIT_NAME}`")
            if self.kind == "launchd":
                return "launchd loads it at every account's next log-in"
            return f'register it with `schtasks /Create /XML "{self.path}" /TN {TASK_NAME}`'
        if self.kind == "systemd":
            return (
                "systemd is not running here: at your next graphical log-in run "
                f"`systemctl --user enable --now {UNIT_NAME}`, or start `activesec run` "
                "from your session's autostart"
            )
        if self.kind == "launchd":
            return f"load it with `launchctl bootstrap gui/$(id -u) {shlex.quote(str(self.path))}`"
        return f'register it with `schtasks /Create /XML "{self.path}" /TN {TASK_NAME}`'


def install(kind: str | None = None, exe: str | None = None, **kw: Any) -> ServiceResult:
    """Install and start the log-in service (``kind`` defaults to this platform's); keyword
    arguments are :class:`Installer`'s (``base``, ``runner``, ...)."""
    return Installer(kind, **kw).install(exe)


def uninstall(kind: str | None = None, **kw: Any) -> ServiceResult:
    """Stop and remove the log-in service; not installed is fine (``ok``, says so)."""
    return Installer(kind, **kw).uninstall()


def restart(kind: str | None = None, **kw: Any) -> ServiceResult:
    """Start the agent again now through the service manager (after a permanent error)."""
    return Installer(kind, **kw).restart()


def status(kind: str | None = None, **kw: Any) -> ServiceResult:
    """Is the log-in service installed, and (where the manager can be asked) running?"""
    return Installer(kind, **kw).status()
