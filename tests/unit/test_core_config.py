"""Configuration precedence and errors that name the offending key."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from activesec.core import config, paths
from activesec.core import site as site_mod
from activesec.core.errors import ConfigError
from activesec.engine.pipeline import EngineConfig
from activesec.service.agent import check_settings, engine_config


@pytest.fixture
def p(home: Path) -> paths.Paths:
    return paths.resolve().ensure()


def test_defaults_without_file(p: paths.Paths) -> None:
    s = config.load(p)
    assert s.capture.backend == "auto"
    assert s.store.keep_days == 90


def test_precedence_file_env_flags(p: paths.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_default(p, "alice")
    text = p.config_file.read_text().replace("# keep_days = 90", "keep_days = 30")
    p.config_file.write_text(text)
    assert config.load(p).store.keep_days == 30
    assert config.load(p).user == "alice"
    monkeypatch.setenv("ACTIVESEC_STORE__KEEP_DAYS", "10")
    assert config.load(p).store.keep_days == 10
    assert config.load(p, {"store": {"keep_days": 5}}).store.keep_days == 5
    # a nested env var does not wipe the rest of the file's section
    monkeypatch.setenv("ACTIVESEC_CAPTURE__FLUSH_INTERVAL_S", "0.5")
    s = config.load(p)
    assert s.capture.flush_interval_s == 0.5
    assert s.capture.flush_events == 8192


def test_default_file_is_private_and_valid(p: paths.Paths) -> None:
    f = config.write_default(p, 'bob "the owner"')
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert config.load(p).user == 'bob "the owner"'
    assert "# commit to disk at least this often" in f.read_text()


@pytest.mark.parametrize(
    ("snippet", "key", "hint"),
    [
        (
            "[capture]\nflush_interval_s = -1\n",
            "capture.flush_interval_s",
            "commit to disk at least this often",
        ),
        (
            "[capture]\nbackend = 'wayland'\n",
            "capture.backend",
            'x11 | pynput | evdev (default "auto")',
        ),
        ("[store]\nkeepdays = 3\n", "store.keepdays", "settings in [store]: keep_days"),
        # a huge number of days ended capture and the agent in an OverflowError (SQLite)
        ("[store]\nkeep_days = 999999999999\n", "store.keep_days", "0 = keep forever"),
        ("[enrol]\nkeystrokes = 'many'\n", "enrol.keystrokes", "enrol.keystrokes: "),
        # a few extra zeros postponed protection for ever, silently: enrolment never completed
        ("[enrol]\npointer_events = 15000000000\n", "enrol.pointer_events", "pointer events"),
        ("[enrol]\nkeystrokes = 2000000000\n", "enrol.keystrokes", "keystrokes needed"),
        ("colour = 3\n", "colour", "settings at the top level: user, log_level, capture"),
        # not the label rule (older configs hold "Jane Doe"), but no newline or page of text
        ('user = "../../evil\\nline2"\n', "user", "the owner's label"),
        (f'user = "{"x" * 65}"\n', "user", "the owner's label"),
    ],
)
def test_invalid_values_name_the_key(p: paths.Paths, snippet: str, key: str, hint: str) -> None:
    p.config_file.write_text(snippet)
    with pytest.raises(ConfigError) as exc:
        config.load(p)
    assert key in exc.value.message
    assert hint in exc.value.hint  # what the setting means and its default, or what exists
    assert "\n" not in str(exc.value)


def test_a_login_name_an_older_init_wrote_is_still_a_valid_user(p: paths.Paths) -> None:
    p.config_file.write_text('user = "Jane Doe"\n')
    assert config.load(p).user == "Jane Doe"


def _leaves(model: type[BaseModel], section: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, f in model.model_fields.items():
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += _leaves(sub, f"{section}.{key}")
        else:
            out.append((section, key))
    return out


def test_default_file_documents_every_engine_setting_commented_out(p: paths.Paths) -> None:
    f = config.write_default(p, "alice", {"engine": EngineConfig})
    text = f.read_text()
    s = config.load(p)
    # commented out: the file pins nothing, so the engine runs on the code's defaults
    assert engine_config(s) == EngineConfig()
    leaves = _leaves(EngineConfig, "engine")
    assert len(leaves) > 30
    sections = text.split("\n[")
    for section, key in leaves:
        (body,) = [b for b in sections if b.startswith(f"{section}]\n")]
        assert f"\n# {key} = " in body, f"{section}.{key} missing from the file"


def test_uncommenting_an_engine_line_changes_that_setting(p: paths.Paths) -> None:
    f = config.write_default(p, "alice", {"engine": EngineConfig})
    text = f.read_text()
    assert text.count("# neutral_z = -0.3\n") == 1
    f.write_text(text.replace("# neutral_z = -0.3\n", "neutral_z = -0.5\n"))
    cfg = engine_config(config.load(p))
    assert cfg.trust.neutral_z == -0.5
    assert cfg.model_dump(exclude={"trust"}) == EngineConfig().model_dump(exclude={"trust"})


@pytest.mark.parametrize(
    ("engine", "key", "hint"),
    [
        (
            {"trust": {"neutral_z": "abc"}},
            "engine.trust.neutral_z",
            "changes nothing (default -0.3)",
        ),
        (
            {"trust": {"neutralz": 1}},
            "engine.trust.neutralz",
            "settings in [engine.trust]: model, ",
        ),
        ({"scoring": {"injected": "x"}}, "engine.scoring.injected", '(default "distrust")'),
        ({"bogus": {}}, "engine.bogus", "settings in [engine]: trust, policy, scoring"),
        # a rule across settings of one section: the hint lists that section, not its parent
        ({"policy": {"restore_above": 30}}, "engine.policy",
         "settings in [engine.policy]: notify_"),
    ],
)
def test_invalid_engine_values_say_what_the_setting_is(
    engine: dict[str, Any], key: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        engine_config(config.Settings.model_validate({"engine": engine}))
    assert f"'{key}'" in exc.value.message
    assert hint in exc.value.hint


def test_invalid_env_names_the_key(p: paths.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVESEC_STORE__KEEP_DAYS", "-3")
    with pytest.raises(ConfigError, match=r"store\.keep_days"):
        config.load(p)


def test_broken_toml(p: paths.Paths) -> None:
    p.config_file.write_text("[capture\nbackend=")
    before = p.config_file.read_bytes()
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        config.load(p)
    assert p.config_file.read_bytes() == before


def test_home_relocates_everything(home: Path) -> None:
    p = paths.resolve()
    for f in (p.config_file, p.database, p.models_dir, p.log_file, p.profile_file):
        assert home in f.parents
    p.ensure()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


# ---------------------------------------------------------------- machine-wide policy file
SITE = """
[defaults]
store = { keep_days = 30 }
train = { target_far = 0.02 }

