"""The agent's commands in a subprocess, as a user runs them: replay, run's bad input, service.

A small real profile (module fixture): two of a Balabit user's training sessions imported with
``activesec import`` and trained by :func:`activesec.service.train.train` (no background
installed, so the one-class fallback — fast). ``run`` uses the real X11 backend on Xvfb.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import dataset
from tests.helpers.cli import cli, env_for, initialised, one_line_error, popen
from tests.helpers.procs import Counter, unique, wait_until

from activesec.core import config, paths
from activesec.core.errors import EX_CONFIG
from activesec.core.instance import InstanceLock
from activesec.detectors import persist
from activesec.recordings import iter_balabit, write_mouse_csv
from activesec.store.db import Store

OWNER, OTHER = "user7", "user23"


@pytest.fixture(scope="module")
def profile_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = dataset("balabit")
    base = tmp_path_factory.mktemp("agentcli")
    home = base / "home"
    env = env_for(home)
    assert cli("init", "--user", "owner", env=env).returncode == 0
    rec = base / "rec" / "owner"
    rec.mkdir(parents=True)
    for one in list(iter_balabit(root, "training", [OWNER]))[:2]:
        write_mouse_csv(rec / f"{one.session}.csv", one.events)
    res = cli("import", str(base / "rec"), "--label", "owner", env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    write_config(home)
    from activesec.service.train import train

    p = paths.resolve(home)
    assert train(p, config.load(p)).trained
    return home


def write_config(home: Path, extra: str = "", on_gate: str = "[]") -> None:
    (home / "config.toml").write_text(
        'user = "owner"\n[enrol]\npointer_events = 1000\n[capture]\nbackend = "x11"\n'
        '[train]\nauto = false\n'
        f'[actions]\non_notify = []\non_lock = []\non_gate = {on_gate}\n' + extra)


@pytest.fixture
def home(profile_home: Path, tmp_path: Path) -> Path:
    """A private copy per test (tests tamper with it)."""
    h = tmp_path / "home"
    shutil.copytree(profile_home, h)
    return h


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two labelled test sessions in the generic mouse layout: the owner's and another user's."""
    root = dataset("balabit")
    out = tmp_path_factory.mktemp("sessions")
    for user in (OWNER, OTHER):  # each user's own (genuine) session
        r = max((r for r in iter_balabit(root, "test", [user])
                 if "is_illegal" in r.meta and not int(r.meta["is_illegal"])),
                key=lambda r: len(r.events))
        (out / user).mkdir()
        write_mouse_csv(out / user / f"{r.session}.csv", r.events)
    return out


