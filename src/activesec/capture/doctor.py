"""``activesec doctor``: can capture run here, with which backend, and what to fix if not.

Each check is a :class:`Check` (``ok`` / ``warn`` / ``fail``, a one-line detail and, when
something is wrong, what to do). A ``fail`` means capture will not work as configured; a
``warn`` means it works with a limitation the user should know about. Platform calls (X
server, /dev/input, macOS permission queries, Windows session and elevation) are reached
through small injectable functions, so every branch is tested on any machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from activesec.capture.base import Probe
from activesec.capture.select import choose_backend, is_wayland
from activesec.core.errors import ActiveSecError, CaptureError, PolicyError

__all__ = [
    "INJECTING_TOOLS",
    "Check",
    "MacPermissions",
    "WindowsSession",
    "injector_check",
    "input_group_status",
    "mac_permissions",
    "outside_session",
    "process_session_env",
    "run_checks",
    "windows_session",
]

Status = Literal["ok", "warn", "fail"]

GRANT_MAC = (
    "System Settings > Privacy & Security > Accessibility and > Input Monitoring: enable the "
    "app that runs activesec (your terminal, or the activesec agent), then restart it"
)
INPUT_GROUP_HINT = (
    "sudo usermod -aG input $USER, then log out and back in (group changes apply at login)"
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str = ""


#: What a process needs of its desktop session to capture, lock and notify there.
SESSION_VARS = ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "XDG_SESSION_TYPE",
                "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
#: Set by sshd in the shells it starts (and kept by tools that run commands over it).
REMOTE_VARS = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")


def _has_display(env: Mapping[str, str]) -> bool:
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def outside_session(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """A remote shell with no display on Linux: `doctor` run over SSH, as an administrator
    monitoring machines does. The display there says nothing about the desktop session the
    agent captures in, so the display checks are not failures of this machine."""
    return (platform.startswith("linux") and not _has_display(env)
            and any(env.get(v) for v in REMOTE_VARS))


def process_session_env(pid: int, proc: str = "/proc") -> dict[str, str]:
    """The desktop-session variables (:data:`SESSION_VARS`) a process of this account runs
    with, read from Linux's ``/proc/PID/environ``; empty when it cannot be read (another
    account's process, no /proc) or holds no display."""
    try:
        raw = Path(proc, str(pid), "environ").read_bytes()
    except OSError:
        return {}
    found = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        key = name.decode("utf-8", "replace")
        if sep and key in SESSION_VARS and value:
            found[key] = value.decode("utf-8", "replace")
    return found if _has_display(found) else {}


NOT_CHECKED = ("not checked: this shell is outside the desktop session (SSH, no display) and "
               "no running agent lends it its session")
NOT_CHECKED_HINT = ("run `activesec doctor` in the desktop session, or again over SSH while the "
                    "agent runs there (doctor then checks the agent's session)")


#: The machine policy check when the policy makes the configuration invalid (a PolicyError):
#: the config check beside it holds the error itself.
INVALID_POLICY = Check("machine policy", "fail",
                       "the machine policy is invalid (the config check above says why)",
                       "ask whoever manages this machine to fix it")

#: Programs that deliver a person's own input by injecting it (XTEST, uinput, SendInput):
#: normalised process name -> what it is. With ``engine.scoring.injected = "distrust"`` (the
#: default) that input counts against its user.
INJECTING_TOOLS = {
    "onboard": "on-screen keyboard", "mousetweaks": "dwell clicking",
    "x11vnc": "VNC server", "x0vncserver": "VNC server", "x0tigervncserver": "VNC server",
    "barrierc": "keyboard and mouse sharing", "input-leapc": "keyboard and mouse sharing",
    "synergyc": "keyboard and mouse sharing", "synergy-core": "keyboard and mouse sharing",
    "teamviewer": "remote control", "teamviewerd": "remote control",
    "anydesk": "remote control", "rustdesk": "remote control",
    "espanso": "text expander", "autokey-gtk": "text expander", "autokey-qt": "text expander",
    "ydotoold": "input automation", "talon": "voice control",
    # Windows (SendInput) and macOS (CGEventPost)
    "osk": "on-screen keyboard", "autohotkey": "key remapping", "autohotkey64": "key remapping",
    "autohotkeyu64": "key remapping", "autohotkey32": "key remapping",
    "powertoys.keyboardmanagerengine": "key remapping",
    "bettertouchtool": "input automation", "keyboard maestro engine": "input automation",
}


