"""Doctor checks over every branch, with injected environment, platform, probes and
platform queries; one run against a real X server for the x11 probe."""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.helpers.unprivileged import run_unprivileged, shared_tmp_dir

from activesec.capture import doctor
from activesec.capture.base import Probe
from activesec.capture.doctor import Check, MacPermissions, WindowsSession, run_checks
from activesec.core import config
from activesec.core import paths as core_paths
from activesec.core.errors import ConfigError


@pytest.fixture(autouse=True)
def _tester_stands_in_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Policy files a test writes are its account's: that account counts as root's here (a
    test of the owner check sets ADMIN_UIDS back)."""
    if hasattr(os, "getuid"):
        monkeypatch.setattr(doctor, "ADMIN_UIDS", frozenset({0, os.getuid()}), raising=False)


@pytest.fixture
def paths(home: Path) -> core_paths.Paths:
    return core_paths.resolve(home).ensure()


@pytest.fixture
def no_devices(tmp_path: Path) -> str:
    d = tmp_path / "input-none"
    d.mkdir()
    return str(d)


@pytest.fixture
def devices(tmp_path: Path) -> str:
    d = tmp_path / "input"
    d.mkdir()
    for i in range(3):
        (d / f"event{i}").touch()
    return str(d)


def probes(**available: bool) -> Callable[[str], Probe]:
    def probe(name: str) -> Probe:
        ok = available.get(name, True)
        return Probe(name, ok, "" if ok else f"{name} is broken here", f"fix {name}")

    return probe


def policy_check(paths: core_paths.Paths, no_devices: str, site: Path) -> Check:
    """The machine policy check with ``site`` as the policy (the caller also sets
    ACTIVESEC_SITE_CONFIG for the configuration's own reading of it)."""
    env = {"DISPLAY": ":0", "ACTIVESEC_SITE_CONFIG": str(site)}
    return by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                              probe=probes(x11=True)))["machine policy"]


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in checks}


def linux(paths: core_paths.Paths, env: dict[str, str], dev_dir: str, group: str = "active",
          **available: bool) -> dict[str, Check]:
    return by_name(run_checks(config.load(paths), env, "linux", paths=paths, dev_dir=dev_dir,
                              probe=probes(**available),
                              group_status=lambda: group))


# --------------------------------------------------------------------------- Linux sessions
def test_x11_session_all_ok(paths: core_paths.Paths, no_devices: str) -> None:
    c = linux(paths, {"DISPLAY": ":0"}, no_devices, group="missing")
    assert c["backend"].status == "ok" and c["backend"].detail.startswith("x11:")
    assert c["x11 backend"].status == "ok"
    assert c["display"].status == "ok"
    devices = c["input devices"]
    assert devices.status == "ok" and "not needed by the x11" in devices.detail
    assert c["input group"].status == "ok"
    assert "wayland" not in c
    assert all(x.status == "ok" for x in c.values())


def test_x11_without_record_or_xinput_fails(paths: core_paths.Paths, no_devices: str) -> None:
    c = linux(paths, {"DISPLAY": ":0"}, no_devices, x11=False)
    assert c["x11 backend"].status == "fail"
    assert c["x11 backend"].detail == "x11 is broken here" and c["x11 backend"].hint == "fix x11"


