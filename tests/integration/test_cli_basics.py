"""The real CLI in a subprocess: set-up, status, labels, pause/resume, wipe, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.cli import cli, env_for, one_line_error
from tests.helpers.procs import Counter, unique
from tests.unit.test_background import slice_balabit

from activesec.actions.alertlog import AlertLogAction
from activesec.actions.base import Decision
from activesec.core import events as ev
from activesec.core import paths as paths_mod
from activesec.core.errors import EX_CONFIG
from activesec.core.paths import write_private_text
from activesec.recordings.generic import write_keys_csv, write_mouse_csv
from activesec.service import history
from activesec.service.agent import status_path
from activesec.service.decisions import DecisionLog, decisions_path
from activesec.store.db import Store


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return env_for(tmp_path / "home")


def _home(env: dict[str, str]) -> Path:
    return Path(env["ACTIVESEC_HOME"])


def _init(env: dict[str, str], user: str = "alice") -> None:
    r = cli("init", "--user", user, env=env)
    assert r.returncode == 0, r.stderr


def test_init_is_private_and_idempotent(env: dict[str, str]) -> None:
    r = cli("init", "--user", "alice", "--json", env=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["created"] is True and info["user"] == "alice"
    home = _home(env)
    for f in ("activesec.db", "config.toml", "profile.json"):
        assert stat.S_IMODE((home / f).stat().st_mode) == 0o600, f
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    before = (home / "profile.json").read_bytes()
    again = json.loads(cli("init", "--json", env=env).stdout)
    assert again["created"] is False
    assert (home / "profile.json").read_bytes() == before
    human = cli("init", env=env)  # the human form points at the main command, not at a step
    assert human.returncode == 0 and "`activesec run` starts the agent" in " ".join(
        human.stdout.split()
    )
    # never clobbers another owner's profile without --force
    assert "already exists" in one_line_error(cli("init", "--user", "bob", env=env))
    r = cli("init", "--user", "bob", "--force", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["user"] == "bob"


def test_init_in_the_platform_directories_makes_them_private(tmp_path: Path) -> None:
    """Without ACTIVESEC_HOME, the XDG directories: `mkdir -p` made ~/.local/state/activesec
    0755 around its 0700 log directory; what the user already had keeps its mode."""
    home = tmp_path / "user"
    (home / ".config").mkdir(parents=True, mode=0o755)
    (home / ".config").chmod(0o755)
    xdg = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local" / "share"),
           "XDG_STATE_HOME": str(home / ".local" / "state")}
    env = {**{k: v for k, v in env_for(tmp_path).items() if k != "ACTIVESEC_HOME"}, **xdg}
    r = cli("init", "--user", "alice", env=env)
    assert r.returncode == 0, r.stderr
    made = [p for p in home.rglob("*") if p.is_dir()]
    assert home / ".local" / "state" / "activesec" / "log" in made
    for d in made:
        want = 0o755 if d == home / ".config" else 0o700
        assert stat.S_IMODE(d.stat().st_mode) == want, d


def test_init_force_keeps_an_edited_config_file(env: dict[str, str]) -> None:
    """`init --force` (the hint for a broken file) silently replaced a parent's gate rules."""
    _init(env)
    cfg = _home(env) / "config.toml"
    edited = cfg.read_text() + '\n[actions.params.gate]\nrules = [{ name = "games" }]\n'
    cfg.write_text(edited)
    r = cli("init", "--force", "--json", env=env)
    assert r.returncode == 0, r.stderr
    kept = Path(json.loads(r.stdout)["config_backup"])
    assert kept.parent == cfg.parent and kept.name.startswith("config.toml.bak-")
    assert kept.read_text() == edited and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert "games" not in cfg.read_text()  # the fresh file
    # a file that is already what init writes is not copied again; a broken one is
    again = json.loads(cli("init", "--force", "--json", env=env).stdout)
    assert again["config_backup"] is None
    cfg.write_text("[store\n")
    hint = one_line_error(cli("status", env=env))
    assert "`activesec init --force` (which keeps this one as config.toml.bak-<time>)" in hint
    human = cli("init", "--force", env=env)
    assert human.returncode == 0 and "previous config kept as" in human.stdout
    assert sorted(p.read_text() for p in cfg.parent.glob("config.toml.bak-*")) == sorted(
        [edited, "[store\n"])


def test_commands_before_init_say_what_to_do(env: dict[str, str]) -> None:
    for args in (("status",), ("pause",), ("label", "x"), ("export", "--out", "/tmp/x")):
        assert "activesec init" in one_line_error(cli(*args, env=env))