def injector_check(injected_mode: str, process_names: Iterable[str]) -> Check | None:
    """Warn when a known injecting tool (:data:`INJECTING_TOOLS`) runs while injected input
    is distrusted: its user's own input through it would lower trust and lock them out. None
    when no such tool runs."""
    found = sorted({n for n in (name.lower().removesuffix(".exe") for name in process_names)
                    if n in INJECTING_TOOLS})
    if not found:
        return None
    tools = ", ".join(f"{n} ({INJECTING_TOOLS[n]})" for n in found)
    if injected_mode != "distrust":
        return Check("injected input", "ok", f"{tools} running; injected input is "
                     f"'{injected_mode}' (engine.scoring.injected)")
    return Check("injected input", "warn",
                 f"{tools} running: it injects input, and injected input is distrusted, so "
                 "input you give through it lowers trust and can lock you out",
                 'if you use it, set [engine.scoring] injected = "score" (judged by your '
                 'profile) or "ignore" in config.toml')


@dataclass(frozen=True)
class MacPermissions:
    """``None`` = could not be checked (pyobjc missing, or an older macOS)."""

    accessibility: bool | None
    input_monitoring: bool | None


@dataclass(frozen=True)
class WindowsSession:
    session_id: int | None
    elevated: bool | None


def mac_permissions() -> MacPermissions:
    ax: bool | None = None
    listen: bool | None = None
    with contextlib.suppress(Exception):
        from ApplicationServices import AXIsProcessTrusted

        ax = bool(AXIsProcessTrusted())
    with contextlib.suppress(Exception):
        import Quartz

        listen = bool(Quartz.CGPreflightListenEventAccess())
    return MacPermissions(ax, listen)


def windows_session() -> WindowsSession:
    sid: int | None = None
    elevated: bool | None = None
    with contextlib.suppress(Exception):
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        out = ctypes.c_ulong(0)
        if kernel32.ProcessIdToSessionId(kernel32.GetCurrentProcessId(), ctypes.pointer(out)):
            sid = int(out.value)
    with contextlib.suppress(Exception):
        elevated = bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
    return WindowsSession(sid, elevated)


def input_group_status(
    uid: int | None = None,
    process_gids: Sequence[int] | None = None,
    lookup: Callable[[str], Any] | None = None,
    user: str | None = None,
) -> str:
    """``root`` | ``active`` (this process has the group) | ``pending`` (the user was added
    but this login predates it) | ``missing`` | ``no-group``."""
    import grp
    import pwd

    uid = os.getuid() if uid is None else uid
    if uid == 0:
        return "root"
    lookup = lookup or grp.getgrnam
    try:
        group = lookup("input")
    except KeyError:
        return "no-group"
    gids = os.getgroups() if process_gids is None else process_gids
    if group.gr_gid in gids:
        return "active"
    if user is None:
        with contextlib.suppress(KeyError):
            user = pwd.getpwuid(uid).pw_name
    return "pending" if user and user in group.gr_mem else "missing"


def _default_probe(name: str, env: Mapping[str, str], dev_dir: str) -> Probe:
    if name == "x11":
        from activesec.capture.x11 import X11Backend

        return X11Backend.probe(env.get("DISPLAY"))
    if name == "evdev":
        from activesec.capture.evdev_backend import EvdevBackend

        return EvdevBackend.probe(dev_dir)
    if name == "pynput":
        from activesec.capture.pynput_backend import PynputBackend

        return PynputBackend.probe()
    return Probe(name, True)