def test_wayland_without_devices_explains_input_group(paths: core_paths.Paths,
                                                      no_devices: str) -> None:
    c = linux(paths, {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, no_devices,
              group="missing", evdev=False)
    assert c["backend"].detail.startswith("evdev:") and "XWayland" in c["backend"].detail
    assert c["wayland"].status == "warn" and "/dev/input" in c["wayland"].detail
    assert c["evdev backend"].status == "fail"
    assert c["input devices"].status == "fail" and "none exist" in c["input devices"].detail
    assert c["input group"].status == "fail"
    assert "sudo usermod -aG input $USER" in c["input group"].hint
    assert "display" not in c  # XWayland's display is beside the point here


def test_wayland_with_readable_devices(paths: core_paths.Paths, devices: str) -> None:
    c = linux(paths, {"XDG_SESSION_TYPE": "wayland"}, devices, group="active")
    assert c["evdev backend"].status == "ok"
    assert c["input devices"].status == "ok" and "3 of 3" in c["input devices"].detail
    assert c["input group"].status == "ok"


def test_group_added_but_not_yet_active(paths: core_paths.Paths, no_devices: str) -> None:
    c = linux(paths, {"WAYLAND_DISPLAY": "w"}, no_devices, group="pending", evdev=False)
    assert c["input group"].status == "fail" and "log out" in c["input group"].hint
    c = linux(paths, {"DISPLAY": ":0"}, no_devices, group="pending")
    assert c["input group"].status == "warn"  # harmless for x11, but worth knowing


def test_no_display_no_devices(paths: core_paths.Paths, no_devices: str) -> None:
    c = linux(paths, {}, no_devices, group="no-group")
    assert c["backend"].status == "fail" and "no display" in c["backend"].detail
    assert "x11 backend" not in c and "evdev backend" not in c
    assert c["display"].status == "fail"
    assert c["input devices"].status == "fail"
    assert c["input group"].status == "fail" and "udev" in c["input group"].hint


@pytest.mark.parametrize(("group", "nodes", "hint"), [
    ("root", False, "pass them through"),
    ("active", False, "pass them through"),
    ("missing", True, "sudo usermod -aG input $USER"),
    ("active", True, "ls -l"),
    ("root", True, "ls -l"),
])
def test_unreadable_devices_hint_fits_the_case(paths: core_paths.Paths, tmp_path: Path,
                                               group: str, nodes: bool, hint: str) -> None:
    """Joining the 'input' group was the hint whatever the case: with no device at all, as
    root, or already in the group."""
    d = tmp_path / "input"
    d.mkdir()
    if nodes:
        (d / "event0").symlink_to(d / "gone")  # a node no one can read, even root
    c = linux(paths, {"WAYLAND_DISPLAY": "w"}, str(d), group=group, evdev=False)
    assert c["input devices"].status == "fail" and hint in c["input devices"].hint
    if hint != "sudo usermod -aG input $USER":
        assert "usermod" not in c["input devices"].hint


def test_no_display_with_devices_runs_as_root(paths: core_paths.Paths, devices: str) -> None:
    c = linux(paths, {}, devices, group="root")
    assert c["backend"].detail.startswith("evdev:")
    assert c["display"].status == "warn"
    assert c["input group"].status == "ok"


def test_configured_backend_is_reported(paths: core_paths.Paths, no_devices: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVESEC_CAPTURE__BACKEND", "pynput")
    c = linux(paths, {"DISPLAY": ":0"}, no_devices)
    assert c["backend"].detail.startswith("pynput: chosen in the configuration")
    assert c["pynput backend"].status == "ok"
    assert c["display"].status == "ok" and "RECORD" in c["display"].detail


def test_a_probe_that_crashes_is_reported_not_raised(paths: core_paths.Paths,
                                                     no_devices: str) -> None:
    def probe(name: str) -> Probe:
        raise ImportError("No module named 'Xlib'")

    c = by_name(run_checks(config.load(paths), {"DISPLAY": ":0"}, "linux", paths=paths,
                           dev_dir=no_devices, probe=probe, group_status=lambda: "active"))
    assert c["x11 backend"].status == "fail" and "Xlib" in c["x11 backend"].detail


def test_input_group_status_branches() -> None:
    grp = types.SimpleNamespace(gr_gid=104, gr_mem=["alice"])

    def lookup(name: str) -> object:
        assert name == "input"
        return grp

    def missing_group(name: str) -> object:
        raise KeyError(name)

    st = doctor.input_group_status
    assert st(uid=0) == "root"
    assert st(uid=1000, process_gids=[1000, 104], lookup=lookup, user="alice") == "active"
    assert st(uid=1000, process_gids=[1000], lookup=lookup, user="alice") == "pending"
    assert st(uid=1000, process_gids=[1000], lookup=lookup, user="bob") == "missing"
    assert st(uid=1000, process_gids=[1000], lookup=missing_group) == "no-group"


# --------------------------------------------------------------------------- config, data dir
def test_invalid_config_is_a_failure_naming_the_key(paths: core_paths.Paths,
                                                    no_devices: str) -> None:
    paths.config_file.write_text("[capture]\nflush_interval_s = -1\n")
    c = by_name(run_checks(None, {"DISPLAY": ":0"}, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(), group_status=lambda: "active"))
    assert c["config"].status == "fail" and "capture.flush_interval_s" in c["config"].detail
    assert c["backend"].status == "ok"  # the rest is still checked, with the default backend


def test_valid_config_file(paths: core_paths.Paths, no_devices: str) -> None:
    config.write_default(paths, "alice")
    c = by_name(run_checks(None, {"DISPLAY": ":0"}, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(), group_status=lambda: "active"))
    assert c["config"].status == "ok" and "valid" in c["config"].detail


def test_a_misspelt_environment_variable_is_a_warning(paths: core_paths.Paths,
                                                      no_devices: str) -> None:
    """ACTIVESEC_CAPTUR__BACKEND=x11 was silently ignored (a misspelt key inside a section is
    an error already); the variables a command hook inherits are not settings, nor misspelt."""
    env = {"DISPLAY": ":0", "ACTIVESEC_CAPTUR__BACKEND": "x11", "ACTIVESEC_TRUST": "35",
           "ACTIVESEC_STORE__KEEP_DAYS": "30", "ACTIVESEC_HOME": str(paths.data_dir)}
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes()))
    assert c["config"].status == "warn"
    assert c["config"].detail.endswith("ignored: ACTIVESEC_CAPTUR__BACKEND name(s) no setting")
    assert "ACTIVESEC_<SECTION>__<KEY>" in c["config"].hint


