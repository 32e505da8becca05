"""Policy: trust level -> decisions (notify, lock, gate, restore), in the spirit of fail2ban.

:meth:`Policy.step` is called with every new :class:`~activesec.engine.trust.TrustState` and,
between them, on a timer with ``None`` (so time-based rules such as restore still run). It
returns :class:`activesec.actions.base.Decision` s; it never acts and never reads a clock of its
own (``now_ns`` is passed in, wall time comes from the injected clock), so a replay with a fake
clock decides exactly as the live agent would.

Rules (thresholds on trust, :class:`PolicyConfig`):

* **notify** when trust < ``notify_below`` (70), at most once per ``notify_cooldown_s`` (60 s).
* **escalation**: ``escalate_after`` (3) notifications within ``escalate_window_s`` (10 min)
  lock, even if trust never reached the lock level — a slow, patient impostor hovering just
  under the notify level is still stopped (fail2ban's ``maxretry`` within ``findtime``).
* **lock** when trust < ``lock_below`` (40; the trust model's ``lock_level``). If the screen does
  not report locked (the lock command failed) and trust is still low, the lock is retried every
  ``lock_cooldown_s`` (30 s) — never silently dropped. With ``locks`` off (no ``on_lock``
  action: a parent who gates apps without locking the session) no lock is decided at all —
  rather than a lock that nothing carries out, retried every 30 s and reported as "locked".
* **gate** configured apps (``gate_apps``) when trust < ``gate_below`` (40), once; **restore**
  them (the gate's revert) when trust has stayed >= ``restore_above`` (70) for
  ``restore_after_s`` (60 s) — fail2ban's ban time, driven by evidence rather than a timer.
  In between the gate holds (:attr:`Policy.gated`): the agent applies it again every few
  seconds, so apps started meanwhile are gated too (one decision here, not one per app).
* **grace**: when the screen goes from locked to unlocked the owner has just proved who they are,
  so the policy asks for a trust reset (:meth:`Policy.take_reset`) and fires nothing for
  ``grace_s`` (30 s) — the owner's first clumsy actions after unlocking must not re-lock.
* **suppression**: nothing at all while ``paused`` or ``enrolling`` (the owner asked for
  silence, or there is no model) or while the screen is locked (the person at the keyboard is
  typing a password into the lock screen, not using the session). While input is ``idle`` (no
  events for the agent's idle time) new notify/lock/gate decisions are not taken, but restores
  still are: restoring is never a step against the user. Trust itself does not move while idle
  (no scores arrive); the trust model lowers it toward a neutral level on the next action (see
  :mod:`activesec.engine.trust`).

States (:class:`AgentState`): ``enrolling`` (no model yet), ``trained`` (model, but no score since
start or reset), ``confident`` (trust >= notify level), ``suspicious`` (below it), ``locked``
(screen locked, or a lock fired and trust is still below the lock level), ``paused``.

Every decision carries its evidence: the last scores that moved trust, the trust trajectory, the
thresholds, and whatever the caller adds (``Context.evidence``: e.g. the features that deviated
most from the owner's profile), so an alert explains itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from activesec.actions.base import Decision
from activesec.core.clock import Clock
from activesec.engine.trust import TrustState


class AgentState(str, Enum):
    ENROLLING = "enrolling"
    TRAINED = "trained"
    CONFIDENT = "confident"
    SUSPICIOUS = "suspicious"
    LOCKED = "locked"
    PAUSED = "paused"


@dataclass(frozen=True)
class Context:
    """What the agent knows besides trust at this step."""

    screen_locked: bool = False
    idle: bool = False
    paused: bool = False
    enrolling: bool = False
    evidence: Mapping[str, Any] = field(default_factory=dict)


class PolicyConfig(BaseModel):
    """Thresholds and timings (module docstring explains each rule and default)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    notify_below: float = Field(default=70.0, gt=0.0, le=100.0, description="notify below this")
    lock_below: float = Field(
        default=40.0, gt=0.0, lt=100.0, description="lock below this (sets trust.lock_level too)"
    )
    gate_below: float = Field(
        default=40.0, gt=0.0, le=100.0, description="gate the gate_apps below this"
    )
    gate_apps: list[str] = Field(
        default_factory=list, description="gate rules to apply, by name (empty: all)"
    )
    restore_above: float = Field(
        default=70.0, gt=0.0, le=100.0, description="restore gated apps above this..."
    )
    restore_after_s: float = Field(default=60.0, ge=0.0, description="...held this long")
    notify_cooldown_s: float = Field(
        default=60.0, ge=0.0, description="at most one notification this often"
    )
    lock_cooldown_s: float = Field(
        default=30.0, gt=0.0, description="retry a lock that did not take this often"
    )
    locks: bool = Field(
        default=True,
        description="take lock decisions (the agent turns this off when on_lock runs nothing)",
    )
    escalate_after: int = Field(
        default=3, ge=0, description="this many notifications in the window lock (0 = never)"
    )
    escalate_window_s: float = Field(
        default=600.0, gt=0.0, description="window for escalate_after"
    )
    grace_s: float = Field(
        default=30.0, ge=0.0, description="no decisions this long after the owner unlocks"
    )
    history: int = Field(default=20, ge=1, description="trust states kept as evidence")

    @model_validator(mode="after")
    def _check(self) -> PolicyConfig:
        if self.lock_below > self.notify_below:
            raise ValueError(f"lock_below ({self.lock_below:g}) must not exceed notify_below "
                             f"({self.notify_below:g})")
        if self.restore_above < self.gate_below:
            raise ValueError(f"restore_above ({self.restore_above:g}) must be >= gate_below "
                             f"({self.gate_below:g}) (or gates would flap)")
        return self