[enforced.actions]
on_lock = ["lock", "alertlog"]

[enforced.actions.params.alertlog]
syslog = "udp://10.0.0.5:514"
"""


@pytest.fixture
def site(p: paths.Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    f = tmp_path / "site.toml"
    f.write_text(SITE)
    monkeypatch.setenv(site_mod.ENV, str(f))
    return f


def test_init_pins_nothing_so_machine_defaults_apply(p: paths.Paths, site: Path) -> None:
    config.write_default(p, "alice")
    s = config.load(p)
    assert (s.user, s.store.keep_days, s.train.target_far) == ("alice", 30, 0.02)


def test_precedence_with_the_machine_policy(p: paths.Paths, site: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """defaults < machine [defaults] < user file < env < flags < machine [enforced]."""
    p.config_file.write_text('[store]\nkeep_days = 60\n[actions]\non_lock = []\n'
                             '[actions.params.alertlog]\npath = "/tmp/a.jsonl"\n')
    s = config.load(p)
    assert s.store.keep_days == 60 and s.train.target_far == 0.02
    assert s.actions.on_lock == ["lock", "alertlog"]  # the user's [] does not switch it off
    # tables merge key by key: the user's path stays beside the enforced syslog
    assert s.actions.params["alertlog"] == {"path": "/tmp/a.jsonl",
                                            "syslog": "udp://10.0.0.5:514"}
    monkeypatch.setenv("ACTIVESEC_STORE__KEEP_DAYS", "10")
    monkeypatch.setenv("ACTIVESEC_ACTIONS__ON_LOCK", "[]")
    assert config.load(p).store.keep_days == 10
    s = config.load(p, {"store": {"keep_days": 5}, "actions": {"on_lock": ["notify"]}})
    assert s.store.keep_days == 5 and s.actions.on_lock == ["lock", "alertlog"]
    policy, clashes = config.overridden_by_policy(p)
    assert policy.path == site
    assert policy.enforced_keys == ["actions.on_lock", "actions.params.alertlog.syslog"]
    assert clashes == [("actions.on_lock", "config.toml"),
                       ("actions.on_lock", "ACTIVESEC_ACTIONS__ON_LOCK")]


@pytest.mark.parametrize("key", ["policy.restore_after_s", "policy.grace_s",
                                 "scoring.flush_after_s", "idle_s"])
def test_an_engine_duration_beyond_a_year_is_refused(p: paths.Paths, key: str) -> None:
    """`restore_after_s = 1e300` (a parent's "never") passed, then `replay` — and the agent at
    an unlock with such a grace_s — ended in an OverflowError: int() of infinite nanoseconds."""
    section, _, name = key.rpartition(".")
    p.config_file.write_text(f"[engine{'.' + section if section else ''}]\n{name} = 1e300\n")
    with pytest.raises(ConfigError) as exc:
        engine_config(config.load(p))
    assert exc.value.message == ("invalid configuration value for 'engine': "
                                 f"{key} (1e+300 s) must be at most 31,536,000 s (a year)")


@pytest.mark.parametrize(("default", "mine"), [("policy.lock_below", "trust.lock_level"),
                                              ("trust.lock_level", "policy.lock_below")])
def test_the_accounts_lock_level_replaces_a_machine_default_under_the_other_name(
        p: paths.Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default: str,
        mine: str) -> None:
    """A machine default `lock_below = 30` is the account's to change: its `lock_level = 50`
    met it as "must equal" — an error that stopped every command."""
    site = tmp_path / "site.toml"
    sec, key = default.split(".")
    site.write_text(f"[defaults.engine.{sec}]\n{key} = 30.0\n")
    monkeypatch.setenv(site_mod.ENV, str(site))
    assert engine_config(config.load(p)).policy.lock_below == 30.0  # the default applies
    sec, key = mine.split(".")
    p.config_file.write_text(f"[engine.{sec}]\n{key} = 50.0\n")
    cfg = engine_config(config.load(p))
    assert cfg.policy.lock_below == cfg.trust.lock_level == 50.0


def test_an_accounts_setting_that_conflicts_with_an_enforced_one_says_so(
        p: paths.Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy pushed with `gate_below = 50` met an account's own `restore_above = 35`: the
    error said "restore_above must be >= gate_below" — the account never set gate_below, and
    neither the values nor the policy that set one were named."""
    site = tmp_path / "site.toml"
    site.write_text("[enforced.engine.policy]\ngate_below = 50.0\n")
    monkeypatch.setenv(site_mod.ENV, str(site))
    p.config_file.write_text("[engine.policy]\nrestore_above = 35.0\n")
    with pytest.raises(ConfigError) as exc:
        engine_config(config.load(p))
    assert exc.value.message == (
        "invalid configuration value for 'engine.policy': restore_above (35) must be >= "
        f"gate_below (50) (or gates would flap) (the machine policy {site} enforces "
        "engine.policy.gate_below = 50.0: change your own settings to fit it)")
    site.write_text("[enforced.engine.policy]\ngate_below = 400.0\n")  # the policy's own error
    with pytest.raises(ConfigError) as exc:
        check_settings(config.load(p))
    assert "should be less than or equal to 100 (from [enforced] in the machine policy" in (
        exc.value.message) and "change your own" not in exc.value.message
    site.write_text("[enforced.engine.policy]\nnotify_cooldown_s = 60.0\n")  # not in it
    with pytest.raises(ConfigError) as exc:
        engine_config(config.load(p))
    assert "machine policy" not in exc.value.message  # the account's own values clash
    p.config_file.write_text("[engine.policy]\nnotify_below = 50.0\nlock_below = 55.0\n")
    with pytest.raises(ConfigError) as exc:
        engine_config(config.load(p))
    assert exc.value.message.endswith("lock_below (55) must not exceed notify_below (50)")


@pytest.mark.parametrize(("enforced", "mine"), [("policy.lock_below", "trust.lock_level"),
                                               ("trust.lock_level", "policy.lock_below")])
def test_an_enforced_lock_level_wins_over_the_accounts_other_name_for_it(
        p: paths.Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enforced: str,
        mine: str) -> None:
    """One level under two names: a policy enforcing `lock_below = 30` met an account's
    `lock_level = 50` as "must equal" — an error that stopped every command (and the agent at
    its next start), naming neither the policy nor what it enforces. Enforced, it sets both."""
    site = tmp_path / "site.toml"
    sec, key = enforced.split(".")
    site.write_text(f"[enforced.engine.{sec}]\n{key} = 30.0\n")
    monkeypatch.setenv(site_mod.ENV, str(site))
    sec, key = mine.split(".")
    p.config_file.write_text(f"[engine.{sec}]\n{key} = 50.0\n")
    cfg = engine_config(config.load(p))
    assert cfg.policy.lock_below == cfg.trust.lock_level == 30.0
    _, clashes = config.overridden_by_policy(p)
    assert clashes == [(f"engine.{mine}", "config.toml")]  # doctor: it overrides yours


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[enforced.train]\ntarget_far = 3\n",
         "'train.target_far': Input should be less than 0.5 (from [enforced] in the machine "
         "policy"),
        ("[defaults.store]\nkeepdays = 3\n",
         "'store.keepdays': unknown setting (did you mean 'store.keep_days'?) (from [defaults]"),
        ("[policy]\nx = 1\n", "unknown table [policy] (it has [defaults] and [enforced])"),
        ("enforced = 3\n", "'enforced' must be a table"),
        ("[enforced\n", "is not valid TOML"),
    ],
)
def test_a_broken_machine_policy_is_an_error_naming_it(p: paths.Paths, site: Path, text: str,
                                                       message: str) -> None:
    """Never ignored: a policy that silently stopped applying would unlock what it locks."""
    site.write_text(text)
    with pytest.raises(ConfigError) as exc:
        config.load(p)
    assert message in exc.value.message and str(site) in str(exc.value)
    assert site.read_text() == text


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ('[actions]\non_lock = ["lock", "alertlog"]\n',
         "[actions] at the top level, where it sets nothing (the file has [defaults] and "
         "[enforced])",
         "move it to [enforced.actions] (no account can change it) or [defaults.actions] (each "
         "account may); ask whoever manages this machine to fix "),
        ('log_level = "DEBUG"\n', "log_level at the top level, where it sets nothing",
         "move it to [enforced] log_level (no account can change it) or [defaults] log_level"),
        ("[enforced]\nactions = 3\n", "'actions': Input should be a valid dictionary",
         "settings in [actions]: on_notify, on_lock, on_gate, params; ask whoever manages this "
         "machine to fix "),
    ],
)
def test_a_policy_written_like_an_accounts_config_says_where_settings_go(
        p: paths.Paths, site: Path, text: str, message: str, hint: str) -> None:
    """An admin who copies an account's config.toml as the policy (settings at the top level)
    was told "unknown table [actions] (it has [defaults] and [enforced])", not where its
    settings go; a wrong type under [enforced] did not say whose it is to fix."""
    site.write_text(text)
    with pytest.raises(ConfigError) as exc:
        config.load(p)
    assert message in exc.value.message and str(site) in exc.value.message
    assert hint in exc.value.hint, exc.value.hint


