"""App gating (parental controls): pause or close chosen applications while trust is low.

Rules name an application and what to do with it::

    [{name = "game", match = "supertux2", mode = "suspend"},
     {name = "browser", match = "firefox", mode = "close", grace_s = 5}]

* Each rule acts on its matching processes and on the processes they started (a game is a
  child of the store app a rule names; a browser's pages are its children), except one that
  another rule matches itself.
* ``suspend`` stops every matching process (SIGSTOP; ``NtSuspendProcess`` on Windows, through
  psutil) and ``revert`` resumes exactly those — never a process it did not stop itself, never
  one the user had already stopped, never a new process that reused the pid.
* ``close`` asks matching processes to quit (SIGTERM; on Windows ``taskkill`` without ``/F``,
  which asks the app to close as closing its windows would — psutil's ``terminate`` is
  ``TerminateProcess`` there, an immediate kill that never lets an app save) and kills those
  still alive ``grace_s`` later; closed apps cannot be restored (``revert`` says so).
  ``fire`` never waits for the grace: an app asking whether to save its work would otherwise
  hold the agent — scoring, status, other actions — for up to ``grace_s`` per rule (60 s
  each at most). The kill is done by the next ``fire`` or ``hold`` after the grace ends,
  which the agent calls every 2 s while gated; an app already asked to close is not asked
  again while it closes (many apps take a second request as "quit now, unsaved"), and a
  restore before its grace ends lets it finish closing by itself.

``match`` is a process name (``psutil.Process.name()``, or the file name of its executable),
compared case-insensitively and without a trailing ``.exe``; on Linux also as ``ps -e`` shows
a long one, cut to its first 15 characters. ``args`` (optional) narrows a rule to the
processes of that name whose command line holds it (case-insensitive, anywhere after the
program itself): a game run by an interpreter — ``{match = "java", args = "minecraft"}`` —
is gated without gating every other Java program. The command line is read only to test the
rule, never kept or logged. A process both a rule with ``args`` and one without match belongs
to the one with ``args``. An app that is not running is
fine — nothing to do, and the result says so. ``fire`` is idempotent: calling it again while
trust stays low also catches apps started since, and suspends again one it had suspended that
was resumed by hand (``kill -CONT``; not on Windows, where suspensions count and a process
psutil shows running may still be suspended, so one it suspended is never suspended twice).
The agent does so every few seconds from the gate to the restore (:meth:`GateAction.hold`), so
a game restarted or resumed meanwhile does not run.

Suspended processes are never left frozen by the agent's own end: stopping the action (the
agent's SIGTERM, ``activesec run`` ending) resumes them, and the list of what it suspended is
kept in ``state_file`` (default ``<run dir>/gated.json``, 0600) while any is suspended, so an
agent that was killed or crashed resumes them when it starts again — a new agent starts at full
trust and would not have gated them. (Gating runs in the gated account, which can always stop its
own agent; it keeps a child from playing while trust is low, it is not a security boundary.)

Never touched, whatever the rules say: ActiveSec's own process and its ancestors, its other
commands (``python3 -m activesec …``, the ``activesec`` script: the agent's trainer, the
parent's ``status``, the dashboard), pid 0/1,
kernel threads, the session leader, other users' processes, and system-critical programs
(:data:`PROTECTED_NAMES`: init, display servers and compositors, session and login managers).
A rule naming one of those is a :class:`~activesec.core.errors.ConfigError`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from activesec.actions import _proc
from activesec.actions.base import Action, ActionResult, Decision
from activesec.core import paths as core_paths
from activesec.core.errors import ConfigError

log = logging.getLogger(__name__)

STATE_FILE = "gated.json"

Mode = Literal["suspend", "close"]
MODES: tuple[str, ...] = ("suspend", "close")

#: Programs whose suspension would freeze or break the whole session (normalised names).
PROTECTED_NAMES = frozenset(
    {
        # init and system services
        "systemd", "init", "launchd", "dbus-daemon", "dbus-broker", "polkitd", "sshd",
        "login", "su", "sudo", "agetty",
        # display servers and compositors
        "xorg", "x", "xvfb", "xwayland", "xquartz", "gnome-shell", "mutter", "kwin_x11",
        "kwin_wayland", "plasmashell", "sway", "weston", "hyprland", "wayfire", "labwc",
        "river", "xfwm4", "openbox", "i3", "windowserver", "dwm", "csrss", "winlogon",
        # session and login managers, screen lockers
        "gdm", "gdm-session-worker", "gdm-x-session", "gdm-wayland-session", "sddm",
        "lightdm", "xdm", "gnome-session-binary", "gnome-session", "ksmserver",
        "xfce4-session", "lxsession", "loginwindow", "explorer", "lsass", "services",
        "smss", "wininit", "svchost", "logonui", "xscreensaver", "gnome-screensaver",
        "kscreenlocker_greet", "light-locker", "i3lock", "swaylock",
        # macOS's own desktop (the shell, as explorer is Windows'): frozen, no app can be
        # switched to, no menu extra or Control Center answers — and its lock screen
        "dock", "finder", "systemuiserver", "controlcenter", "screensaverengine",
    }
)  # fmt: skip


def normalise(name: str) -> str:
    n = name.strip().casefold()
    return n[:-4] if n.endswith(".exe") else n


@dataclass(frozen=True)
class GateRule:
    """One gated application: ``name`` labels it in messages, ``match`` finds its processes."""

    name: str
    match: str
    mode: Mode = "suspend"
    grace_s: float = 3.0
    args: str | None = None  # a text the process's arguments must hold (module docstring)

    def shown(self) -> str:
        """How messages quote what the rule matches: 'java' or 'java' with 'minecraft'."""
        return f"'{self.match}'" + (f" with '{self.args}'" if self.args else "")


def parse_rules(rules: Iterable[Mapping[str, Any] | GateRule]) -> tuple[GateRule, ...]:
    """Validate rules from the configuration; every problem is a one-line ConfigError."""
    if isinstance(rules, str | Mapping):  # iterating would yield its characters or keys
        kind = "a string" if isinstance(rules, str) else "one table"
        raise ConfigError(
            f"gate.rules must be a list of tables, got {kind}: {rules!r}",
            'write rules = [{ name = "games", match = "steam" }] (brackets around the '
            "tables, one per app)")
    out: list[GateRule] = []
    for i, raw in enumerate(rules):
        where = f"gate.rules[{i}]"
        if isinstance(raw, GateRule):
            raw = {"name": raw.name, "match": raw.match, "mode": raw.mode, "grace_s": raw.grace_s,
                   **({"args": raw.args} if raw.args else {})}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a table like {{name, match, mode}}, got {raw!r}")
        unknown = set(raw) - {"name", "match", "mode", "grace_s", "args"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                "valid keys: name, match, mode, grace_s, args",
            )
        args = raw.get("args")
        if args is not None and (not isinstance(args, str) or not args.strip()):
            raise ConfigError(
                f"{where}: 'args' must be a text its command line holds, got {args!r}",
                'e.g. { match = "java", args = "minecraft" }; leave args out to match by '
                "name alone")
        match = raw.get("match", raw.get("name"))
        if not isinstance(match, str) or not match.strip() or "/" in match or "\\" in match:
            raise ConfigError(
                f"{where}: 'match' must be a process name such as 'firefox', got {match!r}",
                "use the name shown by `ps -e` or Task Manager, without a path",
            )
        name = raw.get("name", match)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: 'name' must be a non-empty string, got {name!r}")
        mode = raw.get("mode", "suspend")
        if mode not in MODES:
            raise ConfigError(f"{where}: 'mode' must be 'suspend' or 'close', got {mode!r}")
        grace = raw.get("grace_s", 3.0)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= 60:
            raise ConfigError(f"{where}: 'grace_s' must be seconds in [0, 60], got {grace!r}")
        if normalise(match) in PROTECTED_NAMES:
            raise ConfigError(
                f"{where}: refusing to gate {match!r}, a system-critical process",
                "gate applications, not the display server, session or system services",
            )
        rule = GateRule(name.strip(), match.strip(), mode, float(grace),
                        args.strip() if args else None)
        for other in out:  # each process and each name belongs to one rule
            if other.name == rule.name:
                raise ConfigError(
                    f"{where}: another rule is already called {rule.name!r}",
                    "give each rule its own name (gate_apps picks rules by name; a rule "
                    "matches one app)")
            if normalise(other.match) == normalise(rule.match) and (
                    _folded(other.args) == _folded(rule.args)):
                raise ConfigError(
                    f"{where}: rule {other.name!r} already matches {rule.shown()}",
                    "one rule per app: keep the one whose mode you want (rules for one "
                    "program may differ in args)")
        out.append(rule)
    return tuple(out)


def _folded(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def _arguments(p: psutil.Process) -> str:
    """The process's arguments after the program, case-folded, for rules with ``args``; ""
    when they cannot be read. Only ever tested against the rules, never kept."""
    try:
        return " ".join(p.cmdline()[1:]).casefold()
    except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return ""


def _pick(rules: list[GateRule], p: psutil.Process) -> GateRule | None:
    """The rule a process of a matching name belongs to: the first whose ``args`` its
    arguments hold, else one without ``args``; None when each rule wants other arguments."""
    specific = [r for r in rules if r.args]
    if specific:
        argv = _arguments(p)
        for r in specific:
            if r.args is not None and r.args.casefold() in argv:
                return r
    return next((r for r in rules if not r.args), None)


#: Linux keeps a process's name (``comm``) to 15 characters, and that is what ``ps -e`` and
#: ``top`` show ("supertuxkart-la"); psutil gives the whole name. A rule may use either.
COMM_LEN = 15


def with_comm_names(names: set[str]) -> set[str]:
    """``names`` and, for a long one, its first :data:`COMM_LEN` characters, as ``ps -e``
    shows it (Linux)."""
    return names | {n[:COMM_LEN] for n in names if len(n) > COMM_LEN}


def _names(p: psutil.Process) -> set[str]:
    names = {normalise(p.name())}
    try:
        exe = p.exe()
        if exe:
            names.add(normalise(os.path.basename(exe)))
    except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
        pass
    return with_comm_names(names) if sys.platform.startswith("linux") else names


def protected_pids() -> set[int]:
    """ActiveSec itself, its ancestors, pid 0/1/2 and the session leader."""
    me = psutil.Process()
    pids = {0, 1, 2, me.pid, *(p.pid for p in me.parents())}
    if hasattr(os, "getsid"):
        pids.add(os.getsid(0))
    return pids


def _is_activesec(p: psutil.Process) -> bool:
    """One of ActiveSec's own commands: the agent's trainer, `status`, `pause`, the dashboard —
    a rule matching their interpreter (``python3``, for a game written in Python) froze the
    agent's training, and the parent's `activesec status`, mid-run."""
    try:
        argv = p.cmdline()
    except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return False
    for i, arg in enumerate(argv[:3]):
        if i and argv[i - 1] == "-m" and (arg == "activesec" or arg.startswith("activesec.")):
            return True
        base = normalise(os.path.basename(arg))
        if base in ("activesec", "activesec-script.py"):
            return True
    return False


def _is_foreign(p: psutil.Process, platform: str = sys.platform) -> bool:
    """Another user's process or a kernel thread: never ours to stop. Windows has no uids
    (psutil's ``uids`` is POSIX only): the owning account's name, and a process whose owner
    this account may not even read (another account's, a service's) is not its own either —
    it was gated like the rest there, and every attempt failed "no permission"."""
    if platform == "win32":
        try:
            return p.username() != _own_account()
        except psutil.AccessDenied:
            return True
    if p.uids().real != os.getuid():
        return True
    return platform.startswith("linux") and p.ppid() == 2


def _own_account() -> str:
    return str(psutil.Process().username())


def _account(p: psutil.Process) -> str:
    try:
        return p.username()
    except (psutil.Error, KeyError):  # no such user in the passwd file: its uid
        try:
            return f"uid {p.uids().real}"
        except (psutil.Error, AttributeError):  # Windows: no uids, its owner is not ours to read
            return "an account this one cannot read"


#: how :func:`foreign_note` begins (``doctor`` tells such a rule from a misspelt one by it)
FOREIGN = "runs only under another account"


def foreign_note(accounts: Mapping[str, list[int]]) -> str:
    """Why a rule gates nothing when its app runs only under other accounts."""
    who = "; ".join(f"{user} (pids {', '.join(map(str, sorted(pids)))})"
                    for user, pids in sorted(accounts.items()))
    return (f"{FOREIGN}, left alone: {who} — an agent gates only its "
            "own account's apps; the agent running in that account gates it (`sudo activesec "
            "service install --all-users` starts one in every account)")


def _status_of(pid: int, created: float) -> str | None:
    """The status of ``pid`` while it is still the process created at ``created``; None once
    it exited or the pid was reused."""
    try:
        p = psutil.Process(pid)
        return str(p.status()) if p.create_time() == created else None
    except psutil.Error:
        return None


def _alive(pid: int, created: float) -> bool:
    """Is ``pid`` still the process that was created at ``created`` (not exited, not reused)?"""
    return _status_of(pid, created) not in (None, psutil.STATUS_ZOMBIE)


def still_suspended(pid: int, created: float) -> bool:
    """Is ``pid`` still the process created at ``created``, and stopped?"""
    return _status_of(pid, created) == psutil.STATUS_STOPPED


class GateAction(Action):
    """Suspend or close the processes of configured applications; resume what it suspended.

    Parameters: ``rules`` (mappings or :class:`GateRule`), ``state_file`` (where the suspended
    pids are kept while the action is started; default ``<run dir>/gated.json``),
    ``process_iter`` (test seam: which processes to consider; default all of them);
    ``platform`` and ``runner`` (test seams: Windows asks apps to close through ``taskkill``).
    """

    name = "gate"
    seams = frozenset({"process_iter", "platform", "runner"})

    def __init__(
        self,
        *,
        rules: Iterable[Mapping[str, Any] | GateRule] = (),
        process_iter: Callable[[], Iterable[psutil.Process]] | None = None,
        dry_run: bool = False,
        state_file: str | os.PathLike[str] | None = None,
        platform: str | None = None,
        runner: _proc.Runner | None = None,
    ) -> None:
        super().__init__(dry_run=dry_run)
        self.rules = parse_rules(rules)
        self.platform = platform or sys.platform
        self.runner: _proc.Runner = runner or _proc.run
        if state_file is not None and (not isinstance(state_file, str | os.PathLike)
                                       or not str(state_file).strip()):
            raise ConfigError(f"gate.state_file must be a file path, got {state_file!r}",
                              "leave it out to keep the state in <data dir>/run/gated.json")
        self._process_iter = process_iter or psutil.process_iter
        self._state_arg = state_file
        #: what start() resumed that a killed agent had left suspended (the agent records it as
        #: the gate's end), else None
        self.resumed_at_start: str | None = None
        #: the file the suspended pids are kept in; set by start(), None before (no file).
        self.state_file: Path | None = None
        #: pid -> (create_time, rule name) for every process this action suspended.
        self._suspended: dict[int, tuple[float, str]] = {}
        #: what the state file holds now (None: unknown), so holding the gate every few
        #: seconds does not rewrite (and fsync) an unchanged file
        self._saved: dict[int, tuple[float, str]] | None = None
        self._hold_error = ""  # the last failure while holding, logged once
        #: pid -> (create_time, rule name, monotonic deadline) for every process this action
        #: asked to close and that has not exited yet: killed once the deadline has passed.
        self._closing: dict[int, tuple[float, str, float]] = {}
        #: pid -> rule name for every process asked to close (or killed) since the gate fired,
        #: so status can say which were closed (not "closed when started" as if none ran)
        self._closed: dict[int, str] = {}
        self._clock = time.monotonic

    # -- lifecycle: never leave an app frozen ---------------------------------------------------
    def _start(self) -> None:
        self.state_file = (Path(self._state_arg) if self._state_arg is not None
                           else core_paths.resolve().run_dir / STATE_FILE)
        left = self._read_state()
        if left:
            self._suspended = left
            result = self._revert(None)
            self.resumed_at_start = result.detail
            log.warning("gate: resumed apps a previous agent suspended and did not resume "
                        "(it was killed or crashed): %s", result.detail)

    def _stop(self) -> None:
        if self._suspended:
            log.info("gate: agent stopping, %s", self._revert(None).detail)

    def _read_state(self) -> dict[int, tuple[float, str]]:
        f = self.state_file
        if f is None or not f.exists():
            return {}
        try:
            raw = json.loads(f.read_text(encoding="utf-8"))
            return {int(e["pid"]): (float(e["create_time"]), str(e["rule"]))
                    for e in raw["suspended"]}
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            log.warning("gate: ignoring unreadable %s (%s); processes it listed stay as they "
                        "are (resume one with `kill -CONT PID`)", f, exc)
            return {}

    def _save_state(self) -> None:
        """Keep the file in step with ``_suspended``: written while any is suspended, removed
        after. Failing to write it (a full disk) is logged, never fatal to gating."""
        f = self.state_file
        if f is None or self._suspended == self._saved:
            return
        try:
            if self._suspended:
                core_paths.make_private_dir(f.parent)
                entries = [{"pid": pid, "create_time": ct, "rule": rule}
                           for pid, (ct, rule) in sorted(self._suspended.items())]
                core_paths.write_private_text(f, json.dumps({"suspended": entries}) + "\n")
            else:
                f.unlink(missing_ok=True)
            self._saved = dict(self._suspended)
        except OSError as exc:
            log.warning("gate: cannot keep %s up to date (%s): apps suspended now would stay "
                        "frozen if the agent were killed", f, exc)

    @property
    def suspended_pids(self) -> list[int]:
        return sorted(self._suspended)

    def held(self) -> list[dict[str, Any]]:
        """Per rule, what the gate does, which pids it holds suspended now (a suspended app
        killed meanwhile is no longer listed) and which it closed since it fired (for status)."""
        alive = [pid for pid, (created, _) in self._suspended.items() if _alive(pid, created)]
        return [{"app": r.name, "match": r.match, "args": r.args, "mode": r.mode,
                 "suspended_pids": sorted(pid for pid in alive
                                          if self._suspended[pid][1] == r.name),
                 "closed_pids": sorted(pid for pid, rule in self._closed.items()
                                       if rule == r.name)}
                for r in self.rules]

    # -- finding processes --------------------------------------------------------------------
    def chosen(self, decision: Decision | None) -> tuple[GateRule, ...]:
        """The rules a decision gates: those its ``apps`` evidence names (the policy's
        ``gate_apps``), all of them when it names none."""
        apps = decision.evidence.get("apps") if decision is not None else None
        if not apps or not isinstance(apps, list):
            return self.rules
        return tuple(r for r in self.rules if r.name in apps)

    def _matches(self, rules: tuple[GateRule, ...] | None = None
                 ) -> Iterator[tuple[GateRule, psutil.Process | None, str]]:
        """(rule, process, "") for each match; (rule, None, why) for a rule with none usable."""
        rules = self.rules if rules is None else rules
        protected = protected_pids()
        wanted: dict[str, list[GateRule]] = {}
        for r in rules:
            wanted.setdefault(normalise(r.match), []).append(r)
        found: dict[str, list[psutil.Process]] = {r.name: [] for r in rules}
        skipped: dict[str, int] = {r.name: 0 for r in rules}
        #: rule name -> account -> pids: another account's processes, never ours to touch
        foreign: dict[str, dict[str, list[int]]] = {r.name: {} for r in rules}
        for p in self._process_iter():
            try:
                names = _names(p)
                named = [r for n in names if n in wanted for r in wanted[n]]
                hit = _pick(named, p) if named else None
                if hit is None:
                    continue
                if p.pid in protected or names & PROTECTED_NAMES or _is_activesec(p):
                    skipped[hit.name] += 1
                    continue
                if _is_foreign(p, self.platform):
                    foreign[hit.name].setdefault(_account(p), []).append(p.pid)
                    continue
                if p.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped: nothing runs
                    continue
                found[hit.name].append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        direct = {p.pid for procs in found.values() for p in procs}
        for rule in rules:
            for p in found[rule.name] + self._descendants(found[rule.name], direct, protected,
                                                           self.platform):
                yield rule, p, ""
            if not found[rule.name]:
                why = "not running"
                if skipped[rule.name]:
                    why = f"only protected processes match ({skipped[rule.name]} left alone)"
                if foreign[rule.name]:
                    why = foreign_note(foreign[rule.name])
                yield rule, None, why

    @staticmethod
    def _descendants(procs: list[psutil.Process], taken: set[int], protected: set[int],
                     platform: str = sys.platform
                     ) -> list[psutil.Process]:
        """The processes ``procs`` started (and those they started), which the gate takes with
        them: a game runs as a child of the store app a rule names (Steam), a browser's pages in
        its children. Never one that is protected, another user's, or ``taken`` (matched or
        already listed: its own rule acts on it)."""
        out: list[psutil.Process] = []
        for parent in procs:
            try:
                children = parent.children(recursive=True)
            except psutil.Error:
                continue
            for c in children:
                try:
                    if (c.pid in taken or c.pid in protected or _names(c) & PROTECTED_NAMES
                            or _is_foreign(c, platform) or _is_activesec(c)
                            or c.status() == psutil.STATUS_ZOMBIE):
                        continue
                except psutil.Error:
                    continue
                taken.add(c.pid)
                out.append(c)
        return out

    def running(self) -> dict[str, list[int]]:
        """Rule name -> the pids it would act on now ([] for a rule matching nothing)."""
        return {name: pids for name, (pids, _) in self.survey().items()}

    def survey(self) -> dict[str, tuple[list[int], str]]:
        """Rule name -> (the pids it would act on now, why there are none: "" when there are
        some, "not running", or the processes it must leave alone — another account's)."""
        out: dict[str, tuple[list[int], str]] = {r.name: ([], "") for r in self.rules}
        for rule, p, why in self._matches():
            if p is not None:
                out[rule.name][0].append(p.pid)
            else:
                out[rule.name] = ([], why)
        return out

    # -- dry run ------------------------------------------------------------------------------
    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        if op == "revert":
            pids = ", ".join(map(str, self.suspended_pids)) or "none"
            return f"would resume the processes it suspended (pids {pids})"
        if not self.rules:
            return "no gate rules configured: nothing to do"
        rules = self.chosen(decision)
        if not rules:
            return self._none_chosen(decision)
        parts = []
        for rule, p, why in self._matches(rules):
            parts.append(f"{rule.mode} {rule.name}: " + (f"pid {p.pid}" if p else why))
        return "would " + "; ".join(parts)

    def _none_chosen(self, decision: Decision) -> str:
        return (f"no gate rule is called {', '.join(map(str, decision.evidence['apps']))} "
                f"(rules: {', '.join(r.name for r in self.rules)}): nothing gated")

    # -- ban / unban -------------------------------------------------------------------------
    def _fire(self, decision: Decision) -> ActionResult:
        if not self.rules:
            return ActionResult(True, "no gate rules configured: nothing to do")
        rules = self.chosen(decision)
        if not rules:
            return ActionResult(False, self._none_chosen(decision))
        done: dict[str, list[int]] = {}
        notes: list[str] = []
        errors: list[str] = []
        to_close: dict[str, list[psutil.Process]] = {}
        new: list[int] = []  # pids suspended or closed by this call
        for rule, p, why in self._matches(rules):
            if p is None:
                notes.append(f"{rule.name}: {why}")
                continue
            try:
                if rule.mode == "close":
                    closing = self._closing.get(p.pid)
                    if closing is None or closing[0] != p.create_time():
                        to_close.setdefault(rule.name, []).append(p)
                    continue
                ours = self._suspended.get(p.pid)
                stopped = p.status() == psutil.STATUS_STOPPED
                if ours is not None and ours[0] == p.create_time():
                    if stopped or self.platform == "win32":
                        # Windows: suspends count (SuspendThread: each adds one to every
                        # thread's suspend count, each resume takes one off) and psutil's
                        # "stopped" means every thread is seen suspended, which some never are
                        # (a thread in a kernel wait on a pipe): suspending "again" each hold
                        # piled up counts that the restore's one resume left frozen
                        done.setdefault(f"{rule.name} (already suspended)", []).append(p.pid)
                        continue
                    # resumed by hand (kill -CONT) while the gate holds: suspend it again
                    p.suspend()
                    done.setdefault(f"suspended {rule.name} again (resumed meanwhile)",
                                    []).append(p.pid)
                    new.append(p.pid)
                    continue
                if stopped:
                    notes.append(f"{rule.name}: pid {p.pid} was already stopped, left as is")
                    continue
                p.suspend()
                self._suspended[p.pid] = (p.create_time(), rule.name)
                done.setdefault(f"suspended {rule.name}", []).append(p.pid)
                new.append(p.pid)
            except psutil.NoSuchProcess:
                continue
            except psutil.AccessDenied:
                errors.append(f"{rule.name}: no permission to {rule.mode} pid {p.pid}")
        closed: dict[int, str] = {}
        for rule in self.rules:
            procs = to_close.get(rule.name)
            if procs:
                asked, error = self._terminate(procs, rule)
                if asked:
                    done[f"asked {rule.name} to close, killed if still running after "
                         f"{rule.grace_s:g} s"] = asked
                    closed.update(dict.fromkeys(asked, "terminated"))
                    new += asked
                if error:
                    errors.append(f"{rule.name}: {error}")
        for rule_name, pids in self._kill_overdue().items():
            done[f"killed {rule_name} (still running after its grace)"] = pids
            closed.update(dict.fromkeys(pids, "killed"))
            new += pids
        self._save_state()
        parts = [f"{what} (pids {', '.join(map(str, pids))})" for what, pids in done.items()]
        detail = "; ".join(parts + notes + errors) or "nothing to do"
        info = {"acted": dict(done), "closed": closed, "notes": notes, "errors": errors,
                "new_pids": sorted(new)}
        return ActionResult(not errors, detail, info)

    def hold(self, decision: Decision) -> ActionResult | None:
        """Fire again while the gate holds: the result when it suspended or closed anything
        (an app started since, or one resumed by hand), else None."""
        if self.dry_run:
            return None
        result = self.fire(decision)
        if result.info.get("new_pids"):
            return result
        if not result.ok and result.detail != self._hold_error:
            log.warning("gate: holding the gate: %s", result.detail)
        self._hold_error = "" if result.ok else result.detail
        return None

    def _terminate(self, procs: list[psutil.Process], rule: GateRule
                   ) -> tuple[list[int], str]:
        """Ask ``procs`` to close now and note when to kill them: (pids asked, error)."""
        asked: list[int] = []
        denied: list[int] = []
        deadline = self._clock() + rule.grace_s
        windows = self.platform == "win32"
        for p in procs:
            try:
                created = p.create_time()
                if not windows:
                    p.terminate()
            except psutil.NoSuchProcess:
                continue
            except psutil.AccessDenied:
                denied.append(p.pid)
                continue
            self._closing[p.pid] = (created, rule.name, deadline)
            self._closed[p.pid] = rule.name
            asked.append(p.pid)
        if windows and asked:
            self._ask_to_close_windows(asked)
        error = f"no permission to close pids {sorted(denied)}" if denied else ""
        return sorted(asked), error

    def _ask_to_close_windows(self, pids: list[int]) -> None:
        """Windows has no SIGTERM, and psutil's ``terminate`` is ``kill`` there
        (``TerminateProcess``: the app is gone at once, unsaved work lost, the grace moot).
        ``taskkill /PID ...`` without ``/F`` (forceful ending) asks each app to close instead,
        as closing its windows would; one that cannot be asked (no window: "can only be
        terminated forcefully") or does not close is killed when its grace ends, as on POSIX."""
        argv = ["taskkill", *(a for pid in sorted(pids) for a in ("/PID", str(pid)))]
        ok, why = _proc.try_run(self.runner, argv, 10.0)
        if not ok:
            log.info("gate: taskkill did not ask every app to close (%s): those still running "
                     "are killed when their grace ends", why)

    def _kill_overdue(self) -> dict[str, list[int]]:
        """Kill the processes asked to close whose grace has ended and that still run; forget
        those that exited. Rule name -> pids killed."""
        now = self._clock()
        killed: dict[str, list[int]] = {}
        for pid, (created, rule, deadline) in sorted(self._closing.items()):
            try:
                p = psutil.Process(pid)
                if p.create_time() != created or p.status() == psutil.STATUS_ZOMBIE:
                    del self._closing[pid]  # exited (the pid may be another process's now)
                elif now >= deadline:
                    del self._closing[pid]
                    p.kill()
                    killed.setdefault(rule, []).append(pid)
            except psutil.NoSuchProcess:
                self._closing.pop(pid, None)
            except psutil.AccessDenied:  # it was ours to terminate: should not happen
                self._closing.pop(pid, None)
                log.warning("gate: no permission to kill pid %d (%s)", pid, rule)
        return killed

    @property
    def closing_pids(self) -> list[int]:
        """Processes asked to close that had not exited when last looked at."""
        return sorted(self._closing)

    def _revert(self, decision: Decision | None) -> ActionResult:
        resumed: list[int] = []
        by_rule: dict[str, list[int]] = {}
        gone: list[int] = []
        errors: list[str] = []
        for pid, (created, rule) in sorted(self._suspended.items()):
            try:
                p = psutil.Process(pid)
                if p.create_time() != created:  # pid reused by another process: not ours
                    gone.append(pid)
                    continue
                p.resume()
                resumed.append(pid)
                by_rule.setdefault(rule, []).append(pid)
            except psutil.NoSuchProcess:
                gone.append(pid)
            except psutil.AccessDenied:
                errors.append(f"{rule}: no permission to resume pid {pid}")
                continue
        self._suspended = {
            pid: v for pid, v in self._suspended.items() if pid not in resumed and pid not in gone
        }
        self._save_state()
        closing = [r.name for r in self.rules if r.mode == "close"]
        parts = [f"resumed {rule} (pids {', '.join(map(str, pids))})"
                 for rule, pids in by_rule.items()] or ["nothing to resume"]
        if gone:
            parts.append(f"pids {', '.join(map(str, gone))} exited meanwhile")
        still = [pid for pid, (created, _, _) in sorted(self._closing.items())
                 if _alive(pid, created)]
        self._closing.clear()  # trust recovered: no kill after all
        self._closed.clear()
        if still:
            parts.append(f"pids {', '.join(map(str, still))} asked to close are left to finish "
                         "by themselves (not killed)")
        if closing:
            parts.append(f"closed apps are not restarted ({', '.join(closing)})")
        return ActionResult(
            not errors, "; ".join(parts + errors), {"resumed": resumed, "gone": gone}
        )