def test_python_dash_m_activesec_is_the_same_command(env: dict[str, str]) -> None:
    """For an environment whose scripts are not on PATH; its usage line says `activesec`."""
    run = [sys.executable, "-m", "activesec"]
    r = subprocess.run([*run, "init", "--user", "bob", "--json"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*run, "status", "--json"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["user"] == "bob"
    r = subprocess.run([*run, "nonsense"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("Usage: activesec ")


def test_status_label_pause_resume(env: dict[str, str]) -> None:
    _init(env)
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert s["user"] == "alice" and s["sessions"] == 0 and s["paused"] is False
    assert s["enrolment"]["pointer_needed"] == 15000
    assert cli("label", "guest", env=env).returncode == 0
    assert json.loads(cli("status", "--json", env=env).stdout)["current_label"] == "guest"
    assert cli("label", "--owner", env=env).returncode == 0
    assert json.loads(cli("status", "--json", env=env).stdout)["current_label"] == "alice"
    assert cli("pause", env=env).returncode == 0
    assert json.loads(cli("status", "--json", env=env).stdout)["paused"] is True
    assert cli("resume", env=env).returncode == 0
    assert json.loads(cli("status", "--json", env=env).stdout)["paused"] is False
    one_line_error(cli("label", "../evil", env=env))


def test_status_says_when_recording_was_paused_also_after_the_resume(
        env: dict[str, str]) -> None:
    """A child at the parent's session pauses the agent, plays, resumes: `status` said
    "paused" only while it was, so the parent never learnt that nothing was judged."""
    _init(env)
    before = time.time_ns()
    assert cli("pause", env=env).returncode == 0
    assert cli("pause", env=env).returncode == 0  # a second pause keeps when the first began
    s = json.loads(cli("status", "--json", env=env).stdout)
    since = s["pause"]["since_wall_ns"]
    assert s["paused"] and before <= since <= time.time_ns() and s["pause"]["last"] is None
    assert "(paused since " in cli("status", env=env).stdout
    assert cli("resume", env=env).returncode == 0
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert s["pause"]["since_wall_ns"] is None
    last = s["pause"]["last"]
    assert last["from_wall_ns"] == since and since <= last["to_wall_ns"] <= time.time_ns()
    text = " ".join(cli("status", env=env).stdout.split())
    assert "paused last from " in text and "input then was neither recorded nor judged" in text


def test_every_command_agrees_on_who_the_owner_is(env: dict[str, str]) -> None:
    """`label --owner` stored the owner's name, so after `init --force --user` new sessions
    still went to the old name; and `train` read the config's `user` while `run` and `status`
    read the profile's — whatever was recorded never counted towards training."""
    _init(env, "bob")

    def who() -> tuple[str, str]:
        s = json.loads(cli("status", "--json", env=env).stdout)
        return s["user"], s["current_label"]

    assert cli("label", "--owner", env=env).returncode == 0
    r = cli("init", "--force", "--user", "carol", "--json", env=env)
    assert json.loads(r.stdout)["previous_owner"] == "bob"
    assert who() == ("carol", "carol")
    with Store.open(_home(env) / "activesec.db") as s:
        s.set_current_label("carol")  # what `label --owner` stored before this fix
    (_home(env) / "models" / "pointer-mouse").mkdir(parents=True)
    (_home(env) / "models" / "pointer-mouse" / "model.json").write_text("{}")
    r = cli("init", "--force", "--user", "dave", env=env)
    flat = " ".join(r.stdout.split())
    assert "the models learnt that person — `activesec train --reset` re-enrols dave" in flat
    assert who() == ("dave", "dave")  # the stale name went with the rename
    assert cli("label", "guest", env=env).returncode == 0
    assert cli("init", "--force", "--user", "erin", env=env).returncode == 0
    assert who() == ("erin", "guest")  # another person's label is kept
    assert cli("label", "--owner", env=env).returncode == 0
    # the config's `user`, when edited, is the owner for every command
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace('user = "erin"', 'user = "frank"', 1))
    assert who() == ("frank", "frank")
    assert "nothing to train yet for 'frank'" in one_line_error(cli("train", env=env))


def test_json_outputs_keep_their_documented_keys(env: dict[str, str]) -> None:
    """README, "Scripts and monitoring": the keys monitoring scripts read, and doctor's exit
    code agreeing with its `ok`."""
    _init(env)
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert {"user", "capturing", "paused", "sessions", "events", "dropped", "agent",
            "trust_history", "models", "enrolment", "apps"} <= set(s)
    assert {"running", "state", "trust", "reason", "last_decision", "stopped"} <= set(s["agent"])
    assert {"lowest", "lowest_at_s"} <= set(s["trust_history"])
    r = cli("doctor", "--json", env=env)
    d = json.loads(r.stdout)
    assert set(d) == {"ok", "checks"} and d["checks"]
    for c in d["checks"]:
        assert set(c) == {"name", "status", "detail", "hint"} and c["status"] in (
            "ok", "warn", "fail")
    assert d["ok"] == all(c["status"] != "fail" for c in d["checks"])
    assert r.returncode == (0 if d["ok"] else 1), r.stderr
    broken = cli("status", "--json", env={**env, "ACTIVESEC_HOME": str(_home(env) / "none")})
    one_line_error(broken)  # and the same error as the one object on stdout
    err = json.loads(broken.stdout)
    assert set(err) == {"ok", "error", "hint"} and err["ok"] is False
    assert "no ActiveSec profile" in err["error"] and err["hint"] == "run `activesec init` first"


def _recordings(root: Path) -> None:
    t = np.arange(200) * 10_000_000
    mouse = ev.make(t, ev.Kind.MOVE, x=np.arange(200) * 3, y=100)
    mouse = np.concatenate(
        [
            mouse,
            ev.make([t[-1] + 50_000_000], ev.Kind.BUTTON_DOWN, 597, 100, 1),
            ev.make([t[-1] + 130_000_000], ev.Kind.BUTTON_UP, 597, 100, 1),
        ]
    )
    for user in ("alice", "mallory"):
        (root / "mouse" / user).mkdir(parents=True)
        write_mouse_csv(root / "mouse" / user / "s1.csv", mouse)
    keys = ev.make(
        [0, 80_000_000, 150_000_000, 210_000_000],
        [ev.Kind.KEY_DOWN, ev.Kind.KEY_UP, ev.Kind.KEY_DOWN, ev.Kind.KEY_UP],
        x=[1, 1, 2, 2],
        code=[1, 1, 3, 3],
    )
    (root / "keys" / "alice").mkdir(parents=True)
    write_keys_csv(root / "keys" / "alice" / "k1.csv", keys)


def test_import_export_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    _init(env)
    src = tmp_path / "rec"
    _recordings(src)
    r = cli("import", str(src), "--json", env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert s["labels"] == ["alice", "mallory"]
    assert s["events"]["move"] == 400 and s["events"]["key_down"] == 2
    out = tmp_path / "exp"
    r = cli("export", "--out", str(out), "--json", env=env)
    assert r.returncode == 0, r.stderr
    files = sorted(p.relative_to(out).parts[:2] for p in out.rglob("*.csv"))
    assert (
        ("mouse", "alice") in files and ("mouse", "mallory") in files and ("keys", "alice") in files
    )
    key_csv = next((out / "keys" / "alice").glob("*.csv")).read_text().splitlines()
    assert key_csv[0] == "key,press,release" and key_csv[1].startswith("letter,")
    for f in out.rglob("*.csv"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    # the export imports again into a fresh home, giving the same counts
    env2 = env_for(tmp_path / "home2")
    _init(env2, "alice")
    assert cli("import", str(out), env=env2).returncode == 0
    s2 = json.loads(cli("status", "--json", env=env2).stdout)
    assert s2["events"] == s["events"]


def test_export_with_injected_through_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    """A bot's moves (the `injected` column of an import) are left out of an export and said;
    `--with-injected` keeps them flagged, and they import back as injected, not as input."""
    _init(env)
    src = tmp_path / "rec"
    (src / "mouse" / "alice").mkdir(parents=True)
    moves = ev.make([i * 8_000_000 for i in range(50)], [ev.Kind.MOVE] * 50,
                    x=list(range(50)), y=[5] * 50)
    moves["flags"][25:] = int(ev.Flag.INJECTED)
    write_mouse_csv(src / "mouse" / "alice" / "s1.csv", moves, injected=True)
    assert cli("import", str(src), env=env).returncode == 0
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert s["events"]["move"] == 50 and s["injected"] == 25
    r = cli("export", "--out", str(tmp_path / "plain"), env=env)
    assert r.returncode == 0 and "left out 25 injected events" in " ".join(r.stdout.split())
    assert "--with-injected keeps them" in " ".join(r.stdout.split())
    r = cli("export", "--out", str(tmp_path / "all"), "--with-injected", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["injected_left_out"] == 0
    rows = next((tmp_path / "all" / "mouse" / "alice").glob("*.csv")).read_text().splitlines()
    assert rows[0].endswith(",injected") and [r[-1] for r in rows[1:]] == ["0"] * 25 + ["1"] * 25
    env2 = env_for(tmp_path / "home2")
    _init(env2, "alice")
    assert cli("import", str(tmp_path / "all"), env=env2).returncode == 0
    s2 = json.loads(cli("status", "--json", env=env2).stdout)
    assert (s2["events"]["move"], s2["injected"]) == (50, 25)


def test_import_says_why_rows_were_unreadable(env: dict[str, str], tmp_path: Path) -> None:
    """It said "rows with missing, non-numeric or out-of-range values" whatever the reason."""
    _init(env)
    f = tmp_path / "rec" / "mouse" / "bob" / "s1.csv"
    f.parent.mkdir(parents=True)
    f.write_text("timestamp,button,state,x,y,injected\n0.0,NoButton,Move,1,2,0\n"
                 "0.01,NoButton,Wiggle,2,2,0\n0.02,NoButton,Move,3,2,9\n"
                 "0.03,NoButton,Move,4,2,1\n")
    r = cli("import", str(tmp_path / "rec"), env=env)
    assert r.returncode == 0, r.stderr
    assert ("imported 1 session (2 events); 2 unreadable rows skipped (1 with a button/state "
            "outside the vocabulary, 1 with an `injected` value other than 0, 1 or 2)"
            ) in " ".join(r.stdout.split())
    again = json.loads(cli("import", str(tmp_path / "rec"), "--label", "x", "--json",
                           env=env).stdout)
    assert again["unreadable"] == {"bad_vocabulary": 1, "bad_injected": 1}


def test_export_since_and_bad_values(env: dict[str, str], tmp_path: Path) -> None:
    _init(env)
    one_line_error(cli("export", "--out", str(tmp_path / "o"), "--since", "yesterday-ish", env=env))
    one_line_error(cli("export", "--out", str(tmp_path / "o"), "--format", "xlsx", env=env))
    one_line_error(cli("import", str(tmp_path / "missing"), env=env))


def test_wipe(env: dict[str, str], tmp_path: Path) -> None:
    _init(env)
    src = tmp_path / "rec"
    _recordings(src)
    assert cli("import", str(src), env=env).returncode == 0
    # what an agent derived from those events: a decision and a minute of trust history
    p = paths_mod.resolve(env["ACTIVESEC_HOME"])
    DecisionLog(decisions_path(p)).append(
        Decision("notify", "suspicious", 60.0, time.time_ns(), "trust 60.0 < 70", {}))
    h = history.TrustHistory(history.history_path(p))
    h.observe(time.time() - 600, 60.0)
    h.close()
    (p.models_dir / "pointer").mkdir(parents=True)
    (p.models_dir / "pointer" / "card.json").write_text("{}")
    (p.models_dir / "background-pointer.npz").write_bytes(b"other people's features")
    # ... and its copies: the alert log where the config puts it (rotated once), the agent log
    audit = tmp_path / "audit" / "alerts.jsonl"
    with (p.config_file).open("a") as fh:
        fh.write(f'\n[actions.params.alertlog]\npath = "{audit}"\n')
    alerts = AlertLogAction(path=audit, max_bytes=1024, backups=2)
    alerts.start()
    for _ in range(12):  # ~150 bytes each: past 1 KiB, rotated
        assert alerts.fire(Decision("lock", "locked", 30.0, time.time_ns(), "trust 30 < 40",
                                    {})).ok
    alerts.stop()
    assert audit.stat().st_size > 0 and Path(f"{audit}.1").exists()
    p.log_dir.mkdir(parents=True, exist_ok=True)
    p.log_file.write_text("... activesec.service.agent WARNING decision lock: trust 30 < 40\n")
    # ... and the stopped agent's status file, whose last decision status shows
    last = {"level": "lock", "state": "locked", "trust": 30.0, "t_wall_ns": time.time_ns(),
            "reason": "trust 30 < 40", "actions": []}
    write_private_text(status_path(p), json.dumps({"running": False, "pid": 1,
                                                   "last_decision": last}))
    assert "--yes" in one_line_error(cli("wipe", env=env))  # no terminal: never a silent wipe
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert s["events_total"] > 0
    assert s["agent"]["last_decision"] == last
    assert s["trust_history"]["minutes"] == 1 and s["trust_history"]["lowest"] == 60.0
    assert "trust        lowest 60/100 in the last 24 h" in cli("status", env=env).stdout
    r = cli("wipe", "--yes", env=env)
    assert r.returncode == 0 and "decisions, trust history and logs" in r.stdout
    assert audit.stat().st_size == 0 and list(audit.parent.iterdir()) == [audit]
    assert p.log_file.stat().st_size == 0
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert s["events_total"] == 0 and s["sessions"] == 0
    assert s["agent"]["last_decision"] is None  # it was still shown after the wipe
    assert s["trust_history"]["minutes"] == 0 and "trust " not in cli("status", env=env).stdout
    assert not decisions_path(p).exists() and not history.history_path(p).exists()
    # the owner's model is gone; the background population (public data) is not theirs: kept
    assert not (p.models_dir / "pointer").exists()
    assert (p.models_dir / "background-pointer.npz").read_bytes() == b"other people's features"


def test_an_alert_log_path_in_the_home_folder_is_where_wipe_clears(env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    """`path = "~/audit/alerts.jsonl"` was taken literally: the agent wrote into a folder named
    `~` under its working folder (its service's), and `wipe` — run from elsewhere — cleared
    nothing. A relative path has the same flaw: refused, in one line."""
    _init(env)
    env = dict(env, HOME=str(tmp_path / "user"))
    audit = tmp_path / "user" / "audit" / "alerts.jsonl"
    cfg = _home(env) / "config.toml"
    text = cfg.read_text()
    cfg.write_text(text + '\n[actions.params.alertlog]\npath = "~/audit/alerts.jsonl"\n')
    assert cli("status", env=env).returncode == 0
    alerts = AlertLogAction(path=audit)
    alerts.start()
    assert alerts.fire(Decision("lock", "locked", 30.0, time.time_ns(), "trust 30 < 40", {})).ok
    alerts.stop()
    assert audit.stat().st_size > 0
    r = cli("wipe", "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert audit.stat().st_size == 0
    cfg.write_text(text + '\n[actions.params.alertlog]\npath = "audit/alerts.jsonl"\n')
    line = one_line_error(cli("status", env=env))
    assert "alertlog.path must be an absolute path, got 'audit/alerts.jsonl'" in line


def test_wipe_that_cannot_delete_a_file_says_which_and_deletes_the_rest(
        env: dict[str, str], tmp_path: Path) -> None:
    """A models folder it may not change, or a rotated alert log in a folder it may not write,
    ended `wipe` in a traceback after the events were gone, and left the logs after it."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not available")
    _init(env)
    p = paths_mod.resolve(env["ACTIVESEC_HOME"])
    (p.models_dir / "pointer").mkdir(parents=True)
    (p.models_dir / "pointer" / "card.json").write_text("{}")
    audit = tmp_path / "audit" / "alerts.jsonl"
    audit.parent.mkdir()
    audit.write_text("lock\n")
    Path(f"{audit}.1").write_text("lock\n")
    with p.config_file.open("a") as fh:
        fh.write(f'\n[actions.params.alertlog]\npath = "{audit}"\n')
    p.log_file.write_text("... decision lock: trust 30 < 40\n")
    DecisionLog(decisions_path(p)).append(
        Decision("notify", "suspicious", 60.0, time.time_ns(), "trust 60.0 < 70", {}))
    p.models_dir.chmod(0o500)
    audit.parent.chmod(0o500)
    try:  # root ignores permissions: drop the capabilities that let it
        r = subprocess.run(
            ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
             "-dac_override,-dac_read_search", sys.executable, "-m", "activesec.cli.main",
             "wipe", "--yes"], env=env, capture_output=True, text=True, timeout=120)
    finally:
        p.models_dir.chmod(0o700)
        audit.parent.chmod(0o700)
    line = one_line_error(r)
    assert f"but not {p.models_dir / 'pointer'} (and 1 more): Permission denied" in line
    assert f"make {p.models_dir} writable" in line and "`activesec wipe --yes` again" in line
    # everything it could delete is gone, as it says
    assert json.loads(cli("status", "--json", env=env).stdout)["events_total"] == 0
    assert not decisions_path(p).exists()
    assert p.log_file.stat().st_size == 0 and audit.stat().st_size == 0
    r = cli("wipe", "--yes", env=env)  # with the permissions fixed, again: all of it
    assert r.returncode == 0, r.stderr
    assert not (p.models_dir / "pointer").exists() and list(audit.parent.iterdir()) == [audit]


def test_wipe_with_an_invalid_config_still_clears_the_alert_log_it_names(
        env: dict[str, str], tmp_path: Path) -> None:
    """With one invalid value elsewhere in the file, `wipe` looked for the alert log only in its
    default place, left the configured one holding every decision and still said "all ... logs
    deleted". A file that does not even parse cannot say where the log is: wipe deletes the rest
    and fails in one line saying so."""
    _init(env)
    p = paths_mod.resolve(env["ACTIVESEC_HOME"])
    audit = tmp_path / "audit" / "alerts.jsonl"
    audit.parent.mkdir()
    audit.write_text('{"level": "lock"}\n')
    Path(f"{audit}.1").write_text('{"level": "lock"}\n')
    text = p.config_file.read_text().replace("# keep_days = 90", 'keep_days = "ninety"')
    p.config_file.write_text(text + f'\n[actions.params.alertlog]\npath = "{audit}"\n')
    assert one_line_error(cli("status", env=env)).count("keep_days") >= 1
    r = cli("wipe", "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert audit.stat().st_size == 0 and not Path(f"{audit}.1").exists()

    audit.write_text('{"level": "lock"}\n')
    p.config_file.write_text(text + f'\n[actions.params.alertlog]\npath = "{audit}"\n[store\n')
    p.log_file.write_text("... decision lock: trust 30 < 40\n")
    line = one_line_error(cli("wipe", "--yes", env=env))
    assert "not valid TOML" in line and "alert log" in line and "wipe --yes` again" in line
    assert p.log_file.stat().st_size == 0  # the rest is wiped all the same
    p.config_file.write_text(text)  # a machine policy that does not parse: its fixer is named
    site = tmp_path / "policy.toml"
    site.write_text("[enforced\n")
    line = one_line_error(cli("wipe", "--yes", env={**env, "ACTIVESEC_SITE_CONFIG": str(site)}))
    assert f"ask whoever manages this machine to fix {site}, then run `activesec wipe" in line

def test_corrupt_database_is_refused_and_untouched(env: dict[str, str]) -> None:
    _init(env)
    db = _home(env) / "activesec.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x13" * 5000)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for args in (("status",), ("capture", "--duration", "1"), ("export", "--out", "/tmp/o")):
        one_line_error(cli(*args, env=env))
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_foreign_file_is_refused(env: dict[str, str]) -> None:
    _init(env)
    db = _home(env) / "activesec.db"
    db.write_text("name,value\nnot,a database\n")
    line = one_line_error(cli("status", env=env))
    assert str(db) in line
    assert db.read_text() == "name,value\nnot,a database\n"


def test_invalid_config_names_the_key(env: dict[str, str]) -> None:
    _init(env)
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace("# keep_days = 90", "keep_days = -1"))
    assert "store.keep_days" in one_line_error(cli("capture", "--duration", "1", env=env))
    env_bad = dict(env, ACTIVESEC_CAPTURE__BACKEND="telepathy")
    cfg.write_text(cfg.read_text().replace("keep_days = -1", "# keep_days = 90"))
    assert "capture.backend" in one_line_error(cli("capture", "--duration", "1", env=env_bad))


def test_capture_without_display_says_what_to_do(env: dict[str, str]) -> None:
    _init(env)
    line = one_line_error(cli("capture", "--backend", "x11", "--duration", "1", env=env))
    assert "DISPLAY" in line or "display" in line


def test_init_documents_the_engine_and_doctor_checks_it(env: dict[str, str]) -> None:
    _init(env)
    cfg = _home(env) / "config.toml"
    text = cfg.read_text()
    assert "[engine.trust]\n" in text and "# neutral_z = -0.3\n" in text
    ok = json.loads(cli("doctor", "--json", env=env).stdout)
    (check,) = [c for c in ok["checks"] if c["name"] == "config"]
    assert check["status"] == "ok" and "differs" not in check["detail"]
    # what the file sets unlike the defaults, [engine] included
    cfg.write_text(text.replace("# neutral_z = -0.3\n", "neutral_z = -1\n"))
    (check,) = [c for c in json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
                if c["name"] == "config"]
    assert check["detail"].endswith("differs from the defaults: engine.trust.neutral_z = -1 "
                                    "(default -0.3)"), check
    cfg.write_text(text.replace("# neutral_z = -0.3\n", 'neutral_z = "low"\n'))
    r = cli("doctor", env=env)  # `run` would refuse this file: doctor must not call it valid
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    flat = " ".join(r.stdout.split())
    assert "FAIL config: invalid configuration value for 'engine.trust.neutral_z'" in flat
    assert "(default -0.3)" in flat
    # status said nothing and exited 0 on a file `run` refuses
    line = one_line_error(cli("status", env=env))
    assert "invalid configuration value for 'engine.trust.neutral_z'" in line


@pytest.mark.parametrize(("gate", "said"), [
    ('rules = [{ name = "games", match = "steam", mode = "freeze" }]',
     "gate.rules[0]: 'mode' must be 'suspend' or 'close', got 'freeze'"),
    ('rulez = [{ name = "games", match = "steam" }]',
     "unknown setting(s) rulez in [actions.params.gate]"),
])
def test_doctor_and_status_check_the_gate_rules_as_run_does(env: dict[str, str], gate: str,
                                                           said: str) -> None:
    """A parent's misspelt rule: doctor called the file valid and status was silent, then
    `run` refused it (exit 78) — or a misspelt key surfaced as Python's "__init__() got an
    unexpected keyword argument"."""
    _init(env)
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace(
        "[actions]\n", '[actions]\non_gate = ["gate"]\n', 1) + f"\n[actions.params.gate]\n{gate}\n")
    r = cli("doctor", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    flat = " ".join(r.stdout.split())
    assert said in flat and "FAIL config:" in flat
    line = one_line_error(cli("status", env=env))
    assert said in line
    if "rulez" in said:  # and which settings there are
        assert "the gate action takes: rules, state_file" in flat
        assert "the gate action takes: rules, state_file" in line


def test_status_lists_the_apps_used_lately(env: dict[str, str]) -> None:
    _init(env)
    now = time.time_ns()
    with Store.open(_home(env) / "activesec.db") as s:  # what a capture records, app by app
        old = s.begin_session("alice", "x11", wall_ns=now - 30 * 86_400 * 10**9, mono_ns=0)
        s.record_app(old, 10**9, "oldgame")  # a month ago: not listed
        sid = s.begin_session("alice", "x11", wall_ns=now - 600 * 10**9, mono_ns=0)
        for i, app in enumerate(["/usr/games/supertux2", "xterm"]):
            s.record_app(sid, (i + 1) * 60 * 10**9, app)
        s.commit()
    data = json.loads(cli("status", "--json", env=env).stdout)["apps"]
    assert data["days"] == 7
    assert [a["name"] for a in data["recent"]] == ["xterm", "supertux2"]
    assert data["recent"][0]["last_seen_wall_ns"] == now - 480 * 10**9
    human = " ".join(cli("status", env=env).stdout.split())
    assert "apps xterm, supertux2 (in front in the last 7 days, latest first;" in human
    assert "oldgame" not in human


def test_doctor_names_an_injecting_tool_this_account_runs(env: dict[str, str],
                                                          tmp_path: Path) -> None:
    """A real process named like an on-screen keyboard: doctor warns while injected input is
    distrusted, and says it is fine once the config scores it."""
    _init(env)
    tool = Counter(tmp_path, "mousetweaks")
    try:
        checks = json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
        (found,) = [c for c in checks if c["name"] == "injected input"]
        assert found["status"] == "warn", found
        assert found["detail"].startswith("mousetweaks (dwell clicking) running")
        cfg = _home(env) / "config.toml"
        text = cfg.read_text()
        assert '# injected = "distrust"' in text
        cfg.write_text(text.replace('# injected = "distrust"', 'injected = "score"', 1))
        checks = json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
        (found,) = [c for c in checks if c["name"] == "injected input"]
        assert found["status"] == "ok", found
    finally:
        tool.kill()


def test_doctor_says_when_gate_rules_would_gate_nothing(env: dict[str, str],
                                                        tmp_path: Path) -> None:
    """A parent's silent failures: rules that on_gate never runs, and a misspelt app name."""
    _init(env)
    with Store.open(_home(env) / "activesec.db") as s:
        sid = s.begin_session("alice", "x11", wall_ns=time.time_ns() - 600 * 10**9, mono_ns=0)
        s.record_app(sid, 60 * 10**9, "/usr/games/supertux2")
        s.commit()
    running = unique("asdoc")
    game = Counter(tmp_path, running)
    cfg = _home(env) / "config.toml"
    base = cfg.read_text()

    def gate_check(on_gate: str, *matches: str) -> dict[str, str]:
        rules = ", ".join(f'{{name = "r{i}", match = "{m}"}}' for i, m in enumerate(matches))
        cfg.write_text(base.replace("[actions]\n", f"[actions]\non_gate = {on_gate}\n"
                                    f"params = {{gate = {{rules = [{rules}]}}}}\n", 1))
        checks = json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
        (found,) = [c for c in checks if c["name"] == "gate"]
        return found

    try:
        c = gate_check('["alertlog"]', "supertux2")
        assert c["status"] == "warn" and "does not run 'gate': nothing will be gated" in c["detail"]
        c = gate_check('["gate"]', "supertux2", running)
        assert c["status"] == "ok", c
        assert c["detail"] == ("r0 (suspend 'supertux2'): in front in the last 7 days; "
                               f"r1 (suspend '{running}'): running now")
        c = gate_check('["gate"]', "supertux2", "supertuxx2")
        assert c["status"] == "warn" and "no process matches r1 ('supertuxx2') now" in c["detail"]
        assert "activesec status" in c["hint"]
    finally:
        game.kill()


def test_every_command_has_help(env: dict[str, str]) -> None:
    for c in (
        "init",
        "capture",
        "label",
        "status",
        "pause",
        "resume",
        "wipe",
        "doctor",
        "export",
        "import",
        "evaluate",
    ):
        r = cli(c, "--help", env=env)
        assert r.returncode == 0 and "Usage" in r.stdout, c


def test_continuous_is_refused_where_not_implemented(env: dict[str, str], tmp_path: Path) -> None:
    line = one_line_error(
        cli("evaluate", "aalto", "--data", str(tmp_path), "--continuous", env=env)
    )
    assert "balabit, mouse-csv and keys-csv" in line and "replay" in line


def test_machine_policy_enforces_over_the_users_config(env: dict[str, str],
                                                       tmp_path: Path) -> None:
    """An admin's (or parent's) policy file: the account's own config cannot switch the lock
    off; doctor says so; a broken policy stops every command with one line, touching nothing."""
    _init(env)
    site = tmp_path / "policy.toml"
    site.write_text('[enforced.actions]\non_lock = ["lock", "alertlog"]\n')
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace("# on_lock = ", "on_lock = []  # was "))
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site))
    checks = json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
    (policy,) = [c for c in checks if c["name"] == "machine policy"]
    assert policy["status"] == "warn"
    assert "it overrides your actions.on_lock (config.toml)" in policy["detail"]
    site.write_text("[enforced.actions]\non_lock = 3\n")
    db = (_home(env) / "activesec.db").read_bytes()
    line = one_line_error(cli("status", env=env))
    assert "'actions.on_lock'" in line and f"from [enforced] in the machine policy {site}" in line
    r = cli("doctor", env=env)  # brackets in a finding are text, not rich markup
    assert r.returncode == 1 and "(from [enforced] in the machine policy" in r.stdout
    assert (_home(env) / "activesec.db").read_bytes() == db
    # the tables only higher layers check ([engine], action parameters) name the policy too,
    # not the account's config.toml that inherited them
    for table, said in (
            ("[defaults.engine.policy]\nnotify_below = 300\n",
             "'engine.policy.notify_below': Input should be less than or equal to 100 (from "
             "[defaults] in the machine policy"),
            ('[enforced.actions.params.gate]\nrules = [{ match = "steam", mode = "freeze" }]\n',
             "gate.rules[0]: 'mode' must be 'suspend' or 'close', got 'freeze' (from [enforced] "
             "in the machine policy")):
        site.write_text(table)
        line = one_line_error(cli("status", env=env))
        assert said in line and f"ask whoever manages this machine to fix {site}" in line


def test_status_says_which_values_the_machine_policy_pins(env: dict[str, str],
                                                          tmp_path: Path) -> None:
    """An account's `status` said nothing of a machine policy: an admin (or the child) reading it
    could not tell that the lock level or the SIEM target were pinned, nor to what; `doctor`
    named the keys but not their values. Both now say the values, `status --json` under
    `policy` (null without one), and the account's own setting does not change them."""
    _init(env)
    assert json.loads(cli("status", "--json", env=env).stdout)["policy"] is None
    assert "policy" not in cli("status", env=env).stdout
    site = tmp_path / "policy.toml"
    site.write_text('[defaults.train]\ntarget_far = 0.02\n'
                    '[enforced.actions]\non_lock = ["lock", "alertlog"]\n'
                    '[enforced.actions.params.alertlog]\nsyslog = "udp://127.0.0.1:5514"\n'
                    '[enforced.engine.policy]\nlock_below = 35.0\n')
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace("# on_lock = ", "on_lock = []  # was "))
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site))
    r = cli("status", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["policy"] == {
        "path": str(site),
        "enforced": {"actions.on_lock": ["lock", "alertlog"],
                     "actions.params.alertlog.syslog": "udp://127.0.0.1:5514",
                     "engine.policy.lock_below": 35.0, "engine.trust.lock_level": 35.0},
        "defaults": {"train.target_far": 0.02}}
    text = " ".join(cli("status", env=env).stdout.split())
    assert (f'policy {site}: enforces actions.on_lock = ["lock", "alertlog"], '
            'actions.params.alertlog.syslog = "udp://127.0.0.1:5514", '
            "engine.policy.lock_below = 35.0, engine.trust.lock_level = 35.0 (your own settings "
            "cannot change these); sets the defaults of train.target_far") in text
    checks = json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
    (policy,) = [c for c in checks if c["name"] == "machine policy"]
    assert 'enforces actions.on_lock = ["lock", "alertlog"]' in policy["detail"]
    assert "engine.policy.lock_below = 35.0" in policy["detail"]


def test_an_accounts_environment_is_not_blamed_on_the_machine_policy(env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    """The policy's own tables were checked with the account's ACTIVESEC_* environment mixed
    in: an account's `ACTIVESEC_ENGINE__TRUST__LOCK_LEVEL=5` under an enforced `lock_below`
    (which enforces both names, so the variable is simply overridden) stopped every command
    with "from [enforced] in the machine policy … ask whoever manages this machine to fix" —
    on every account of a fleet that set one. The account's clash with an enforced value is the
    account's to fix, and says so."""
    _init(env)
    site = tmp_path / "policy.toml"
    site.write_text("[enforced.engine.policy]\nlock_below = 35.0\n")
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site))
    r = cli("status", "--json", env={**env, "ACTIVESEC_ENGINE__TRUST__LOCK_LEVEL": "5"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["policy"]["enforced"]["engine.trust.lock_level"] == 35.0
    mine = {**env, "ACTIVESEC_ENGINE__POLICY__NOTIFY_BELOW": "30"}
    line = one_line_error(cli("status", env=mine))
    assert "lock_below (35) must not exceed notify_below (30)" in line
    assert "enforces engine.policy.lock_below = 35.0: change your own settings to fit it" in line
    assert "ask whoever manages this machine" not in line


def test_doctor_fails_when_the_command_hook_is_not_installed(env: dict[str, str],
                                                            tmp_path: Path) -> None:
    """A pager hook templated into every machine's policy but missing on this one: every
    decision's command failed, and doctor (what an admin runs on each machine) said nothing.
    Now it fails with what is missing and whose it is to fix; present, it is ok."""
    _init(env)
    hook = tmp_path / "bin" / "page-admin"
    site = tmp_path / "policy.toml"
    site.write_text('[enforced.actions]\non_notify = ["notify", "command", "alertlog"]\n'
                    f'[enforced.actions.params.command]\nargv = ["{hook}", "--quiet"]\n'
                    "locks = false\n")
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site))

    def check() -> tuple[int, dict[str, str]]:
        r = cli("doctor", "--json", env=env)
        (c,) = [c for c in json.loads(r.stdout)["checks"] if c["name"] == "command"]
        return r.returncode, c

    code, c = check()
    assert code == 1 and c["status"] == "fail", c
    assert c["detail"] == (f"[actions.params.command] argv runs {hook}, which is not installed "
                           "here (or not executable): every decision of on_notify fails to run "
                           "it")
    assert c["hint"].startswith("the machine policy sets it: ask whoever manages this machine")
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\ncat >/dev/null\n")
    hook.chmod(0o644)  # there, but it cannot run
    assert check()[1]["status"] == "fail"
    hook.chmod(0o755)
    assert check()[1] == {"name": "command", "status": "ok",
                          "detail": f"argv runs {hook} (on_notify)", "hint": ""}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="would enable a unit for root")
def test_service_install_as_root_says_it_is_roots_own(env: dict[str, str],
                                                      tmp_path: Path) -> None:
    """`sudo activesec service install` (the admin forgot --all-users) installed a unit for
    root's own log-in and said only that it was installed (or, under sudo, that `systemctl
    --user` failed): nothing said every other account was left unprotected."""
    exe = shutil.which("true")
    assert exe is not None
    env = dict(env, HOME=str(tmp_path / "root-home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    r = cli("service", "install", "--kind", "systemd", "--exe", exe, "--json", env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["path"] == str(tmp_path / "cfg/systemd/user/activesec.service")
    assert res["detail"].endswith("; as root this is root's own log-in only — for every "
                                  "account's: `sudo activesec service install --all-users`")
    assert cli("service", "uninstall", "--kind", "systemd", env=env).returncode == 0


def test_an_alert_log_path_the_account_cannot_write(env: dict[str, str], tmp_path: Path,
                                                   xdisplay: str) -> None:
    """A policy putting every account's alert log in one shared place the account cannot
    create (here: below a file): `run` died with a traceback when it opened the file, so the
    log-in service retried until its start limit, while `status` and `doctor` called the
    configuration valid. Now it is a configuration error like any other, naming the policy:
    one line, exit 78 from `run` (the service waits for the fixed file), nothing touched."""
    _init(env)
    blocker = tmp_path / "var-log"
    blocker.write_text("a file, not a folder\n")
    site = tmp_path / "policy.toml"
    site.write_text(f'[enforced.actions.params.alertlog]\npath = "{blocker}/alerts.jsonl"\n')
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site), DISPLAY=xdisplay)
    said = (f"error: alertlog.path {blocker}/alerts.jsonl: {blocker} is not a folder (from "
            f"[enforced] in the machine policy {site}) — name a file each account can write, e.g. "
            'path = "~/.local/state/activesec/alerts.jsonl"')
    assert one_line_error(cli("status", env=env)).startswith(said)
    r = cli("doctor", "--json", env=env)
    (c,) = [c for c in json.loads(r.stdout)["checks"] if c["name"] == "config"]
    assert r.returncode == 1 and c["status"] == "fail", c
    r = cli("run", "--duration", "2", "--quiet", env=env)
    assert r.returncode == EX_CONFIG and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(said)
    assert blocker.read_text() == "a file, not a folder\n"
    site.write_text('[enforced.actions.params.alertlog]\npath = "~/alerts.jsonl"\n')
    assert cli("status", env=env).returncode == 0


def test_a_policy_enforcing_on_lock_names_what_still_switches_locking_off(
        env: dict[str, str], tmp_path: Path) -> None:
    """The README's policy said "the account cannot switch locking off" by enforcing on_lock,
    yet the account's own `[engine.policy] locks = false` (or a year's grace_s, `[train] auto =
    false`, capture off) kept the agent from ever locking, and doctor called the policy ok."""
    _init(env)
    site = tmp_path / "policy.toml"
    site.write_text('[enforced.actions]\non_lock = ["lock", "alertlog"]\n')
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace("[engine.policy]\n", "[engine.policy]\nlocks = false\n",
                                           1))
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site))

    def policy() -> dict[str, str]:
        (c,) = [c for c in json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
                if c["name"] == "machine policy"]
        return c

    c = policy()
    assert c["status"] == "warn"
    assert ("it enforces on_lock, but an account's own settings may still keep it from ever "
            "locking: engine.policy.locks = false (no lock decision at all), "
            "engine.policy.lock_below = 1 (a lock only once trust is all but gone), "
            ) in c["detail"]
    assert "capture.keyboard = false (nothing captured)" in c["detail"]
    assert (f"enforce them too in {site}: [enforced.engine.policy] locks = true, "
            "[enforced.engine.policy] lock_below = 40.0, ") in c["hint"]
    site.write_text('[enforced.actions]\non_lock = ["lock", "alertlog"]\n'
                    "[enforced.engine.policy]\nlocks = true\nlock_below = 40.0\ngrace_s = 30.0\n"
                    "[enforced.train]\nauto = true\n"
                    "[enforced.enrol]\npointer_events = 15000\nkeystrokes = 2000\n"
                    "[enforced.capture]\npointer = true\nkeyboard = true\n")
    c = policy()
    assert "keep it from ever locking" not in c["detail"]
    assert "it overrides your engine.policy.locks (config.toml)" in c["detail"]


