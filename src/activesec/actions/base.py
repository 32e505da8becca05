"""The action contract: a :class:`Decision` in, an :class:`ActionResult` out (after fail2ban's
ban/unban split: ``fire`` acts, ``revert`` undoes).

Rules every action follows, built-in or plug-in:

* ``fire``/``revert`` never raise: an expected failure (no session bus, no lock command, app not
  running) is ``ActionResult(ok=False, detail=...)``, and an unexpected exception is caught here,
  logged and turned into ``ok=False`` too, so one broken action cannot stop the others (the lock
  must still fire when the notification plug-in crashes). Bad *configuration* is different: it
  raises :class:`~activesec.core.errors.ConfigError` from the constructor, before the agent runs.
* Every action has a dry-run twin: constructed with ``dry_run=True`` (or wrapped in
  :class:`DryRun`) it records what it would do in ``recorded`` and touches nothing. Subclasses
  implement ``_fire``/``_revert`` (the real effect) and ``plan`` (the description).
* Decisions obey the privacy rule: their evidence carries scores, trust, feature names and key
  *classes*, never key identities, typed text or window titles — :class:`Decision` refuses them.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from activesec.core.bounded import Overdue, call_within
from activesec.core.errors import ActiveSecError, ConfigError

log = logging.getLogger(__name__)

Level = Literal["notify", "lock", "gate", "restore"]
LEVELS: tuple[str, ...] = ("notify", "lock", "gate", "restore")

#: Evidence keys that would carry content (what was typed, which key, which window).
FORBIDDEN_EVIDENCE_KEYS = frozenset(
    {
        "key",
        "keys",
        "key_name",
        "keyname",
        "keysym",
        "keycode",
        "scancode",
        "char",
        "chars",
        "character",
        "characters",
        "text",
        "typed",
        "password",
        "title",
        "window_title",
        "window",
        "clipboard",
    }
)


def _json_default(obj: Any) -> Any:
    """NumPy scalars and arrays become plain JSON values (``tolist`` handles both)."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def check_private(value: Any, where: str = "evidence") -> None:
    """Raise ``ValueError`` if ``value`` has a key that would carry content (privacy rule)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            if k.lower() in FORBIDDEN_EVIDENCE_KEYS:
                raise ValueError(
                    f"{where}.{k}: decisions must not carry key identities, text or window "
                    "titles (privacy rule); store key classes or aggregates instead"
                )
            check_private(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_private(v, f"{where}[{i}]")


@dataclass(frozen=True)
class Decision:
    """What the policy decided and why; the unit every action receives and the alert log keeps.

    ``level``: ``notify`` | ``lock`` | ``gate`` | ``restore`` (trust recovered: undo gating).
    ``state``: the agent state at decision time (``suspicious``, ``confident``, ...).
    ``trust``: the fused trust level that triggered it. ``t_wall_ns``: wall-clock time (display,
    logs). ``evidence``: JSON-able explanation (scores, thresholds, deviating feature names).
    """

    level: str
    state: str
    trust: float
    t_wall_ns: int
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"decision level must be one of {', '.join(LEVELS)}: {self.level!r}")
        if not math.isfinite(float(self.trust)):
            raise ValueError(f"decision trust must be finite: {self.trust!r}")
        check_private(self.evidence)
        self.to_json()  # fail now, not in the alert log, if the evidence is not JSON-able

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """One compact JSON object (sorted keys, no NaN): one line of the alert log."""
        try:
            return json.dumps(
                self.to_dict(),
                sort_keys=True,
                separators=(",", ":"),
                allow_nan=False,
                default=_json_default,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"decision evidence is not JSON-serialisable: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Decision:
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class ActionResult:
    """Outcome of ``fire``/``revert``: ``detail`` is one line a person can read (which lock
    method won, which processes were suspended, the exit code); ``info`` the same for machines."""

    ok: bool
    detail: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """One thing a dry-run action would have done."""

    op: Literal["fire", "revert"]
    decision: Decision
    detail: str


class Action(ABC):
    """Base class of every action. Subclasses set ``name`` and implement ``_fire`` and ``plan``;
    ``_revert`` defaults to a no-op (one-way actions such as notify or lock)."""

    name: str = "action"
    #: does firing it lock the session? After a lock decision that such an action carried
    #: out, the agent takes the screen for locked (no decisions) until it is unlocked, then
    #: grants the grace period and resets trust. An action that only reports (``notify``,
    #: ``alertlog``) must not: the person still at the keyboard would get full trust back.
    locks_session: bool = False
    #: constructor arguments that are test seams, not settings (left out of the settings a
    #: configuration error lists)
    seams: ClassVar[frozenset[str]] = frozenset()
    #: a plug-in's ``fire``/``revert`` that has not returned after this many seconds is
    #: recorded as failed and left to finish in the background, so the agent goes on scoring
    #: and the level's other actions (the lock) still run; until it returns, that plug-in's
    #: next calls fail at once. Built-ins bound their own waits (``command``'s ``timeout_s``).
    max_wait_s: ClassVar[float] = 10.0

    def __init__(self, *, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self.recorded: list[Recorded] = []
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Acquire resources (open files, sockets). Idempotent; skipped in dry-run. A plug-in's
        ``_start`` is bounded like its ``_fire`` (:attr:`max_wait_s`): one that hung kept the
        agent from ever starting; it is a start that failed, naming the plug-in."""
        if not self._started and not self.dry_run:
            try:
                self._lifecycle("start", self._start)
            except Overdue:
                raise ConfigError(
                    f"action {self.name!r} ({self._where()}) failed to start: its _start has not "
                    f"returned after {self.max_wait_s:g} s",
                    "fix the plug-in, or remove it from [actions]",
                ) from None
            except Exception as exc:
                if isinstance(exc, ActiveSecError) or not self._is_plugin():
                    raise
                # a plug-in's: it ended `activesec run` in a traceback
                raise ConfigError(
                    f"action {self.name!r} ({self._where()}) "
                    f"failed to start: {type(exc).__name__}: {exc}",
                    "fix the plug-in, or remove it from [actions]",
                ) from None
        self._started = True

    def stop(self) -> None:
        """Release resources. Idempotent; never raises. A plug-in's ``_stop`` that has not
        returned after :attr:`max_wait_s` is left running and logged, naming it: one that hung
        kept SIGTERM from ending the agent (a systemd stop waited for SIGKILL, and the gated
        apps the actions after it resume stayed suspended)."""
        if self._started and not self.dry_run:
            try:
                self._lifecycle("stop", self._stop)
            except Overdue:
                log.error(
                    "action %s (%s): _stop has not returned after %g s; left running, the "
                    "agent goes on stopping without it (fix or remove the plug-in)",
                    self.name,
                    self._where(),
                    self.max_wait_s,
                )
            except Exception:
                log.exception("action %s failed to stop cleanly", self.name)
        self._started = False

    def _lifecycle(self, op: str, hook: Callable[[], None]) -> None:
        """``hook`` (``_start`` / ``_stop``): a built-in's called as is (they bound their own
        waits), a plug-in's in a thread of its own waited for :attr:`max_wait_s` at most
        (:class:`~activesec.core.bounded.Overdue` when it has not returned)."""
        if not self._is_plugin():
            hook()
            return
        call_within(hook, self.max_wait_s, f"activesec-action-{self.name}-{op}")

    @classmethod
    def _where(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    def _start(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Hook for subclasses (default: nothing to acquire)."""

    def _stop(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Hook for subclasses (default: nothing to release)."""

    # -- ban / unban ---------------------------------------------------------------------------
    def fire(self, decision: Decision) -> ActionResult:
        return self._dispatch("fire", decision)

    def revert(self, decision: Decision) -> ActionResult:
        return self._dispatch("revert", decision)

    def _dispatch(self, op: Literal["fire", "revert"], decision: Decision) -> ActionResult:
        decision = self._own_copy(decision)
        if self.dry_run:
            try:
                detail = self.plan(op, decision)
            except Exception as exc:  # a plan is only a description: never fail the caller
                detail = f"(cannot describe: {type(exc).__name__}: {exc})"
            self.recorded.append(Recorded(op, decision, detail))
            return ActionResult(True, f"dry-run: {detail}", {"dry_run": True})
        call = self._fire if op == "fire" else self._revert
        out = self._guarded(op, lambda: call(decision))
        if out is None:  # a plug-in's _fire without a return: the agent read .ok off None
            return ActionResult(False, f"{self.name} {op} returned None, not an ActionResult")
        return out

    def hold_guarded(self, decision: Decision) -> ActionResult | None:
        """:meth:`hold` as the agent calls it: guarded as ``fire`` is (a plug-in's ``hold`` that
        raised ended the agent while gated)."""
        decision = self._own_copy(decision)
        return self._guarded("hold", lambda: self.hold(decision))

    @classmethod
    def _is_plugin(cls) -> bool:
        """Not one of ActiveSec's own actions (as :meth:`Detector._is_plugin`)."""
        return not cls.__module__.startswith("activesec.")

    def _own_copy(self, decision: Decision) -> Decision:
        """``decision`` for a plug-in: a copy of its own. Every action was handed one object,
        so a plug-in changing its evidence in place changed it for the actions after it and
        for the decision log."""
        return copy.deepcopy(decision) if self._is_plugin() else decision

    def _guarded(self, op: str, call: Callable[[], ActionResult | None]) -> ActionResult | None:
        """``call`` never raising: an exception is logged and becomes a failed result; a
        plug-in's call is also bounded in time (:meth:`_bounded`)."""
        try:
            if not self._is_plugin():
                return call()
            out = self._bounded(op, call)
            if out is not None and not isinstance(out, ActionResult):
                return ActionResult(
                    False, f"{self.name} {op} returned {out!r}, not an ActionResult"
                )
            return out
        except Exception as exc:
            log.exception("action %s: %s raised", self.name, op)
            return ActionResult(
                False, f"{self.name} {op} failed unexpectedly: {type(exc).__name__}: {exc}"
            )

    def _bounded(self, op: str, run: Callable[[], ActionResult | None]) -> ActionResult | None:
        """A plug-in's ``op`` in a thread of its own, waited for ``max_wait_s`` at most: one that
        hung stopped the agent for good — no more scoring, no lock, not even SIGTERM."""
        busy: threading.Thread | None = getattr(self, "_busy", None)
        if busy is not None and busy.is_alive():
            return ActionResult(
                False,
                f"{self.name} {op} not run: its earlier call has not "
                "returned yet (fix or remove the plug-in)",
            )
        try:
            return call_within(run, self.max_wait_s, f"activesec-action-{self.name}")
        except Overdue as late:
            self._busy = late.thread
            log.error(
                "action %s: %s has not returned after %g s; left running",
                self.name,
                op,
                self.max_wait_s,
            )
            return ActionResult(
                False,
                f"{self.name} {op} did not return within "
                f"{self.max_wait_s:g} s (left running; fix or remove "
                "the plug-in)",
            )

    @abstractmethod
    def _fire(self, decision: Decision) -> ActionResult:
        """Do it for real."""

    def _revert(self, decision: Decision) -> ActionResult:
        return ActionResult(True, f"{self.name}: nothing to revert")

    def hold(self, decision: Decision) -> ActionResult | None:
        """Apply ``decision`` again while its level lasts: the agent calls this every few
        seconds from a ``gate`` to its ``restore``, on each ``on_gate`` action. Return the
        result when it changed something (it is then recorded), else None. Default: nothing
        to hold (a notification, a lock, a log line happen once)."""
        return None

    @abstractmethod
    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        """Describe, without side effects, what ``op`` would do (the dry-run record)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{' dry-run' if self.dry_run else ''}>"


class DryRun(Action):
    """Dry-run twin of any action, even one written without dry-run support in mind: it
    records ``inner.plan(...)`` and never calls the inner action's effects."""

    def __init__(self, inner: Action) -> None:
        super().__init__(dry_run=True)
        self.inner = inner
        self.name = inner.name
        self.locks_session = inner.locks_session

    def _fire(self, decision: Decision) -> ActionResult:  # pragma: no cover - dry-run only
        raise AssertionError("DryRun never acts")

    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        return self.inner.plan(op, decision)
