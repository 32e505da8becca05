"""The engine end to end on synthetic people: real features, a real detector, fake clock."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from activesec.core.clock import FakeClock
from activesec.core.events import DeviceType, Flag
from activesec.detectors.oneclass import ScaledManhattan
from activesec.engine.pipeline import Engine, EngineConfig, replay_events
from activesec.engine.policy import AgentState, Context, PolicyConfig
from activesec.engine.scoring import ModalityModel, ScoringConfig
from activesec.engine.trust import Calibration, TrustConfig
from activesec.features.pointer import pointer_features
from activesec.recordings.synthetic import pointer_person

S = 1_000_000_000


def person(n_actions: int, seed: int, *, t0: float = 100.0, ms_per_px: float, bend: float,
           dwell: float) -> np.ndarray:
    """Point-and-click actions at 125 Hz whose speed, path bend and click dwell are personal."""
    return pointer_person(n_actions, seed, t0, ms_per_px=ms_per_px, bend=bend, dwell=dwell)


OWNER = {"ms_per_px": 0.9, "bend": 0.02, "dwell": 0.09}
OTHER = {"ms_per_px": 1.8, "bend": 0.12, "dwell": 0.2}


@pytest.fixture(scope="module")
def models() -> dict[str, ModalityModel]:
    train = pointer_features(person(300, 1, **OWNER)).X
    det = ScaledManhattan().fit(train)
    held_out = det.score(pointer_features(person(300, 2, **OWNER)).X)
    cal = Calibration.from_scores(held_out, target_far=0.05)
    return {"pointer:mouse": ModalityModel.pointer(
        det, cal, feature_center=np.median(train, 0), feature_scale=train.std(0) + 1e-9)}


def test_owner_is_never_locked_and_an_impostor_is(models: dict[str, ModalityModel]) -> None:
    owner, eng = replay_events(models, person(150, 3, **OWNER), devices={0: DeviceType.MOUSE})
    assert not [d for d in owner if d.level == "lock"]
    assert len(eng.trajectory) == 150
    assert min(s.trust for s in eng.trajectory) >= 40
    assert eng.status().state is not AgentState.LOCKED

    other, eng = replay_events(models, person(100, 4, **OTHER))
    locks = [d for d in other if d.level == "lock"]
    assert locks, [d.level for d in other]
    first = locks[0]
    assert first.trust < 40 and first.state == "locked"
    assert first.evidence["deviating_features"]  # the alert says which features deviated
    assert first.evidence["modality"] == "pointer:mouse"
    n_actions = len([s for s in eng.trajectory if s.t_ns <= first.evidence["t_end_ns"]])
    assert 6 <= n_actions <= 20  # caught within few actions, never by one


def test_replay_is_deterministic_and_batching_independent(
        models: dict[str, ModalityModel]) -> None:
    ev = np.concatenate([person(25, 5, **OWNER), person(20, 6, t0=200.0, **OTHER)])
    runs = [replay_events(models, ev, batch_s=b) for b in (0.1, 0.5, 0.5, 1.0)]
    trajs = [[(s.t_ns, s.trust) for s in e.trajectory] for _, e in runs]
    assert trajs[0] == trajs[1] == trajs[2] == trajs[3]
    assert [d.to_json() for d in runs[1][0]] == [d.to_json() for d in runs[2][0]]


def test_unlock_resets_trust_and_locked_screen_input_is_not_evidence(
        models: dict[str, ModalityModel]) -> None:
    clock = FakeClock(monotonic_ns=100 * S)
    eng = Engine(models, clock=clock)
    other = person(80, 7, **OTHER)
    half = int(other["t_ns"][len(other) // 2])
    clock.advance((half - clock.monotonic_ns()) / 1e9)
    eng.feed(other[other["t_ns"] <= half])
    assert eng.trust.trust < 40
    # at the lock screen: more input, but trust does not move
    before = eng.trust.trust
    clock.advance(1.0)
    assert eng.feed(other[other["t_ns"] > half], Context(screen_locked=True)) == []
    assert eng.trust.trust == before and eng.status().state is AgentState.LOCKED
    clock.advance(5.0)
    assert eng.tick() == []  # unlocked by the owner
    assert eng.trust.trust == 100.0 and eng.policy.in_grace(clock.monotonic_ns())


def test_paused_engine_neither_scores_trust_nor_decides(
        models: dict[str, ModalityModel]) -> None:
    eng = Engine(models, clock=FakeClock(monotonic_ns=100 * S))
    out = eng.feed(person(60, 8, **OTHER), Context(paused=True)) + eng.finish(Context(paused=True))
    assert out == [] and eng.trust.trust == 100.0
    assert eng.status().state is AgentState.PAUSED


def test_idle_engine_takes_no_new_decision(models: dict[str, ModalityModel]) -> None:
    clock = FakeClock(monotonic_ns=100 * S)
    eng = Engine(models, EngineConfig(idle_s=30), clock=clock)
    eng.feed(person(3, 9, **OWNER))
    clock.advance(3600.0)
    assert eng.tick() == []
    assert eng._context(None, clock.monotonic_ns()).idle


@pytest.mark.parametrize(("mode", "expect_lock"), [("distrust", True), ("score", False),
                                                   ("ignore", False)])
def test_injected_rule(models: dict[str, ModalityModel], mode: str, expect_lock: bool) -> None:
    """A bot replaying the owner's own movements through XTest: distrusted by default."""
    bot = person(120, 10, **OWNER)
    bot["flags"] |= int(Flag.INJECTED)  # bursts: the pauses between actions exceed 1 s
    cfg = EngineConfig(scoring=ScoringConfig(injected=mode))  # type: ignore[arg-type]
    out, _ = replay_events(models, bot, cfg)
    assert bool([d for d in out if d.level == "lock"]) is expect_lock