def test_config_check_shows_what_differs_from_the_defaults(paths: core_paths.Paths,
                                                            no_devices: str) -> None:
    """An old init pinned the then-defaults (target_far 0.01): doctor makes that visible."""
    paths.config_file.write_text('user = "alice"\n[capture]\n[store]\nkeep_days = 90\n'
                                 "[train]\ntarget_far = 0.01\n[engine.trust]\nneutral_z = -1\n")
    c = by_name(run_checks(None, {"DISPLAY": ":0"}, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes()))
    assert c["config"].status == "ok"
    assert c["config"].detail.endswith(
        "; differs from the defaults: train.target_far = 0.01 (default 0.05)")
    paths.config_file.write_text("[enrol]\n" + "".join(
        f"{k} = {v}\n" for k, v in (("pointer_events", 1000), ("keystrokes", 1000))) +
        "[capture]\nflush_events = 100\nflush_interval_s = 2.0\napp_poll_s = 5.0\n"
        "queue_max_events = 5000\n")
    c = by_name(run_checks(None, {"DISPLAY": ":0"}, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes()))
    assert c["config"].detail.count("(default ") == 5 and c["config"].detail.endswith(
        "and 1 more")


def test_data_dir_states(home: Path, no_devices: str) -> None:
    p = core_paths.resolve(home)

    def data() -> Check:
        return by_name(run_checks(None, {"DISPLAY": ":0"}, "linux", paths=p, dev_dir=no_devices,
                                  probe=probes(),
                                  group_status=lambda: "active"))["data dir"]

    assert data().status == "warn" and "activesec init" in data().hint  # not created yet
    p.ensure()
    assert data().status == "ok"
    p.database.write_bytes(b"")
    p.database.chmod(0o644)
    c = data()
    assert c.status == "warn" and "0644" in c.detail and "chmod 600" in c.hint
    p.database.chmod(0o600)
    p.data_dir.chmod(0o755)
    assert data().status == "warn"
    p.data_dir.chmod(0o700)


def test_data_dir_of_another_user_is_not_writable() -> None:
    """A home (config and data directory) the user cannot write, e.g. made by `sudo activesec
    init`, or a missing one in a directory they cannot write. The suite runs as root, for whom
    every directory is writable: the doctor runs in a child that dropped to uid 65534, against
    real root-owned directories."""
    with shared_tmp_dir() as tmp:
        root_home, missing = tmp / "made-by-root", tmp / "missing" / "home"
        core_paths.resolve(root_home).ensure()
        (root_home / "config.toml").write_text('user = "alice"\n')
        root_home.chmod(0o700)
        r = run_unprivileged(
            """
            from activesec.capture.base import Probe
            from activesec.capture.doctor import run_checks
            from activesec.core import config, site  # noqa: F401  (imported while root)
            from activesec.core import paths as core_paths
            """,
            f"""
            for home in [{str(root_home)!r}, {str(missing)!r}]:
                for c in run_checks(
                        None, {{"DISPLAY": ":0"}}, "linux", paths=core_paths.resolve(home),
                        dev_dir={str(tmp)!r}, probe=lambda n: Probe(n, True, ""),
                        group_status=lambda: "active"):
                    if c.name in ("config", "data dir"):
                        print(c.name, "|", c.status, "|", c.detail)
            """,
        )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == [
        f"config | fail | cannot read config file {root_home / 'config.toml'}: Permission denied",
        f"data dir | fail | {root_home} is not writable",
        f"config | ok | defaults (no {missing / 'config.toml'} yet: `activesec init` writes one)",
        f"data dir | fail | {missing} does not exist and {tmp} is not writable",
    ]


