"""The engine as one object: events in, decisions out — for the agent, replay and evaluation.

:class:`Engine` wires :class:`~activesec.engine.scoring.StreamScorer` ->
:mod:`trust <activesec.engine.trust>` -> :class:`~activesec.engine.policy.Policy` and owns the
few rules that need all three:

* **time**: the policy's "now" is the injected clock's monotonic time, never earlier than the end
  of the evidence it acts on (so a replay that does not drive its clock still moves forward in
  event time) and never going backwards;
* **idle**: no input event for ``idle_s`` (30 s) makes the context idle (the policy then takes no
  new decisions); trailing actions are flushed by :meth:`Engine.tick` after the scorer's
  ``flush_after_s``;
* **screen locked / paused / enrolling**: events are still consumed (buffers stay consistent) but
  their scores do not touch trust — typing a password into the lock screen is not evidence;
* **unlock**: when the policy reports the owner unlocked, trust is reset to full;
* **evidence**: each decision carries the deviating features of the score that triggered it;
* **fusion weights**: each model's ``weight`` (keystroke windows: ``step / window``) unless
  ``trust.modality_weights`` names that modality.

:func:`replay_events` runs a recording through a fresh engine on a fake clock that follows the
events' own timestamps — what ``activesec replay`` and ``evaluate --continuous`` use, so they
decide exactly as the live agent would on the same input.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from activesec.actions.base import Decision
from activesec.core.clock import Clock, FakeClock, SystemClock
from activesec.core.events import DeviceType
from activesec.engine.policy import AgentState, Context, Policy, PolicyConfig
from activesec.engine.scoring import ModalityModel, Score, ScoringConfig, StreamScorer
from activesec.engine.trust import TrustConfig, TrustState, make_trust


class EngineConfig(BaseModel):
    """Everything the engine needs to know, one section per stage."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    trust: TrustConfig = Field(default_factory=TrustConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    idle_s: float = Field(default=30.0, gt=0.0, description="no input this long = idle")
    trajectory: int = Field(default=1000, ge=1, description="trust states kept for status")

    @model_validator(mode="before")
    @classmethod
    def _one_lock_level(cls, data: Any) -> Any:
        """``policy.lock_below`` and ``trust.lock_level`` are one level: setting either sets
        both (setting both to different values is the error below)."""
        if not isinstance(data, Mapping):
            return data
        sections = {name: _given(data.get(name)) for name in ("policy", "trust")}
        pol, tr = sections["policy"], sections["trust"]
        # an invalid level is not copied: its own check then names the key that was given
        if "lock_below" in pol and "lock_level" not in tr and _level(pol["lock_below"]):
            tr["lock_level"] = pol["lock_below"]
        elif "lock_level" in tr and "lock_below" not in pol and _level(tr["lock_level"]):
            pol["lock_below"] = tr["lock_level"]
        else:
            return data
        return {**data, "policy": pol, "trust": tr}

    @model_validator(mode="after")
    def _check(self) -> EngineConfig:
        for key, value in self._durations():
            if value > MAX_SECONDS:  # in ns, 1e300 s is no number: int() of it raised
                raise ValueError(f"{key} ({value:g} s) must be at most {MAX_SECONDS:,} s "
                                 "(a year)")
        if self.policy.lock_below != self.trust.lock_level:
            raise ValueError(f"policy.lock_below ({self.policy.lock_below:g}) must equal "
                             f"trust.lock_level ({self.trust.lock_level:g}): one lock level")
        return self

    def _durations(self) -> list[tuple[str, float]]:
        """Every setting in seconds (named ``*_s``), as (dotted key, value)."""
        out = [(key, float(getattr(self, key))) for key in type(self).model_fields
               if key.endswith("_s")]
        for name in ("trust", "policy", "scoring"):
            section = getattr(self, name)
            out += [(f"{name}.{key}", float(getattr(section, key)))
                    for key in type(section).model_fields if key.endswith("_s")]
        return out


#: the longest any engine duration (a cool-down, a grace, a hold) may be: one year
MAX_SECONDS = 365 * 86_400


def _given(section: Any) -> dict[str, Any]:
    """The settings a section was given explicitly, as a dict (a model: the fields set)."""
    if isinstance(section, BaseModel):
        return section.model_dump(exclude_unset=True)
    return dict(section) if isinstance(section, Mapping) else {}


def _level(value: Any) -> bool:
    """Is ``value`` a trust level a lock can be set at (a number strictly between 0 and 100)?"""
    if isinstance(value, bool):
        return False
    try:
        return 0.0 < float(value) < 100.0
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Status:
    """A snapshot for ``activesec status`` and the dashboard."""

    state: AgentState
    trust: float
    n_updates: int
    gated: bool
    last_event_ns: int | None
    unmodelled_events: int

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "trust": round(self.trust, 2),
                "n_updates": self.n_updates, "gated": self.gated,
                "last_event_ns": self.last_event_ns, "unmodelled_events": self.unmodelled_events}