def test_a_backend_flag_the_policy_overrides_says_so(env: dict[str, str], tmp_path: Path,
                                                    xdisplay: str) -> None:
    """`capture --backend evdev` under a policy enforcing x11 captured with x11 "chosen in the
    configuration (capture.backend)": the flag was silently overridden, by whom not said."""
    _init(env)
    site = tmp_path / "policy.toml"
    site.write_text('[enforced.capture]\nbackend = "x11"\n')
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site), DISPLAY=xdisplay)
    r = cli("capture", "--backend", "evdev", "--duration", "1", env=env)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())  # the "capturing with" line is on stderr
    assert ("capturing with x11 (the machine policy enforces capture.backend = 'x11' over "
            "--backend evdev)") in said, said


def test_doctor_says_whether_training_has_a_background(env: dict[str, str],
                                                       tmp_path: Path) -> None:
    """Every check passed on a fresh machine, then training quietly fell back to the one-class
    detectors (Balabit EER 29 % against 6 %): doctor names the fallback and the command that
    avoids it, and what is installed once it is."""
    _init(env)

    def check() -> dict[str, str]:
        (c,) = [c for c in json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
                if c["name"] == "background"]
        return c

    c = check()
    assert c["status"] == "warn" and "background build --balabit PATH --aalto PATH" in c["hint"]
    assert "gmm for pointer instead of extra_trees" in c["detail"]
    assert "scaled_manhattan for keyboard instead of plda" in c["detail"]
    bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=1500)
    r = cli("background", "build", "--balabit", str(bal), "--max-rows", "300", env=env)
    assert r.returncode == 0, r.stderr
    c = check()  # the keyboard still has none
    assert c["status"] == "warn" and "for pointer" not in c["detail"], c
    assert "scaled_manhattan for keyboard" in c["detail"]
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace('# keys_detector = ""', 'keys_detector = '
                                           '"scaled_manhattan"', 1))
    c = check()
    assert c["status"] == "ok", c
    assert "pointer: extra_trees, " in c["detail"] and "rows of 3 people" in c["detail"]
    assert "keyboard: scaled_manhattan, needs no background" in c["detail"]
    f = _home(env) / "models" / "background-pointer.npz"
    f.write_bytes(f.read_bytes()[:-4] + b"0000")
    c = check()
    assert c["status"] == "warn" and "hash mismatch" in c["detail"], c
    assert "falls back to the one-class gmm" in c["detail"]
    assert "background build" in c["hint"]