def test_a_bot_is_locked_out_at_its_eleventh_burst(models: dict[str, ModalityModel]) -> None:
    """The README's figure: each injected burst costs D = 6, so from full trust (100) ten
    bursts reach the lock level (40) and the eleventh locks (trust < 40)."""
    bot = person(14, 10, **OWNER)
    bot["flags"] |= int(Flag.INJECTED)
    out, eng = replay_events(models, bot)
    trust = [s.trust for s in eng.trajectory]
    assert trust[:11] == pytest.approx([100 - 6 * (i + 1) for i in range(11)])
    (lock, *_) = [d for d in out if d.level == "lock"]
    assert lock.trust == pytest.approx(34.0)


def test_engine_config_needs_one_lock_level() -> None:
    with pytest.raises(ValidationError, match="one lock level"):
        EngineConfig(trust=TrustConfig(lock_level=30), policy=PolicyConfig(lock_below=40))
    EngineConfig(trust=TrustConfig(lock_level=30), policy=PolicyConfig(lock_below=30))


@pytest.mark.parametrize("given", [{"policy": {"lock_below": 30}}, {"trust": {"lock_level": 30}},
                                   {"policy": PolicyConfig(lock_below=30)}])
def test_setting_either_lock_level_sets_both(given: dict[str, object]) -> None:
    """The README's `--engine policy.lock_below=30` and `[engine.policy] lock_below = 30`
    were refused for not also naming trust.lock_level: one level, one setting."""
    cfg = EngineConfig.model_validate(given)
    assert cfg.policy.lock_below == cfg.trust.lock_level == 30


def test_status_is_json_ready(models: dict[str, ModalityModel]) -> None:
    eng = Engine(models, clock=FakeClock())
    d = eng.status().as_dict()
    assert d["state"] == "trained" and d["trust"] == 100.0


def test_overlapping_keystroke_windows_weigh_their_new_share() -> None:
    cal = Calibration(threshold=1.0, scale=1.0, center=0.0)
    kb = ModalityModel.keyboard(ScaledManhattan(), cal, window=50, step=10)
    assert kb.weight == pytest.approx(0.2)
    eng = Engine({"keyboard": kb}, clock=FakeClock())
    assert eng.trust.cfg.modality_weights == {"keyboard": pytest.approx(0.2)}
    st = eng.trust.update("keyboard", 1e9, 0)
    assert st.trust == pytest.approx(100 - 0.2 * eng.cfg.trust.max_penalty)
    explicit = EngineConfig(trust=TrustConfig(modality_weights={"keyboard": 1.0}))
    assert Engine({"keyboard": kb}, explicit).trust.cfg.modality_weights == {"keyboard": 1.0}