def test_replay_json_prints_the_decisions(home: Path, sessions: Path) -> None:
    r = cli("replay", str(sessions), "--json", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    by_user = {s["user"]: s for s in data["sessions"]}
    assert set(by_user) == {OWNER, OTHER}
    # both sessions were scored, each in full (a lock and the owner's unlock do not restart
    # the count: it once held only the actions since the last unlock)
    assert by_user[OWNER]["actions"] > 10
    assert by_user[OTHER]["actions"] >= (by_user[OTHER]["actions_to_first_lock"] or 1)
    assert data["skipped"] == []
    # exactly what the live engine decides on the same events, in this process
    from activesec.engine.pipeline import EngineConfig
    from activesec.evaluate.continuous import replay_session
    from activesec.recordings import iter_layout
    from activesec.service.models import load_models

    models = load_models(paths.resolve(home))
    for rec in iter_layout(sessions, "mouse"):
        o = replay_session(models, rec.events, EngineConfig(), user=rec.user, session=rec.session)
        assert o.summary() == by_user[rec.user]
    n_decisions = sum(s["decisions"] for s in data["sessions"])
    assert len(data["decisions"]) == n_decisions
    for d in data["decisions"]:
        assert set(d) >= {"user", "session", "level", "trust", "reason", "evidence"}
        assert "deviating_features" in d["evidence"]
    # human output: one block per session
    r = cli("replay", str(sessions), "--user", OTHER, env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{OTHER}/" in r.stdout and "actions" in r.stdout and OWNER not in r.stdout


def test_replay_of_an_export_replays_each_session_whole(home: Path, sessions: Path,
                                                        tmp_path: Path) -> None:
    """An export holds a session's pointer and keys in two files: replayed as two sessions,
    the keys never met the pointer's trust, unlike in the agent that recorded them."""
    from activesec.recordings import write_keys_csv
    from activesec.recordings.synthetic import typing

    export = tmp_path / "export"
    (export / "mouse" / OTHER).mkdir(parents=True)
    (export / "keys" / OTHER).mkdir(parents=True)
    (mouse,) = (sessions / OTHER).iterdir()
    shutil.copy(mouse, export / "mouse" / OTHER / "session_1.csv")
    write_keys_csv(export / "keys" / OTHER / "session_1.csv", typing(200, seed=3, t0=5.0))
    r = cli("replay", str(export), "--json", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    (one,) = json.loads(r.stdout)["sessions"]
    alone = json.loads(cli("replay", str(export / "mouse"), "--json", env=env_for(home),
                           timeout=300).stdout)["sessions"][0]
    assert (one["user"], one["session"]) == (OTHER, "session_1")
    assert one["actions"] == alone["actions"]  # the pointer model scores the same actions
    assert one["unscored_events"] == 400  # 200 keystrokes, and this profile has no keys model


def test_replay_of_a_flagged_export_charges_injected_input(home: Path, sessions: Path,
                                                           tmp_path: Path) -> None:
    """`export --with-injected` keeps the flag, so replay charges a bot's bursts as the agent
    did (before, the export left them out and replay never saw the bot)."""
    from activesec.core.events import Flag
    from activesec.recordings import read_mouse_csv

    (mine,) = (sessions / OWNER).iterdir()
    bot = read_mouse_csv(mine)
    bot["flags"] |= int(Flag.INJECTED)
    (tmp_path / "mouse" / "bot").mkdir(parents=True)
    write_mouse_csv(tmp_path / "mouse" / "bot" / "s1.csv", bot, injected=True)
    r = cli("replay", str(tmp_path), "--json", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    (one,) = json.loads(r.stdout)["sessions"]
    assert one["actions_to_first_lock"] == 11  # the README's figure: the 11th burst locks


def test_replay_of_keys_on_a_pointer_profile_says_nothing_was_scored(home: Path,
                                                                      tmp_path: Path) -> None:
    """It once printed "final trust 100.0" for a session no model had scored."""
    from activesec.recordings import write_keys_csv
    from activesec.recordings.synthetic import typing

    (tmp_path / "keys" / "owner").mkdir(parents=True)
    write_keys_csv(tmp_path / "keys" / "owner" / "s1.csv", typing(200, seed=3, t0=5.0))
    r = cli("replay", str(tmp_path / "keys"), "--json", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    (one,) = json.loads(r.stdout)["sessions"]
    assert (one["actions"], one["final_trust"], one["unscored_events"]) == (0, None, 400)
    text = " ".join(cli("replay", str(tmp_path / "keys"), env=env_for(home)).stdout.split())
    assert "0 actions, 0 decision(s), trust never scored" in text
    assert "400 event(s) not scored: no model for them (models: pointer:mouse)" in text
    assert "final trust" not in text


def test_replay_names_the_sessions_and_rows_it_left_out(home: Path, sessions: Path,
                                                         tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    shutil.copytree(sessions, mine)
    f = next((mine / OWNER).glob("*.csv"))
    lines = f.read_text().splitlines()
    lines[1:4] = [",".join(["nan", *ln.split(",")[1:]]) for ln in lines[1:4]]
    f.write_text("\n".join(lines) + "\n")
    (mine / OTHER / "blank.csv").write_text("timestamp,button,state,x,y\n")
    (mine / OTHER / "words.csv").write_text("timestamp,button,state,x,y\n1.0,NoButton,Move,a,b\n")
    r = cli("replay", str(mine), "--json", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["sessions"]) == 2
    assert data["skipped"] == [
        {"what": "rows", "id": f"{OWNER}/{f.stem}", "reason": f"3 of {len(lines) - 1:,} rows "
         "unreadable: 3 with a time that is not a number of seconds"},
        {"what": "session", "id": f"{OTHER}/blank", "reason": "no event (no data row)"},
        {"what": "session", "id": f"{OTHER}/words", "reason": "no event (1 of 1 rows "
         "unreadable: 1 with x/y not numbers in range)"},
    ]
    r = cli("replay", str(mine), "--user", OTHER, env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert f"{OTHER}/blank: not replayed — no event (no data row)" in text


def test_replay_with_model_dir_and_bad_paths(home: Path, sessions: Path, tmp_path: Path) -> None:
    models = tmp_path / "copied-models"
    shutil.copytree(home / "models", models)
    empty = tmp_path / "blank"
    env = env_for(empty)
    r = cli("replay", str(sessions), "--model", str(models), "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sessions"]
    assert "no trained model" in one_line_error(cli("replay", str(sessions), env=env))
    assert "does not exist" in one_line_error(
        cli("replay", str(tmp_path / "nope"), "--model", str(models), env=env))
    # a wrong path is named first, even without a model to replay with
    assert "does not exist" in one_line_error(cli("replay", str(tmp_path / "nope"), env=env))


def test_tampered_model_is_refused_and_enrolment_continues(home: Path, xdisplay: str) -> None:
    p = paths.resolve(home)
    compact = next(p.models_dir.glob("pointer-*/compact.npz"))
    with open(compact, "ab") as fh:
        fh.write(b"x")
    before = compact.read_bytes()
    r = cli("run", "--duration", "2", "--quiet", env=env_for(home, DISPLAY=xdisplay))
    assert r.returncode == 0, r.stderr
    st = json.loads((home / "run" / "agent.json").read_text())
    assert st["state"] == "enrolling" and st["models"] == []
    assert "model refused" in st["reason"] and "pointer" in st["reason"]
    assert compact.read_bytes() == before  # refused, never repaired or deleted
    assert "model refused" in (home / "logs" / "activesec.log").read_text()


def test_status_says_a_model_is_a_one_class_fallback(home: Path) -> None:
    """The agent trains by itself, so the fallback note `train` prints was never seen by someone
    who only ran `activesec run`: status carries it with what to do."""
    st = json.loads(cli("status", "--json", env=env_for(home)).stdout)
    (m,) = st["models"]
    assert m["detector"] == "gmm" and "needs a background population" in m["fallback"]
    text = " ".join(cli("status", env=env_for(home)).stdout.split())
    assert "one-class fallback: extra_trees needs a background population" in text
    assert "the agent refits it by itself, or now with `activesec train --upgrade`" in text


def test_edited_calibration_is_refused(home: Path) -> None:
    """Raising the threshold in model.json would switch locking off; the card's own hash
    refuses it, `status` names the file, and nothing is rewritten."""
    card_file = next(paths.resolve(home).models_dir.glob("pointer-*/model.json"))
    card = json.loads(card_file.read_text())
    card["calibration"]["threshold"] = 1e9
    card_file.write_text(json.dumps(card))
    st = json.loads(cli("status", "--json", env=env_for(home)).stdout)
    bad = [m for m in st["models"] if not m["ok"]]
    assert len(bad) == 1 and "model.json was modified (hash mismatch)" in bad[0]["problem"]
    assert json.loads(card_file.read_text())["calibration"]["threshold"] == 1e9


def test_a_model_whose_card_was_deleted_is_refused_not_hidden(home: Path, sessions: Path) -> None:
    """Deleting model.json made status say "none yet" and replay "no trained model": the
    model vanished without a word. It is refused by name, like an edited one."""
    mouse = next(paths.resolve(home).models_dir.glob("pointer-*"))
    (mouse / "model.json").unlink()
    st = json.loads(cli("status", "--json", env=env_for(home)).stdout)
    (bad,) = st["models"]
    assert not bad["ok"] and "model.json is missing" in bad["problem"], bad
    line = one_line_error(cli("replay", str(sessions), env=env_for(home), timeout=300))
    assert "model.json is missing" in line and "activesec train" in line


def test_doctor_names_the_models_and_why_one_is_refused(home: Path) -> None:
    """A model refused at load (here: a card without its hash, as an older ActiveSec wrote it)
    was said only by `status`: `doctor` said nothing. It is a `models` check now — a warning
    when the agent retrains by itself, a failure when `[train] auto` is off (the owner must run
    `activesec train`); the model files are left as they are."""
    env = env_for(home)

    def models_check() -> tuple[int, dict[str, str]]:
        r = cli("doctor", "--json", env=env)
        assert "Traceback" not in r.stderr, r.stderr
        return r.returncode, next(c for c in json.loads(r.stdout)["checks"]
                                  if c["name"] == "models")

    mouse = next(paths.resolve(home).models_dir.glob("pointer-*"))
    _, c = models_check()
    assert c["status"] == "ok" and f"{mouse.name}: gmm, trained 20" in c["detail"], c
    card = json.loads((mouse / "model.json").read_text())
    del card[persist.CARD_HASH]
    (mouse / "model.json").write_text(json.dumps(card))
    before = (mouse / "model.json").read_bytes()
    code, c = models_check()  # the fixture's config: [train] auto = false
    assert code == 1 and c["status"] == "fail", c
    assert f"{mouse.name} refused: model card" in c["detail"], c
    assert "written by an older ActiveSec" in c["detail"] and "only enrols" in c["detail"], c
    assert "`[train] auto` is off" in c["hint"] and "`activesec train`" in c["hint"], c
    (home / "config.toml").write_text((home / "config.toml").read_text().replace(
        "auto = false", "auto = true"))
    _, c = models_check()
    assert c["status"] == "warn" and "retrains by itself" in c["hint"], c
    text = " ".join(cli("doctor", env=env).stdout.split())
    assert f"warn models: {mouse.name} refused: model card" in text, text
    assert (mouse / "model.json").read_bytes() == before  # refused, never rewritten


def test_status_and_doctor_say_the_screen_changed_since_the_pointer_model_learnt(
        home: Path) -> None:
    """Pointer distances are in pixels and not rescaled: on a screen with twice the diagonal
    the owner's movements changed size for the model, which nothing said. `doctor` compares
    what the capture backend reports with the screen of the sessions the model was trained on
    (its card's data range), `status` the newest session's; 1.25 times is no warning."""
    import sqlite3

    from tests.helpers.xserver import xvfb

    p = paths.resolve(home)
    mouse = next(p.models_dir.glob("pointer-*")).name
    # the enrolment as the x11 backend records it, with its screen (imported recordings keep
    # none): the sessions the model was trained on were on a 1024x768 screen
    with sqlite3.connect(p.database) as db:
        db.execute("UPDATE sessions SET screen_w = 1024, screen_h = 768")
    db.close()
    env = env_for(home)

    def screen_check(display: str) -> dict[str, str]:
        r = cli("doctor", "--json", env=env_for(home, DISPLAY=display))
        assert "Traceback" not in r.stderr, r.stderr
        return next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "screen")

    st = json.loads(cli("status", "--json", env=env).stdout)
    assert st["models"][0]["trained_screen"] == [1024, 768], st["models"]
    assert st["screen"] == {"current": [1024, 768], "changed": []}
    with xvfb((1280, 960)) as display:
        c = screen_check(display)
        assert c["status"] == "ok" and c["detail"].startswith("1280x960"), c
    with xvfb((2048, 1536)) as display:
        c = screen_check(display)
        assert c["status"] == "warn", c
        assert f"{mouse} was trained on a 1024x768 screen, this one is 2048x1536" in c["detail"]
        assert "`activesec train --reset`" in c["hint"], c
        r = cli("capture", "--duration", "1", "--quiet", env=env_for(home, DISPLAY=display))
        assert r.returncode == 0, r.stderr
    st = json.loads(cli("status", "--json", env=env).stdout)
    assert st["screen"] == {"current": [2048, 1536], "changed": [
        {"model": mouse, "trained_screen": [1024, 768], "ratio": 2.0}]}, st["screen"]
    text = " ".join(cli("status", env=env).stdout.split())
    assert f"screen {mouse} was trained on a 1024x768 screen, this one is 2048x1536" in text
    assert "`activesec train --reset` re-enrols on this screen" in text, text


def test_status_json_models_carry_the_same_keys_in_use_or_refused(home: Path) -> None:
    """The README documents ``name``, ``ok``, ``problem``, ``update_refused`` for each model:
    a model in use had no ``problem`` and a refused one no ``update_refused`` (KeyError)."""
    p = paths.resolve(home)
    mouse = next(p.models_dir.glob("pointer-*"))
    shutil.copytree(mouse, p.models_dir / "pointer-touchpad")
    with open(p.models_dir / "pointer-touchpad" / "compact.npz", "ab") as fh:
        fh.write(b"x")
    st = json.loads(cli("status", "--json", env=env_for(home)).stdout)
    by_name = {m["name"]: m for m in st["models"]}
    good, bad = by_name[mouse.name], by_name["pointer-touchpad"]
    assert good["ok"] and good["problem"] is None and good["update_refused"] is None
    assert not bad["ok"] and "hash mismatch" in bad["problem"] and bad["update_refused"] is None
    assert set(good) == set(bad) >= {"name", "ok", "problem", "update_refused", "detector"}


def test_one_damaged_model_does_not_switch_off_the_others(home: Path, xdisplay: str) -> None:
    """A second, intact model (the pointer model again, for touchpads) keeps scoring while the
    damaged one is refused; `status` shows which one and why."""
    p = paths.resolve(home)
    mouse = next(p.models_dir.glob("pointer-*"))
    pad = p.models_dir / "pointer-touchpad"
    shutil.copytree(mouse, pad)
    card = json.loads((pad / "model.json").read_text())
    card["extra"]["modality"] = "pointer:touchpad"
    (pad / "model.json").write_text(json.dumps(persist.seal(card)))
    with open(mouse / "compact.npz", "ab") as fh:
        fh.write(b"x")
    st = json.loads(cli("status", "--json", env=env_for(home)).stdout)
    ok = {m["name"]: m["ok"] for m in st["models"]}
    assert ok == {mouse.name: False, "pointer-touchpad": True}
    assert "hash mismatch" in next(m["problem"] for m in st["models"] if not m["ok"])
    r = cli("run", "--duration", "2", "--quiet", env=env_for(home, DISPLAY=xdisplay))
    assert r.returncode == 0, r.stderr
    ag = json.loads((home / "run" / "agent.json").read_text())
    assert ag["models"] == ["pointer:touchpad"] and ag["state"] != "enrolling"
    assert f"model refused: {mouse.name}" in ag["reason"]
    assert "run `activesec train`" in ag["reason"]


def _wait_agent(home: Path, pred: Any, what: str, limit_s: float = 30.0) -> dict[str, Any]:
    """The agent's status once ``pred`` holds (the limit only bounds a hang)."""
    end = time.monotonic() + limit_s
    last: dict[str, Any] = {}
    while time.monotonic() < end:
        try:
            last = json.loads((home / "run" / "agent.json").read_text())
            if pred(last):
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last status: {last}")


def _gate_by_injected_input(home: Path, xdisplay: str, counter: Counter) -> None:
    """XTEST bursts (distrusted: each one a clear impostor action) until the agent gates."""
    from tests.helpers.xinject import XInjector

    end = time.monotonic() + 60
    with XInjector(xdisplay) as inj:
        while not counter.stopped():
            assert time.monotonic() < end, json.loads((home / "run" / "agent.json").read_text())
            inj.path([(100 + 7 * i, 200 + 3 * i) for i in range(12)], dt=0.01)
            time.sleep(1.3)  # > burst_gap_s: the next burst is another observation


def test_pause_then_resume_from_the_cli_reach_the_running_agent(home: Path,
                                                                xdisplay: str) -> None:
    """The agent re-opens the store for housekeeping (from its first tick, then every 10 s).
    That dropped SQLite's locks; `pause` then deleted the WAL under the agent, which never saw
    the `resume`: it discarded all input until restarted."""
    from tests.helpers.xinject import XInjector

    env = env_for(home, DISPLAY=xdisplay)
    agent = popen("run", "--quiet", env=env)
    try:
        _wait_agent(home, lambda s: s["running"] and s["enrolment"], "housekeeping")
        assert cli("pause", env=env).returncode == 0
        _wait_agent(home, lambda s: s["state"] == "paused", "the pause")
        assert cli("resume", env=env).returncode == 0
        _wait_agent(home, lambda s: s["state"] != "paused", "the resume")
        with XInjector(xdisplay) as inj:
            def stored() -> bool:
                inj.path([(100 + 7 * i, 300) for i in range(12)], dt=0.01)
                return _wait_agent(home, lambda s: True, "status")["stored"] > 0

            wait_until(stored, "input after the resume to be stored")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, agent.communicate()
    with Store.open(home / "activesec.db") as store:  # in the file, not in a deleted WAL
        (live,) = [i for i in store.sessions() if i.backend == "x11"]
        assert live.n_events > 0 and store.integrity_check() == "ok"


def test_sighup_stops_the_agent_as_sigterm_does(home: Path, xdisplay: str) -> None:
    """SIGHUP (the agent's terminal closed, or `kill -HUP` sent to reload as to a daemon) took
    the default action: the agent died on the spot, exit 129, without its last flush, its
    final status or ending the session (and a gate would have left the apps suspended). It
    stops as on SIGTERM: flushed, session ended, exit 0."""
    from tests.helpers.xinject import XInjector

    env = env_for(home, DISPLAY=xdisplay)
    agent = popen("run", "--quiet", env=env)
    try:
        _wait_agent(home, lambda s: s["running"] and s["enrolment"], "housekeeping")
        with XInjector(xdisplay) as inj:
            inj.path([(100 + 7 * i, 300) for i in range(12)], dt=0.01)
        agent.send_signal(signal.SIGHUP)
        assert agent.wait(60) == 0, agent.communicate()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)
    assert json.loads((home / "run" / "agent.json").read_text())["running"] is False
    with Store.open(home / "activesec.db") as store:
        (live,) = [i for i in store.sessions() if i.backend == "x11"]
        assert live.ended_wall_ns is not None and live.n_events > 0


def test_the_idle_agent_does_not_sync_its_status_file_to_disk(home: Path, xdisplay: str,
                                                              tmp_path: Path) -> None:
    """The status file is rewritten every second; each write was fsynced, so an idle agent
    made the disk commit its journal every second for as long as it ran (86,400 syncs a
    day). A power cut can cost that file nothing that matters."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    trace = tmp_path / "trace"
    env = env_for(home, DISPLAY=xdisplay)
    r = subprocess.run([strace, "-f", "-y", "-qq", "-e", "trace=fsync,fdatasync", "-o",
                        str(trace), sys.executable, "-m", "activesec.cli.main", "run",
                        "--quiet", "--duration", "3"],
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 and "ptrace" in r.stderr:
        pytest.skip(f"strace not available here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    status = json.loads((home / "run" / "agent.json").read_text())
    assert status["running"] is False  # written, at every tick and at the end
    synced = [ln for ln in trace.read_text().splitlines() if "agent.json" in ln]
    assert synced == [], synced


def test_the_running_agent_refits_its_fallback_model_once_a_background_is_built(
        home: Path, xdisplay: str, tmp_path: Path) -> None:
    """Trained on a fresh machine, the model is the weak one-class fallback; `background build`
    then used to help only after a full `activesec train` the user had to know about. The
    running agent notices the new background and refits the model (`train --upgrade`) on the
    rows the fallback was fitted on; status and doctor say so until it has."""
    from tests.unit.test_background import slice_balabit

    env = env_for(home, DISPLAY=xdisplay)
    before = json.loads(cli("status", "--json", env=env).stdout)["models"]
    assert [m["detector"] for m in before] == ["gmm"]
    agent = popen("run", "--quiet", env=env)
    try:
        _wait_agent(home, lambda s: s["running"] and s["state"] != "enrolling", "the model")
        bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=2500)
        built = cli("background", "build", "--balabit", str(bal), "--max-rows", "800",
                    "--json", env=env, timeout=300)
        assert built.returncode == 0, built.stderr
        assert json.loads(built.stdout)["upgradable"] == [before[0]["name"]]

        def refitted() -> bool:
            return [m["detector"] for m in json.loads(
                cli("status", "--json", env=env).stdout)["models"]] == ["extra_trees"]

        wait_until(refitted, "the agent to refit the fallback model", limit_s=240)
        log = home / "logs" / "activesec.log"
        wait_until(lambda: log.read_text().count("models loaded: pointer") == 2,
                   "the agent to load the refitted model", limit_s=60)
        assert "refitting the one-class fallback model" in log.read_text()
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, agent.communicate()
    card = persist.read_card(next(paths.resolve(home).models_dir.glob("pointer-*")))
    assert card["extra"]["trained_by"] == "upgrade" and card["extra"]["fallback"] is None
    assert card["extra"]["upgraded_from"] == "gmm"
    line = one_line_error(cli("train", "--upgrade", env=env))
    assert "nothing to upgrade" in line


def test_doctor_then_train_upgrade_without_a_running_agent(home: Path, tmp_path: Path) -> None:
    """No agent running: doctor says the fallback model is still in use beside the new
    background and what to run; `train --upgrade` refits it; doctor then says only what is
    still missing."""
    from tests.unit.test_background import slice_balabit

    env = env_for(home)

    def background_check() -> dict[str, str]:
        checks = json.loads(cli("doctor", "--json", env=env).stdout)["checks"]
        return next(c for c in checks if c["name"] == "background")

    bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=2500)
    built = cli("background", "build", "--balabit", str(bal), "--max-rows", "800", env=env,
                timeout=300)
    assert built.returncode == 0, built.stderr
    assert "`activesec train --upgrade`" in " ".join(built.stdout.split())
    c = background_check()
    assert c["status"] == "warn" and "still use the one-class fallback" in c["detail"], c
    assert "no usable background for keyboard" in c["detail"]
    assert "activesec train --upgrade" in c["hint"]
    r = cli("train", "--upgrade", "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    (m,) = json.loads(r.stdout)["trained"]
    assert m["detector"] == "extra_trees" and m["upgraded_from"] == "gmm"
    c = background_check()  # what is left: no keyboard background (Aalto) was built
    assert "still use" not in c["detail"] and "for keyboard instead of plda" in c["detail"], c
    assert "--reset, --update, --upgrade and --new exclude each other" in one_line_error(
        cli("train", "--upgrade", "--update", env=env))


def test_gated_apps_are_resumed_when_the_agent_stops_or_after_it_was_killed(
        home: Path, xdisplay: str, tmp_path: Path) -> None:
    """The real agent gates a real process on injected input; SIGTERM resumes it; after a
    SIGKILL it stays frozen until the next agent starts, which resumes it."""
    name = unique("asgate")
    counter = Counter(tmp_path, name)
    write_config(home, f'[actions.params.gate]\nrules = [{{name = "game", match = "{name}"}}]\n',
                 on_gate='["gate"]')
    env = env_for(home, DISPLAY=xdisplay)
    state = paths.resolve(home).run_dir / "gated.json"
    try:
        for ending in ("SIGTERM", "SIGKILL"):
            agent = popen("run", "--quiet", env=env)
            try:
                _wait_agent(home, lambda s: s["running"] and s["models"], "the models")
                _gate_by_injected_input(home, xdisplay, counter)
                assert json.loads(state.read_text())["suspended"][0]["pid"] == counter.proc.pid
                if ending == "SIGTERM":
                    agent.send_signal(signal.SIGTERM)
                    assert agent.wait(60) == 0, agent.communicate()
                    wait_until(counter.running, "the stopping agent's SIGCONT")
                    assert counter.advances() and not state.exists()
                else:
                    agent.kill()
                    agent.wait(60)
                    assert counter.stopped() and state.exists()  # nobody left to resume it
                    # ... and the parent can see it
                    left = json.loads(cli("status", "--json", env=env).stdout)
                    assert left["gate_left_frozen"] == [{"pid": counter.proc.pid, "app": "game"}]
                    assert left["agent"]["gate"] is None
                    text = " ".join(cli("status", env=env).stdout.split())
                    assert f"left suspended by an agent that was killed: game pid " \
                           f"{counter.proc.pid} — the next `activesec run` resumes them" in text
            finally:
                if agent.poll() is None:
                    agent.kill()
                    agent.wait(60)
        agent = popen("run", "--quiet", env=env)
        try:
            wait_until(counter.running, "the next agent's SIGCONT")
            assert counter.advances() and not state.exists()
            log = (home / "logs" / "activesec.log").read_text()
            assert "resumed apps a previous agent suspended" in log
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
    finally:
        counter.kill()


def test_the_gate_holds_while_trust_stays_low(home: Path, xdisplay: str, tmp_path: Path) -> None:
    """A parent's first question: while trust stays low, a game started after the gate (or
    resumed by hand with SIGCONT) is suspended too, not only those running when it fired; the
    decision log says which app was caught and why."""
    name = unique("ashold")
    first = Counter(tmp_path, name)
    write_config(home, f'[actions.params.gate]\nrules = [{{name = "game", match = "{name}"}}]\n',
                 on_gate='["gate"]')
    agent = popen("run", "--quiet", env=env_for(home, DISPLAY=xdisplay))
    later: Counter | None = None
    try:
        _wait_agent(home, lambda s: s["running"] and s["models"], "the models")
        _gate_by_injected_input(home, xdisplay, first)
        later = Counter(tmp_path, name)  # the child starts the game again
        wait_until(later.stopped, "the held gate to catch the game started since")
        os.kill(first.proc.pid, signal.SIGCONT)  # ... or resumes the frozen one by hand
        wait_until(first.stopped, "the held gate to suspend the resumed game again")
        assert not later.advances(window_s=1.0)
        gates = [d for d in map(json.loads, (home / "decisions.jsonl").read_text().splitlines())
                 if d["level"] == "gate"]
        held = [d for d in gates if str(later.proc.pid) in d["actions"][0]["detail"]]
        assert len(gates) >= 2 and held, gates
        assert "started or resumed since" in held[0]["reason"], held[0]
        assert held[0]["evidence"]["gated_since_wall_ns"] == gates[0]["t_wall_ns"]
        env = env_for(home)
        st = json.loads(cli("status", "--json", env=env).stdout)
        # the lowest trust "in the last 24 h" counts this minute too: never above the trust now
        assert st["trust_history"]["lowest"] <= st["agent"]["trust"] < 40, st["trust_history"]
        shown = st["agent"]["gate"]
        assert shown["apps"] == [{"app": "game", "match": name, "args": None, "mode": "suspend",
                                  "suspended_pids":
                                  sorted([first.proc.pid, later.proc.pid]),
                                  "closed_pids": []}], shown
        assert "gate level" in shown["reason"] and shown["since_wall_ns"] == gates[0]["t_wall_ns"]
        text = " ".join(cli("status", env=env).stdout.split())  # rich wraps at 80 columns
        assert f"gated game suspended (pids {min(first.proc.pid, later.proc.pid)}, " in text, text
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, agent.communicate()
        for c in (first, later):
            if c is not None:
                wait_until(c.running, "the stopping agent's SIGCONT")
                c.kill()


def test_the_running_agent_applies_an_edit_and_refuses_a_broken_one(
        home: Path, xdisplay: str) -> None:
    """The real agent, then the user edits config.toml: a broken value is refused (the agent
    keeps running with its settings and says why; `status` names the key and says the agent
    still protects), the fixed file applies — all without a restart."""
    env = env_for(home, DISPLAY=xdisplay)
    agent = popen("run", "--quiet", env=env)
    try:
        _wait_agent(home, lambda s: s["running"] and s["models"], "the models")
        write_config(home, "[engine.policy]\nnotify_below = 300\n")
        st = _wait_agent(home, lambda s: s.get("config"), "the refused edit")
        assert "not applied" in st["config"] and "engine.policy.notify_below" in st["config"]
        # status checks the file as `run` does, [engine] included, and says who still protects
        for key, edit in (("engine.policy.notify_below", None),
                          ("store.keep_days", "[store]\nkeep_days = -1\n")):
            if edit:
                write_config(home, edit)
                _wait_agent(home, lambda s, k=key: k in (s.get("config") or ""),
                            "the second refused edit")
            line = one_line_error(cli("status", env=env))
            assert key in line
            assert f"running agent (pid {agent.pid}) has not applied it" in line
        write_config(home, "[engine.policy]\nnotify_below = 60\n[store]\nkeep_days = 30\n")
        st = _wait_agent(home, lambda s: s.get("config") and "restart" in s["config"],
                         "the applied edit")
        assert st["config"] == ("store settings changed: they apply when the agent is "
                                "restarted") and st["running"]
        shown = cli("status", env=env)
        assert shown.returncode == 0 and "apply when the agent is restarted" in shown.stdout
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, agent.communicate()


def test_wait_for_fix_starts_the_agent_once_the_file_is_fixed(
        home: Path, xdisplay: str) -> None:
    """What the log-in service runs: on an invalid config the agent does not exit 78 but says
    why and waits; the user fixes the file and protection starts, with no restart command.
    SIGTERM ends the wait with exit status 0, as it ends the agent."""
    good = (home / "config.toml").read_text()
    env = env_for(home, DISPLAY=xdisplay)
    stopped = home / "run" / "stopped.json"
    for fix in (True, False):
        (home / "config.toml").write_text(good + "[store]\nkeep_days = -1\n")
        agent = popen("run", "--quiet", "--wait-for-fix", env=env)
        try:
            wait_until(stopped.exists, "the reason it waits")
            entry = json.loads(stopped.read_text())
            assert entry["permanent"] is True and entry["waiting"] is True
            assert agent.poll() is None  # waiting, not exited 78
            line = one_line_error(cli("status", env=env))  # status reads the broken key too
            assert "store.keep_days" in line and "waiting since" in line
            assert "starts by itself" in line and "service restart" not in line
            if fix:
                (home / "config.toml").write_text(good)
                st = _wait_agent(home, lambda s: s["running"] and s["models"], "the fixed start")
                assert st["pid"] == agent.pid and not stopped.exists()
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(60) == 0, agent.communicate()


def test_second_instance_is_refused(home: Path, xdisplay: str) -> None:
    p = paths.resolve(home)
    with InstanceLock(p.run_dir / "capture.lock"):
        line = one_line_error(cli("run", "--duration", "1", env=env_for(home, DISPLAY=xdisplay)))
    assert "already running" in line
    assert not (home / "run" / "stopped.json").exists()  # the agent that runs is fine


def test_bad_action_config_is_one_line(home: Path, xdisplay: str) -> None:
    (home / "config.toml").write_text(
        (home / "config.toml").read_text().replace('on_lock = []', 'on_lock = ["lock", "pager"]'))
    line = one_line_error(cli("run", "--duration", "1", env=env_for(home, DISPLAY=xdisplay)),
                          EX_CONFIG)
    assert "unknown action 'pager'" in line


def _stopped(home: Path) -> dict[str, Any]:
    f = home / "run" / "stopped.json"
    assert f.stat().st_mode & 0o777 == 0o600
    data: dict[str, Any] = json.loads(f.read_text())
    return data


def test_a_configuration_error_stops_the_agent_for_good_and_says_why(
        home: Path, xdisplay: str, tmp_path: Path) -> None:
    """The log-in service restarted the agent every 5 s for ever on a bad config value: it now
    exits 78 (the unit's RestartPreventExitStatus), and leaves the reason where `service status`,
    `status` and `doctor` show it with the command that starts it again; a good start clears it."""
    good = (home / "config.toml").read_text()
    (home / "config.toml").write_text(good + "[engine.policy]\nnotify_below = 300\n")
    env = env_for(home, HOME=str(tmp_path))
    # by hand: a usage error in a flag is not a configuration the agent stopped on
    r = cli("run", "--backend", "x1l", env={**env, "DISPLAY": xdisplay})
    said = " ".join(r.stderr.replace("│", " ").split())  # rich's box wraps the message
    assert r.returncode == 2 and "'x1l' is not one of auto, x11, pynput, evdev" in said, said
    assert not (home / "run" / "stopped.json").exists()
    # by hand, the file's error: started again by running it again, not by a service
    line = one_line_error(cli("run", "--duration", "1", env={**env, "DISPLAY": xdisplay}),
                          EX_CONFIG)
    assert _stopped(home)["service"] is False
    for text in (one_line_error(cli("status", env=env)),
                 json.loads(cli("doctor", "--json", env={**env, "DISPLAY": xdisplay}).stdout)[
                     "checks"][-1]["hint"]):
        assert "`activesec run`" in text and "service restart" not in text, text
    # as the log-in service starts it (its flags): `service restart` starts it again
    r = cli("run", "--duration", "1", "--notify-failure", env={**env, "DISPLAY": xdisplay})
    # (no session bus here: it also says it could not notify)
    assert r.returncode == EX_CONFIG and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "'engine.policy.notify_below'" in line
    entry = _stopped(home)
    assert entry["permanent"] is True and entry["exit_status"] == EX_CONFIG
    assert entry["service"] is True
    assert line == f"error: {entry['message']} — {entry['hint']}"
    assert (home / "run").stat().st_mode & 0o777 == 0o700

    exe = shutil.which("true")
    assert exe is not None
    r = cli("service", "install", "--kind", "systemd", "--exe", exe, "--json", env=env)
    assert r.returncode == 0, r.stderr
    unit = json.loads(r.stdout)["path"]
    assert "RestartPreventExitStatus=78" in Path(unit).read_text()
    r = cli("service", "status", "--kind", "systemd", "--json", env=env)
    assert r.returncode == 0, r.stderr
    svc = json.loads(r.stdout)
    assert svc["installed"] is True and svc["stopped"] == entry
    assert "not restarted by itself" in svc["detail"] and entry["message"] in svc["detail"]
    assert svc["detail"].endswith("start it again with `activesec service restart`")

    # status checks the file as `run` did: the same error, and that the agent stopped on it
    for args in (("status",), ("status", "--json")):
        text = one_line_error(cli(*args, env=env))
        at = time.strftime("%a %H:%M", time.localtime(entry["at_wall_ns"] / 1e9))
        assert text.startswith(f"error: {entry['message']}"), text
        assert f"the agent stopped on it at {at} and is not restarted by itself" in text, text
        assert "`activesec service restart`" in text
    doctor = json.loads(cli("doctor", "--json", env={**env, "DISPLAY": xdisplay}).stdout)
    (check,) = [c for c in doctor["checks"] if c["name"] == "agent"]
    assert check["status"] == "fail" and "'engine.policy.notify_below'" in check["detail"]
    assert "activesec service restart" in check["hint"]
    # restarting before the fix is refused at once, not 5 s later in the journal
    assert "notify_below" in one_line_error(cli("service", "restart", "--kind", "systemd",
                                                env=env))

    (home / "config.toml").write_text(good)
    r = cli("run", "--duration", "1", "--quiet", env={**env, "DISPLAY": xdisplay})
    assert r.returncode == 0, r.stderr
    assert not (home / "run" / "stopped.json").exists()
    assert json.loads(cli("status", "--json", env=env).stdout)["agent"]["stopped"] is None
    svc = json.loads(cli("service", "status", "--kind", "systemd", "--json", env=env).stdout)
    assert svc["stopped"] is None and "stopped" not in svc["detail"]


def test_an_invalid_config_file_keeps_its_error_and_adds_the_agents(home: Path,
                                                                    xdisplay: str) -> None:
    """A config file `status` cannot load either: its one line adds that the agent stopped on
    it and how to start it again."""
    (home / "config.toml").write_text("[store]\nkeep_days = -1\n")
    line = one_line_error(cli("run", "--duration", "1", env=env_for(home, DISPLAY=xdisplay)),
                          EX_CONFIG)
    assert "'store.keep_days'" in line
    status = one_line_error(cli("status", env=env_for(home)))
    assert status.startswith(line + "; the agent stopped on it at ")
    assert status.endswith("start it again with `activesec run`")  # it was started by hand


def test_a_foreign_event_store_stops_the_agent_for_good(home: Path, xdisplay: str) -> None:
    """Another program's SQLite file where the store belongs: no restart fixes that. The error
    is the only line (not quiet): "agent running" is said once the store is open, not before."""
    import sqlite3

    (home / "activesec.db").unlink()
    for side in ("activesec.db-wal", "activesec.db-shm"):
        (home / side).unlink(missing_ok=True)
    with sqlite3.connect(home / "activesec.db") as db:
        db.execute("PRAGMA application_id = 1234")
        db.execute("CREATE TABLE notes (t TEXT)")
    foreign = (home / "activesec.db").read_bytes()
    line = one_line_error(cli("run", "--duration", "1", env=env_for(home, DISPLAY=xdisplay)),
                          EX_CONFIG)
    assert "another program" in line
    assert _stopped(home)["error"] == "StoreError"
    assert (home / "activesec.db").read_bytes() == foreign  # left untouched


def test_no_display_is_retried_and_said(home: Path) -> None:
    """No display yet at log-in: exit 2, which the service retries; status says so meanwhile."""
    env = env_for(home)  # no DISPLAY
    line = one_line_error(cli("run", "--duration", "1", "--notify-failure", env=env))
    entry = _stopped(home)
    assert entry["permanent"] is False and entry["exit_status"] == 2
    assert line == f"error: {entry['message']} — {entry['hint']}"
    text = " ".join(cli("status", env=env).stdout.split())
    assert "(the log-in service retries a few times)" in text, text
    one_line_error(cli("run", "--duration", "1", env=env))  # by hand: nothing retries it
    text = " ".join(cli("status", env=env).stdout.split())
    assert "is not restarted by itself" in text and "start it again with `activesec run`" in text


def test_run_init_creates_a_first_log_ins_profile(tmp_path: Path, xdisplay: str) -> None:
    """The service for every account runs `run --init`: at an account's first log-in there is
    no profile, which plain `run` refuses (and the service manager restarts it for ever)."""
    import getpass

    fresh = tmp_path / "first-login"
    line = one_line_error(cli("run", "--duration", "1", env=env_for(fresh, DISPLAY=xdisplay)),
                          EX_CONFIG)
    assert "no ActiveSec profile" in line
    assert json.loads((fresh / "run" / "stopped.json").read_text())["permanent"] is True
    assert fresh.stat().st_mode & 0o777 == 0o700  # the reason made the data dir: private
    r = cli("run", "--init", "--duration", "1", "--quiet", env=env_for(fresh, DISPLAY=xdisplay))
    assert r.returncode == 0, r.stderr
    # it says what it created, not "Next: `activesec run`", which is what is running
    assert "Created profile" in r.stdout and "Next:" not in r.stdout
    st = json.loads(cli("status", "--json", env=env_for(fresh)).stdout)
    assert st["user"] == getpass.getuser() and (fresh / "config.toml").is_file()
    before = (fresh / "profile.json").read_bytes()
    r = cli("run", "--init", "--duration", "1", "--quiet", env=env_for(fresh, DISPLAY=xdisplay))
    assert r.returncode == 0, r.stderr  # an existing profile is used as it is
    assert (fresh / "profile.json").read_bytes() == before


def test_service_status_json(home: Path, tmp_path: Path) -> None:
    r = cli("service", "status", "--json", "--kind", "systemd",
            env=env_for(home, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["kind"] == "systemd" and data["installed"] is False
    assert data["path"].startswith(str(tmp_path))
    # the machine-wide form reads /Library/LaunchAgents here (never there on Linux): no effects
    r = cli("service", "status", "--all-users", "--json", "--kind", "launchd",
            env=env_for(home, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["installed"] is False and data["enabled"] is False
    assert data["path"] == "/Library/LaunchAgents/org.activesec.agent.plist"
    # every `service` command prints the same documented object (README, "Scripts")
    keys = {"kind", "path", "ok", "installed", "running", "enabled", "detail", "remains",
            "commands", "stopped", "outdated"}
    assert set(data) == keys and data["outdated"] is False
    r = cli("service", "uninstall", "--json", "--kind", "systemd",
            env=env_for(home, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == keys and data["remains"] == [] and data["detail"].startswith("not inst")


def _tree(home: Path) -> dict[str, str]:
    from activesec.core.paths import sha256_file

    return {f.relative_to(home).as_posix(): sha256_file(f) for f in sorted(home.rglob("*"))
            if f.is_file()}


def test_bench_measures_the_agent_with_the_profiles_models(home: Path, tmp_path: Path) -> None:
    """`activesec bench` runs the real agent twice in a throwaway home: the profile is neither
    read for recordings nor changed, and the temporary home is gone afterwards."""
    before = _tree(home)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    r = cli("bench", "--seconds", "5", "--json", env=env_for(home, TMPDIR=str(scratch)),
            timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["models"] == {"origin": "profile", "modalities": ["pointer:mouse"],
                             "refused": None, "without_twin": []}
    en, sc = res["enrolling"], res["scoring"]
    assert en["models"] == [] and en["scores"] == 0 and en["latency_ms"] is None
    assert sc["models"] == ["pointer:mouse"] and sc["scores"] > 0
    assert sc["latency_ms"]["n"] > 0 and 0 < sc["latency_ms"]["p50"] <= sc["latency_ms"]["p99"]
    for run in (en, sc):
        assert run["events"] > 100 and run["dropped"] == 0
        assert run["stored"] == run["events"]  # the real store writer took every event
        assert run["sklearn_imported"] is False
        assert run["rss_mb"] > 10 and run["cpu_percent"] > 0
    assert set(res["targets"]) == {"rss_mb", "cpu_percent", "latency_p99_ms"}
    assert res["targets"]["latency_p99_ms"]["value"] == sc["latency_ms"]["p99"]
    assert _tree(home) == before
    assert list(scratch.iterdir()) == []


def test_bench_says_when_the_profiles_model_is_refused(home: Path, tmp_path: Path) -> None:
    p = paths.resolve(home)
    compact = next(p.models_dir.glob("pointer-*/compact.npz"))
    with open(compact, "ab") as fh:
        fh.write(b"x")
    r = cli("bench", "--seconds", "5", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "your models were refused" in r.stdout and "pointer" in r.stdout
    assert "scoring with a synthetic owner's models" in r.stdout
    for row in ("memory, peak (MB)", "CPU, steady", "reaction p99 (ms)", "scores by model: ",
                "machine:"):
        assert row in r.stdout


def test_bench_on_a_profile_still_enrolling_refuses_nothing(tmp_path: Path) -> None:
    """A new owner has a profile and an empty models folder: no model of theirs was refused
    (it used to say "your models were refused: no trained model in <the throwaway home>")."""
    env = initialised(tmp_path / "home")
    r = cli("bench", "--seconds", "5", "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["models"] == {"origin": "synthetic",
                                              "modalities": ["keyboard", "pointer:mouse"],
                                              "refused": None, "without_twin": []}
    r = cli("bench", "--seconds", "5", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "scoring with a synthetic owner's models" in r.stdout
    assert "refused" not in r.stdout


def test_the_measured_agents_spec_file_is_private(tmp_path: Path) -> None:
    """The file handing the settings (syslog target, gate rules) to the measured agent is
    0600 like every file ActiveSec writes (README, Privacy), not the umask's 0644."""
    from activesec.service import bench

    p = bench._home(tmp_path, "scoring")
    report = bench.run_agent(p, bench._bench_settings(config.load(p)), 1.0)
    assert report["events"] > 0
    spec = p.data_dir / "bench-spec.json"
    assert stat.S_IMODE(spec.stat().st_mode) == 0o600


def test_bench_without_a_profile_and_with_bad_input(tmp_path: Path) -> None:
    """An admin benches a machine before anyone enrolled: nothing is created in the home."""
    home = tmp_path / "nobody"
    r = cli("bench", "--seconds", "5", "--json", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["models"]["origin"] == "synthetic" and res["scoring"]["scores"] > 0
    assert not home.exists()
    assert "at least 5" in one_line_error(cli("bench", "--seconds", "1", env=env_for(home)))


def test_bench_on_a_full_temporary_directory_is_one_line(home: Path, tmp_path: Path) -> None:
    """TMPDIR on a 64 KiB filesystem: the copied models do not fit. One line, nothing of the
    profile touched."""
    from tests.integration.test_store_files import _in_user_namespace

    before = _tree(home)
    r = _in_user_namespace(f"""
        import os, subprocess, sys
        env = {{k: v for k, v in os.environ.items() if not k.startswith("ACTIVESEC_")}}
        env.update(TMPDIR=os.environ["MNT"], ACTIVESEC_HOME={str(home)!r})
        r = subprocess.run([sys.executable, "-m", "activesec.cli.main", "bench", "--seconds",
                            "5"], env=env, capture_output=True, text=True)
        print("RC", r.returncode)
        sys.stdout.write(r.stderr)
        """, tmp_path, size="64k")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines[0] == "RC 2", r.stdout
    assert len(lines) == 2 and lines[1].startswith("error: cannot bench in the temporary "
                                                   "directory"), r.stdout
    assert ("No space left" in lines[1] or "disk full" in lines[1]) and "TMPDIR" in lines[1]
    assert _tree(home) == before


def _strict(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_replay_json_of_labelled_sessions_is_strict_json(home: Path, tmp_path: Path) -> None:
    """The labelled summary's ANGA with no false lock was written as ``Infinity``, which JSON
    has not (``JSON.parse``, Go, serde refuse it); ``evaluate --continuous`` writes null."""
    from tests.helpers.slices import labelled_balabit

    root = labelled_balabit(tmp_path / "balabit", users=(OWNER,))
    r = cli("replay", str(root), "--user", OWNER, "--json", env=env_for(home), timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout, parse_constant=_strict)["summary"]
    assert (summary["genuine_sessions"], summary["impostor_sessions"]) == (1, 1)
    assert summary["false_locks"] == 0 and summary["anga"] is None
    text = " ".join(cli("replay", str(root), "--user", OWNER, env=env_for(home)).stdout.split())
    assert "ANGA no false lock (0 false lock(s))" in text and "inf" not in text