def run_checks(
    settings: Any = None,
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    *,
    paths: Any = None,
    dev_dir: str = "/dev/input",
    probe: Callable[[str], Probe] | None = None,
    group_status: Callable[[], str] | None = None,
    mac: Callable[[], MacPermissions] = mac_permissions,
    win: Callable[[], WindowsSession] = windows_session,
    sections: Mapping[str, Any] | None = None,
) -> list[Check]:
    """All checks for this machine and session. ``settings=None`` loads (and checks) the
    configuration itself; ``sections``: defaults of config sections this layer cannot see
    (``engine``), so the config check also lists what the file sets unlike them."""
    from activesec.core import config
    from activesec.core import paths as core_paths

    if paths is None:
        paths = core_paths.resolve(env.get("ACTIVESEC_HOME") or None)
    raw_probe = probe or (lambda name: _default_probe(name, env, dev_dir))

    def safe_probe(name: str) -> Probe:  # a broken backend is a finding, not a doctor crash
        try:
            return raw_probe(name)
        except Exception as exc:
            return Probe(name, False, f"cannot check the {name} backend: {exc}",
                         "reinstall activesec with its dependencies")

    checks: list[Check] = []

    # -- configuration --------------------------------------------------------------------
    if settings is None:
        try:
            settings = config.load(paths)
        except ActiveSecError as exc:
            checks.append(Check("config", "fail", exc.message, exc.hint))
            if isinstance(exc, PolicyError):  # not "ok" by omission: it is the policy's fault
                checks.append(INVALID_POLICY)
        else:
            checks.append(_config_check(paths, env, sections))
    else:
        checks.append(_config_check(paths, env, sections))
    if settings is not None:
        checks.append(_policy_check(paths, env, platform))
    wanted = settings.capture.backend if settings is not None else "auto"

    # -- backend --------------------------------------------------------------------------
    chosen: str | None = None
    remote = outside_session(env, platform)
    if remote:  # evdev would be "chosen" here; the desktop session's agent may well use x11
        checks.append(Check("backend", "warn", NOT_CHECKED, NOT_CHECKED_HINT))
    else:
        try:
            chosen, why = choose_backend(wanted, env, platform, dev_dir)
            checks.append(Check("backend", "ok", f"{chosen}: {why}"))
        except CaptureError as exc:
            checks.append(Check("backend", "fail", exc.message, exc.hint))
    if chosen is not None:
        p = safe_probe(chosen)
        if p.available:
            ready = {"x11": "the X server has RECORD and XInput2",
                     "pynput": "pynput loads"}.get(chosen, "can start here")
            checks.append(Check(f"{chosen} backend", "ok", p.reason or ready))
        else:
            checks.append(Check(f"{chosen} backend", "fail", p.reason, p.hint))

    # -- platform ---------------------------------------------------------------------------
    if platform == "darwin":
        checks += _mac_checks(mac())
    elif platform == "win32":
        checks += _windows_checks(win())
    else:
        checks += _linux_checks(env, chosen, dev_dir, safe_probe, group_status, remote)

    # -- storage ----------------------------------------------------------------------------
    checks.append(_data_dir_check(paths, platform))
    checks.append(_free_space_check(paths))
    return checks


def _free_space_check(paths: Any) -> Check:
    """Room left for the store, its WAL and the log on the data directory's filesystem (a full
    disk shows up elsewhere only as SQLite's "disk I/O error")."""
    from activesec.core.paths import (
        FREE_SPACE_FAIL_BYTES,
        FREE_SPACE_WARN_BYTES,
        free_bytes,
        size_text,
    )

    d = paths.data_dir
    free = free_bytes(d)
    if free is None:
        return Check("free space", "warn", f"cannot tell how much space is free for {d}")
    detail = f"{size_text(free)} free for {d}"
    if free < FREE_SPACE_FAIL_BYTES:
        return Check("free space", "fail", f"only {detail}: the disk is (nearly) full, "
                     "the store and the log cannot be written",
                     "free disk space (or lower store.keep_days), or set ACTIVESEC_HOME to "
                     "another filesystem")
    if free < FREE_SPACE_WARN_BYTES:
        return Check("free space", "warn", f"only {detail}: capture stops when it runs out",
                     "free disk space or lower store.keep_days")
    return Check("free space", "ok", detail)


def _config_check(paths: Any, env: Mapping[str, str],
                  sections: Mapping[str, Any] | None) -> Check:
    """The loaded configuration, and ``ACTIVESEC_*`` variables that name no setting."""
    from activesec.core import config

    detail = _config_detail(paths, sections)
    unknown = config.unknown_env(env)
    if unknown:
        return Check("config", "warn", f"{detail}; ignored: {', '.join(unknown)} name(s) no "
                     "setting", "check the spelling: ACTIVESEC_<SECTION>__<KEY>, e.g. "
                     "ACTIVESEC_CAPTURE__BACKEND=x11")
    return Check("config", "ok", detail)


