"""The live agent with a fake clock, a scripted backend, a real store, real actions.

The backend delivers a synthetic recording as the fake clock reaches each event's time (the
runner's sleeps drive the clock), so a whole capture -> engine -> policy -> actions run is
deterministic and instant. Models are fitted here on a synthetic owner (the model files of
service/models.py are exercised by the integration tests).
"""

from __future__ import annotations

import itertools
import json
import shutil
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.helpers.procs import Counter, unique, wait_until

from activesec.capture.base import BackendInfo, CaptureBackend, Device, Probe, Sink
from activesec.core import config
from activesec.core import paths as paths_mod
from activesec.core.clock import FakeClock
from activesec.core.config import Settings
from activesec.core.errors import ConfigError, ModelError
from activesec.core.events import DeviceType, Flag, Kind
from activesec.detectors.oneclass import ScaledManhattan
from activesec.engine.policy import AgentState
from activesec.engine.scoring import ModalityModel
from activesec.engine.trust import Calibration
from activesec.features.pointer import POINTER_FEATURE_NAMES, pointer_features
from activesec.recordings.synthetic import pointer_person
from activesec.service import agent as agent_mod
from activesec.service import history
from activesec.service.agent import (
    PASSIVE_SILENCE_S,
    Agent,
    AgentSummary,
    ScreenWatch,
    completed_at,
    read_status,
    status_path,
)
from activesec.service.decisions import DecisionLog, decisions_path
from activesec.service.train import reset_enrolment
from activesec.store.db import Store

S = 1_000_000_000


def owner(n: int, seed: int, t0: float = 0.0) -> np.ndarray:
    return pointer_person(n, seed, t0, ms_per_px=1.0, bend=0.02, gap_s=(0.3, 1.0))


def stranger(n: int, seed: int, t0: float = 0.0) -> np.ndarray:
    """Faster, more bowed and noisier paths and a longer click than the owner's."""
    return pointer_person(n, seed, t0, ms_per_px=0.4, bend=0.13, jitter_px=6.0, dwell=0.25,
                          gap_s=(0.3, 1.0))


@pytest.fixture(scope="module")
def models() -> dict[str, ModalityModel]:
    X = pointer_features(owner(300, 1)).X
    det = ScaledManhattan().fit(X)
    held = pointer_features(owner(200, 2)).X
    cal = Calibration.from_scores(det.score(held), 0.05)
    return {"pointer:mouse": ModalityModel.pointer(
        det, cal, feature_center=np.median(X, axis=0),
        feature_scale=np.percentile(X, 75, axis=0) - np.percentile(X, 25, axis=0))}


class StepClock(FakeClock):
    """A fake clock whose sleeps also let the scripted backend deliver what is due."""

    def __init__(self) -> None:
        super().__init__(monotonic_ns=1_000 * S)
        self.hooks: list[Callable[[], None]] = []

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        for h in self.hooks:
            h()


class Scripted(CaptureBackend):
    """Delivers ``events`` (times relative to start) in 0.25 s batches as the clock passes."""

    name = "scripted"

    def __init__(self, clock: StepClock, events: np.ndarray) -> None:
        super().__init__()
        self.clock = clock
        self.events = events
        self.sink: Sink | None = None
        self.t0 = 0
        self.pos = 0
        clock.hooks.append(self._deliver)

    @classmethod
    def probe(cls) -> Probe:
        return Probe(cls.name, True)

    def start(self, sink: Sink) -> None:
        self.sink = sink
        self.t0 = self.clock.monotonic_ns() - (int(self.events["t_ns"][0]) if len(self.events)
                                               else 0)

    def _deliver(self) -> None:
        if self.sink is None or self.pos >= len(self.events):
            return
        now = self.clock.monotonic_ns() - self.t0
        stop = int(np.searchsorted(self.events["t_ns"], now, side="right"))
        if stop > self.pos:
            batch = self.events[self.pos:stop].copy()
            batch["t_ns"] += self.t0
            self.pos = stop
            self.sink(batch)

    def stop(self) -> None:
        self.sink = None

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, screen=(1920, 1080),
                           devices=[Device(0, "Test USB Mouse", DeviceType.MOUSE)])


def marker_cmd(path: Path) -> list[str]:
    """A real command that appends the decision it receives on stdin to ``path``."""
    code = ("import sys; d = sys.stdin.read(); "
            f"open({str(path)!r}, 'a').write(d.strip() + '\\n')")
    return [sys.executable, "-c", code]


def make_settings(tmp: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "user": "alice",
        "capture": {"flush_interval_s": 0.5},
        "train": {"auto": False},
        "actions": {"on_notify": [], "on_lock": ["command"], "on_gate": [],
                    "params": {"command": {"argv": marker_cmd(tmp / "locked.jsonl")}}},
    }
    base.update(kw)
    return Settings.model_validate(base)


@pytest.fixture
def p(home: Path) -> paths_mod.Paths:
    return paths_mod.resolve(home).ensure()


def put_model_file(p: paths_mod.Paths) -> None:
    (p.models_dir / "pointer").mkdir(parents=True, exist_ok=True)
    (p.models_dir / "pointer" / "card.json").write_text("{}")


def run_agent(p: paths_mod.Paths, settings: Settings, events: np.ndarray,
              models: dict[str, ModalityModel] | None, *, duration: float | None = None,
              **kw: Any) -> tuple[Agent, AgentSummary]:
    clock = StepClock()
    be = Scripted(clock, events)
    if models is not None:
        put_model_file(p)
    loader = kw.pop("loader", None) or (lambda _p: models or {})
    agent = Agent(p, settings, be, clock, loader=loader,
                  screen=ScreenWatch(clock, query=lambda: None), **kw)
    span = (int(events["t_ns"][-1] - events["t_ns"][0]) / S) if len(events) else 0.0
    summary = agent.run(duration_s=duration if duration is not None else span + 10)
    return agent, summary


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, actions={
        "on_notify": ["alertlog"], "on_lock": ["command"], "on_gate": [],
        "params": {"command": {"argv": marker_cmd(tmp_path / "locked.jsonl")},
                   "alertlog": {"path": str(tmp_path / "alerts.jsonl")}}})


def write_config(p: paths_mod.Paths, tmp: Path, on_lock: str = "[]", extra: str = "",
                 on_gate: str = "[]") -> None:
    """The account's config.toml as a user edits it: the command action writes the lock."""
    argv = json.dumps(marker_cmd(tmp / "locked.jsonl"))
    p.config_file.write_text(
        f'user = "alice"\n[capture]\nflush_interval_s = 0.5\n[train]\nauto = false\n'
        f"[actions]\non_notify = []\non_lock = {on_lock}\non_gate = {on_gate}\n"
        f"[actions.params.command]\nargv = {argv}\n{extra}")


def run_editing_config(p: paths_mod.Paths, tmp: Path, models: dict[str, ModalityModel],
                       edit: Callable[[], object] | None,
                       later: Callable[[], object] | None = None) -> Agent:
    """The owner for 40 actions, then a stranger from t = 60 s; ``edit`` runs at t = 30 s,
    ``later`` at t = 50 s."""
    write_config(p, tmp)
    ev = np.concatenate([owner(40, 8), stranger(60, 9, t0=60.0)])
    clock = StepClock()
    start = clock.monotonic_ns()

    def edit_once() -> None:
        nonlocal edit, later
        if edit is not None and clock.monotonic_ns() >= start + 30 * S:
            edit()
            edit = None
        if later is not None and clock.monotonic_ns() >= start + 50 * S:
            later()
            later = None

    clock.hooks.append(edit_once)
    be = Scripted(clock, ev)
    put_model_file(p)
    agent = Agent(p, config.load(p), be, clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: None),
                  reload_settings=lambda: config.load(p))
    agent.run(duration_s=int(ev["t_ns"][-1] - ev["t_ns"][0]) / S + 10)
    return agent


def test_an_edited_config_applies_while_the_agent_runs(
        p: paths_mod.Paths, tmp_path: Path, models: dict[str, ModalityModel]) -> None:
    """Started without a lock action (no lock is decided), the user adds one at t = 30 s: the
    stranger who sits down at t = 60 s is locked out by the running agent, no restart."""
    unchanged = run_editing_config(p, tmp_path, models, None)
    assert not [d for d in unchanged.decisions if d["level"] == "lock"]
    assert not (tmp_path / "locked.jsonl").exists()

    agent = run_editing_config(
        p, tmp_path, models, lambda: write_config(p, tmp_path, on_lock='["command"]'))
    assert agent.settings.actions.on_lock == ["command"]
    assert [d for d in agent.decisions if d["level"] == "lock"]
    assert json.loads((tmp_path / "locked.jsonl").read_text().splitlines()[0])["level"] == "lock"
    assert agent.status()["config"] is None


def test_an_invalid_edit_keeps_the_running_settings_and_says_why(
        p: paths_mod.Paths, tmp_path: Path, models: dict[str, ModalityModel]) -> None:
    """A typo in the file must not stop the protection, nor half-apply: the edit that also
    adds the lock action is refused whole, and the status file names the bad key."""
    agent = run_editing_config(p, tmp_path, models, lambda: write_config(
        p, tmp_path, on_lock='["command"]', extra="[engine.policy]\nlock_below = -5\n"))
    assert agent.settings.actions.on_lock == []
    assert not (tmp_path / "locked.jsonl").exists()
    note = read_status(p)["config"]  # type: ignore[index]
    assert "not applied" in note and "engine.policy.lock_below" in note


def test_an_edit_whose_action_cannot_start_is_refused_and_the_old_actions_keep_working(
        p: paths_mod.Paths, tmp_path: Path, models: dict[str, ModalityModel]) -> None:
    """The edit adds the lock action and an alert log under a regular file (its folder cannot
    be made): refused whole — the agent neither dies nor half-applies it."""
    (tmp_path / "a-file").write_text("")
    bad = json.dumps(str(tmp_path / "a-file" / "alerts.jsonl"))
    agent = run_editing_config(p, tmp_path, models, lambda: write_config(
        p, tmp_path, on_lock='["command", "alertlog"]',
        extra=f"[actions.params.alertlog]\npath = {bad}\n"))
    assert agent.settings.actions.on_lock == []
    assert agent.actions == {}  # as it started: no level runs any action
    assert "not applied" in (agent.status()["config"] or "")
    assert not (tmp_path / "locked.jsonl").exists()


def test_capture_settings_edited_while_running_wait_for_a_restart(
        p: paths_mod.Paths, tmp_path: Path, models: dict[str, ModalityModel]) -> None:
    agent = run_editing_config(p, tmp_path, models, lambda: p.config_file.write_text(
        p.config_file.read_text().replace("flush_interval_s = 0.5", "flush_interval_s = 2.0")))
    assert agent.settings.capture.flush_interval_s == 2.0
    assert agent.status()["config"] == ("capture settings changed: they apply when the agent "
                                        "is restarted")