def test_doctor_checks_the_profile_gating_without_rules_and_a_broken_policy(
        env: dict[str, str], tmp_path: Path) -> None:
    """Three things doctor called fine: a damaged profile.json (`run` exits 78 on it), on_gate
    running 'gate' with no rule (nothing is ever gated), and a machine policy enforcing a
    misspelt key (listed as enforced, "ok", beside the config check's failure)."""
    _init(env)

    def doctor(e: dict[str, str] = env) -> tuple[int, dict[str, dict[str, str]]]:
        r = cli("doctor", "--json", env=e)
        return r.returncode, {c["name"]: c for c in json.loads(r.stdout)["checks"]}

    _, checks = doctor()
    assert checks["profile"]["status"] == "ok" and "owner alice" in checks["profile"]["detail"]
    assert "gate" not in checks  # nothing configured, nothing to say
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace("[actions]\n", '[actions]\non_gate = ["gate"]\n', 1))
    _, checks = doctor()
    assert checks["gate"]["status"] == "warn", checks["gate"]
    assert "there are no gate rules: nothing will be gated" in checks["gate"]["detail"]
    site = tmp_path / "policy.toml"
    site.write_text("[enforced.engine.policy]\ngate_belw = 40.0\n")
    code, checks = doctor({**env, "ACTIVESEC_SITE_CONFIG": str(site)})
    assert code == 1 and checks["config"]["status"] == "fail"
    assert checks["machine policy"]["status"] == "fail", checks["machine policy"]
    assert "but it is invalid" in checks["machine policy"]["detail"]
    site.write_text("[enforced.actions]\non_lock = 5\n")  # a table the core layer checks
    code, checks = doctor({**env, "ACTIVESEC_SITE_CONFIG": str(site)})
    assert code == 1 and "in the machine policy" in checks["config"]["detail"]
    assert checks["machine policy"]["status"] == "fail", checks  # was left out of the list
    assert "ask whoever manages this machine" in checks["machine policy"]["hint"]
    (_home(env) / "profile.json").write_text('{"user": ')
    code, checks = doctor()
    assert code == 1 and checks["profile"]["status"] == "fail"
    assert "unreadable or damaged" in checks["profile"]["detail"]
    assert "activesec init --force" in checks["profile"]["hint"]