def _config_detail(paths: Any, sections: Mapping[str, Any] | None) -> str:
    """The config check's line: the file, and what it sets that differs from the defaults."""
    from activesec.core import config

    f = paths.config_file
    if not f.exists():
        return f"defaults (no {f} yet: `activesec init` writes one)"
    changed = config.changed_settings(paths, sections)
    if not changed:
        return f"valid ({f})"
    shown = ", ".join(f"{k} = {config.toml_value(v)} (default {config.toml_value(d)})"
                      for k, v, d in changed[:5])
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    return f"valid ({f}); differs from the defaults: {shown}{more}"


#: accounts that may own the policy file and its folder: root (an account owning them can
#: change what they enforce whatever their modes)
ADMIN_UIDS = frozenset({0})


def _writable_by_others(path: os.PathLike[str]) -> str | None:
    """Whether the policy file or its folder belongs to an account, not root (POSIX owners),
    or None: an [enforced] table that an account can edit (or replace) enforces nothing on it.
    The policy is refused before this is asked when another account could change it — it
    belongs to one, or others may write it or its folder (:func:`activesec.core.site
    .changeable_by_others`) —, so what is left to say is a policy the account itself owns."""
    if os.name != "posix":
        return None
    file = Path(path)
    for target in (file, file.parent):
        try:
            st = target.stat()
        except OSError:
            continue
        if st.st_uid not in ADMIN_UIDS:
            return (f"{target} is owned by {_account(st.st_uid)}, not root, so that account "
                    "can change what it enforces")
    return None


def _account(uid: int) -> str:
    """An account's login name and uid (the uid alone when it has no name)."""
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


#: settings with which an account's own config.toml keeps the agent from ever locking, each with
#: the value that does it and the one to enforce (the packaged default): a policy enforcing
#: ``on_lock`` alone (the README's said "the account cannot switch locking off") left them all
LOCK_SWITCHES = (
    ("engine.policy.locks", "false (no lock decision at all)", "true"),
    ("engine.policy.lock_below", "1 (a lock only once trust is all but gone)", "40.0"),
    ("engine.policy.grace_s", "a year (no decision after an unlock)", "30.0"),
    ("train.auto", "false (no model is trained, nothing scored)", "true"),
    ("enrol.pointer_events", "a billion (enrolment never completes)", "15000"),
    ("enrol.keystrokes", "a hundred million (enrolment never completes)", "2000"),
    ("capture.pointer", "false (nothing captured)", "true"),
    ("capture.keyboard", "false (nothing captured)", "true"),
)


def _lock_switches(policy: Any) -> tuple[str, str] | None:
    """(what is wrong, what to do) when the policy enforces a non-empty ``on_lock`` but leaves
    an account a setting of :data:`LOCK_SWITCHES` that switches locking off; None otherwise."""
    from activesec.core.site import dotted_keys, one_lock_level

    if not policy.enforced.get("actions", {}).get("on_lock"):
        return None
    enforced = set(dotted_keys(one_lock_level(policy.enforced)))
    free = [(k, how, v) for k, how, v in LOCK_SWITCHES if k not in enforced]
    if not free:
        return None
    return ("it enforces on_lock, but an account's own settings may still keep it from ever "
            "locking: " + ", ".join(f"{k} = {how}" for k, how, _ in free),
            f"enforce them too in {policy.path}: "
            + ", ".join(f"[enforced.{k.rsplit('.', 1)[0]}] {k.rsplit('.', 1)[1]} = {v}"
                        for k, _, v in free))