def _s(ns: int) -> float:
    return ns / 1e9


class Policy:
    """Stateful decision rules over a trust stream (see the module docstring)."""

    def __init__(self, cfg: PolicyConfig | None = None, clock: Clock | None = None) -> None:
        self.cfg = cfg or PolicyConfig()
        self.clock = clock
        self._history: deque[TrustState] = deque(maxlen=self.cfg.history)
        self._notifies: deque[int] = deque()
        self._last_notify: int | None = None
        self._last_lock: int | None = None
        self._gated = False
        self._recovered_since: int | None = None
        self._grace_until: int | None = None
        self._screen_was_locked = False
        self._reset_pending = False
        self.state = AgentState.TRAINED

    # ----------------------------------------------------------------------------- queries
    @property
    def trust(self) -> float | None:
        return self._history[-1].trust if self._history else None

    @property
    def gated(self) -> bool:
        return self._gated

    def in_grace(self, now_ns: int) -> bool:
        return self._grace_until is not None and now_ns < self._grace_until

    def carry_gate(self) -> None:
        """Take over a gate a previous policy left in place (the agent replaced its models):
        the apps stay gated until trust recovers here, as they would have there."""
        self._gated = True
        self._recovered_since = None

    def carry(self, other: Policy) -> None:
        """Take over ``other``'s timers and counters (the agent replaced its models or
        settings): the notify and lock cool-downs, the escalation window, the grace after an
        unlock, the screen's last state and the trust seen so far — a new model must not
        notify again at once, forget the notifications that escalate to a lock, or show
        ``trained`` while trust is low. A gate is carried by :meth:`carry_gate`."""
        self._history.extend(other._history)
        self._notifies = deque(other._notifies)
        self._last_notify = other._last_notify
        self._last_lock = other._last_lock
        self._grace_until = other._grace_until
        self._screen_was_locked = other._screen_was_locked
        self._reset_pending = other._reset_pending
        self.state = other.state

    def take_reset(self) -> bool:
        """True once after the owner unlocked: the caller resets its trust model."""
        r, self._reset_pending = self._reset_pending, False
        return r

    # ----------------------------------------------------------------------------- step
    def step(self, trust_state: TrustState | None, now_ns: int,
             context: Context | None = None) -> list[Decision]:
        """Decisions for this moment; ``trust_state`` None = a timer tick (no new score)."""
        ctx = context or Context()
        self._track_screen(ctx, now_ns)
        if trust_state is not None and not (ctx.screen_locked or ctx.paused or ctx.enrolling):
            self._history.append(trust_state)
        self.state = self._state(ctx)
        if ctx.paused or ctx.enrolling or ctx.screen_locked:
            return []
        out: list[Decision] = []
        trust = self.trust
        if trust is None:
            return out
        self._maybe_restore(trust, now_ns, ctx, out)
        if trust_state is None or ctx.idle or self.in_grace(now_ns):
            return out
        c = self.cfg
        locking = False
        if c.gate_apps and trust < c.gate_below and not self._gated:
            self._gated = True
            self._recovered_since = None
            out.append(self._decision("gate", trust, now_ns, ctx,
                                      f"trust {trust:.1f} < {c.gate_below:g} (gate level)",
                                      apps=list(c.gate_apps)))
        if c.locks and trust < c.lock_below and self._lock_due(now_ns):
            locking = True
            out.append(self._lock(trust, now_ns, ctx,
                                  f"trust {trust:.1f} < {c.lock_below:g} (lock level)"))
        lock_pending = self._last_lock is not None and trust < c.lock_below
        if (not locking and not lock_pending and trust < c.notify_below
                and self._notify_due(now_ns)):
            self._last_notify = now_ns
            self._notifies.append(now_ns)
            while self._notifies and now_ns - self._notifies[0] > c.escalate_window_s * 1e9:
                self._notifies.popleft()
            n = len(self._notifies)
            out.append(self._decision("notify", trust, now_ns, ctx,
                                      f"trust {trust:.1f} < {c.notify_below:g} (notify level)",
                                      notifications_in_window=n))
            if c.locks and c.escalate_after and n >= c.escalate_after \
                    and self._lock_due(now_ns):
                out.append(self._lock(trust, now_ns, ctx,
                                      f"escalation: {n} notifications within "
                                      f"{c.escalate_window_s:g} s (trust {trust:.1f})"))
        self.state = self._state(ctx)
        return out

    # ----------------------------------------------------------------------------- rules
    def _track_screen(self, ctx: Context, now_ns: int) -> None:
        if self._screen_was_locked and not ctx.screen_locked:
            # the owner unlocked: full trust, a grace period, a clean slate for the counters
            self._grace_until = now_ns + int(self.cfg.grace_s * 1e9)
            self._reset_pending = True
            self._history.clear()
            self._notifies.clear()
            self._last_notify = None
            self._last_lock = None
            # a gate is lifted after trust *seen* above restore_above for restore_after_s: the
            # locked minutes, when nobody was judged, do not count toward it
            self._recovered_since = None
        self._screen_was_locked = ctx.screen_locked

    def _notify_due(self, now_ns: int) -> bool:
        last = self._last_notify
        return last is None or now_ns - last >= self.cfg.notify_cooldown_s * 1e9

    def _lock_due(self, now_ns: int) -> bool:
        last = self._last_lock
        return last is None or now_ns - last >= self.cfg.lock_cooldown_s * 1e9

    def _lock(self, trust: float, now_ns: int, ctx: Context, reason: str) -> Decision:
        self._last_lock = now_ns
        self._notifies.clear()
        self.state = AgentState.LOCKED
        return self._decision("lock", trust, now_ns, ctx, reason)

    def _maybe_restore(self, trust: float, now_ns: int, ctx: Context,
                       out: list[Decision]) -> None:
        if not self._gated:
            return
        c = self.cfg
        if trust < c.restore_above:
            self._recovered_since = None
            return
        if self._recovered_since is None:
            self._recovered_since = now_ns
        if now_ns - self._recovered_since >= c.restore_after_s * 1e9:
            self._gated = False
            self._recovered_since = None
            out.append(self._decision(
                "restore", trust, now_ns, ctx,
                f"trust {trust:.1f} >= {c.restore_above:g} for {c.restore_after_s:g} s",
                apps=list(c.gate_apps)))

    def _state(self, ctx: Context) -> AgentState:
        if ctx.paused:
            return AgentState.PAUSED
        if ctx.enrolling:
            return AgentState.ENROLLING
        trust = self.trust
        if ctx.screen_locked or (self._last_lock is not None and trust is not None
                                 and trust < self.cfg.lock_below):
            return AgentState.LOCKED
        if trust is None:
            return AgentState.TRAINED
        return AgentState.CONFIDENT if trust >= self.cfg.notify_below else AgentState.SUSPICIOUS

    # ----------------------------------------------------------------------------- evidence
    def _decision(self, level: str, trust: float, now_ns: int, ctx: Context, reason: str,
                  **extra: Any) -> Decision:
        c = self.cfg
        hist = list(self._history)
        evidence: dict[str, Any] = {
            "recent": [h.as_dict() for h in hist[-5:]],
            "trust_trajectory": [[h.t_ns, round(h.trust, 2)] for h in hist],
            "thresholds": {"notify_below": c.notify_below, "lock_below": c.lock_below,
                           "gate_below": c.gate_below, "restore_above": c.restore_above},
            "t_mono_ns": now_ns,
            **extra,
            **dict(ctx.evidence),
        }
        wall = self.clock.wall_ns() if self.clock is not None else now_ns
        state = AgentState.LOCKED if level == "lock" else self._state(ctx)
        return Decision(level=level, state=state.value, trust=float(trust), t_wall_ns=int(wall),
                        reason=reason, evidence=evidence)