# --------------------------------------------------------------------------- macOS, Windows
def mac_checks(paths: core_paths.Paths, perm: MacPermissions) -> dict[str, Check]:
    return by_name(run_checks(config.load(paths), {}, "darwin", paths=paths,
                              probe=probes(), mac=lambda: perm))


def test_macos_permissions(paths: core_paths.Paths) -> None:
    c = mac_checks(paths, MacPermissions(True, True))
    assert c["backend"].detail.startswith("pynput:")
    assert c["macOS accessibility"].status == "ok" and c["macOS input monitoring"].status == "ok"
    assert "input group" not in c and "display" not in c
    c = mac_checks(paths, MacPermissions(False, True))
    acc = c["macOS accessibility"]
    assert acc.status == "fail" and "Privacy & Security > Accessibility" in acc.hint
    c = mac_checks(paths, MacPermissions(None, None))
    assert c["macOS input monitoring"].status == "warn"
    assert "Input Monitoring" in c["macOS input monitoring"].hint


def win_checks(paths: core_paths.Paths, ws: WindowsSession) -> dict[str, Check]:
    return by_name(run_checks(config.load(paths), {}, "win32", paths=paths,
                              probe=probes(), win=lambda: ws))


def test_windows_session_zero_and_uipi(paths: core_paths.Paths) -> None:
    c = win_checks(paths, WindowsSession(0, False))
    assert c["windows session"].status == "fail" and "session 0" in c["windows session"].detail
    assert c["windows elevation"].status == "warn" and "UIPI" in c["windows elevation"].detail
    c = win_checks(paths, WindowsSession(2, True))
    assert c["windows session"].status == "ok" and c["windows elevation"].status == "ok"
    assert c["data dir"].status in ("ok", "warn")  # POSIX modes are not checked on Windows


def test_windows_data_dir_is_not_called_private(paths: core_paths.Paths) -> None:
    """0700/0600 mean nothing to Windows (chmod sets only the read-only flag): a folder's
    access list decides, and ActiveSec does not check it, so doctor must not say "private"."""
    paths.ensure()
    c = win_checks(paths, WindowsSession(2, False))["data dir"]
    assert c.status == "ok" and "private" not in c.detail
    assert "access list" in c.detail and "%LOCALAPPDATA%" in c.detail


def test_platform_queries_degrade_to_unknown_here() -> None:
    # pyobjc and windll do not exist on Linux: the queries answer "cannot tell"
    assert doctor.mac_permissions() == MacPermissions(None, None)
    assert doctor.windows_session() == WindowsSession(None, None)


# --------------------------------------------------------------------------- real X server
@pytest.mark.x11
def test_real_x_server_probe(paths: core_paths.Paths, no_devices: str, xdisplay: str) -> None:
    env = {"DISPLAY": xdisplay}
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices))
    assert c["backend"].detail.startswith("x11:")
    assert c["x11 backend"].status == "ok", c["x11 backend"]
    c = by_name(run_checks(None, {"DISPLAY": ":4999"}, "linux", paths=paths,
                           dev_dir=no_devices))  # nothing listens there
    assert c["x11 backend"].status == "fail" and c["x11 backend"].detail
    assert os.environ.get("DISPLAY") != ":4999"