def _policy_check(paths: Any, env: Mapping[str, str], platform: str) -> Check:
    """The machine-wide policy file (:mod:`activesec.core.site`): what it enforces, and which of
    the user's own settings that overrides."""
    from activesec.core import config
    from activesec.core.site import dotted_keys, dotted_value, platform_file

    try:
        policy, clashes = config.overridden_by_policy(paths, env, platform)
    except ActiveSecError as exc:  # settings were handed in: the files were not read here
        return Check("machine policy", "fail", exc.message, exc.hint)
    if policy.path is None:
        return Check("machine policy", "ok",
                     f"none ({platform_file(platform, env)} does not exist)")
    enforced = policy.enforced_keys
    n_def = len(dotted_keys(policy.defaults))
    pinned = [f"{k} = {config.toml_value(dotted_value(policy.enforced, k))}" for k in enforced]
    what = f"enforces {', '.join(pinned)}" if pinned else "enforces nothing"
    detail = f"{policy.path}: {what}; {n_def} default(s)"
    found: list[tuple[str, str]] = []  # (what is wrong, what to do), all of them
    open_to = _writable_by_others(policy.path)
    if open_to:
        found.append((f"but {open_to}",
                      f"sudo chown root: {policy.path} {policy.path.parent} && sudo chmod go-w "
                      f"{policy.path} {policy.path.parent}"))
    if "actions.params.gate.rules" in enforced and "actions.on_gate" not in enforced:
        found.append(("it enforces gate rules, but an account's [actions] on_gate may leave "
                      "'gate' out, and then nothing is gated",
                      f'add on_gate = ["gate", "alertlog"] under [enforced.actions] in '
                      f"{policy.path}"))
    if "actions.params.gate.rules" in enforced and "engine.policy.gate_apps" not in enforced:
        found.append(("it enforces gate rules, but an account's [engine.policy] gate_apps may "
                      "still pick which of them apply",
                      f"add gate_apps = [] (every rule) under [enforced.engine.policy] in "
                      f"{policy.path}"))
    switches = _lock_switches(policy)
    if switches is not None:
        found.append(switches)
    if ("actions.params.alertlog.syslog" in enforced
            and "actions.params.alertlog.heartbeat_s" not in enforced):
        found.append(("it sends decisions to syslog, but not the agent's start, stop, pause and "
                      "heartbeat: the SIEM cannot tell a quiet agent from a killed or paused one",
                      f"add heartbeat_s = 3600 under [enforced.actions.params.alertlog] in "
                      f"{policy.path}"))
    if clashes:
        mine = ", ".join(f"{k} ({where})" for k, where in clashes)
        found.append((f"it overrides your {mine}",
                      "those settings are decided by the machine policy: remove them from your "
                      "config or environment, or ask whoever manages this machine"))
    if not found:
        return Check("machine policy", "ok", detail)
    return Check("machine policy", "warn", "; ".join([detail, *(w for w, _ in found)]),
                 "; ".join(h for _, h in found))


def _linux_checks(
    env: Mapping[str, str],
    chosen: str | None,
    dev_dir: str,
    probe: Callable[[str], Probe],
    group_status: Callable[[], str] | None,
    remote: bool = False,
) -> list[Check]:
    from activesec.capture.evdev_backend import NONE_EXIST_HINT, readable_devices

    out: list[Check] = []
    wayland = is_wayland(env)
    display = env.get("DISPLAY")
    if wayland:
        out.append(Check(
            "wayland", "warn",
            "Wayland session: input is read from /dev/input (evdev); pointer positions are "
            "integrated from relative motion and the foreground application is not known",
            "needs the 'input' group; an X11 session gives exact positions and app names",
        ))
    elif display:
        if chosen == "x11":  # its probe (connection, RECORD, XInput2) was reported above
            out.append(Check("display", "ok", f"X display {display} reachable"))
        else:
            p = probe("x11")
            status: Status = "ok" if p.available else "warn"
            detail = (f"X display {display} reachable, RECORD and XInput2 present"
                      if p.available else f"X display {display}: {p.reason}")
            out.append(Check("display", status, detail, "" if p.available else p.hint))
    elif remote:
        out.append(Check("display", "warn", NOT_CHECKED, NOT_CHECKED_HINT))
    else:
        out.append(Check("display", "warn" if chosen else "fail",
                         "no display: DISPLAY and WAYLAND_DISPLAY are unset",
                         "run activesec inside the desktop session"))

    readable, unreadable = readable_devices(dev_dir)
    # evdev is the chosen backend, or the only way left (no display at all)
    needed = chosen == "evdev" or (chosen is None and not remote)
    blocking = needed and not readable
    total = len(readable) + len(unreadable)
    gs = (group_status or input_group_status)()
    if readable:
        out.append(Check("input devices", "ok",
                         f"{len(readable)} of {total} {dev_dir}/event* devices readable"))
    else:
        why = f"{len(unreadable)} exist, none readable" if unreadable else "none exist"
        if needed:  # the 'input' group helps only where devices exist and it is not yet held
            hint = (NONE_EXIST_HINT if not unreadable else
                    f"see who may read them: ls -l {dev_dir}/event* (a udev rule can give the "
                    "'input' group access)" if gs in ("root", "active") else INPUT_GROUP_HINT)
            out.append(Check("input devices", "fail", f"no readable {dev_dir}/event* devices "
                             f"({why})", hint))
        else:
            whose = (f"not needed by the {chosen} backend" if chosen
                     else "needed only by the evdev backend (Wayland, a console)")
            out.append(Check("input devices", "ok", f"no readable {dev_dir}/event* devices "
                             f"({why}); {whose}"))

    if gs == "root":
        out.append(Check("input group", "ok",
                         "running as root: every existing device is readable"))
    elif gs == "active":
        out.append(Check("input group", "ok", "this login is in the 'input' group"))
    elif gs == "pending":
        out.append(Check("input group", "fail" if blocking else "warn",
                         "you were added to the 'input' group after this login started",
                         "log out and back in (or reboot) for it to apply"))
    elif gs == "missing":
        out.append(Check("input group", "fail" if blocking else "ok",
                         "not in the 'input' group"
                         + ("" if needed else " (only the evdev backend needs it)"),
                         INPUT_GROUP_HINT if blocking else ""))
    else:  # no-group
        out.append(Check("input group", "fail" if blocking else "ok",
                         "this system has no 'input' group",
                         "give your user read access to /dev/input/event* (a udev rule)"
                         if blocking else ""))
    return out