@pytest.mark.parametrize(("training", "said"), [
    ("running", "the agent is training your model now"),
    ("updating", "the agent is updating your model for drift now"),
    ("upgrading", "the agent is refitting the one-class fallback model"),
    ("idle", None), ("done", None), ("failed", None),
])
def test_status_says_the_agent_is_training_now(env: dict[str, str], training: str,
                                               said: str | None) -> None:
    """While the running agent trained in the background, `status` (and `--json`) did not say
    so: enrolment at 100 %, "why: no model yet: enrolling", and nothing about the training."""
    import os

    from activesec.core.instance import InstanceLock

    _init(env)
    p = paths_mod.resolve(_home(env))
    with InstanceLock(p.run_dir / "capture.lock", "agent"):  # this process: the running agent
        write_private_text(status_path(p), json.dumps({
            "running": True, "pid": os.getpid(), "state": "enrolling", "trust": None,
            "reason": "no model yet: enrolling", "training": training}))
        data = json.loads(cli("status", "--json", env=env).stdout)
        text = " ".join(cli("status", env=env).stdout.split())
    # `training` is the job under way (README): null once it is done, not "done" for good
    assert data["agent"]["running"] and data["agent"]["training"] == (training if said else None)
    if said:
        assert said in text.split(" training ", 1)[1], text
    else:
        assert " training " not in text, text