class Engine:
    """Streaming scorer + trust model + policy (module docstring)."""

    def __init__(self, models: Mapping[str, ModalityModel], cfg: EngineConfig | None = None, *,
                 devices: Mapping[int, DeviceType | int] | None = None,
                 clock: Clock | None = None) -> None:
        self.cfg = cfg or EngineConfig()
        self.clock: Clock = clock or SystemClock()
        # no keystroke window spans a gap the trust model treats as an absence
        self.scorer = StreamScorer(models, devices, self.cfg.scoring,
                                   absence_s=self.cfg.trust.idle_after_s)
        weights = {n: m.weight for n, m in models.items() if m.weight != 1.0}
        weights.update(self.cfg.trust.modality_weights)  # explicit configuration wins
        tcfg = self.cfg.trust.model_copy(update={"modality_weights": weights})
        self.trust = make_trust(tcfg, {n: m.calibration for n, m in models.items()})
        self.policy = Policy(self.cfg.policy, self.clock)
        self.trajectory: deque[TrustState] = deque(maxlen=self.cfg.trajectory)
        self._now = -(2**62)

    # ----------------------------------------------------------------------------- API
    def feed(self, events: np.ndarray, context: Context | None = None) -> list[Decision]:
        """Consume a batch of events; the decisions it led to (usually none)."""
        return self._apply(self.scorer.feed(events), context)

    def tick(self, context: Context | None = None) -> list[Decision]:
        """Call on a timer (e.g. every second): flushes actions completed by silence and runs
        the time-based rules (restore, grace, unlock)."""
        return self._apply(self.scorer.flush(self._clock_now()), context)

    def next_flush_ns(self) -> int | None:
        """When :meth:`tick` will next score something completed by silence (None: only input
        can; :meth:`StreamScorer.next_flush_ns`)."""
        return self.scorer.next_flush_ns()

    def finish(self, context: Context | None = None) -> list[Decision]:
        """End of a recording: score everything still pending."""
        return self._apply(self.scorer.flush(None), context)

    def status(self) -> Status:
        return Status(self.policy.state, self.trust.trust, self.trust.n_updates,
                      self.policy.gated, self.scorer.last_event_ns, self.scorer.unmodelled)

    # ----------------------------------------------------------------------------- internals
    def _clock_now(self) -> int:
        self._now = max(self._now, self.clock.monotonic_ns())
        return self._now

    def _context(self, ctx: Context | None, now: int) -> Context:
        ctx = ctx or Context()
        last = self.scorer.last_event_ns
        idle = ctx.idle or last is None or now - last > self.cfg.idle_s * 1e9
        return replace(ctx, idle=idle) if idle != ctx.idle else ctx

    def _apply(self, scores: list[Score], context: Context | None) -> list[Decision]:
        now = self._clock_now()
        ctx = self._context(context, now)
        out = self.policy.step(None, now, ctx)  # screen transitions, restores
        if self.policy.take_reset():
            self.trust.reset()
        if ctx.screen_locked or ctx.paused or ctx.enrolling:
            return out
        for s in scores:
            self._now = now = max(now, s.t_end_ns)
            st = self.trust.update(s.modality, s.score, s.t_end_ns)
            self.trajectory.append(st)
            ev = {**dict(ctx.evidence), **s.evidence()}
            out += self.policy.step(st, now, replace(ctx, idle=False, evidence=ev))
        return out


def replay_events(models: Mapping[str, ModalityModel], events: np.ndarray,
                  cfg: EngineConfig | None = None, *,
                  devices: Mapping[int, DeviceType | int] | None = None,
                  batch_s: float = 0.25) -> tuple[list[Decision], Engine]:
    """Run a recording through a fresh engine, as the live agent would have seen it.

    Events are fed in batches of ``batch_s`` of their own time on a fake clock that follows
    them; across a silence the engine is ticked every second until every timed rule (flush,
    idle, grace, restore) has had its chance, then the clock jumps to the next event."""
    cfg = cfg or EngineConfig()
    ev = np.asarray(events)
    ev = ev[np.argsort(ev["t_ns"], kind="stable")] if len(ev) else ev
    t0 = int(ev["t_ns"][0]) if len(ev) else 0
    clock = FakeClock(monotonic_ns=t0)
    eng = Engine(models, cfg, devices=devices, clock=clock)
    if not len(ev):
        return [], eng
    step = max(int(batch_s * 1e9), 1)
    p = cfg.policy
    horizon = int((max(cfg.scoring.flush_after_s, cfg.idle_s, p.restore_after_s, p.grace_s)
                   + 2.0) * 1e9)
    batch = (ev["t_ns"] - t0) // step
    starts = np.flatnonzero(np.r_[True, batch[1:] != batch[:-1]])
    stops = np.r_[starts[1:], len(ev)]
    out: list[Decision] = []
    for i, (lo, hi) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        end = t0 + (int(batch[lo]) + 1) * step
        clock.advance((end - clock.monotonic_ns()) / 1e9)
        out += eng.feed(ev[lo:hi])
        nxt = t0 + int(batch[starts[i + 1]]) * step if i + 1 < len(starts) else end + horizon
        tick_until = min(nxt, end + horizon)
        while clock.monotonic_ns() + 1_000_000_000 <= tick_until:
            clock.advance(1.0)
            out += eng.tick()
    out += eng.finish()
    return out, eng