def test_an_edit_undone_while_running_needs_no_restart(
        p: paths_mod.Paths, tmp_path: Path, models: dict[str, ModalityModel]) -> None:
    """Changed at 30 s, changed back at 50 s: what runs is what the file says again."""
    def edit_and_undo() -> None:
        original = p.config_file.read_text()
        p.config_file.write_text(original.replace("flush_interval_s = 0.5",
                                                  "flush_interval_s = 2.0"))
        undo.append(original)

    undo: list[str] = []
    agent = run_editing_config(p, tmp_path, models, edit_and_undo,
                               later=lambda: p.config_file.write_text(undo[0] + "\n"))
    assert undo  # both ran
    assert agent.settings.capture.flush_interval_s == 0.5
    assert agent.status()["config"] is None


def test_owner_is_not_locked_and_engine_sees_what_is_stored(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel],
        tmp_path: Path) -> None:
    ev = owner(150, 7)
    agent, _ = run_agent(p, settings, ev, models)
    assert not (tmp_path / "locked.jsonl").exists()
    assert not [d for d in agent.decisions if d["level"] == "lock"]
    assert agent.engine is not None
    status = agent.engine.status()
    assert status.n_updates >= 140  # ~one score per action
    assert status.state.value == "confident"
    store = Store.open(p.database)
    try:
        stored = sum(s.n_pointer for s in store.sessions())
    finally:
        store.close()
    assert stored == len(ev)  # every delivered event stored, and the engine saw them all
    assert agent.engine.scorer.last_event_ns is not None