def test_status_counts_one_minute_of_trust_history_in_the_singular(
        env: dict[str, str]) -> None:
    """ "(25 updates in 1 minutes with input)" after the agent's first minute of scoring."""
    import time as time_mod

    from activesec.service import history

    _init(env)
    p = paths_mod.resolve(_home(env))
    minute = int(time_mod.time()) // 60 * 60 - 120
    history.history_path(p).write_text(json.dumps(
        {"t": minute, "lo": 35.0, "hi": 90.0, "last": 35.0, "n": 1}) + "\n")
    text = " ".join(cli("status", env=env).stdout.split())
    assert "(1 update in 1 minute with input)" in text, text


def test_status_says_who_trains_the_first_model(env: dict[str, str], tmp_path: Path) -> None:
    """`status` said "none yet (trains by itself when enrolment is complete)" whatever the
    case: with enrolment complete and no agent running, or with `[train] auto` off, nothing
    trains by itself — the owner waited for a model that never came."""
    from activesec.recordings import write_mouse_csv
    from activesec.recordings.synthetic import pointer_person

    _init(env)
    env = {**env, "ACTIVESEC_ENROL__POINTER_EVENTS": "500"}

    def model_line(**extra: str) -> str:
        text = cli("status", env={**env, **extra}).stdout
        return " ".join(text.split("  model ", 1)[1].split("\n  ", 1)[0].split())

    assert "`activesec run` enrols you" in model_line()
    off = model_line(ACTIVESEC_TRAIN__AUTO="false")
    assert "`[train] auto` is off" in off and "once enrolment is complete" in off, off
    write_mouse_csv(tmp_path / "rec" / "alice" / "s1.csv", pointer_person(40, 1))
    assert cli("import", str(tmp_path / "rec"), env=env).returncode == 0
    done = model_line()
    assert "enrolment complete: `activesec train` trains it now" in done, done
    assert "auto` is off" in model_line(ACTIVESEC_TRAIN__AUTO="false")