@pytest.mark.parametrize("on_gate", ['["gate"]', '["alertlog"]'])
def test_a_policy_whose_gate_apps_names_none_of_its_rules_is_its_error(
        p: paths.Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_gate: str) -> None:
    """`gate_apps = ["game"]` beside the policy's own rule "games": the error blamed the
    account's config (and told it to leave gate_apps out, which it cannot), or — when the
    account's on_gate did not run the gate — there was none at all."""
    site = tmp_path / "site.toml"
    site.write_text('[enforced.actions.params.gate]\nrules = [{ name = "games", match = '
                    '"steam" }]\n[enforced.engine.policy]\ngate_apps = ["game"]\n')
    monkeypatch.setenv(site_mod.ENV, str(site))
    p.config_file.write_text(f"[actions]\non_gate = {on_gate}\n")
    with pytest.raises(ConfigError) as exc:
        check_settings(config.load(p))
    assert exc.value.message == (
        "invalid configuration value for 'engine.policy.gate_apps': no gate rule is called "
        f"'game' (from [enforced] in the machine policy {site})")
    assert f"ask whoever manages this machine to fix {site}" in exc.value.hint


def test_files_saved_with_a_byte_order_mark_are_read(p: paths.Paths, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows Notepad's "UTF-8 with BOM" and PowerShell 5's `Set-Content -Encoding UTF8` start
    the file with EF BB BF: the policy an admin pushed that way, and such a config.toml, were
    refused as "not valid TOML: Invalid statement (at line 1, column 1)"."""
    site = tmp_path / "site.toml"
    site.write_bytes(b"\xef\xbb\xbf[enforced.train]\r\ntarget_far = 0.02\r\n")
    monkeypatch.setenv(site_mod.ENV, str(site))
    p.config_file.write_bytes(b"\xef\xbb\xbf[store]\r\nkeep_days = 30\r\n")
    s = config.load(p)
    assert (s.train.target_far, s.store.keep_days) == (0.02, 30)
    assert config.changed_settings(p) == [("store.keep_days", 30, 90)]


def test_a_named_policy_file_that_is_missing_is_an_error(p: paths.Paths, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(site_mod.ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=f"named by {site_mod.ENV}.*does not exist"):
        config.load(p)


def test_the_platform_policy_file_cannot_be_displaced_by_the_variable(tmp_path: Path) -> None:
    machine = tmp_path / "ProgramData" / "ActiveSec" / "config.toml"
    other = tmp_path / "mine.toml"
    env = {"PROGRAMDATA": str(tmp_path / "ProgramData"), site_mod.ENV: str(other)}
    assert site_mod.platform_file("win32", env) == machine
    assert site_mod.site_file("win32", env) == other  # no machine file: the variable is used
    machine.parent.mkdir(parents=True)
    machine.write_text("[enforced.store]\nkeep_days = 7\n")
    assert site_mod.site_file("win32", env) == machine
    assert site_mod.load_site("win32", env).enforced == {"store": {"keep_days": 7}}
    assert site_mod.platform_file("linux", {}) == Path("/etc/activesec/config.toml")
    assert site_mod.platform_file("darwin", {}) == Path(
        "/Library/Application Support/ActiveSec/config.toml")


def test_a_policy_folder_closed_to_the_account_is_one_line_for_the_admin() -> None:
    """`sudo mkdir /etc/activesec` under umask 077 makes the policy's folder 0700: every command
    of an ordinary account died of an uncaught PermissionError, which the CLI turned into
    "belongs to another account … `sudo chown -R "$USER"` on it" — advice that would hand the
    policy to the account it binds. It is the machine policy, unreadable: the administrator's
    to open up."""
    from tests.helpers.unprivileged import run_unprivileged, shared_tmp_dir

    with shared_tmp_dir() as d:
        folder = d / "ActiveSec"  # the Windows place: the one a test can put anywhere
        folder.mkdir(mode=0o700)
        (folder / "config.toml").write_text("[enforced.train]\ntarget_far = 0.02\n")
        r = run_unprivileged(
            "from activesec.core.site import load_site\n"
            "from activesec.core.errors import PolicyError\n",
            "try:\n"
            f"    load_site('win32', {{'PROGRAMDATA': {str(d)!r}}})\n"
            "except PolicyError as exc:\n"
            "    print(exc)\n")
    assert r.returncode == 0, r.stderr
    site = folder / "config.toml"
    assert r.stdout.strip() == (
        f"cannot read machine policy file {site}: Permission denied — ask whoever manages this "
        f"machine to make it readable by every account (chmod 755 {folder}; chmod 644 {site})")