def test_stranger_is_locked_with_evidence(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel],
        tmp_path: Path) -> None:
    ev = np.concatenate([owner(40, 8), stranger(60, 9, t0=60.0)])
    agent, _ = run_agent(p, settings, ev, models)
    locks = [d for d in agent.decisions if d["level"] == "lock"]
    assert locks, [d["level"] for d in agent.decisions]
    first = locks[0]
    assert first["trust"] < 40
    assert first["actions"][0]["name"] == "command" and first["actions"][0]["ok"]
    ev_ = first["evidence"]
    assert ev_["deviating_features"] and ev_["deviating_features"][0][0] in POINTER_FEATURE_NAMES
    assert ev_["recent"] and "trust_trajectory" in ev_
    # the real command received the decision as JSON on stdin
    lines = (tmp_path / "locked.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["level"] == "lock"
    # the decision log holds the same, 0600, and no content
    stored = list(DecisionLog(decisions_path(p)))
    assert [d["level"] for d in stored] == [d["level"] for d in agent.decisions]
    assert stat.S_IMODE(decisions_path(p).stat().st_mode) == 0o600
    # the stranger's first lock came from the stranger's actions, after the owner's 40
    t_lock = first["evidence"]["t_mono_ns"]
    assert agent.engine is not None
    n_before = len([s for s in agent.engine.trajectory if s.t_ns <= t_lock])
    assert 40 < n_before <= 40 + 15


def test_the_trust_history_holds_every_update_by_minute(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """What the dashboard draws after the fact: each minute's lowest trust, the lock's dip
    included, and every update counted once (the stream spans several minutes)."""
    agent, _ = run_agent(p, settings, np.concatenate([owner(60, 8), stranger(80, 9, t0=90.0)]),
                         models)
    assert agent.engine is not None
    traj = list(agent.engine.trajectory)
    assert 0 < len(traj) < agent.engine.cfg.trajectory  # all of them still in memory
    path = history.history_path(p)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = history.read(path)
    assert len(rows) >= 2 and sum(r["n"] for r in rows) == len(traj)
    assert min(r["lo"] for r in rows) == round(min(st.trust for st in traj), 2)
    assert rows[-1]["last"] == round(traj[-1].trust, 2)
    locks = [d for d in agent.decisions if d["level"] == "lock"]
    assert locks and min(r["lo"] for r in rows) <= locks[0]["trust"]


def test_actions_completed_by_silence_reach_the_trust_history_too(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """Movements without clicks, 4-5 s apart: each is scored by the engine's timer
    (``flush_after_s`` of silence), not by the input that follows it."""
    ev = pointer_person(40, 8, ms_per_px=1.0, bend=0.02, gap_s=(4.0, 5.0))
    ev = ev[ev["kind"] == Kind.MOVE]  # unlike the clicking owner: no lock, keep scoring
    quiet = settings.model_copy(update={"actions": settings.actions.model_copy(
        update={"on_notify": [], "on_lock": [], "on_gate": []})})
    agent, _ = run_agent(p, quiet, ev, models)
    assert agent.engine is not None
    n = agent.engine.status().n_updates
    assert n == 40
    rows = history.read(history.history_path(p))
    assert sum(r["n"] for r in rows) == n
    assert len(agent.latencies_ms) == n  # timed too: from the moment silence completed them
    assert max(agent.latencies_ms) <= 1000 * agent_mod.TICK_S


def test_an_action_completed_by_silence_is_scored_when_the_silence_completes_it(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """The loop wakes when ``flush_after_s`` of silence completes a movement with no input
    after it, instead of waiting for a tick (the 1 s status tick until 2026-12-06)."""
    ev = pointer_person(12, 8, ms_per_px=1.0, bend=0.02, gap_s=(4.0, 5.0))
    ev = ev[ev["kind"] == Kind.MOVE]
    quiet = settings.model_copy(update={"actions": settings.actions.model_copy(
        update={"on_notify": [], "on_lock": [], "on_gate": []})})
    seen: list[tuple[int, int]] = []  # (scored at, action's last event)

    class Watched(Agent):
        def _observe(self, updates: list[Any]) -> None:
            seen.extend((self.clock.monotonic_ns(), st.t_ns) for st in updates)
            super()._observe(updates)

    clock = StepClock()
    be = Scripted(clock, ev)
    put_model_file(p)
    agent = Watched(p, quiet, be, clock, loader=lambda _p: models,
                    screen=ScreenWatch(clock, query=lambda: None))
    agent.run(duration_s=int(ev["t_ns"][-1] - ev["t_ns"][0]) / S + 10)
    flush_ns = agent.cfg.scoring.flush_after_s * S
    waits = [(at - end - flush_ns) / S for at, end in seen if at - end >= flush_ns]
    assert len(waits) >= 10  # the movements 4-5 s apart, each ended by silence
    assert max(waits) <= 1e-6  # the fake clock wakes exactly then


def test_a_night_with_the_lid_closed_is_an_absence_to_trust_store_and_history(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """The owner works, the laptop sleeps 8 h, work resumes. The agent's clock counts the
    suspend (CLOCK_BOOTTIME; :mod:`activesec.core.clock`), so the real agent sees a night: trust
    has decayed toward its neutral level by the first action after it (evidence from before
    the night does not vouch for who is back), the events stored after it carry the wall-clock
    time they happened at, and the trust history has the night as a gap."""
    night_s = 8 * 3600.0
    before = owner(40, 8)
    span_s = int(before["t_ns"][-1] - before["t_ns"][0]) / S
    ev = np.concatenate([before, owner(40, 11, t0=span_s + night_s + 5.0)])
    clock = StepClock()
    be = Scripted(clock, ev)
    slept: list[int] = []

    def suspend() -> None:  # the lid closes 2 s after the last action, opens 8 h later
        if not slept and be.t0 and clock.monotonic_ns() - be.t0 > (span_s + 2.0) * S:
            slept.append(clock.monotonic_ns())
            clock.advance(night_s)

    clock.hooks.append(suspend)
    put_model_file(p)
    agent = Agent(p, settings, be, clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: None))
    agent.run(duration_s=span_s + night_s + 60.0)
    assert slept and agent.engine is not None
    traj = list(agent.engine.trajectory)
    pre = [st for st in traj if st.t_ns < slept[0]]
    post = [st for st in traj if st.t_ns > slept[0]]
    assert len(pre) >= 35 and len(post) >= 35
    assert pre[-1].trust > 90.0  # the owner, before the night
    cfg = agent.cfg.trust
    assert post[0].trust <= cfg.idle_neutral + cfg.max_reward + 1e-9  # decayed over the night
    assert not [d for d in agent.decisions if d["level"] in ("notify", "lock")]
    with Store.open(p.database) as store:
        (sess,) = store.sessions()
        last_wall = sess.started_wall_ns + int(store.events(sess.id)["t_ns"].max()) \
            - sess.started_mono_ns
    assert clock.wall_ns() - 60 * S < last_wall <= clock.wall_ns()  # no 8 h behind
    minutes = [r["t"] for r in history.read(history.history_path(p))]
    assert max(np.diff(minutes)) >= night_s


def test_a_wipe_while_running_clears_decisions_and_history_and_enrols_again(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """``activesec wipe`` from another process: the agent sees the store's new generation."""
    clock = StepClock()
    put_model_file(p)
    agent = Agent(p, settings, Scripted(clock, stranger(120, 12)), clock,
                  loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: False))
    wiped: list[int] = []

    def wipe_at_60s() -> None:
        if not wiped and clock.monotonic_ns() >= 1_060 * S:
            wiped.append(len(agent.decisions))
            with Store.open(p.database) as store:
                store.wipe()
            shutil.rmtree(p.models_dir)

    clock.hooks.append(wipe_at_60s)
    summary = agent.run(duration_s=150)
    assert wiped and wiped[0] > 0  # decisions were taken before the wipe
    assert summary.state == "enrolling" and summary.decisions == []
    assert not decisions_path(p).exists() and history.read(history.history_path(p)) == []
    st = read_status(p)
    assert st is not None and st["decisions"] == 0 and st["state"] == "enrolling"


def test_a_wipe_the_writer_has_seen_is_acted_on_at_once(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """The writer notices a wipe within its 0.25 s poll and begins a new session; the agent
    kept the models, the suspicion and a gate until its next housekeeping round (up to 10 s
    later). A new session id is the writer's word that it happened."""
    from activesec.capture.runner import LiveStats

    clock = StepClock()
    put_model_file(p)
    Store.open(p.database, create=True).close()
    agent = Agent(p, settings, Scripted(clock, stranger(10, 1)), clock,
                  loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: False))
    agent._load_models()

    def tick(session_id: int) -> None:
        agent._tick(LiveStats(session_id=session_id, label="alice", backend="scripted",
                              elapsed_s=1.0, events_per_s=0.0, received=0, stored=0, queued=0,
                              dropped=0, paused_discarded=0, paused=False, app=None, error=None))

    tick(1)  # the first housekeeping round notes the store's wipe generation
    assert agent.engine is not None
    with Store.open(p.database) as store:
        store.wipe()
    shutil.rmtree(p.models_dir)
    tick(1)  # before the writer has seen it, and before the next round: nothing yet
    assert agent.engine is not None
    tick(2)  # the writer began the session that follows the wipe
    assert agent.engine is None and agent.state == AgentState.ENROLLING


def test_an_unwritable_decision_log_does_not_stop_the_protection(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel],
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk or a broken decisions.jsonl (here a directory in its place: appending fails
    for real) loses the log line, not the lock; memory keeps only the newest decisions."""
    monkeypatch.setattr(agent_mod, "KEEP_DECISIONS", 2)
    decisions_path(p).mkdir(parents=True)
    agent, summary = run_agent(p, settings, stranger(120, 12), models)
    locks = (tmp_path / "locked.jsonl").read_text().splitlines()
    assert locks and json.loads(locks[0])["level"] == "lock"  # the lock command still ran
    assert summary.n_decisions > 2 and len(agent.decisions) == 2
    assert agent.decisions[-1] == summary.decisions[-1]
    st = read_status(p)
    assert st is not None and st["decisions"] == summary.n_decisions
    assert st["last_decision"]["level"] in ("lock", "notify", "gate")
    assert "cannot append to" in caplog.text and "kept in memory" in caplog.text


def test_status_file(p: paths_mod.Paths, settings: Settings,
                     models: dict[str, ModalityModel]) -> None:
    run_agent(p, settings, owner(30, 3), models)
    st = read_status(p)
    assert st is not None
    assert stat.S_IMODE(status_path(p).stat().st_mode) == 0o600
    assert st["running"] is False
    assert st["state"] == "confident"
    assert 70 <= st["trust"] <= 100
    assert st["models"] == ["pointer:mouse"]
    assert st["events"] > 0 and st["last_decision"] is None
    assert st["trust_minute"] is None  # the open minute was written when the agent stopped


def test_status_reports_the_latency_from_action_end_to_trust(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """Every live trust update is timed against the stamp of the action's last event; the
    clock here only moves when the agent sleeps, so each wait is a whole number of its sleeps."""
    agent, _ = run_agent(p, settings, owner(30, 3), models)
    assert agent.engine is not None
    lat = list(agent.latencies_ms)
    assert 0 < len(lat) <= agent.engine.status().n_updates
    assert min(lat) >= 0 and max(lat) <= 1000 * agent_mod.TICK_S + 1e-6
    st = read_status(p)
    assert st is not None
    summary = st["latency_ms"]
    assert summary["n"] == len(lat)
    assert summary["p50"] <= summary["p99"] <= summary["max"] == round(max(lat), 2)


def test_an_action_is_timed_from_the_input_that_completed_it() -> None:
    from activesec.core.events import Kind, make

    ms = 1_000_000
    click = np.concatenate([make([100 * ms, 110 * ms], Kind.MOVE, 0, 0),
                            make([200 * ms], Kind.BUTTON_UP, 0, 0, code=1),
                            make([900 * ms], Kind.MOVE, 0, 0)])
    assert completed_at(click, 200 * ms) == 200 * ms  # the release itself
    assert completed_at(click, 110 * ms) == 200 * ms  # the next event after a movement
    # a movement that ended in an earlier batch: this batch's first move ended it
    assert completed_at(click[3:], 150 * ms) == 900 * ms
    # a keystroke window: the first event a settle time after its end
    keys = make(np.array([300, 700, 1400, 1600]) * ms, Kind.KEY_DOWN, 0, 0, 1)
    assert completed_at(keys, 300 * ms, settle_ns=1000 * ms) == 1400 * ms
    # nothing later in the batch (completed by other means): never before the batch
    assert completed_at(keys, 100 * ms, settle_ns=5000 * ms) == 300 * ms


def test_no_latency_before_the_first_score(p: paths_mod.Paths, settings: Settings) -> None:
    agent, _ = run_agent(p, settings, owner(5, 3), None)
    assert agent.status()["latency_ms"] is None


def test_failed_lock_notifies_and_is_recorded(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    s = make_settings(tmp_path, actions={
        "on_notify": ["command"], "on_lock": ["lock"], "on_gate": [],
        "params": {"lock": {"methods": ["xdg-screensaver", "dm-tool"], "path": str(empty)},
                   "command": {"argv": marker_cmd(tmp_path / "notified.jsonl")}}})
    agent, _ = run_agent(p, s, stranger(40, 11), models)
    locks = [d for d in agent.decisions if d["level"] == "lock"]
    assert locks
    outcomes = locks[0]["actions"]
    assert outcomes[0]["name"] == "lock" and not outcomes[0]["ok"]
    assert outcomes[1]["name"] == "command" and outcomes[1]["ok"]
    notified = [json.loads(x) for x in (tmp_path / "notified.jsonl").read_text().splitlines()]
    assert any(n["level"] == "lock" and n["reason"].startswith("LOCK FAILED") for n in notified)
    assert not agent.screen.locked  # the policy keeps retrying


def test_dry_run_acts_on_nothing(p: paths_mod.Paths, settings: Settings,
                                 models: dict[str, ModalityModel], tmp_path: Path) -> None:
    agent, _ = run_agent(p, settings, stranger(40, 12), models, dry_run=True)
    locks = [d for d in agent.decisions if d["level"] == "lock"]
    assert locks and locks[0]["dry_run"] is True
    assert locks[0]["actions"][0]["detail"].startswith("dry-run:")
    assert not (tmp_path / "locked.jsonl").exists()


def test_lock_then_screen_locked_no_more_decisions(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    clock_query: list[bool | None] = [True]  # the screensaver reports active: stays locked
    clock = StepClock()
    put_model_file(p)
    agent = Agent(p, settings, Scripted(clock, stranger(80, 13)), clock,
                  loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: clock_query[0]))
    agent.run(duration_s=200)
    assert [d["level"] for d in agent.decisions].count("lock") == 1
    assert agent.screen.locked and agent.status()["state"] == "locked"


@pytest.mark.parametrize("on_lock, params", [
    (["alertlog"], {}),
    (["command"], {"command": {"argv": ["true"], "locks": False}}),
])
def test_a_lock_decision_no_action_carried_out_does_not_reset_trust(
        p: paths_mod.Paths, tmp_path: Path, models: dict[str, ModalityModel],
        on_lock: list[str], params: dict[str, Any]) -> None:
    """on_lock that only reports (the alert log, a pager command): nothing locked the screen,
    so nothing unlocks it — the agent took the screen for locked, assumed the unlock when input
    resumed and gave the stranger still at the keyboard full trust and a grace period, again
    after every lock decision."""
    s = make_settings(tmp_path, actions={
        "on_notify": [], "on_lock": on_lock, "on_gate": [],
        "params": {"alertlog": {"path": str(tmp_path / "alerts.jsonl")}, **params}})
    agent, _ = run_agent(p, s, stranger(120, 13), models)
    locks = [d for d in agent.decisions if d["level"] == "lock"]
    assert len(locks) >= 2 and all(d["actions"][0]["ok"] for d in locks)
    assert not agent.screen.locked and agent.engine is not None
    levels = [st.trust for st in agent.engine.trajectory]
    first_low = next(i for i, t in enumerate(levels) if t < 40)  # the first lock decision
    assert max(levels[first_low:]) < 50  # trust was never given back (it was reset to 100)


def test_no_model_enrols(p: paths_mod.Paths, settings: Settings) -> None:
    _, summary = run_agent(p, settings, owner(20, 4), None)
    assert summary.state == "enrolling"
    st = read_status(p)
    assert st is not None and st["state"] == "enrolling" and "no model" in st["reason"]
    assert st["enrolment"]["pointer_events"] > 0
    assert 0 < st["enrolment"]["progress"] < 1


def test_enrolment_counts_own_input_since_the_last_reset(p: paths_mod.Paths,
                                                          settings: Settings) -> None:
    """Injected input never counts toward enrolment (training never uses it), and after
    `activesec train --reset` only what comes later does — else the agent would report
    enrolment complete and start trainings that find nothing to train on."""
    first = owner(20, 4)
    run_agent(p, settings, first, None)
    before = read_status(p)
    assert before is not None and before["enrolment"]["pointer_events"] == len(first)
    reset_enrolment(p)
    bot = owner(20, 5)
    bot["flags"] |= int(Flag.INJECTED)
    run_agent(p, settings, bot, None)
    st = read_status(p)
    assert st is not None and st["enrolment"]["pointer_events"] == 0
    assert st["enrolment"]["progress"] == 0
    again = owner(10, 6)
    run_agent(p, settings, again, None)
    st = read_status(p)
    assert st is not None and st["enrolment"]["pointer_events"] == len(again)


def test_refused_model_keeps_enrolling(p: paths_mod.Paths, settings: Settings,
                                       models: dict[str, ModalityModel]) -> None:
    def tampered(_p: paths_mod.Paths) -> dict[str, ModalityModel]:
        raise ModelError("model pointer: SHA-256 mismatch (file changed since training)",
                         "retrain with `activesec train`")

    agent, summary = run_agent(p, settings, stranger(30, 5), models, loader=tampered)
    assert summary.state == "enrolling"
    assert not agent.decisions
    st = read_status(p)
    assert st is not None and "model refused" in st["reason"] and "SHA-256" in st["reason"]


def test_auto_training_when_enrolled(p: paths_mod.Paths, tmp_path: Path,
                                     models: dict[str, ModalityModel]) -> None:
    s = make_settings(tmp_path, train={"auto": True}, enrol={"pointer_events": 500},
                      actions={"on_notify": [], "on_lock": [], "on_gate": []})
    trained: list[int] = []

    def trainer(pp: paths_mod.Paths, _s: Settings) -> None:
        trained.append(1)
        put_model_file(pp)

    clock = StepClock()
    agent = Agent(p, s, Scripted(clock, owner(200, 6)), clock, loader=lambda _p: models,
                  trainer=trainer, screen=ScreenWatch(clock, query=lambda: None))
    agent.run(duration_s=180)
    assert trained == [1]
    assert agent.models and agent.engine is not None
    assert agent.engine.status().n_updates > 0  # scoring started once the model arrived


def test_paused_takes_no_decisions(p: paths_mod.Paths, settings: Settings,
                                   models: dict[str, ModalityModel]) -> None:
    store = Store.open(p.database, create=True)
    store.set_paused(True)
    store.close()
    agent, summary = run_agent(p, settings, stranger(40, 14), models)
    assert not agent.decisions
    assert summary.state == "paused"


def test_paused_without_a_model_reports_paused_not_enrolling(p: paths_mod.Paths,
                                                             settings: Settings) -> None:
    """`activesec pause` during enrolment: the state says paused (no input is being taken)."""
    store = Store.open(p.database, create=True)
    store.set_paused(True)
    store.close()
    agent, summary = run_agent(p, settings, owner(20, 4), None)
    assert agent.engine is None and not agent.models
    assert summary.state == "paused" and agent.state is AgentState.PAUSED
    st = read_status(p)
    assert st is not None and st["state"] == "paused"


def test_bad_config_fails_before_running(p: paths_mod.Paths, tmp_path: Path) -> None:
    clock = StepClock()
    be = Scripted(clock, owner(5, 1))
    with pytest.raises(ConfigError, match="engine"):
        Agent(p, make_settings(tmp_path, engine={"trust": {"nonsense": 1}}), be, clock)
    with pytest.raises(ConfigError, match="unknown action"):
        Agent(p, make_settings(tmp_path, actions={"on_lock": ["no-such-action"]}), be, clock)
    # a check across sections names the section and reads as a sentence, not pydantic's
    with pytest.raises(ConfigError) as err:
        Agent(p, make_settings(tmp_path, engine={"trust": {"lock_level": 20},
                                                 "policy": {"lock_below": 30}}), be, clock)
    assert err.value.message == ("invalid configuration value for 'engine': policy.lock_below "
                                 "(30) must equal trust.lock_level (20): one lock level")


def test_decision_log_rotates_and_survives_a_torn_line(tmp_path: Path) -> None:
    from activesec.actions.base import Decision

    log = DecisionLog(tmp_path / "d.jsonl", max_bytes=2000)
    d = Decision("notify", "suspicious", 55.0, 1, "trust 55 < 70", {"modality": "keyboard"})
    for _ in range(20):
        log.append(d)
    assert (tmp_path / "d.jsonl.1").exists()
    with open(tmp_path / "d.jsonl", "a") as fh:
        fh.write('{"level": "no')  # a crash mid-line
    got = list(log)
    assert got and all(g["level"] == "notify" for g in got)
    log.clear()
    assert list(log) == []


@pytest.mark.parametrize("engine", [{"policy": {"gate_apps": ["nosuchapp"]}}, {}],
                         ids=["gate_apps", "from-the-rules"])
def test_gate_naming_a_missing_app_is_recorded_and_lock_still_fires(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path,
        engine: dict[str, Any]) -> None:
    """The policy gates the apps it is told to, by default those the gate action's rules name
    (the README's configuration names them once)."""
    s = make_settings(
        tmp_path, engine=engine,
        actions={"on_notify": [], "on_lock": ["command"], "on_gate": ["gate"],
                 "params": {"command": {"argv": marker_cmd(tmp_path / "locked.jsonl")},
                            "gate": {"rules": [{"name": "nosuchapp",
                                                "match": "no-such-process-xyz"}]}}})
    agent, _ = run_agent(p, s, stranger(40, 15), models)
    gates = [d for d in agent.decisions if d["level"] == "gate"]
    assert gates and gates[0]["actions"][0]["name"] == "gate"
    assert "nosuchapp" in gates[0]["actions"][0]["detail"]
    assert gates[0]["evidence"]["apps"] == ["nosuchapp"]
    assert any(d["level"] == "lock" for d in agent.decisions)
    assert (tmp_path / "locked.jsonl").exists()


def test_a_config_edited_while_gated_waits_for_the_gate_to_lift(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """Gated by a stranger, the config loses its gate rules (as a child with the account's
    shell could do): the gate keeps holding the real process until trust recovers, and the
    status says the edit waits — swapping the gate action would have resumed the game."""
    name = unique("asunit")
    game = Counter(tmp_path, name)
    gate = f'[actions.params.gate]\nrules = [{{ name = "game", match = "{name}" }}]\n'
    write_config(p, tmp_path, on_gate='["gate"]', extra=gate)
    clock = StepClock()
    put_model_file(p)
    agent = Agent(p, config.load(p), Scripted(clock, stranger(120, 12)), clock,
                  loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: None),
                  reload_settings=lambda: config.load(p))
    seen: dict[str, Any] = {}

    def edit_at_60s() -> None:
        now = clock.monotonic_ns()
        if "before" not in seen and now >= 1_060 * S:
            seen["before"] = game.stopped()
            write_config(p, tmp_path)  # on_gate = [], no rules
        if "before" in seen and "after" not in seen and now >= 1_075 * S:
            seen["after"] = (game.stopped(), agent.status()["config"])
            write_config(p, tmp_path, extra="[store]\nkeep_days = -1\n")  # invalid
        if "after" in seen and "invalid" not in seen and now >= 1_088 * S:
            seen["invalid"] = (game.stopped(), agent.status()["config"])
            write_config(p, tmp_path, on_gate='["gate"]', extra=gate)  # the edits undone
        if "invalid" in seen and "undone" not in seen and now >= 1_101 * S:
            seen["undone"] = (game.stopped(), agent.status()["config"])

    clock.hooks.append(edit_at_60s)
    try:
        agent.run(duration_s=105)
        assert seen["before"] is True
        stopped, note = seen["after"]
        assert stopped and note == "the configuration changed: it applies once the gate is lifted"
        # an invalid edit would not apply after the gate either: said now, not "applies once"
        stopped, note = seen["invalid"]
        assert stopped and note.startswith("configuration change not applied") and (
            "store.keep_days" in note)
        stopped, note = seen["undone"]  # nothing waits any more
        assert stopped and note is None
        assert agent.settings.actions.on_gate == ["gate"]
    finally:
        game.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and symlinks")
@pytest.mark.parametrize("change", ["wipe", "new-models"])
def test_the_gate_outlives_a_model_reload_and_is_lifted_by_a_wipe(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path,
        change: str) -> None:
    """Models replaced while gated (a drift update): the new policy keeps the gate until trust
    recovers. Models dropped (a wipe): nothing can restore by evidence any more, so the gate is
    lifted at once and a restore entry says why — a real process is suspended, then resumed."""
    name = unique("asunit")
    game = Counter(tmp_path, name)
    s = make_settings(tmp_path, actions={
        "on_notify": [], "on_lock": [], "on_gate": ["gate"],
        "params": {"gate": {"rules": [{"name": "game", "match": name}]}}})
    clock = StepClock()
    put_model_file(p)
    agent = Agent(p, s, Scripted(clock, stranger(120, 12)), clock,
                  loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: None))
    seen: dict[str, Any] = {}

    def change_at_60s() -> None:
        now = clock.monotonic_ns()
        if "before" not in seen and now >= 1_060 * S:
            seen["before"] = (agent.engine is not None and agent.engine.policy.gated,
                              game.stopped())
            if change == "wipe":
                with Store.open(p.database) as store:
                    store.wipe()
                shutil.rmtree(p.models_dir)
            else:
                agent._set_models(dict(models), None)  # what the drift update's reload does
        if "before" in seen and "after" not in seen and now >= 1_075 * S:
            seen["after"] = (agent.engine is not None and agent.engine.policy.gated,
                             game.stopped())

    clock.hooks.append(change_at_60s)
    try:
        agent.run(duration_s=90)
        assert seen["before"] == (True, True)  # gated, the game frozen
        if change == "wipe":
            assert seen["after"] == (False, False)
            (lifted,) = agent.decisions  # the log was cleared by the wipe, then this
            assert lifted["level"] == "restore" and "gate lifted: wiped" in lifted["reason"]
            assert f"resumed game (pids {game.proc.pid})" in lifted["actions"][0]["detail"]
        else:
            assert seen["after"] == (True, True)
            restores = [d["reason"] for d in agent.decisions if d["level"] == "restore"]
            assert restores == ["gate lifted: the agent stopped"]  # only at the end
        # no on_lock action: no lock decided (it used to be retried every 30 s, doing nothing)
        assert "lock" not in {d["level"] for d in agent.decisions}
        assert agent.engine is None or agent.engine.status().state is not AgentState.LOCKED
    finally:
        game.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and symlinks")
def test_an_agent_that_stops_while_gated_records_the_gates_end(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """Stopping the agent resumes the gated apps; it did so silently: the decision log, the
    alert log and the SIEM kept a gate that never ended (the parent's `status` said nothing
    was gated, the SIEM that the game was still frozen)."""
    name = unique("asunit")
    game = Counter(tmp_path, name)
    alerts = tmp_path / "alerts.jsonl"
    s = make_settings(tmp_path, actions={
        "on_notify": [], "on_lock": [], "on_gate": ["gate", "alertlog"],
        "params": {"gate": {"rules": [{"name": "game", "match": name}]},
                   "alertlog": {"path": str(alerts)}}})
    clock = StepClock()
    put_model_file(p)
    agent = Agent(p, s, Scripted(clock, stranger(120, 12)), clock,
                  loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: None))
    try:
        agent.run(duration_s=60)
        levels = [d["level"] for d in agent.decisions]
        assert "gate" in levels and levels[-1] == "restore", levels
        lifted = agent.decisions[-1]
        assert lifted["reason"] == "gate lifted: the agent stopped"
        assert f"resumed game (pids {game.proc.pid})" in lifted["actions"][0]["detail"]
        logged = [json.loads(line) for line in alerts.read_text().splitlines()]
        assert (logged[-1]["op"], logged[-1]["level"]) == ("revert", "restore")
        wait_until(game.running, "SIGCONT to land")
    finally:
        game.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and symlinks")
@pytest.mark.parametrize("on_gate", [[], ["gate", "alertlog"]])
def test_apps_a_killed_agent_left_frozen_are_resumed_when_no_level_runs_the_gate_any_more(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path,
        on_gate: list[str]) -> None:
    """After a kill -9 while gated, the next agent resumes the apps — only when a level still
    ran `gate`: with it taken out of on_gate meanwhile, they stayed frozen for good, while
    `status` kept saying "the next `activesec run` resumes them". Either way the gate's end is
    recorded: the decision log, the alert log and a SIEM had a gate that never ended."""
    import psutil

    game = Counter(tmp_path, unique("asunit"))
    try:
        proc = psutil.Process(game.proc.pid)
        proc.suspend()
        wait_until(game.stopped, "SIGSTOP to land")
        state = p.run_dir / "gated.json"
        state.write_text(json.dumps({"suspended": [
            {"pid": proc.pid, "create_time": proc.create_time(), "rule": "game"}]}))
        clock = StepClock()
        alerts = tmp_path / "alerts.jsonl"
        settings = make_settings(tmp_path, actions={
            "on_notify": [], "on_lock": [], "on_gate": on_gate,
            "params": {"alertlog": {"path": str(alerts)},
                       "gate": {"rules": [{"name": "game", "match": "nothing-matches-this"}]}}})
        agent = Agent(p, settings, Scripted(clock, stranger(2, 12)), clock,
                      loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: None))
        assert ("gate" in agent.actions) == bool(on_gate)
        agent.run(duration_s=2)
        wait_until(game.running, "SIGCONT to land")
        assert not state.exists()
        (restore,) = [d for d in agent.decisions if d["level"] == "restore"]
        assert "the previous agent stopped without lifting it" in restore["reason"]
        assert restore["reason"].endswith(f"resumed game (pids {proc.pid})")  # what and which
        if on_gate:
            (line,) = [json.loads(x) for x in alerts.read_text().splitlines()]
            assert line["level"] == "restore" and line["reason"] == restore["reason"]
    finally:
        game.kill()


def test_a_failed_upgrade_is_retried_after_a_doubling_back_off(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed automatic refit of a fallback model was tried again only when a background
    file changed or the agent restarted: for an agent that runs for weeks, never. It is retried
    after 1 h, then 2 h, 4 h … up to a day; a success or a changed background resets that, and
    the status file says when the next try is and why the last one failed."""
    import activesec.service.agent as agent_mod
    import activesec.service.train as train_mod

    monkeypatch.setattr(train_mod, "fallback_upgrades", lambda _p: [p.models_dir / "pointer"])
    machine = p.data_dir / "machine-background"  # `background build --all-users`, later
    monkeypatch.setenv("ACTIVESEC_SITE_BACKGROUND", str(machine))
    clock = StepClock()
    put_model_file(p)
    Store.open(p.database, create=True).close()
    tries: list[float] = []
    fail = [True]

    def upgrader(_p: paths_mod.Paths, _s: Settings) -> None:
        tries.append(clock.monotonic_ns() / S)
        if fail[0]:
            raise RuntimeError("cannot save the model: disk full")

    agent = Agent(p, settings, Scripted(clock, stranger(10, 1)), clock, upgrader=upgrader,
                  loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: False))
    agent._load_models()
    t0 = clock.monotonic_ns() / S

    def housekeep_for(seconds: float, step: float = 60.0) -> None:
        end = clock.monotonic_ns() + int(seconds * S)
        while clock.monotonic_ns() < end:
            agent._housekeep()
            if agent._train_thread is not None:
                agent._train_thread.join(10)
                agent._housekeep()  # collects the finished thread
            clock.advance(step)

    housekeep_for(1.0)  # the agent's start: a fallback beside a background, tried at once
    assert tries == [t0]
    retry = agent.status()["upgrade_retry"]
    assert retry["after_s"] == 3600 and "disk full" in retry["error"]
    assert retry["at_wall_ns"] == clock.wall_ns() + 3600 * S - 60 * S
    housekeep_for(26 * 3600)
    assert [round((t - t0) / 3600, 2) for t in tries] == [0, 1, 3, 7, 15]  # 1 h, 2, 4, 8 …
    housekeep_for(3 * 24 * 3600, step=600)
    gaps = [round((b - a) / 3600, 1) for a, b in itertools.pairwise(tries)]
    assert gaps == [1, 2, 4, 8, 16, 24, 24]  # at most once a day
    assert max(gaps) == agent_mod.UPGRADE_RETRY_MAX_S / 3600

    # a new background file: tried at once, and the back-off starts from 1 h again
    from activesec.service.background import file_for

    file_for(p, "pointer").write_bytes(b"a new background")  # fallback_upgrades is faked
    n = len(tries)
    housekeep_for(1.0)
    assert len(tries) == n + 1 and agent.status()["upgrade_retry"]["after_s"] == 3600
    fail[0] = False
    housekeep_for(3601)
    assert len(tries) == n + 2 and agent.status()["upgrade_retry"] is None  # done: no retry
    housekeep_for(3 * 24 * 3600, step=600)
    assert len(tries) == n + 2  # a success is not retried
    machine.mkdir()  # the administrator's background for every account: tried at once
    (machine / "background-pointer.npz").write_bytes(b"every account's background")
    housekeep_for(1.0)
    assert len(tries) == n + 3


def test_a_model_retrained_or_reset_by_hand_applies_while_running(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """`activesec train --reset` (your input changed for good: re-enrol) while the agent ran:
    it went on scoring — and locking — with the deleted model until restarted, while `status`
    said there was none. A model retrained by hand was not loaded either. Other files in the
    models folder (a background built) are not a model change."""
    from activesec.service.background import file_for

    clock = StepClock()
    put_model_file(p)
    Store.open(p.database, create=True).close()
    loads: list[int] = []

    def loader(_p: paths_mod.Paths) -> dict[str, ModalityModel]:
        loads.append(1)
        return models

    agent = Agent(p, settings, Scripted(clock, stranger(10, 1)), clock, loader=loader,
                  screen=ScreenWatch(clock, query=lambda: False))
    agent._load_models()
    agent._housekeep()
    assert agent.engine is not None and len(loads) == 1  # unchanged: not read again
    file_for(p, "pointer").write_bytes(b"a background, not a model")
    agent._housekeep()
    assert len(loads) == 1
    (p.models_dir / "pointer" / "card.json").write_text('{"retrained": true}')
    agent._housekeep()
    assert len(loads) == 2 and agent.engine is not None  # `activesec train` by hand
    shutil.rmtree(p.models_dir / "pointer")  # `activesec train --reset`
    agent._housekeep()
    assert agent.engine is None and agent.state == AgentState.ENROLLING
    assert agent.status()["models"] == [] and agent.reason == "no model yet: enrolling"


def test_a_locker_that_comes_up_after_the_lock_command_returns_still_counts_as_locked(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """``loginctl lock-session`` returns before the session's locker is up: the screensaver
    first answers "not active". That answer was taken for the owner's unlock at once, so the
    agent never knew the screen was locked — it scored the lock screen, gave no grace period
    and no fresh trust when the owner came back, and locked them out again and again."""
    clock = StepClock()
    fired: list[int] = []

    def query() -> bool:  # not active for 1.5 s after the first question, then locked till 190 s
        now = clock.monotonic_ns()
        if not fired:
            fired.append(now)
        return fired[0] + int(1.5 * S) <= now < 1_190 * S

    ev = np.concatenate([stranger(16, 13), owner(40, 14, t0=200.0)])
    put_model_file(p)
    agent = Agent(p, settings, Scripted(clock, ev), clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=query))
    locked_at_100: list[bool] = []
    clock.hooks.append(lambda: locked_at_100.append(agent.screen.locked)
                       if not locked_at_100 and clock.monotonic_ns() >= 1_100 * S else None)
    agent.run(duration_s=int(ev["t_ns"][-1] - ev["t_ns"][0]) / S + 10)
    assert fired and fired[0] < 1_100 * S  # the stranger was locked out before 100 s
    assert locked_at_100 == [True]  # the policy is told: no decisions, no evidence
    assert [d["level"] for d in agent.decisions].count("lock") == 1  # the owner is not locked
    assert agent.engine is not None and agent.engine.trust.trust > 90  # full trust given back


def test_scores_so_far_counts_every_score_since_the_agent_started(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """A decision's ``scores_so_far`` is documented as the scores since the agent started; it
    was the trust model's count, which the owner's unlock sets back to 0 — a lock after an
    unlock said the agent had scored a handful of actions when it had scored them all."""
    clock = StepClock()
    put_model_file(p)
    ev = np.concatenate([stranger(16, 13), stranger(30, 15, t0=200.0)])
    agent = Agent(p, settings, Scripted(clock, ev), clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: clock.monotonic_ns() < 1_190 * S))
    agent.run(duration_s=int(ev["t_ns"][-1] - ev["t_ns"][0]) / S + 10)
    locks = [d for d in agent.decisions if d["level"] == "lock"]
    assert len(locks) == 2  # the first stranger, and the second after the owner's unlock
    assert agent.engine is not None
    scored = [st.t_ns for st in agent.engine.trajectory]  # every trust update, in order
    assert [d["scores_so_far"] for d in locks] == [
        sum(t <= d["evidence"]["t_end_ns"] for t in scored) for d in locks]


def test_new_models_or_settings_keep_the_trust_earned_so_far(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """Replacing the engine (a model trained by hand or by a drift update, a changed
    configuration) started it at full trust: a stranger whose trust had fallen could run
    `activesec train`, or edit a setting, and be trusted fully again. Trust is about who is at
    the keyboard now, not about the model: the new engine takes over the level."""
    clock = StepClock()
    put_model_file(p)
    ev = stranger(6, 13)
    agent = Agent(p, settings, Scripted(clock, ev), clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: False))
    agent.run(duration_s=int(ev["t_ns"][-1] - ev["t_ns"][0]) / S + 2)
    assert agent.engine is not None
    fallen = agent.engine.trust.trust
    assert fallen < 90 and not [d for d in agent.decisions if d["level"] == "lock"]
    (p.models_dir / "pointer" / "card.json").write_text('{"retrained": true}')
    agent._housekeep()  # a model trained by hand: loaded, and a new engine
    assert agent.engine.trust.trust == fallen
    agent._set_models(agent.models, None)  # what a changed configuration does
    assert agent.engine.trust.trust == fallen


def test_the_screensaver_coming_on_by_itself_is_watched_every_few_seconds() -> None:
    """The owner's own lock (or a blank screen) is no lock of ours: it withholds input, and
    its end gives no fresh trust (a blank screen wakes without a password)."""
    from activesec.service.agent import PASSIVE_POLL_S

    clock = FakeClock()
    answer = [False]
    asked: list[int] = []

    def query() -> bool:
        asked.append(clock.monotonic_ns())
        return answer[0]

    watch = ScreenWatch(clock, query=query, watch_always=True)
    assert watch.update(None) is False and len(asked) == 1
    clock.advance(PASSIVE_POLL_S / 2)
    watch.update(None)
    assert len(asked) == 1  # between locks: asked every PASSIVE_POLL_S, not every tick
    answer[0] = True
    clock.advance(PASSIVE_POLL_S / 2)
    assert watch.update(None) is False  # not locked by us: the policy is not told
    assert watch.saver_active and watch.withholding
    answer[0] = False
    clock.advance(1.0)  # while it is on: asked every second
    watch.update(clock.monotonic_ns())
    assert not watch.withholding and not watch.locked
    assert not ScreenWatch(clock, query=lambda: True).update(None)  # a test's query: no watch


def test_input_while_the_screen_is_locked_is_neither_stored_nor_scored(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """A password typed into the lock screen (the owner's own lock here) reached the event
    store and the scorer like any input: its keystroke timing was kept on disk."""
    clock = StepClock()
    ev = owner(120, 4)
    on, off = 1_020 * S, 1_040 * S  # the screensaver is on from 20 s to 40 s (agent time)
    put_model_file(p)
    agent = Agent(p, settings, Scripted(clock, ev), clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: on <= clock.monotonic_ns() < off,
                                     watch_always=True))
    agent.run(duration_s=int(ev["t_ns"][-1] - ev["t_ns"][0]) / S + 10)
    with Store.open(p.database) as store:
        t = np.concatenate([store.events(s.id)["t_ns"] for s in store.sessions()])
    withheld = read_status(p)["withheld_locked"]  # type: ignore[index]
    assert withheld > 0 and len(t) + withheld == len(ev)  # nothing lost, nothing stored
    # the screensaver is asked every 5 s between locks, every second while it is on
    late_on, late_off = on + 5 * S, off + 1 * S
    assert not ((t >= late_on) & (t < off)).any()
    assert (t < on).any() and (t >= late_off).any()
    assert agent.engine is not None
    scored = np.array([st.t_ns for st in agent.engine.trajectory])
    assert not ((scored >= late_on) & (scored < off)).any() and (scored >= late_off).any()


def test_a_screensaver_that_stops_answering_while_locked_is_no_unlock(
        caplog: pytest.LogCaptureFixture) -> None:
    """The screensaver said "active" after the agent's lock; then it restarted (or its
    GetActive hung, or the bus went away): nothing answered, so the agent guessed the unlock
    from input — the stranger moving the mouse at the lock screen was given the grace period
    and full trust, and what they typed was stored and scored. Only its "inactive" unlocks."""
    clock = FakeClock()
    answer: list[bool | None] = [True]
    watch = ScreenWatch(clock, query=lambda: answer[0], locker=lambda: False)
    watch.lock_fired()
    clock.advance(1.0)
    assert watch.update(None) is True
    answer[0] = None  # the service left the bus (or timed out): cannot tell
    for _ in range(30):  # the stranger keeps wiggling the mouse at the lock screen
        clock.advance(1.0)
        assert watch.update(clock.monotonic_ns()) is True
        assert watch.withholding
    said = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(said) == 1  # why the agent stays locked, once
    answer[0] = True  # back (restarted), the lock screen still up
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns()) is True
    answer[0] = False  # the owner typed the password
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns()) is False and not watch.withholding


def test_where_no_screensaver_ever_answers_input_after_the_lock_is_still_the_unlock() -> None:
    clock = FakeClock()
    watch = ScreenWatch(clock, query=lambda: None, locker=lambda: False)
    watch.lock_fired()
    clock.advance(1.0)
    assert watch.update(None) is True
    clock.advance(2.0)
    assert watch.update(clock.monotonic_ns()) is False


def test_a_screensaver_that_answered_before_the_lock_and_hangs_after_it_is_no_unlock() -> None:
    """Between locks the screensaver answered "inactive" every 5 s; right after the agent's
    lock its GetActive hung (nothing answered). That silence counted as a lock and input at
    the lock screen 2 s later as the owner's unlock — full trust for the stranger. Now the
    lock counts once the screensaver says "active", and only its "inactive" ends it."""
    clock = FakeClock()
    answer: list[bool | None] = [False]
    watch = ScreenWatch(clock, query=lambda: answer[0], locker=lambda: False,
                        watch_always=True)
    assert watch.update(None) is False  # asked between locks: it answers
    answer[0] = None
    watch.lock_fired()
    for _ in range(5):
        clock.advance(1.0)
        assert watch.update(clock.monotonic_ns()) is False and not watch.locked
    answer[0] = True
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns()) is True
    answer[0] = None
    for _ in range(10):
        clock.advance(1.0)
        assert watch.update(clock.monotonic_ns()) is True
    answer[0] = False
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns()) is False


def test_a_lock_that_never_took_is_not_unlocked_after_one_silent_answer() -> None:
    """The lock command ran but nothing locked (the screensaver stays "inactive"); one
    GetActive that timed out right after it counted as "locked", and the next "inactive" as
    the owner's unlock: the grace period and full trust for the stranger at the keyboard."""
    clock = FakeClock()
    answers: list[bool | None] = [False, None]
    watch = ScreenWatch(clock, query=lambda: answers.pop(0) if answers else False,
                        locker=lambda: False, watch_always=True)
    assert watch.update(None) is False
    watch.lock_fired()
    seen = []
    for _ in range(15):
        clock.advance(1.0)
        seen.append(watch.update(clock.monotonic_ns()))
    assert not any(seen) and not watch.locked  # the lock did not take: no unlock to give


def test_the_owners_own_lock_is_not_ended_by_one_silent_answer() -> None:
    """The owner's own lock screen was on; one GetActive that timed out (a busy machine, a
    restarting screensaver) ended it for the agent, which then asked again only 5 s later:
    the password typed meanwhile was stored with its keystroke timing."""
    clock = FakeClock()
    answer: list[bool | None] = [True]
    watch = ScreenWatch(clock, query=lambda: answer[0], watch_always=True)
    watch.update(None)
    assert watch.saver_active and watch.withholding
    answer[0] = None
    for _ in range(8):
        clock.advance(1.0)
        watch.update(clock.monotonic_ns())
        assert watch.withholding
    answer[0] = False
    clock.advance(1.0)
    watch.update(clock.monotonic_ns())
    assert not watch.withholding


def test_a_screensaver_silent_for_good_does_not_switch_scoring_off() -> None:
    """The owner's own lock (or a blank screen) is watched for privacy: a service that stops
    answering for good (the bus gone) kept every later input withheld — nothing stored, nothing
    scored, no decision — until the agent was restarted."""

    clock = FakeClock()
    answer: list[bool | None] = [True]
    watch = ScreenWatch(clock, query=lambda: answer[0], watch_always=True)
    watch.update(None)
    assert watch.withholding
    answer[0] = None  # the bus is gone
    for _ in range(int(PASSIVE_SILENCE_S) - 1):
        clock.advance(1.0)
        watch.update(None)
        assert watch.withholding  # a moment of silence ends nothing
    clock.advance(2.0)
    watch.update(None)
    assert not watch.withholding and not watch.locked
    clock.advance(60.0)
    watch.update(None)
    assert not watch.withholding  # nor does it come back on while nothing answers


def test_a_locker_probe_that_cannot_tell_is_no_unlock() -> None:
    """i3lock held the display (the screensaver service said "inactive"); one probe that could
    not connect to the X server (it refuses clients past its limit) made input at the lock
    screen count as the owner's unlock: grace and full trust for the stranger."""
    clock = FakeClock()
    up: list[bool | None] = [True]
    watch = ScreenWatch(clock, query=lambda: False, locker=lambda: up[0])
    watch.lock_fired()
    clock.advance(1.0)
    assert watch.update(None) is True
    up[0] = None
    for _ in range(5):
        clock.advance(1.0)
        assert watch.update(clock.monotonic_ns()) is True
    up[0] = False
    clock.advance(1.0)
    assert watch.update(clock.monotonic_ns()) is False


def test_an_agent_started_under_an_x11_locker_keeps_nothing_typed_into_it() -> None:
    """On a bare window manager (no screensaver service answers) the agent restarted while
    its i3lock held the display: the watch between locks asked D-Bus only, so the password
    the owner then typed into i3lock was stored and scored. The locker is now watched, and
    input withheld until it lets go."""
    clock = FakeClock()
    up: list[bool | None] = [True]
    watch = ScreenWatch(clock, query=lambda: None, locker=lambda: up[0], watch_always=True)
    watch.update(None)
    assert watch.withholding and not watch.locked  # not a lock of ours: no fresh trust after
    clock.advance(1.0)
    watch.update(clock.monotonic_ns())
    assert watch.withholding
    up[0] = False
    clock.advance(1.0)
    watch.update(clock.monotonic_ns())
    assert not watch.withholding


def test_a_locker_the_owner_starts_between_locks_withholds_their_password() -> None:
    """``xss-lock -- i3lock`` on a bare window manager: the owner's own lock, with no
    screensaver service to say so. The locker was looked for once, at the start, so what
    the owner typed into it later — the password — was stored with its keystroke timing."""
    clock = FakeClock()
    up: list[bool | None] = [False]
    asked: list[int] = []

    def locker() -> bool | None:
        asked.append(clock.monotonic_ns())
        return up[0]

    watch = ScreenWatch(clock, query=lambda: None, locker=locker, watch_always=True)
    for _ in range(30):  # the owner works: nothing withheld
        clock.advance(0.25)
        watch.update(clock.monotonic_ns())
        assert not watch.withholding
    assert len(asked) <= 8  # asked about once a second, not at every update
    up[0] = True  # the owner locks the screen with i3lock
    clock.advance(1.0)
    watch.update(clock.monotonic_ns())
    assert watch.withholding and not watch.locked  # its end proves nothing: no fresh trust
    up[0] = None  # the X server refuses a connection for a moment: the password stays out
    for _ in range(int(PASSIVE_SILENCE_S) - 1):
        clock.advance(1.0)
        watch.update(clock.monotonic_ns())
        assert watch.withholding
    up[0] = False  # the owner unlocked
    clock.advance(1.0)
    watch.update(clock.monotonic_ns())
    assert not watch.withholding


def test_where_a_screensaver_answers_the_x11_locker_is_not_watched_between_locks() -> None:
    """The desktop's screensaver knows its own lock; a full-screen game holding both grabs in
    an override-redirect window would pass for a locker and go unscored."""
    clock = FakeClock()
    asked: list[int] = []
    up = [False]

    def locker() -> bool | None:
        asked.append(clock.monotonic_ns())
        return up[0]

    watch = ScreenWatch(clock, query=lambda: False, locker=locker, watch_always=True)
    watch.update(None)  # the first look, before the service answered (a restart under i3lock
    assert len(asked) == 1  # would be noticed)
    up[0] = True  # the game
    for _ in range(30):
        clock.advance(1.0)
        watch.update(clock.monotonic_ns())
    assert len(asked) == 1 and not watch.withholding


def test_a_locker_watch_that_cannot_tell_for_long_stops_withholding() -> None:
    """As with a silent screensaver service: withholding is for privacy and must not switch
    scoring off for good when the X server cannot be asked any more."""
    clock = FakeClock()
    up: list[bool | None] = [True]
    watch = ScreenWatch(clock, query=lambda: None, locker=lambda: up[0], watch_always=True)
    watch.update(None)
    assert watch.withholding
    up[0] = None
    for _ in range(int(PASSIVE_SILENCE_S) + 2):
        clock.advance(1.0)
        watch.update(clock.monotonic_ns())
    assert not watch.withholding


def test_a_model_swap_keeps_the_policys_cool_downs_and_escalation(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """New models (a drift update, `activesec train`, an edited [engine] setting) made a new
    policy from scratch: the stranger was notified again at once (no 60 s cool-down), the
    notifications that escalate to a lock were forgotten, and `status` said "trained" while
    trust stayed low — a swap right after each notification held escalation off for good."""
    s = make_settings(tmp_path, actions={
        "on_notify": ["alertlog"], "on_lock": ["command"], "on_gate": [],
        "params": {"command": {"argv": marker_cmd(tmp_path / "locked.jsonl")},
                   "alertlog": {"path": str(tmp_path / "alerts.jsonl")}}},
        engine={"policy": {"lock_below": 1.0, "gate_below": 1.0}})  # locks by escalation only
    clock = StepClock()
    put_model_file(p)
    agent = Agent(p, s, Scripted(clock, stranger(400, 14)), clock,
                  loader=lambda _p: models, screen=ScreenWatch(clock, query=lambda: None))
    swapped: list[tuple[AgentState, AgentState]] = []

    def swap_after_each_notify() -> None:  # a model reload right after every notification
        notifies = sum(d["level"] == "notify" for d in agent.decisions)
        if agent.engine is not None and notifies > len(swapped):
            before = agent.engine.status().state
            agent._set_models(dict(models), None)  # what a reload does
            swapped.append((before, agent.engine.status().state))

    clock.hooks.append(swap_after_each_notify)
    agent.run(duration_s=300)
    notes = [d for d in agent.decisions if d["level"] in ("notify", "lock")]
    assert swapped and all(after == before for before, after in swapped), swapped
    times = [d["evidence"]["t_mono_ns"] for d in notes if d["level"] == "notify"]
    assert all(b - a >= 60 * S for a, b in itertools.pairwise(times)), times
    # three notifications within 10 minutes escalate to a lock, swaps or not
    assert "lock" in [d["level"] for d in notes], [d["reason"] for d in notes]


def test_the_status_names_the_features_behind_the_last_alert(
        p: paths_mod.Paths, settings: Settings, models: dict[str, ModalityModel]) -> None:
    """`status` is said to tell why trust fell, but the agent's status held only the alert's
    threshold ("trust 38.2 < 40"): the features that deviated stayed in the decision log."""
    agent, _ = run_agent(p, settings, stranger(60, 12), models)
    st = read_status(p)
    assert st is not None
    last = st["last_decision"]
    assert last["level"] in ("notify", "lock"), last
    names = [n for n, _ in last["deviating_features"]]
    assert names and set(names) <= set(POINTER_FEATURE_NAMES), last
    assert last["deviating_features"] == agent.decisions[-1]["evidence"]["deviating_features"]


def keys_enrolled_after_the_pointer_model(p: paths_mod.Paths, tmp_path: Path) -> Settings:
    """A pointer model on disk and enough typing stored for the keyboard's enrolment (80 of 60
    keystrokes), with automatic training on: the settings."""
    from activesec.recordings.synthetic import typing

    s = make_settings(tmp_path, enrol={"pointer_events": 100, "keystrokes": 60},
                      train={"auto": True})
    with Store.open(p.database, create=True) as store:
        keys = typing(80, 1)
        sid = store.begin_session("alice", "test", wall_ns=1_700_000_000 * S,
                                  mono_ns=int(keys["t_ns"][0]))
        store.append(sid, keys)
        store.commit()
    put_model_file(p)
    return s


def test_a_modality_enrolled_after_the_first_model_is_trained_by_itself(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """Only the first training was automatic: once the pointer model existed, typing enough
    for the keyboard's enrolment (status: "keys 2,000/2,000 (100%)") trained nothing until the
    owner ran `activesec train` by hand. The agent now trains the modality that has no model
    (`train --new`: the others stay as they are), not the whole profile again."""
    s = keys_enrolled_after_the_pointer_model(p, tmp_path)
    clock = StepClock()
    calls: list[str] = []
    agent = Agent(p, s, Scripted(clock, stranger(2, 1)), clock, loader=lambda _p: models,
                  trainer=lambda _p, _s: calls.append("train"),
                  adder=lambda _p, _s: calls.append("new"),
                  screen=ScreenWatch(clock, query=lambda: False))
    agent._load_models()
    assert set(agent.models) == {"pointer:mouse"}
    agent._housekeep()
    assert agent._train_thread is not None  # started
    agent._train_thread.join(10)
    agent._housekeep()  # collects the finished thread (and reloads the models)
    assert calls == ["new"]


class TouchpadOnly(Scripted):
    """The same input, from a laptop's touchpad."""

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, screen=(1920, 1080),
                           devices=[Device(0, "SynPS/2 Synaptics TouchPad", DeviceType.TOUCHPAD)])


def test_a_touchpad_day_after_enrolling_on_a_mouse_enrols_the_touchpad_by_itself(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """The README promised that the running agent trains a new kind of pointing device by
    itself (`train --new`), but any pointer model counted as "the pointer's": a laptop owner
    who enrolled on a mouse and then used the touchpad all day had that input go unscored for
    good, with nothing saying so. Its events are now counted, shown in the status
    (`unscored_pointer`), and enrolment of the touchpad completes into `train --new`; the
    touchpad is never judged by the mouse's model meanwhile."""
    s = make_settings(tmp_path, enrol={"pointer_events": 100, "keystrokes": 60},
                      train={"auto": True})
    put_model_file(p)
    clock = StepClock()
    calls: list[str] = []
    seen: list[dict[str, int]] = []

    def adder(_p: paths_mod.Paths, _s: Settings) -> None:
        calls.append("new")
        seen.append(dict(agent.status()["unscored_pointer"]))

    agent = Agent(p, s, TouchpadOnly(clock, stranger(40, 3)), clock, loader=lambda _p: models,
                  trainer=lambda _p, _s: calls.append("train"), adder=adder,
                  screen=ScreenWatch(clock, query=lambda: False))
    agent.run(duration_s=60.0)
    assert "new" in calls and "train" not in calls
    assert seen[0]["pointer:touchpad"] >= 100
    assert not agent.decisions  # the mouse's model never judged the touchpad


class PenPluggedIn(Scripted):
    """A mouse, then a tablet's pen plugged in: its first events come with its new device."""

    def __init__(self, clock: StepClock, events: np.ndarray) -> None:
        super().__init__(clock, events)
        self.devices = [Device(0, "Test USB Mouse", DeviceType.MOUSE)]

    def _deliver(self) -> None:
        if self.sink is not None and self.pos < len(self.events) and len(self.devices) == 1 \
                and self.clock.monotonic_ns() - self.t0 >= int(self.events["t_ns"][0]) + 2 * S:
            self.devices = [*self.devices, Device(2, "Wacom Intuos S Pen", DeviceType.PEN)]
        super()._deliver()

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, screen=(1920, 1080), devices=list(self.devices))


def test_a_pen_plugged_in_is_never_judged_by_the_mouses_model(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """The agent learnt of new devices at its housekeeping round, every 10 s: until then a
    tablet plugged in (or a Bluetooth pen back after a resume) was an unknown device, whose
    strokes the mouse's model judged — trust fell for the owner's pen."""
    s = make_settings(tmp_path)
    put_model_file(p)
    clock = StepClock()
    events = stranger(25, 5)
    events["device"] = np.where(events["t_ns"] - events["t_ns"][0] >= 3 * S, 2, 0)
    be = PenPluggedIn(clock, events)
    agent = Agent(p, s, be, clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: False))
    agent.run(duration_s=9.0)  # within one housekeeping round
    assert agent.engine is not None
    pen_from = be.t0 + int(events["t_ns"][0]) + 3 * S
    scored = [st.t_ns for st in agent.engine.trajectory if st.t_ns > pen_from]
    assert not scored  # the pen has no model: none of its strokes was scored
    assert agent.engine.scorer.unmodelled_pointer.get("pointer:pen", 0) > 0


def test_a_modality_that_keeps_failing_to_train_is_tried_less_and_less_often(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """Keystrokes counted but too scattered for enough windows: `train --new` failed, and the
    agent started a whole training process again every 10 minutes for as long as it ran."""
    s = keys_enrolled_after_the_pointer_model(p, tmp_path)
    clock = StepClock()
    tries: list[float] = []

    def fails(_p: paths_mod.Paths, _s: Settings) -> None:
        tries.append(clock.monotonic_ns() / S)
        raise RuntimeError("keyboard: too few keystroke windows")

    agent = Agent(p, s, Scripted(clock, stranger(2, 1)), clock, loader=lambda _p: models,
                  adder=fails, screen=ScreenWatch(clock, query=lambda: False))
    agent._load_models()
    end = clock.monotonic_ns() + 12 * 3600 * S
    while clock.monotonic_ns() < end:
        agent._housekeep()
        if agent._train_thread is not None:
            agent._train_thread.join(10)
            agent._housekeep()
        clock.advance(60.0)
    gaps = [round((b - a) / 60) for a, b in itertools.pairwise(tries)]
    assert gaps[:4] == [10, 20, 40, 80]  # minutes: doubling, not every 10 for 12 hours
    assert len(tries) < 12


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and symlinks")
def test_after_the_owner_unlocks_the_gate_says_it_waits_for_their_first_judged_action(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path) -> None:
    """The owner unlocks the agent's lock (full trust) and steps away: the game stays frozen —
    the restore minute counts trust *seen* — while status said only "lifted once trust stays
    >= 70 for 60 s", which full trust seemed to satisfy."""
    name = unique("asunlock")
    game = Counter(tmp_path, name)
    s = make_settings(tmp_path, actions={
        "on_notify": [], "on_lock": ["command"], "on_gate": ["gate"],
        "params": {"command": {"argv": marker_cmd(tmp_path / "locked.jsonl")},
                   "gate": {"rules": [{"name": "game", "match": name}]}}})
    clock = StepClock()
    screen: list[bool | None] = [False]
    seen: dict[str, Any] = {}
    put_model_file(p)
    events = stranger(60, 12)
    end = 1_000 * S + int(events["t_ns"][-1] - events["t_ns"][0])
    agent = Agent(p, s, Scripted(clock, events), clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: screen[0]))

    def lock_then_unlock() -> None:
        now = clock.monotonic_ns()
        if "locked" not in seen and any(d["level"] == "lock" for d in agent.decisions):
            seen["locked"], screen[0] = now, True
        if "locked" in seen and now >= max(seen["locked"], end) + 5 * S:
            screen[0] = False  # the owner typed the password, after the stranger's input
        if screen[0] is False and "locked" in seen and now >= max(seen["locked"], end) + 80 * S:
            seen.setdefault("gate", (agent.status()["gate"], game.stopped()))

    clock.hooks.append(lock_then_unlock)
    try:
        agent.run(duration_s=(end - 1_000 * S) / S + 90)
        gate, frozen = seen["gate"]
        assert gate is not None and frozen, seen  # still gated, by design
        assert gate["until"] == (
            "trust stays >= 70 for 60 s of your input, counted from your first action judged "
            "(none since the unlock or the model's reload yet)"), gate
    finally:
        game.kill()


def test_the_agents_life_reaches_the_alert_log_when_heartbeats_are_asked_for(
        p: paths_mod.Paths, tmp_path: Path, models: dict[str, ModalityModel]) -> None:
    """With ``heartbeat_s``, the alert log (and so a SIEM) hears of the agent's start, a pause
    and its resume as they happen, an ``alive`` line every period, and the stop — also where no
    level reports to the alert log (on_notify here is empty)."""
    log_path = tmp_path / "alerts.jsonl"
    settings = make_settings(tmp_path, actions={
        "on_notify": [], "on_lock": ["command"], "on_gate": [],
        "params": {"command": {"argv": marker_cmd(tmp_path / "locked.jsonl")},
                   "alertlog": {"path": str(log_path), "heartbeat_s": 60}}})
    ev = owner(120, 3)
    clock = StepClock()
    start = clock.monotonic_ns()
    steps = [(40 * S, True), (100 * S, False)]

    def pause_and_resume() -> None:
        if steps and clock.monotonic_ns() >= start + steps[0][0]:
            wanted = steps.pop(0)[1]
            with Store.open(p.database) as store:
                store.set_paused(wanted)
            # the writer's thread polls the store in real time, the fake clock races ahead
            wait_until(lambda: (s := agent.runner.stats) is not None and s.paused == wanted,
                       "the writer to see the pause change")

    clock.hooks.append(pause_and_resume)
    put_model_file(p)
    agent = Agent(p, settings, Scripted(clock, ev), clock, loader=lambda _p: models,
                  screen=ScreenWatch(clock, query=lambda: None))
    agent.run(duration_s=250)
    rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert {r["op"] for r in rows} == {"agent"}
    events = [r["event"] for r in rows]
    # paused at 40 s, resumed at 100 s; "alive" once 60 s pass without a line
    assert events == ["start", "paused", "resumed", "alive", "alive", "stop"], events
    gaps = np.diff([r["t_wall_ns"] for r in rows]) / S
    assert gaps.max() <= 61, gaps  # never longer than the period without a line
    paused = next(r for r in rows if r["event"] == "paused")
    assert paused["state"] == "paused" and paused["models"] == ["pointer:mouse"]
    resumed = next(r for r in rows if r["event"] == "resumed")
    assert resumed["state"] != "paused", resumed
    assert rows[-1]["reason"] == "stopped"
    assert set(rows[0]) >= {"state", "trust", "models", "backend", "pid", "version",
                            "decisions", "stored", "dropped", "store_error", "started_wall_ns",
                            "t_wall_ns"}
    assert rows[0]["store_error"] is None


def test_no_agent_lines_without_a_heartbeat(p: paths_mod.Paths, settings: Settings,
                                            models: dict[str, ModalityModel]) -> None:
    """The documented default: the alert log holds decisions only."""
    run_agent(p, settings, owner(30, 5), models)
    log_path = Path(settings.actions.params["alertlog"]["path"])
    rows = [json.loads(line) for line in log_path.read_text().splitlines()] \
        if log_path.exists() else []
    assert all(r["op"] in ("fire", "revert") for r in rows), rows


HANGING_ACTION = '''
import time
from activesec.actions.base import Action, ActionResult

class Pager(Action):
    name = "pager"
    max_wait_s = 0.2

    def _fire(self, decision):
        time.sleep(5)  # a pager whose server never answers
        return ActionResult(True, "paged")

    def plan(self, op, decision):
        return "would page"
'''


def test_a_plug_in_action_that_hangs_does_not_stop_the_agent_or_the_lock(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in action that never returned stopped the agent in the middle of its first
    decision: no more scoring, the lock after it in `on_lock` never ran, SIGTERM unheard."""
    from tests.helpers.plugins import install

    monkeypatch.syspath_prepend(install(tmp_path / "site", "pager_plugin",
                                        {"hanging_pager": HANGING_ACTION},
                                        "[activesec.actions]\npager = hanging_pager:Pager\n"))
    s = make_settings(tmp_path, actions={
        "on_notify": ["pager"], "on_lock": ["pager", "command"], "on_gate": [],
        "params": {"command": {"argv": marker_cmd(tmp_path / "locked.jsonl")}}})
    agent, _ = run_agent(p, s, stranger(40, 12), models)
    first = agent.decisions[0]["actions"][0]
    assert first["name"] == "pager" and not first["ok"]
    assert "did not return within 0.2 s" in first["detail"]
    locks = [d for d in agent.decisions if d["level"] == "lock"]
    assert locks and any(a["name"] == "command" and a["ok"] for a in locks[0]["actions"])
    assert (tmp_path / "locked.jsonl").exists()
    sys.modules.pop("hanging_pager", None)


class BrokenPlugin(ScaledManhattan):
    """A plug-in detector (its module is not ActiveSec's) whose score breaks once live."""

    broken_ = False

    def score(self, X: Any) -> np.ndarray:
        if getattr(self, "broken_", False):
            raise RuntimeError("lost its lookup table")
        return super().score(X)


def test_a_plug_in_detector_that_fails_while_scoring_does_not_stop_the_agent(
        p: paths_mod.Paths, settings: Settings) -> None:
    """A plug-in whose score raised once the agent ran ended the agent ("stopped … not
    restarted by itself"): no recording, no protection. Its model is now refused as one that
    fails its checks is, said in `status`, and the agent goes on recording."""
    X = pointer_features(owner(300, 1)).X
    det = BrokenPlugin()
    det.fit(X)
    cal = Calibration.from_scores(det.score(pointer_features(owner(200, 2)).X), 0.05)
    det.broken_ = True
    models = {"pointer:mouse": ModalityModel.pointer(det, cal)}
    agent, summary = run_agent(p, settings, stranger(40, 12), models)
    assert agent.engine is None and not agent.decisions
    assert agent.reason is not None and agent.reason.startswith("model refused: detector ")
    assert "failed in score: RuntimeError: lost its lookup table" in agent.reason
    assert summary.stats is not None and summary.stats.stored > 0  # recording went on


SLOPPY_ACTIONS = '''
from activesec.actions.base import Action, ActionResult

class Parental(Action):
    def _fire(self, decision):
        return ActionResult(True, "games closed")

    def hold(self, decision):
        raise OSError("process table unreadable")

    def plan(self, op, decision):
        return "would close games"

class Beeper(Action):
    def _fire(self, decision):
        return True  # not an ActionResult

    def plan(self, op, decision):
        return "would beep"
'''


def test_a_plug_in_action_raising_in_hold_or_returning_no_result_does_not_stop_the_agent(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in gate action whose ``hold`` raised ended the agent at the first re-apply of
    the gate (2 s after it); one whose ``_fire`` returned ``True`` ended it at its first
    decision ("'bool' object has no attribute 'ok'")."""
    from tests.helpers.plugins import install

    monkeypatch.syspath_prepend(install(
        tmp_path / "site", "sloppy_plugin", {"sloppy_actions": SLOPPY_ACTIONS},
        "[activesec.actions]\nparental = sloppy_actions:Parental\n"
        "beeper = sloppy_actions:Beeper\n"))
    s = make_settings(tmp_path, engine={"policy": {"gate_apps": ["games"]}}, actions={
        "on_notify": ["beeper"], "on_lock": [], "on_gate": ["parental"]})
    agent, _ = run_agent(p, s, stranger(60, 12), models)
    by_level: dict[str, list[dict[str, Any]]] = {}
    for d in agent.decisions:
        by_level.setdefault(d["level"], []).append(d)
    beep = by_level["notify"][0]["actions"][0]
    assert not beep["ok"] and beep["detail"] == "beeper fire returned True, not an ActionResult"
    held = [a for d in by_level["gate"] for a in d["actions"] if "hold" in a["detail"]]
    assert held and not held[0]["ok"]
    assert "parental hold failed unexpectedly: OSError: process table unreadable" in held[0][
        "detail"]
    sys.modules.pop("sloppy_actions", None)


SCRUBBING_ACTION = '''
from activesec.actions.base import Action, ActionResult

class Pager(Action):
    def _fire(self, decision):
        decision.evidence.clear()  # "trims" what it forwards, in place
        return ActionResult(True, "paged")

    def plan(self, op, decision):
        return "would page"
'''


def test_a_plug_in_action_cannot_change_the_decision_the_others_and_the_log_receive(
        p: paths_mod.Paths, models: dict[str, ModalityModel], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every action was handed the same decision object: a plug-in emptying its evidence in
    place emptied it for the actions after it and for the decision log."""
    from tests.helpers.plugins import install

    monkeypatch.syspath_prepend(install(
        tmp_path / "site", "scrub_plugin", {"scrubbing_pager": SCRUBBING_ACTION},
        "[activesec.actions]\npager = scrubbing_pager:Pager\n"))
    s = make_settings(tmp_path, actions={
        "on_notify": ["pager", "command"], "on_lock": [], "on_gate": [],
        "params": {"command": {"argv": marker_cmd(tmp_path / "notified.jsonl")}}})
    agent, _ = run_agent(p, s, stranger(40, 12), models)
    first = agent.decisions[0]
    assert first["actions"][0]["ok"] and first["evidence"]["deviating_features"]
    received = json.loads((tmp_path / "notified.jsonl").read_text().splitlines()[0])
    assert received["evidence"]["deviating_features"]
    stored = next(iter(DecisionLog(decisions_path(p))))
    assert stored["evidence"]["deviating_features"]
    sys.modules.pop("scrubbing_pager", None)


class StuckPlugin(ScaledManhattan):
    """A plug-in detector (its module is not ActiveSec's) whose score hangs once live."""

    stuck_ = False

    def score(self, X: Any) -> np.ndarray:
        if getattr(self, "stuck_", False):
            time.sleep(1.0)  # a lookup against a server that no longer answers
        return super().score(X)


def test_a_plug_in_detector_that_hangs_while_scoring_is_refused_not_waited_for(
        p: paths_mod.Paths, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring ran in the agent's loop: a plug-in whose score hung stopped the agent with it
    (no more scoring, no lock, SIGTERM unheard). A call past PLUGIN_SCORE_MAX_S now refuses
    the model as a failing one is, and the agent goes on recording."""
    monkeypatch.setattr(agent_mod, "PLUGIN_SCORE_MAX_S", 0.2, raising=False)
    X = pointer_features(owner(300, 1)).X
    det = StuckPlugin()
    det.fit(X)
    cal = Calibration.from_scores(det.score(pointer_features(owner(200, 2)).X), 0.05)
    det.stuck_ = True
    models = {"pointer:mouse": ModalityModel.pointer(det, cal)}
    agent, summary = run_agent(p, settings, stranger(40, 12), models)
    assert agent.engine is None and not agent.decisions
    assert agent.reason is not None and agent.reason.startswith("model refused: detector ")
    assert "did not score" in agent.reason and "within 0.2 s" in agent.reason
    assert summary.stats is not None and summary.stats.stored > 0