def test_status_says_why_trust_fell_and_that_the_lock_failed(env: dict[str, str]) -> None:
    """An owner locked out on an unusual day ran `status`: "agent locked, last alert lock:
    trust 38.2 < 40 (lock level)" — not which features fell out of their profile, nor what to
    do, nor that the lock had failed (no locker answered: the session stayed open)."""
    import os

    from activesec.core.instance import InstanceLock

    _init(env)
    p = paths_mod.resolve(_home(env))
    last = {"level": "lock", "state": "locked", "trust": 38.2, "t_wall_ns": 1,
            "reason": "trust 38.2 < 40 (lock level)",
            "actions": [{"name": "lock", "op": "fire", "ok": False,
                         "detail": "could not lock the session, tried loginctl"},
                        {"name": "alertlog", "op": "fire", "ok": True, "detail": "logged"}],
            "deviating_features": [["vx_mean", -3.74], ["j_min", -1.79], ["vy_mean", 12.25]]}
    with InstanceLock(p.run_dir / "capture.lock", "agent"):  # this process: the running agent
        write_private_text(status_path(p), json.dumps({
            "running": True, "pid": os.getpid(), "state": "locked", "trust": 27.0,
            "last_decision": last}))
        data = json.loads(cli("status", "--json", env=env).stdout)
        text = " ".join(cli("status", env=env).stdout.split())
        write_private_text(status_path(p), json.dumps({  # after `activesec train --reset`
            "running": True, "pid": os.getpid(), "state": "enrolling", "trust": None,
            "last_decision": last}))
        enrolling = " ".join(cli("status", env=env).stdout.split())
        # a program's input (xdotool): re-enrolling never makes it trusted, so not the advice
        write_private_text(status_path(p), json.dumps({
            "running": True, "pid": os.getpid(), "state": "locked", "trust": 34.0,
            "last_decision": {**last, "deviating_features": [["injected_events", 12.0]]}}))
        injected = " ".join(cli("status", env=env).stdout.split())
    assert "vx_mean" in enrolling and "train --reset" not in enrolling, enrolling
    assert "train --reset" not in injected and "input a program injected (xdotool" in injected
    assert '`activesec doctor` names such tools running, and [engine.scoring] injected = ' \
           '"score" judges it as yours' in injected, injected
    assert data["agent"]["last_decision"]["deviating_features"] == last["deviating_features"]
    assert "lock failed: could not lock the session, tried loginctl" in text, text
    assert "alertlog failed" not in text, text
    # rounded as the dashboard rounds them (12.25: 12.3 there)
    assert ("horizontal speed -3.7 (vx_mean); most abrupt drop in acceleration -1.8 (j_min); "
            "vertical speed +12.3 (vy_mean)") in text, text
    assert "`activesec train --reset` re-enrols" in text, text