def test_machine_policy_is_listed_with_what_it_overrides(paths: core_paths.Paths, no_devices: str,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"DISPLAY": ":0"}
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(x11=True)))
    assert c["machine policy"].status == "ok"
    assert "none (/etc/activesec/config.toml does not exist)" in c["machine policy"].detail
    site = tmp_path / "site.toml"
    site.write_text('[defaults.store]\nkeep_days = 30\n[enforced.engine.policy]\nlock_below = 30\n')
    paths.config_file.write_text("[engine.policy]\nlock_below = 20\n")
    env = {"DISPLAY": ":0", "ACTIVESEC_SITE_CONFIG": str(site)}
    monkeypatch.setenv("ACTIVESEC_SITE_CONFIG", str(site))  # what config.load reads
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(x11=True)))
    m = c["machine policy"]
    assert m.status == "warn"
    assert m.detail == (f"{site}: enforces engine.policy.lock_below = 30; 1 default(s); it "
                        "overrides your engine.policy.lock_below (config.toml)")
    assert "decided by the machine policy" in m.hint
    # the file `init` writes: section headers with every key commented out set nothing, so
    # the policy overrides none of them (doctor warned on every fresh account)
    paths.config_file.write_text("[engine.policy]\n# lock_below = 40.0\n[engine.trust]\n")
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(x11=True)))
    assert c["machine policy"].status == "ok" and "overrides" not in c["machine policy"].detail
    paths.config_file.unlink()
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(x11=True)))
    assert c["machine policy"].status == "ok" and c["config"].status == "ok"


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_policy_other_accounts_can_write_is_refused(paths: core_paths.Paths, no_devices: str,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """[enforced] in a file (or folder) every account may write would let any of them make
    every account's agent run its commands: refused, as the machine background is (doctor only
    warned, and every agent obeyed it)."""
    folder = tmp_path / "policy"
    folder.mkdir(mode=0o755)
    site = folder / "config.toml"
    site.write_text("[enforced.engine.policy]\nlock_below = 30\n")
    site.chmod(0o644)
    env = {"DISPLAY": ":0", "ACTIVESEC_SITE_CONFIG": str(site)}
    monkeypatch.setenv("ACTIVESEC_SITE_CONFIG", str(site))

    def checks() -> dict[str, Check]:
        return by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                                  probe=probes(x11=True)))

    assert checks()["machine policy"].status == "ok"
    site.chmod(0o666)
    c = checks()
    assert c["machine policy"].status == "fail" and c["config"].status == "fail"
    assert (f"machine policy file {site}: {site} is writable by other accounts (mode 0666): "
            "refused, since another account could make every account's agent run its commands"
            ) in c["config"].detail
    assert f"sudo chown root: {site} {folder} && sudo chmod go-w" in c["config"].hint
    with pytest.raises(ConfigError, match="writable by other accounts"):
        config.load(paths)  # every command, not doctor alone
    site.chmod(0o644)
    folder.chmod(0o777)  # the file could be replaced
    assert f"{folder} is writable by other accounts (mode 0777)" in checks()["config"].detail
    folder.chmod(0o1777)  # sticky, as /tmp: others cannot replace a file they do not own
    assert checks()["machine policy"].status == "ok"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="POSIX owners, as root")
