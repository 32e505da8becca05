"""Policy rules with a fake clock: levels, cool-downs, escalation, restore, grace, suppression."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from activesec.actions.base import Decision
from activesec.core.clock import FakeClock
from activesec.engine.policy import AgentState, Context, Policy, PolicyConfig
from activesec.engine.trust import TrustState


class Driver:
    """A policy, a fake clock and helpers to feed it trust levels as time passes."""

    def __init__(self, **cfg: object) -> None:
        self.clock = FakeClock()
        self.policy = Policy(PolicyConfig(**cfg), self.clock)  # type: ignore[arg-type]
        self.n = 0

    def at(self, trust: float | None, after_s: float = 1.0, **ctx: object) -> list[Decision]:
        self.clock.advance(after_s)
        now = self.clock.monotonic_ns()
        st = None
        if trust is not None:
            self.n += 1
            st = TrustState(trust, now, "pointer:mouse", 0.5, 1.0, -3.0, self.n)
        return self.policy.step(st, now, Context(**ctx))  # type: ignore[arg-type]


def levels(ds: list[Decision]) -> list[str]:
    return [d.level for d in ds]


def test_confident_owner_gets_no_decision() -> None:
    d = Driver()
    assert d.policy.state is AgentState.TRAINED
    for _ in range(100):
        assert d.at(95.0) == []
    assert d.policy.state is AgentState.CONFIDENT


def test_notify_respects_its_cooldown() -> None:
    d = Driver(escalate_after=0)
    assert levels(d.at(65.0)) == ["notify"]
    assert d.policy.state is AgentState.SUSPICIOUS
    fired = [levels(d.at(65.0, after_s=10)) for _ in range(5)]  # 50 s later: still cooling down
    assert fired == [[]] * 5
    assert levels(d.at(65.0, after_s=10)) == ["notify"]  # 60 s after the first


def test_repeated_notifies_escalate_to_lock() -> None:
    d = Driver(notify_cooldown_s=60, escalate_after=3, escalate_window_s=600)
    assert levels(d.at(60.0)) == ["notify"]
    assert levels(d.at(60.0, after_s=61)) == ["notify"]
    out = d.at(60.0, after_s=61)
    assert levels(out) == ["notify", "lock"]
    assert "escalation" in out[1].reason
    assert d.policy.state is AgentState.SUSPICIOUS  # trust is above the lock level


def test_notifies_spread_beyond_the_window_do_not_escalate() -> None:
    d = Driver(notify_cooldown_s=60, escalate_after=3, escalate_window_s=300)
    out = [levels(d.at(60.0, after_s=200)) for _ in range(6)]
    assert out == [["notify"]] * 6


def test_low_trust_locks_and_retries_only_after_cooldown() -> None:
    d = Driver(lock_cooldown_s=30)
    out = d.at(35.0)
    assert levels(out) == ["lock"]  # a lock is not preceded by a redundant notify
    assert out[0].state == "locked"
    assert d.policy.state is AgentState.LOCKED
    assert [levels(d.at(30.0, after_s=5)) for _ in range(5)] == [[]] * 5  # 25 s
    assert levels(d.at(30.0, after_s=5)) == ["lock"]  # the screen never locked: retry


def test_gate_fires_once_and_restores_after_sustained_recovery() -> None:
    d = Driver(gate_apps=["game"], gate_below=40, restore_above=70, restore_after_s=60,
               lock_below=20)
    out = d.at(35.0)
    assert levels(out) == ["gate", "notify"]
    assert out[0].evidence["apps"] == ["game"]
    assert "gate" not in levels(d.at(30.0))
    assert d.policy.gated
    assert d.at(80.0, after_s=1) == []  # recovered, the clock starts
    assert d.at(80.0, after_s=30) == []
    assert "restore" not in levels(d.at(65.0, after_s=1))  # dipped: the clock restarts
    assert d.at(75.0, after_s=1) == []
    assert d.at(75.0, after_s=59) == []
    assert levels(d.at(None, after_s=1)) == ["restore"]  # a timer tick is enough
    assert not d.policy.gated


def test_a_carried_gate_holds_until_trust_recovers_here() -> None:
    """A policy taking over a gate (the agent replaced its models) restores it only on the same
    evidence, and does not gate a second time."""
    d = Driver(gate_apps=["game"], restore_after_s=60, lock_below=20)
    d.policy.carry_gate()
    assert d.policy.gated and d.at(None, after_s=120) == []  # no trust yet: nothing to go by
    assert "gate" not in levels(d.at(30.0))
    assert d.at(80.0) == [] and d.at(80.0, after_s=59) == []
    assert levels(d.at(80.0, after_s=1)) == ["restore"]


def test_without_locks_low_trust_gates_and_notifies_but_never_locks() -> None:
    """A parent gating apps without locking the session (no on_lock action)."""
    d = Driver(gate_apps=["game"], locks=False, notify_cooldown_s=60, escalate_after=3)
    assert levels(d.at(30.0)) == ["gate", "notify"]
    later = [levels(d.at(20.0, after_s=61)) for _ in range(4)]
    assert later == [["notify"]] * 4  # no lock, no escalation to one
    assert d.policy.state is AgentState.SUSPICIOUS


def test_no_gate_without_configured_apps() -> None:
    d = Driver(lock_below=20)
    assert "gate" not in levels(d.at(30.0))


def test_grace_after_unlock_resets_trust_and_suppresses_decisions() -> None:
    d = Driver(grace_s=30)
    assert levels(d.at(35.0)) == ["lock"]
    assert d.at(35.0, screen_locked=True) == []
    assert d.policy.state is AgentState.LOCKED
    assert not d.policy.take_reset()
    assert d.at(None, after_s=60, screen_locked=True) == []
    d.at(None, after_s=1)  # unlocked
    assert d.policy.take_reset()
    assert not d.policy.take_reset()  # once
    assert d.policy.state is AgentState.TRAINED
    # clumsy first actions after unlocking: no decision during the grace period
    assert [d.at(30.0, after_s=5) for _ in range(5)] == [[]] * 5
    assert levels(d.at(30.0, after_s=10)) == ["lock"]  # 35 s after unlock: rules apply again


@pytest.mark.parametrize("flag", ["paused", "screen_locked", "idle", "enrolling"])
def test_flags_suppress_decisions(flag: str) -> None:
    d = Driver()
    assert [d.at(10.0, after_s=100, **{flag: True}) for _ in range(5)] == [[]] * 5
    expected = {"paused": AgentState.PAUSED, "screen_locked": AgentState.LOCKED,
                "enrolling": AgentState.ENROLLING, "idle": AgentState.SUSPICIOUS}[flag]
    assert d.policy.state is expected
    d.at(None)  # the flag clears (for screen_locked: an unlock, then the grace period)
    assert levels(d.at(10.0, after_s=100)) == ["lock"]  # and decisions resume


@pytest.mark.parametrize("flag", ["paused", "screen_locked", "enrolling"])
def test_scores_while_paused_enrolling_or_locked_are_ignored(flag: str) -> None:
    """Input while paused, enrolling or behind the lock screen (the owner typing a password,
    say) is no evidence about the session: it must not enter the trust history."""
    d = Driver()
    assert d.at(95.0) == []
    for _ in range(5):
        assert d.at(10.0, **{flag: True}) == []
        assert d.policy.trust == 95.0
    if flag == "screen_locked":
        return  # unlocking clears the history anyway (test_grace_after_unlock_...)
    d.at(None)  # the flag clears
    assert d.policy.trust == 95.0
    out = d.at(50.0)
    assert levels(out) == ["notify"]
    assert [t for _, t in out[0].evidence["trust_trajectory"]] == [95.0, 50.0]


def test_idle_still_restores_gates() -> None:
    d = Driver(gate_apps=["game"], restore_after_s=10, lock_below=20)
    d.at(30.0)
    d.at(90.0)
    assert levels(d.at(None, after_s=11, idle=True)) == ["restore"]


def test_paused_keeps_gates_in_place() -> None:
    d = Driver(gate_apps=["game"], restore_after_s=10, lock_below=20)
    d.at(30.0)
    d.at(90.0)
    assert d.at(None, after_s=100, paused=True) == []
    assert d.policy.gated


def test_ticks_never_fire_new_decisions() -> None:
    d = Driver()
    assert levels(d.at(50.0)) == ["notify"]
    assert [d.at(None, after_s=120) for _ in range(5)] == [[]] * 5


def test_decision_explains_itself() -> None:
    d = Driver()
    for t in (95.0, 85.0, 75.0):
        d.at(t)
    out = d.policy.step(TrustState(62.0, d.clock.monotonic_ns(), "keyboard", 3.1, 2.2, -9.5, 9),
                        d.clock.monotonic_ns(),
                        Context(evidence={"deviating_features": [["dwell_mean", 4.2]]}))
    (dec,) = out
    ev = dec.evidence
    assert dec.level == "notify" and dec.trust == 62.0
    assert dec.t_wall_ns == d.clock.wall_ns()
    assert "62.0 < 70" in dec.reason
    assert [p[1] for p in ev["trust_trajectory"]] == [95.0, 85.0, 75.0, 62.0]
    assert ev["recent"][-1]["modality"] == "keyboard"
    assert ev["deviating_features"] == [["dwell_mean", 4.2]]
    assert ev["thresholds"]["notify_below"] == 70.0
    assert Decision.from_json(dec.to_json()) == Decision(**json.loads(dec.to_json()))


@pytest.mark.parametrize("kw", [{"lock_below": 80.0}, {"restore_above": 30.0},
                                {"unknown": 1}])
def test_config_rejects_inconsistent_thresholds(kw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PolicyConfig(**kw)  # type: ignore[arg-type]


def test_the_restore_timer_starts_afresh_after_an_unlock() -> None:
    """Gated apps are restored once trust has *stayed* above restore_above for
    restore_after_s. A recovery begun before an escalation lock kept running through the locked
    minutes — nobody judged then — so the gate was lifted at the first action after the unlock,
    not after restore_after_s of trust seen (restore_above below notify_below: a recovery can
    run while notifications escalate)."""
    d = Driver(gate_apps=["game"], restore_above=50.0, restore_after_s=300,
               notify_cooldown_s=60, escalate_after=3, escalate_window_s=600)
    assert "gate" in levels(d.at(30.0))
    out = d.at(60.0, after_s=61) + d.at(60.0, after_s=61) + d.at(60.0, after_s=61)
    assert "lock" in levels(out)  # escalation, while the recovery ran for 183 s
    assert d.policy.gated
    assert d.at(None, after_s=600, screen_locked=True) == []  # ten minutes locked
    assert d.at(None, after_s=1) == []  # the owner unlocked
    assert levels(d.at(100.0)) == []  # the first action after it: still gated
    assert d.policy.gated
    for _ in range(29):
        assert levels(d.at(100.0, after_s=10)) == []
    assert levels(d.at(100.0, after_s=10)) == ["restore"]  # 300 s of trust seen since