@pytest.mark.parametrize(("sig", "code"), [("SIGTERM", 0), ("SIGINT", 130)])
def test_an_agent_stopped_while_waiting_for_a_fix_is_not_said_to_start_by_itself(
        env: dict[str, str], sig: str, code: int) -> None:
    """`run --wait-for-fix` (the log-in service) waiting on an invalid config, then stopped
    (log-out, `systemctl stop`, Ctrl-C): status, doctor and service status went on saying it
    "has been waiting … (it starts by itself then)" — fixing the file started nothing."""
    import signal

    from tests.helpers.cli import popen
    from tests.helpers.procs import wait_until

    _init(env)
    home = _home(env)
    good = (home / "config.toml").read_text()
    (home / "config.toml").write_text(good.replace("# keep_days = 90", "keep_days = -1"))
    stopped = home / "run" / "stopped.json"
    agent = popen("run", "--quiet", "--wait-for-fix", env=env)
    try:
        wait_until(lambda: stopped.exists() and json.loads(stopped.read_text())["waiting"],
                   "the agent to wait")
        time.sleep(0.5)
    finally:
        agent.send_signal(getattr(signal, sig))
        assert agent.wait(60) == code, agent.communicate()
    assert "Traceback" not in agent.communicate()[1]
    entry = json.loads(stopped.read_text())
    assert entry["waiting"] is False and "store.keep_days" in entry["message"]
    (home / "config.toml").write_text(good)  # fixed: but no agent is there to start
    text = " ".join(cli("status", env=env).stdout.split())
    assert "starts by itself" not in text and "waiting since" not in text, text
    assert "stopped at" in text and "start it again with `activesec service restart`" in text


def test_the_readmes_machine_policy_example_loads_and_wins(env: dict[str, str],
                                                           tmp_path: Path) -> None:
    """The policy an admin or parent copies from the README (read from it, so the two never
    drift) is valid, and an account's weaker trust setting is overridden, as doctor says."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
                if "[enforced.engine.policy]" in b]
    site = tmp_path / "policy.toml"
    site.write_text(block)
    _init(env)
    cfg = _home(env) / "config.toml"
    cfg.write_text(cfg.read_text().replace("[engine.trust]\n",
                                           "[engine.trust]\nmax_penalty = 0.1\n", 1))
    r = cli("doctor", "--json", env={**env, "ACTIVESEC_SITE_CONFIG": str(site)})
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["config"]["status"] == "ok", checks["config"]
    policy = checks["machine policy"]
    assert policy["status"] == "warn" and "it overrides your engine.trust.max_penalty" in " ".join(
        policy["detail"].split()), policy
    for key in ("engine.scoring.injected", "engine.policy.gate_apps", "actions.on_lock"):
        assert key in policy["detail"], (key, policy)