def _mac_checks(perm: MacPermissions) -> list[Check]:
    out = []
    for label, ok, why in (
        ("accessibility", perm.accessibility,
         "needed for the event taps that give event times and the injected flag"),
        ("input monitoring", perm.input_monitoring, "needed to see keyboard and pointer input"),
    ):
        if ok is None:
            out.append(Check(f"macOS {label}", "warn",
                             f"cannot check the {label} permission (pyobjc missing or older "
                             "macOS); without it capture sees no events", GRANT_MAC))
        elif ok:
            out.append(Check(f"macOS {label}", "ok", "granted"))
        else:
            out.append(Check(f"macOS {label}", "fail", f"not granted: {why}", GRANT_MAC))
    return out


def _windows_checks(ws: WindowsSession) -> list[Check]:
    out = []
    if ws.session_id == 0:
        out.append(Check(
            "windows session", "fail",
            "running in session 0 (a Windows service): input hooks see no user input there",
            "run the agent in the user's desktop session (a per-user logon task or the "
            "user's autostart), not as a system service",
        ))
    elif ws.session_id is not None:
        out.append(Check("windows session", "ok", f"interactive session {ws.session_id}"))
    if ws.elevated:
        out.append(Check("windows elevation", "ok",
                         "elevated: input to administrator windows is visible too"))
    else:
        out.append(Check(
            "windows elevation", "warn",
            "not elevated: input to elevated (administrator) windows is invisible to this "
            "agent (UIPI), so such periods look idle",
            "acceptable for most users; run the agent elevated to cover admin windows",
        ))
    return out


def _data_dir_check(paths: Any, platform: str) -> Check:
    d = paths.data_dir
    if not d.exists():
        parent = next((p for p in d.parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK):
            return Check("data dir", "fail", f"{d} does not exist and {parent} is not writable",
                         "set ACTIVESEC_HOME to a writable directory")
        return Check("data dir", "warn", f"{d} does not exist yet",
                     "run `activesec init` to create the profile, config and database")
    if not os.access(d, os.W_OK | os.X_OK):
        return Check("data dir", "fail", f"{d} is not writable",
                     "fix its ownership (it should be yours, mode 0700) or set ACTIVESEC_HOME")
    if platform == "win32":  # chmod only sets the read-only flag there: the ACL decides
        return Check("data dir", "ok", f"{d} is writable; who else may read it is its folder's "
                     "access list, which ActiveSec neither sets nor checks on Windows (the "
                     "default, in %LOCALAPPDATA%, is your account's and the administrators')")
    loose = [p for p in (d, paths.database) if p.exists()
             and stat.S_IMODE(p.stat().st_mode) & 0o077]
    if loose:
        modes = ", ".join(f"{p} is {stat.S_IMODE(p.stat().st_mode):04o}" for p in loose)
        return Check("data dir", "warn", f"readable by others: {modes}",
                     f"chmod 700 {d} && chmod 600 {paths.database}")
    return Check("data dir", "ok", f"{d} is writable and private")