def test_a_policy_owned_by_another_account_than_root_is_refused(
        paths: core_paths.Paths, no_devices: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy file at 0644 but owned by an account (the child's, say, after a `chown`) is
    that account's to edit: it could make every other account's agent run its commands.
    Doctor only warned; it is refused now, saying how to give it back to root."""
    folder = tmp_path / "policy"
    folder.mkdir(mode=0o755)
    site = folder / "config.toml"
    site.write_text("[enforced.engine.policy]\nlock_below = 30\n")
    site.chmod(0o644)
    os.chown(site, 65534, -1)
    monkeypatch.setenv("ACTIVESEC_SITE_CONFIG", str(site))
    env = {"DISPLAY": ":0", "ACTIVESEC_SITE_CONFIG": str(site)}
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(x11=True)))
    assert c["machine policy"].status == "fail", c["machine policy"]
    assert f"{site} belongs to another account (uid 65534): refused" in c["config"].detail
    assert f"sudo chown root: {site} {folder}" in c["config"].hint


def test_an_injecting_tool_running_while_injection_is_distrusted_is_a_warning() -> None:
    """An on-screen keyboard or a VNC server delivers its user's own input by injecting it:
    with the default distrust that input counts against them. Other processes are ignored."""
    c = doctor.injector_check("distrust", ["bash", "Onboard", "x11vnc", "firefox"])
    assert c is not None and c.status == "warn"
    assert c.detail.startswith("onboard (on-screen keyboard), x11vnc (VNC server) running")
    assert 'injected = "score"' in c.hint
    ok = doctor.injector_check("score", ["TeamViewer.exe"])
    assert ok is not None and ok.status == "ok"
    assert ok.detail == "teamviewer (remote control) running; injected input is 'score' " \
        "(engine.scoring.injected)"
    assert doctor.injector_check("distrust", ["bash", "python3"]) is None


def test_a_policy_enforcing_gate_rules_also_needs_gate_apps(paths: core_paths.Paths,
                                                            no_devices: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """`gate_apps` picks which gate rules apply: a policy enforcing the rules alone lets the
    account choose a harmless one (a child's `gate_apps = ["chat"]` and the games run on)."""
    from activesec.service.agent import engine_config

    site = tmp_path / "site.toml"
    rules = ('[enforced.actions]\non_gate = ["gate"]\n[enforced.actions.params.gate]\n'
             'rules = [{ name = "games", match = "steam" }, { name = "chat", match = "irc" }]\n')
    site.write_text(rules)
    paths.config_file.write_text('[engine.policy]\ngate_apps = ["chat"]\n')
    monkeypatch.setenv("ACTIVESEC_SITE_CONFIG", str(site))
    m = policy_check(paths, no_devices, site)
    assert m.status == "warn" and "an account's [engine.policy] gate_apps may still pick" in (
        m.detail)
    assert "gate_apps = [] (every rule) under [enforced.engine.policy]" in m.hint
    assert engine_config(config.load(paths)).policy.gate_apps == ["chat"]
    site.write_text(rules + "[enforced.engine.policy]\ngate_apps = []\n")
    m = policy_check(paths, no_devices, site)
    assert m.status == "warn" and "gate_apps may still pick" not in m.detail  # overrides yours
    assert "it overrides your engine.policy.gate_apps (config.toml)" in m.detail
    assert engine_config(config.load(paths)).policy.gate_apps == ["games", "chat"]


def test_a_policy_enforcing_gate_rules_also_needs_on_gate(paths: core_paths.Paths,
                                                           no_devices: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Rules and gate_apps enforced, on_gate not: the child's `on_gate = ["alertlog"]` gates
    nothing. The policy check said ok (only the gate check's hint spoke, pointing at the
    account's own config)."""
    site = tmp_path / "site.toml"
    site.write_text('[enforced.actions.params.gate]\nrules = [{ name = "games", match = '
                    '"steam" }]\n[enforced.engine.policy]\ngate_apps = []\n')
    paths.config_file.write_text('[actions]\non_gate = ["alertlog"]\n')
    monkeypatch.setenv("ACTIVESEC_SITE_CONFIG", str(site))
    m = policy_check(paths, no_devices, site)
    assert m.status == "warn", m
    assert "an account's [actions] on_gate may leave 'gate' out" in m.detail
    assert 'on_gate = ["gate", "alertlog"] under [enforced.actions]' in m.hint


def test_the_readme_machine_policy_is_valid_and_complete(paths: core_paths.Paths,
                                                         no_devices: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy an admin or parent copies from the README: valid, and doctor finds no gap."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("```toml\n[defaults.train]\n", 1)[1].split("```", 1)[0]
    site = tmp_path / "site.toml"
    site.write_text("[defaults.train]\n" + block)
    env = {"DISPLAY": ":0", "ACTIVESEC_SITE_CONFIG": str(site)}
    monkeypatch.setenv("ACTIVESEC_SITE_CONFIG", str(site))
    c = by_name(run_checks(None, env, "linux", paths=paths, dev_dir=no_devices,
                           probe=probes(x11=True)))
    assert c["machine policy"].status == "ok", c["machine policy"]
    assert "engine.policy.gate_apps" in c["machine policy"].detail
    assert c["config"].status == "ok", c["config"]


def test_a_policy_sending_decisions_to_a_siem_is_told_about_heartbeats(
        paths: core_paths.Paths, no_devices: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.toml"
    forward = '[enforced.actions.params.alertlog]\nsyslog = "udp://127.0.0.1:514"\n'
    site.write_text(forward)
    monkeypatch.setenv("ACTIVESEC_SITE_CONFIG", str(site))
    m = policy_check(paths, no_devices, site)
    assert m.status == "warn" and "cannot tell a quiet agent from a killed or paused" in m.detail
    assert "heartbeat_s = 3600 under [enforced.actions.params.alertlog]" in m.hint
    site.write_text(forward + "heartbeat_s = 3600\n")
    m = policy_check(paths, no_devices, site)
    assert m.status == "ok" and "heartbeat" not in m.hint, m
