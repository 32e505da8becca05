"""The real ``activesec dashboard`` in a subprocess, driven in Debian's Chromium by Playwright:
the page a user opens from the printed URL, its content, the pause button, SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from tests.helpers.cli import cli, env_for

from activesec.actions.base import Decision
from activesec.core import paths as paths_mod
from activesec.service import history
from activesec.service.decisions import ActionOutcome, DecisionLog, decisions_path

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[str]]]:
    home = tmp_path / "home"
    env = env_for(home, ACTIVESEC_ENGINE__POLICY__LOCK_BELOW="35",
                  ACTIVESEC_ENGINE__TRUST__LOCK_LEVEL="35")
    assert cli("init", "--user", "alice", env=env).returncode == 0
    DecisionLog(decisions_path(paths_mod.resolve(home))).append(
        Decision("gate", "suspicious", 34.0, 1_763_999_990 * 10**9,
                 "trust 34.0 < 40 (gate level)", {"apps": ["game"]}),
        [ActionOutcome("gate", "fire", True, "suspended game (pids 4242)")])
    DecisionLog(decisions_path(paths_mod.resolve(home))).append(
        Decision("lock", "suspicious", 33.0, 1_764_000_000 * 10**9,
                 "trust 33.0 < 40: pointer actions unlike the owner's",
                 {"deviating_features": [["curv_mean_abs", 4.25], ["my_plugin_feature", 3.5]]}),
        [ActionOutcome("lock", "fire", False, "could not lock the session, tried loginctl")])
    proc = subprocess.Popen([sys.executable, "-m", "activesec.cli.main", "dashboard",
                             "--no-open"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:\d+/#token=\S+", line)
    assert m, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    yield m.group(0), env, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_the_printed_url_opens_the_dashboard_and_pause_works(
        browser: Browser, served: tuple[str, dict[str, str], subprocess.Popen[str]]) -> None:
    url, env, proc = served
    page = browser.new_page()
    failed: list[str] = []  # every request the page makes is answered
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(url)
    expect(page.locator("#owner")).to_have_text("alice")
    assert page.url == url.split("#")[0]  # the secret left the address bar
    expect(page.locator("#owner")).to_have_text("alice")
    expect(page.locator("#state")).to_have_text("agent not running")
    expect(page.locator("#lock-level")).to_have_text("35")  # the configured level
    expect(page.locator("#enrol-pointer")).to_contain_text("of 15,000 events (0%)")
    # who trains the first model, as `status` says it (no agent runs here)
    said = json.loads(cli("status", "--json", env=env).stdout)["enrolment"]["trains"]
    assert said and "`activesec run` enrols you" in said
    expect(page.locator("#models")).to_contain_text(said)
    row = page.locator("#decisions tr").first
    expect(row).to_contain_text("pointer actions unlike the owner's")
    # in words, the name on hover; a name we have no words for (a plug-in's) as it is
    expect(row).to_contain_text("average curvature of the path (+4.3), my_plugin_feature (+3.5)")
    expect(row.locator("td").nth(4)).to_have_attribute("title", "curv_mean_abs, my_plugin_feature")
    expect(row).to_contain_text("lock FAILED: could not lock the session, tried loginctl")
    gated = page.locator("#decisions tr").nth(1)  # the gate before it names what it did
    expect(gated).to_contain_text("trust 34.0 < 40 (gate level)")
    expect(gated).to_contain_text("gate: suspended game (pids 4242)")

    page.locator("#toggle").click()
    expect(page.locator("#toggle")).to_have_text("Resume recording")
    expect(page.locator("#paused")).to_contain_text("recording paused since ")
    assert json.loads(cli("status", "--json", env=env).stdout)["paused"] is True
    page.locator("#toggle").click()
    expect(page.locator("#toggle")).to_have_text("Pause recording")
    assert json.loads(cli("status", "--json", env=env).stdout)["paused"] is False
    # ... and once resumed, the page still says that input went unjudged, and when
    expect(page.locator("#paused")).to_contain_text("last paused from ")
    expect(page.locator("#paused")).to_contain_text("input then was neither recorded nor judged")

    page.reload()  # the secret stays with this tab
    expect(page.locator("#owner")).to_have_text("alice")
    assert failed == []

    # another browser context (no secret) gets the page shell and no data
    other = browser.new_context().new_page()
    other.goto(url.split("#")[0])
    expect(other.locator("#error")).to_contain_text("missing or wrong dashboard secret")
    assert "alice" not in other.content()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_a_running_agent_shows_its_state_why_and_how_fast_it_reacts(
        browser: Browser, served: tuple[str, dict[str, str], subprocess.Popen[str]]) -> None:
    """This process plays the agent: it holds the single-instance lock and writes the status
    file the real agent writes (its shape: ``Agent.status``)."""
    import os

    from activesec.core.instance import InstanceLock
    from activesec.core.paths import write_private_text
    from activesec.service.agent import status_path

    url, env, proc = served
    p = paths_mod.resolve(env["ACTIVESEC_HOME"])
    with InstanceLock(p.run_dir / "capture.lock"):
        write_private_text(status_path(p), json.dumps({
            "running": True, "pid": os.getpid(), "state": "suspicious", "trust": 52.4,
            "reason": "pointer actions unlike the owner's (curvature_mean)",
            "last_decision": None,
            "latency_ms": {"p50": 23.4, "p99": 38.8, "max": 41.8, "n": 22},
            "gate": {"since_wall_ns": time.time_ns(), "reason": "trust 34.0 < 40 (gate level)",
                     "trust_at_gate": 34.0, "dry_run": False,
                     "until": "trust stays >= 70 for 60 s",
                     "apps": [{"app": "game", "match": "supertux2", "mode": "suspend",
                               "suspended_pids": [4242, 4243]},
                              {"app": "chat", "match": "discord", "mode": "close",
                               "suspended_pids": [], "closed_pids": [4250, 4251]},
                              {"app": "video", "match": "vlc", "mode": "close",
                               "suspended_pids": [], "closed_pids": []}]},
            "config": "the configuration changed: it applies once the gate is lifted",
            "training": "updating",
            "upgrade_retry": {"at_wall_ns": time.time_ns() + 3600 * 10**9, "after_s": 3600.0,
                              "error": "automatic training failed: disk full"}}))
        # the agent's trust history: two joined minutes, then one after a gap of an hour
        now = int(time.time()) // 60 * 60
        h = history.TrustHistory(history.history_path(p))
        for t, trust in ((now - 3720, 90.0), (now - 3660, 31.6), (now - 60, 88.0)):
            h.observe(t + 5, trust)
        h.close()
        page = browser.new_page()
        page.goto(url)
        expect(page.locator("#history")).to_contain_text("Lowest in the last 24 h: 32 at")
        expect(page.locator("#history")).to_contain_text("(3 minutes with input)")
        d = page.locator("#line").get_attribute("d") or ""
        assert [seg[0] for seg in d.split()[:3]] == ["M", "L", "M"], d  # the gap is not joined
        expect(page.locator("#state")).to_have_text("suspicious")
        expect(page.locator("#trust")).to_have_text("52 / 100")
        expect(page.locator("#reason")).to_contain_text("unlike the owner's")
        expect(page.locator("#latency")).to_have_text(
            "Reacts 23 ms after an action ends (p99 39 ms, last 22 actions)")
        expect(page.locator("#gate")).to_contain_text(
            "Gated: game suspended (pids 4242, 4243); chat closed (pids 4250, 4251), and again "
            "if started; video closed when started (not running) — since ")
        expect(page.locator("#gate")).to_contain_text(
            "trust 34.0 < 40 (gate level); lifted once trust stays >= 70 for 60 s")
        expect(page.locator("#config")).to_have_text(
            "the configuration changed: it applies once the gate is lifted")
        # what it is doing to the model now, as `status` says it (the page said nothing)
        expect(page.locator("#training")).to_contain_text(
            "the agent is updating your model for drift now (it scores with the current one "
            "meanwhile) — Refitting the fallback model failed (automatic training failed: disk "
            "full): the agent tries again at ")
        st = json.loads(cli("status", "--json", env=env).stdout)["agent"]
        assert st["running"] and st["latency_ms"]["n"] == 22
        assert st["training_note"].startswith("the agent is updating your model for drift now")
        assert st["config"] == "the configuration changed: it applies once the gate is lifted"
        assert st["gate"]["apps"][0]["suspended_pids"] == [4242, 4243]
        text = " ".join(cli("status", env=env).stdout.split())  # rich wraps at 80 columns
        assert "reaction trust updated 23 ms (p50) / 39 ms (p99)" in text
        assert ("gated game suspended (pids 4242, 4243); chat closed (pids 4250, 4251), and "
                "again if started; video closed when started (not running) — since") in text
        assert "lifted once trust stays >= 70 for 60 s" in text
        assert "config the configuration changed: it applies once the gate is lifted" in text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_a_taken_port_is_a_one_line_error(tmp_path: Path,
                                          served: tuple[str, dict[str, str],
                                                        subprocess.Popen[str]]) -> None:
    url, env, _ = served
    port = url.split(":")[2].split("/")[0]  # http://127.0.0.1:PORT/#token=…
    r = cli("dashboard", "--no-open", "--port", port, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr


def test_the_browser_is_handed_a_private_forwarding_file_not_the_secret(
        browser: Browser, tmp_path: Path) -> None:
    """A browser's command line is visible to every account (ps): it gets a 0600 file that
    forwards to the URL; the file goes when the dashboard stops."""
    home = tmp_path / "home"
    argv_log = tmp_path / "browser-argv.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"open({str(argv_log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n")
    fake.chmod(0o755)
    env = env_for(home, BROWSER=str(fake))
    assert cli("init", "--user", "alice", env=env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "activesec.cli.main", "dashboard"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[1]
        token = url.split("#token=")[1]
        deadline = time.monotonic() + 20
        while not argv_log.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        handed = argv_log.read_text().strip()
        opener = home / "run" / "dashboard.html"
        assert handed == opener.as_uri() and token not in handed
        assert stat.S_IMODE(opener.stat().st_mode) == 0o600
        page = browser.new_page()
        page.goto(handed)  # what the real browser does with it
        expect(page.locator("#owner")).to_have_text("alice")
        assert page.url == url.split("#")[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    assert code == 0 and not opener.exists()


def test_a_refused_profile_update_says_when_why_and_the_way_out(
        browser: Browser, tmp_path: Path) -> None:
    """A real model (one Balabit session imported and trained by the CLI) whose last drift
    update was refused: the page says so, as ``status`` does, and drops it once a model newer
    than the refusal replaces it (``models[].update_refused`` is null then)."""
    from tests.conftest import dataset

    from activesec.core.paths import write_private_text
    from activesec.recordings import iter_balabit, write_mouse_csv
    from activesec.service.train import DRIFT_STATE

    home = tmp_path / "home"
    env = env_for(home)
    assert cli("init", "--user", "alice", env=env).returncode == 0
    (home / "config.toml").write_text('user = "alice"\n[enrol]\npointer_events = 1000\n'
                                      '[train]\nauto = false\n')
    rec = tmp_path / "rec" / "alice"
    rec.mkdir(parents=True)
    one = next(iter(iter_balabit(dataset("balabit"), "training", ["user7"])))
    write_mouse_csv(rec / f"{one.session}.csv", one.events)
    assert cli("import", str(tmp_path / "rec"), "--label", "alice", env=env,
               timeout=300).returncode == 0
    r = cli("train", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    p = paths_mod.resolve(home)
    (model,) = [m["name"] for m in json.loads(cli("status", "--json", env=env).stdout)["models"]]
    reason = "58 % of the recent rows look unlike the owner (more than 20 %): not learning"
    write_private_text(p.models_dir / DRIFT_STATE, json.dumps(
        {"refused_until": {model: 1}, "refusals": {model: {"at_wall_ns": time.time_ns(),
                                                          "reason": reason}},
         "decided_wall_ns": time.time_ns()}))
    proc = subprocess.Popen([sys.executable, "-m", "activesec.cli.main", "dashboard",
                             "--no-open"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[1]
        page = browser.new_page()
        page.goto(url)
        item = page.locator("#models li").first
        expect(item).to_contain_text(f"{model}: ")
        expect(item).to_contain_text("last update refused ")
        # trained without a background population: the page says so and what to do
        expect(item).to_contain_text("one-class fallback: extra_trees needs a background "
                                     "population")
        expect(item).to_contain_text("the agent then refits it by itself")
        expect(item).to_contain_text(reason + " (if your input changed for good, "
                                     "`activesec train --reset` re-enrols)")
        # an earlier refusal than the model's own training is history, not news
        write_private_text(p.models_dir / DRIFT_STATE, json.dumps(
            {"refused_until": {model: 1}, "refusals": {model: {"at_wall_ns": 10**18,
                                                              "reason": reason}},
             "decided_wall_ns": 10**18}))
        page.reload()
        expect(page.locator("#models li").first).to_contain_text(f"{model}: ")
        expect(page.locator("#models")).not_to_contain_text("refused")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_apps_a_killed_agent_left_frozen_are_shown_with_the_way_to_thaw_them_now(
        browser: Browser, served: tuple[str, dict[str, str], subprocess.Popen[str]],
        tmp_path: Path) -> None:
    """The page named every pid of a killed agent's gated.json — a game killed since too —
    and no way to thaw them but starting the agent."""
    from tests.helpers.procs import Counter, unique, wait_until

    from activesec.actions.gate import GateAction

    url, env, _proc = served
    name = unique("asdash")
    gone, frozen = Counter(tmp_path, name), Counter(tmp_path, name)
    try:
        gate = GateAction(rules=[{"name": "game", "match": name}],
                          state_file=paths_mod.resolve(env["ACTIVESEC_HOME"]).run_dir
                          / "gated.json")
        gate.start()
        gate.fire(Decision("gate", "suspicious", 30.0, time.time_ns(), "low", {}))
        wait_until(lambda: gone.stopped() and frozen.stopped(), "the gate")  # no stop(): killed
        gone.kill()
        page = browser.new_page()
        page.goto(url)
        expect(page.locator("#gate")).to_have_text(
            f"Left suspended by an agent that was killed: game pid {frozen.proc.pid} (the next "
            f"`activesec run` resumes them, or now: `kill -CONT {frozen.proc.pid}`)")
    finally:
        gone.kill()
        frozen.kill()
