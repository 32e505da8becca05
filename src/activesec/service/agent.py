"""The live agent: capture -> store and engine -> policy decisions -> actions, in the foreground.

One :class:`Agent` runs one capture backend through :class:`~activesec.capture.runner.CaptureRunner`
(the store path, batch writer, retention, pause/wipe handling are capture's own) and *tees* every
batch the backend delivers to the engine, after the same kind filter the runner applies, so the
engine scores exactly the events that are stored. The backend thread only appends to a bounded
queue (:mod:`.handover`: never blocks the OS hook, overflow is counted) and, when a batch can
complete an action, wakes the runner's loop, which then hands it over at once; otherwise the loop
ticks every ``TICK_S`` (0.25 s) and hands pure motion over at that pace — to
:class:`~activesec.engine.pipeline.Engine` and runs everything else:

* **enrolment**: with no usable model the agent captures and reports progress (owner pointer
  events and keystrokes against ``settings.enrol``). Once enough data is stored and
  ``settings.train.auto`` is on, it trains by itself — in a child process (``activesec train``),
  so the always-on agent never imports the training libraries — and loads the result.
* **models** come from :func:`activesec.service.models.load_each`; a missing, stale or tampered
  model (:class:`~activesec.core.errors.ModelError`) is refused, the reason logged and shown in
  the status file. The others keep scoring (one damaged file must not switch off protection);
  with none left, enrolment continues and the agent retrains by itself.
* **decisions -> actions**: ``notify``/``lock``/``gate`` fire ``settings.actions.on_<level>``,
  ``restore`` reverts ``on_gate``; each action is built once with ``settings.actions.params[name]``
  (``dry_run`` builds the actions' dry-run twins). When the lock fails (every lock method failed),
  the ``on_notify`` actions are fired with the failure as reason, and the failure is recorded.
  Every decision is appended with its evidence and the actions' outcomes to the decision log
  (:mod:`activesec.service.decisions`).
* **the gate holds** from a ``gate`` decision to its ``restore``: every ``HOLD_GATE_EVERY_S``
  the agent calls :meth:`~activesec.actions.base.Action.hold` on the ``on_gate`` actions, so a
  gated app started (or resumed by hand) meanwhile is suspended or closed as well — the policy
  decides once, the gate keeps applying. Whatever a hold catches is logged as a ``gate`` entry
  (``reason`` "still gated since ...", ``evidence.gated_since_wall_ns``). When the models are
  replaced (a drift update) the new policy takes the gate over; when they are dropped (a wipe,
  deleted models) nothing is left to judge trust by and the gate is lifted (a ``restore`` entry
  says why). The status file's ``gate`` says what is gated now, since when and why.
* **screen lock awareness**: after a lock that succeeded — carried out by an action that locks
  the session (``lock``; a ``command`` unless its ``locks`` is false), never by one that only
  reports (``notify``, ``alertlog``: the person is still at the keyboard) — the policy is told
  the screen is locked (no decisions; typing a password is not evidence) until it is unlocked.
  On Linux the agent polls the screensaver's ``GetActive`` on the session bus (dbus-fast) once
  a second — ``org.freedesktop.ScreenSaver`` (KDE, xfce), ``org.gnome.ScreenSaver`` (GNOME,
  whose freedesktop service lacks it), Cinnamon's and MATE's
  (:func:`activesec.actions.lock.screensaver_active`); the screen counts as locked once that
  reports it active (a lock command returns before the locker is up: still inactive
  ``LOCK_SETTLE_S`` after it, the lock did not take and the policy retries it) — unless an X11
  locker the service does not know (``i3lock`` as the lock ``command``;
  :mod:`activesec.capture.screenlock`) holds the display: then the screen is locked until that
  locker lets go of it. Once a screensaver service has answered, only its "inactive" ends a
  lock: its silence (a restart, a hung ``GetActive``, the bus gone) keeps the screen locked.
  On Windows the question is whether the input desktop is Winlogon's, on macOS the window
  server's ``CGSSessionScreenIsLocked`` (:class:`_ScreensaverQuery`), with the same rules.
  Where nothing ever answered (no bus, no screensaver service) it assumes the
  owner unlocked when input resumes at least ``UNLOCK_QUIET_S`` after the lock, unless an X11
  locker still holds the display (that input is a password typed into it). The policy then
  grants its grace period and resets trust. Between its own locks the
  agent asks the screensaver every ``PASSIVE_POLL_S`` whether it came on by itself (the owner
  locked the screen, or it blanked) — at once when it announces a change (its
  ``ActiveChanged`` signal, :class:`~activesec.actions._dbus.SignalListener`): that withholds
  input too, but its end gives no fresh trust — a blank screen wakes without a password;
  where no service answers, an X11 locker (the owner's own ``xss-lock -- i3lock``, or the one
  the agent was restarted under) counts so until
  it lets go, watched through the X server's window events
  (:class:`~activesec.capture.screenlock.X11LockerWatch`). While the screen is locked either way,
  input is neither stored nor scored (:class:`_Tee`: a password's keystroke timing never
  reaches the disk), only counted (``withheld_locked`` in the status file).
* **pause / resume / wipe** are honoured at once: the writer discards paused input and the engine
  is told ``paused``; a wipe (store wipe generation changes, models deleted) drops the loaded
  models, clears the decision log and returns to enrolment.
* **settings** follow the files they come from: every ``HOUSEKEEP_EVERY_S`` the agent looks at
  the account's config file and the machine policy (path, mtime, size) and, when one changed,
  loads the settings again (with the flags it was started with). A valid change applies at
  once: new actions (the old ones stopped), and with changed scoring, trust or policy a new
  engine, whose trust starts afresh; ``capture``, ``store``, ``log_level`` and ``user`` are read
  once at start (``RESTART_SECTIONS``), so the status file's ``config`` says they wait for a
  restart. An invalid change is refused whole — the agent keeps protecting with the settings
  it has, logs the error and shows it in ``config`` — rather than stopping; a parent's or an
  admin's edit therefore reaches running agents without a log-in. While the gate holds, the
  change waits until it is lifted (replacing the gate action would resume the gated apps).
* **trust history**: each trust update goes into the minute it happened in; finished minutes are
  appended to ``<data dir>/trust-history.jsonl`` at the status tick (:mod:`.history`), for the
  dashboard's chart and ``status`` after the fact. A wipe clears it with the decision log.
* **a store that cannot be written** (a full disk): capture drops what it cannot commit and
  counts it; the agent goes on scoring and acting on its input, says so in one line on stderr
  (the journal under the log-in service: the log file is on the same full disk) and in the
  status file's ``store_error``, and in one more line once input is stored again.
* **status**: ``<run dir>/agent.json`` (0600, rewritten atomically every second; see
  :meth:`Agent.status`), read by ``activesec status`` and the dashboard. It includes how fast the
  agent reacts on this machine, over the last ``KEEP_LATENCIES`` scores: the time from the input
  that completed an action to the trust level updated by it (stamps on the monotonic clock
  capture stamps with; :func:`completed_at`). For a click that is its release, the
  action's last event; a movement that ends in stillness is known complete only when the next
  input arrives, and a keystroke window once an event ``settle_s`` after it shows every key was
  released — timing those from their own end would count the person's pause as the agent's
  delay (live under Xvfb, Balabit movements: p99 1.5 s that way). An action that only silence
  completes (no input after it for the scorer's ``flush_after_s``, 3 s) is timed from that
  moment: the loop wakes then (:meth:`Agent._next_wait_s`) instead of at its next tick.
  ``activesec bench`` reports these figures.

Single instance: the CLI holds ``<run dir>/capture.lock`` (the same lock as ``activesec capture``,
so capture and the agent never run together). SIGTERM -> :meth:`Agent.stop`: the runner stops
the backend, the writer flushes, the last status is written with ``running: false``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from activesec import __version__
from activesec.actions.alertlog import AlertLogAction
from activesec.actions.base import Action, Decision
from activesec.actions.gate import GateAction
from activesec.capture.base import CaptureBackend, Sink
from activesec.capture.runner import AppProbe, CaptureRunner, LiveStats
from activesec.capture.screenlock import X11LockerWatch
from activesec.core.bounded import Overdue, call_within
from activesec.core.clock import Clock
from activesec.core.config import (
    Settings,
    error_key_msg,
    field_hint,
    table_settings,
    toml_value,
)
from activesec.core.errors import ActiveSecError, ConfigError, ModelError, PolicyError
from activesec.core.events import DeviceType, Kind
from activesec.core.paths import Paths, keep_reserve, make_private_dirs, write_private_text
from activesec.engine.pipeline import Engine, EngineConfig
from activesec.engine.policy import AgentState, Context
from activesec.engine.scoring import KEYBOARD, ModalityModel
from activesec.engine.trust import MAX_TRUST, TrustState
from activesec.service.decisions import ActionOutcome, DecisionLog, decisions_path, record
from activesec.service.handover import HandOver
from activesec.service.history import TrustHistory, history_path

log = logging.getLogger(__name__)

STATUS_FILE = "agent.json"
# Input that can complete an action (a release, a scroll, a key) wakes the loop at once
# (WAKE_ON_INPUT, :mod:`.handover`), so the wait from the click or key that ends an action to its
# trust update (issue 4: <= 100 ms p99) no longer depends on the tick, which only paces motion,
# status and housekeeping. Agent bench (tests/bench/test_bench_agent.py: 125 Hz click stream in
# 20 ms batches; both designs in one run): polling at 0.05 s without the wake — the former
# design — p50 42 ms; waking, with capture's 0.25 s tick, p50 16 ms at less CPU. The figures of
# the latest run are in the README. A movement that ends in stillness (no click) is known
# complete when the next input arrives (handed over at once, :mod:`.handover`) or, if none
# comes, after the scorer's ``flush_after_s`` (3 s, the segmenter's longest wait for a click) of
# silence: the loop then wakes at that moment (``Agent._next_wait_s``). Until 2026-12-06 that
# flush waited for the 1 s status tick — up to a second more to lock, and untimed.
TICK_S = 0.25
WAKE_ON_INPUT = True
STATUS_EVERY_S = 1.0
HOUSEKEEP_EVERY_S = 10.0  # enrolment counts, wipe and model checks
KEEP_DECISIONS = 200  # decisions held in memory
KEEP_LATENCIES = 1000  # completing input -> trust updated, the newest scores
TRAIN_RETRY_S = 600.0  # after a failed automatic training
#: longest a plug-in detector may take to score one batch before its model is refused
PLUGIN_SCORE_MAX_S = 10.0
# training a modality enrolled later (`train --new`) that keeps failing — the keystrokes are
# counted but too scattered to make enough windows — waits twice as long after each failure,
# up to a day: each try is a whole training process (~1 s of CPU to import scikit-learn alone)
NEW_RETRY_MAX_S = 86400.0
#: each training job the agent starts: (its ``training`` state, what the log says as it
#: starts, what the reason says when it fails)
TRAINING_JOBS = {
    "train": ("running", "enrolment complete: training the owner's model", "training failed"),
    "update": ("updating", "drift update of the owner's model", "drift update failed"),
    "upgrade": ("upgrading", "background population installed: refitting the one-class "
                "fallback model", "refitting the fallback model failed"),
    "new": ("running", "enrolment of another modality complete: training its model",
            "training the newly enrolled modality failed"),
}
DRIFT_CHECK_S = 3600.0  # how often the agent asks whether a drift update is due
# a failed automatic upgrade of a fallback model is tried again after UPGRADE_RETRY_S, the
# delay doubling after each failure up to UPGRADE_RETRY_MAX_S; a success or a changed
# background file starts again from UPGRADE_RETRY_S
UPGRADE_RETRY_S = 3600.0
UPGRADE_RETRY_MAX_S = 86400.0
UNLOCK_QUIET_S = 2.0  # fallback unlock detection: input this long after the lock
# a lock counts once the screensaver reports it active; inactive this long after the lock command
# returned, the lock did not take (the policy then retries it)
LOCK_SETTLE_S = 10.0
# between locks of ours, how often the screensaver is asked whether it came on by itself (the
# owner locked the screen): ~2 ms of CPU a question where it answers, ~7 ms where nothing does
PASSIVE_POLL_S = 5.0
# a screensaver that came on by itself and then stops answering for this long (the bus gone)
# no longer withholds input: that watch is for privacy, and must not switch scoring off
PASSIVE_SILENCE_S = 10.0
# While gated, the on_gate actions are applied again this often: a game restarted meanwhile
# runs at most this long. A pass costs ~6 ms of CPU per 80 processes here (psutil: 0.3% of a
# core at this pace), so ~1.5% on a desktop's 400 — only while gated.
HOLD_GATE_EVERY_S = 2.0
# read by the capture runner and the backend when the agent starts: an edit applies at restart
RESTART_SECTIONS = ("capture", "store", "log_level", "user")
QUEUE_MAX_EVENTS = 200_000
STATUS_SLACK = 1024  # spaces at least after the status file's JSON (Agent._write_status)

ModelLoader = Callable[[Paths], Mapping[str, ModalityModel]]
Trainer = Callable[[Paths, Settings], None]


def engine_config(settings: Settings, *, policy_note: bool = True) -> EngineConfig:
    """``[engine]`` of the config file, validated (a ConfigError names the bad key).

    The policy gates only when it has apps to gate (``engine.policy.gate_apps``); left empty,
    these are the names of the ``gate`` action's rules when ``on_gate`` runs it — so rules
    configured for gating gate, without naming the same apps twice."""
    try:
        cfg = EngineConfig.model_validate(settings.engine)
    except ValidationError as exc:
        key, msg = error_key_msg(exc, "engine", EngineConfig)
        note = _enforced_in(key, msg) if policy_note else ""
        raise ConfigError(f"invalid configuration value for '{key}': {msg}{note}",
                          field_hint(EngineConfig, exc.errors()[0]["loc"], "engine")) from None
    if not cfg.policy.gate_apps and "gate" in settings.actions.on_gate:
        rules = settings.actions.params.get("gate", {}).get("rules") or []
        names = [str(r.get("name") or r.get("match")).strip() for r in rules
                 if isinstance(r, Mapping)]
        if names:
            cfg = cfg.model_copy(update={"policy": cfg.policy.model_copy(
                update={"gate_apps": names})})
    return cfg


def _enforced_in(key: str, msg: str) -> str:
    """What the machine policy enforces under ``key`` among the settings the error ``msg``
    names (a whole-section error may come from the account's own setting meeting an enforced
    one: `restore_above = 35` against an enforced `gate_below = 50`), as a note for the error
    line; "" when it enforces none of them."""
    from activesec.core.site import dotted_keys, dotted_value, load_site, one_lock_level

    try:
        policy = load_site()
    except PolicyError:  # reported by whoever loaded the settings
        return ""
    table = one_lock_level(policy.enforced)
    given = []
    for k in dotted_keys(table):
        name = k.rsplit(".", 1)[-1]
        if k.startswith(f"{key}.") and (name in msg or name.replace("_", " ") in msg):
            given.append(f"{k} = {toml_value(dotted_value(table, k))}")
    if not given:
        return ""
    return (f" (the machine policy {policy.path} enforces {', '.join(given)}: change your own "
            "settings to fit it)")


def agent_engine_config(settings: Settings) -> EngineConfig:
    """:func:`engine_config` as the agent runs it: with no ``on_lock`` action the policy decides
    no lock at all (``policy.locks``) — a lock nothing carries out was retried every 30 s,
    filled the decision log and showed "locked". `replay` still shows where the policy locks:
    it measures, it does not act."""
    cfg = engine_config(settings)
    if not settings.actions.on_lock and cfg.policy.locks:
        cfg = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"locks": False})})
    return cfg


def _not_applied(exc: BaseException) -> str:
    return ("configuration change not applied, still running with the settings it started "
            f"with or last applied: {exc}")


def config_stamp(paths: Paths) -> tuple[tuple[str, int, int], ...]:
    """Path, mtime and size of the files settings come from (the account's config file, the
    machine policy): the agent reloads its settings when this changes."""
    from activesec.core.site import site_file

    out = []
    for f in (paths.config_file, site_file()):
        if f is None:
            continue
        try:
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(f), -1, -1))
    return tuple(out)


def check_settings(settings: Settings) -> EngineConfig:
    """:func:`engine_config`, and the names the config file gives to plug-ins — detectors and
    actions, which :mod:`activesec.core.config` cannot see (they sit in higher layers): what
    ``doctor`` reports and ``run`` refuses before it starts, rather than failing at the first
    training or decision, or silently ignoring a misspelt ``[actions.params.lokc]``."""
    _check_machine_policy()
    return _check(settings)


def _check_machine_policy() -> None:
    """The machine policy's ``[engine]`` and ``[actions]`` tables checked on their own, so an
    error in them names the policy file — an administrator's to fix — and not the account's
    config file, which merely inherited it (the core layer checks the other tables so)."""
    from activesec.core.site import load_site

    policy = load_site()
    for table in ("defaults", "enforced"):
        given = {k: v for k, v in getattr(policy, table).items() if k in ("engine", "actions")}
        if not given:
            continue
        try:
            checked = table_settings(given)  # its own values, not the account's env
            cfg = _check(checked, policy_note=False)  # its own values
            gate = (_create_action(checked, "gate", dry_run=True)
                    if "gate" in checked.actions.params else None)
            if isinstance(gate, GateAction) and cfg.policy.gate_apps:
                # the names it picks among its own rules, whatever runs the gate
                _check_gate_apps(cfg.policy.gate_apps, gate)
        except ConfigError as exc:
            raise PolicyError(f"{exc.message} (from [{table}] in the machine policy "
                              f"{policy.path})", "; ".join(filter(None, (
                                  exc.hint, f"ask whoever manages this machine to fix "
                                  f"{policy.path}")))) from None
        except ValidationError as exc:  # the core layer checked these tables' shapes
            raise PolicyError(f"invalid machine policy {policy.path}: {exc}") from None


def _check(settings: Settings, *, policy_note: bool = True) -> EngineConfig:
    from activesec.actions import registry as actions
    from activesec.detectors import registry as detectors

    cfg = engine_config(settings, policy_note=policy_note)
    for key in ("pointer_detector", "keys_detector"):
        name = getattr(settings.train, key)
        if name:
            try:
                detectors.get(name)
            except ConfigError as exc:
                raise ConfigError(f"invalid configuration value for 'train.{key}': "
                                  f"{exc.message}", exc.hint) from None
    a = settings.actions
    known = actions.names()
    for level in ("on_notify", "on_lock", "on_gate"):
        for name in getattr(a, level):
            if name not in known:
                raise ConfigError(f"invalid configuration value for 'actions.{level}': "
                                  f"unknown action {name!r}", f"actions: {', '.join(known)}")
    for name in a.params:
        if name not in known:
            raise ConfigError(f"invalid configuration value for 'actions.params.{name}': "
                              f"no action is called {name!r}",
                              f"[actions.params.<action>] configures one of: {', '.join(known)}")
    # their parameters (gate rules, commands, …), also of an action no level runs yet: built
    # as dry-run twins, which touch nothing
    for name in dict.fromkeys([*a.on_notify, *a.on_lock, *a.on_gate, *a.params]):
        twin = _create_action(settings, name, dry_run=True)
        if isinstance(twin, GateAction) and name in a.on_gate:
            _check_gate_apps(cfg.policy.gate_apps, twin)
    return cfg


def _check_gate_apps(apps: list[str], gate: GateAction) -> None:
    """``gate_apps`` picks gate rules by name: a name no rule has would gate nothing."""
    names = [r.name for r in gate.rules]
    missing = [app for app in apps if app not in names]
    if missing:
        raise ConfigError(
            "invalid configuration value for 'engine.policy.gate_apps': no gate rule is called "
            + ", ".join(map(repr, missing)),
            f"name one of the [actions.params.gate] rules ({', '.join(names)}), or leave "
            "gate_apps out to gate them all" if names else
            "add rules = [{ name = ..., match = ... }] under [actions.params.gate]")


class _PluginScorer:
    """A plug-in detector as the agent scores with it: each batch in a thread of its own,
    waited for ``PLUGIN_SCORE_MAX_S`` at most. One that hung stopped the agent for good — no
    more scoring, recording or SIGTERM; now it is a ModelError, which refuses the model
    (:meth:`Agent._scoring_failed`), and the stuck call is left to finish."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def __getattr__(self, name: str) -> Any:
        return getattr(self.detector, name)

    def score(self, X: Any) -> np.ndarray:
        try:
            return np.asarray(call_within(lambda: self.detector.score(X), PLUGIN_SCORE_MAX_S,
                                          "activesec-plugin-score"))
        except Overdue:
            raise ModelError(
                f"{self.detector.who()} did not score {len(X)} rows within "
                f"{PLUGIN_SCORE_MAX_S:g} s", "fix the plug-in, or choose another detector"
            ) from None


def _bounded_plugin(model: ModalityModel) -> ModalityModel:
    """``model`` with its detector bounded in time when it is a plug-in (:class:`_PluginScorer`)."""
    from activesec.detectors.base import Detector

    det = model.detector
    if isinstance(det, Detector) and det._is_plugin():
        return dataclasses.replace(model, detector=_PluginScorer(det))
    return model


def _create_action(settings: Settings, name: str, dry_run: bool) -> Action:
    """Action ``name`` with its ``actions.params[name]`` (a ``dry_run`` there is the flag's)."""
    from activesec.actions import registry

    params = dict(settings.actions.params.get(name, {}))
    params.pop("dry_run", None)
    return registry.create(name, **params, dry_run=dry_run)


def _resume_left_gate(settings: Settings) -> str | None:
    """Resume what a killed agent left suspended when no level runs the gate any more (the
    gate action does it as it starts; an edit made meanwhile — `gate` taken out of on_gate —
    left the apps frozen for good); what was resumed, or None."""
    try:
        gate = _create_action(settings, "gate", dry_run=False)
        gate.start()
        gate.stop()
    except (ActiveSecError, OSError) as exc:
        log.warning("gate: cannot resume apps a previous agent left suspended: %s", exc)
        return None
    return gate.resumed_at_start if isinstance(gate, GateAction) else None


def build_actions(settings: Settings, dry_run: bool = False) -> dict[str, Action]:
    """One instance per action name used by any level, with ``actions.params[name]``; and
    the alert log when it is to log the agent's own events (``heartbeat_s``), also where no
    level reports to it."""
    a = settings.actions
    names = [*a.on_notify, *a.on_lock, *a.on_gate]
    if a.params.get("alertlog", {}).get("heartbeat_s") is not None:
        names.append("alertlog")
    return {name: _create_action(settings, name, dry_run) for name in dict.fromkeys(names)}


def status_path(paths: Paths) -> Any:
    return paths.run_dir / STATUS_FILE


def read_status(paths: Paths) -> dict[str, Any] | None:
    """The agent's last status (None when it never ran, or when the file is not the object it
    writes: bytes that are not UTF-8 or JSON of another shape, as a crash can leave)."""
    try:
        data = json.loads(status_path(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # ValueError: JSON and UTF-8 decoding
        return None
    if not isinstance(data, dict):
        return None
    if not isinstance(data.get("last_decision"), dict | None):
        data["last_decision"] = None
    return data


def default_loader(paths: Paths) -> Mapping[str, ModalityModel]:
    try:
        from activesec.service.models import load_each
    except ImportError as exc:  # pragma: no cover - until the model module is installed
        raise ModelError(f"model loading is not available: {exc}",
                         "update ActiveSec") from None
    return load_each(paths)


def subprocess_trainer(paths: Paths, settings: Settings, *, update: bool = False,
                       upgrade: bool = False, new: bool = False) -> None:
    """``activesec train`` (``--update``: the bounded drift update; ``--upgrade``: fallback
    models refitted against a newly installed background) in a child process, so the training
    libraries stay out of the always-on agent."""
    env = dict(os.environ)
    if paths.config_dir == paths.data_dir:  # a relocated home (ACTIVESEC_HOME): the child's too
        env["ACTIVESEC_HOME"] = str(paths.data_dir)
    argv = [sys.executable, "-m", "activesec.cli.main", "train", "--json"]
    argv += ["--update"] if update else ["--upgrade"] if upgrade else ["--new"] if new else []
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        lines = [ln.strip(" │╭╰╮╯─\t") for ln in proc.stderr.splitlines()]
        msg = ([ln for ln in lines if ln] or [f"exit code {proc.returncode}"])[-1]
        msg = msg.removeprefix("error: ")  # the child's own one-line error, once prefixed
        raise ModelError(f"automatic training failed: {msg}", "run `activesec train` to see why")


def _duration(seconds: float) -> str:
    """``3600`` -> "1 h", ``86400`` -> "24 h", ``90`` -> "2 min"."""
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{round(seconds / 60)} min"


def _since(trajectory: Sequence[TrustState], last: TrustState | None) -> list[TrustState]:
    """The states after ``last`` (all when it is None or has left the bounded trajectory)."""
    new: list[TrustState] = []
    for st in reversed(trajectory):
        if st is last:
            break
        new.append(st)
    return new[::-1]


def completed_at(ev: np.ndarray, t_end: int, settle_ns: int = 0) -> int:
    """When the input in batch ``ev`` showed that the action or window ending at ``t_end`` was
    complete: a release at its end ends a click at once; a keystroke window (``settle_ns`` > 0)
    needs an event that long after it; otherwise the first event after its end (the next
    movement, a switch from scrolling). Never before the batch's first event."""
    t = ev["t_ns"]
    lo, hi = int(np.searchsorted(t, t_end, "left")), int(np.searchsorted(t, t_end, "right"))
    if settle_ns:
        i = int(np.searchsorted(t, t_end + settle_ns, "left"))
    elif (ev["kind"][lo:hi] == Kind.BUTTON_UP).any():
        return t_end
    else:
        i = hi
    return int(t[i]) if i < len(t) else max(t_end, int(t[0]))


class ScreenWatch:
    """Is the session locked? Known after our own lock fired; see the module docstring.

    ``query`` asks the screensaver service (True active, False inactive, None no answer) and
    ``locker`` whether an X11 locker holds the display (same answers). By default the real
    ones: :class:`_ScreensaverQuery` and :class:`~activesec.capture.screenlock.X11LockerWatch`,
    which is event-driven and cheap to ask every second. A test passing its own ``query``
    gets no locker unless it passes one too, and no watching between locks unless
    ``watch_always``.

    ``locked``: a lock of ours took (unlocking it proves the owner: grace and full trust).
    ``saver_active``: the screen locked or blanked without a lock of ours — the screensaver
    service says so when asked every ``PASSIVE_POLL_S`` (at once when it announces a change),
    or, where no service answers, an X11 locker holds the display (the owner's own ``i3lock``,
    asked every second). Its end proves nothing (a blank screen
    wakes without a password), so trust goes on from where it was; meanwhile, as while
    ``locked``, input is withheld (:attr:`withholding`)."""

    def __init__(self, clock: Clock, query: Callable[[], bool | None] | None = None,
                 locker: Callable[[], bool | None] | None = None,
                 watch_always: bool | None = None) -> None:
        self.clock = clock
        self.locked = False
        self._since = 0
        self._query = query if query is not None else _ScreensaverQuery()
        self._locker = locker if locker is not None else (
            X11LockerWatch() if query is None else _cannot_tell)
        self._watch_always = query is None if watch_always is None else watch_always
        self._last_poll: int | None = None  # None: ask at the next update
        self._last_locker: int | None = None  # the locker, between locks of ours
        self._pending = False  # a lock fired, the screensaver has not said "active" yet
        self._by_locker = False  # locked, as a locker unknown to the screensaver service says
        self._saver_by_service = False  # between locks of ours: the service says active
        self._saver_by_locker = False  # between locks of ours: an X11 locker holds the display
        # a screensaver service answered since the agent started: only its "inactive" ends a
        # lock (its silence — a restart, a stuck GetActive, the bus gone — is no unlock)
        self._heard = False
        self._silent = False  # said so in the log: it stopped answering while we are locked
        self._saver_silence = _Silence()  # the screensaver on by itself went silent
        self._locker_silence = _Silence()  # ... the locker watch could not tell

    @property
    def saver_active(self) -> bool:
        """The screen locked or blanked without a lock of ours."""
        return self._saver_by_service or self._saver_by_locker

    @property
    def withholding(self) -> bool:
        """Input now is typed into a lock screen (a password) or wakes a screensaver: neither
        stored nor scored."""
        return self.locked or self.saver_active

    def lock_fired(self) -> None:
        self._pending = True
        self._by_locker = self._saver_by_locker = self._saver_by_service = False
        self._since = self.clock.monotonic_ns()
        self._last_poll = None  # ask at the next update

    def update(self, last_input_ns: int | None) -> bool:
        """Re-evaluate (call about once a second; asks at most that often); True while
        locked."""
        now = self.clock.monotonic_ns()
        if not (self._pending or self.locked):
            self._watch(now)
            return False
        if self._last_poll is not None and now - self._last_poll < 1_000_000_000:
            return self.locked
        self._last_poll = now
        if self._pending:
            # a lock command returns before the locker is up (loginctl only signals it): a
            # screensaver still inactive then is no unlock, and for LOCK_SETTLE_S not yet a lock
            # that failed — the screen counts as locked once it says so (or cannot say), or
            # once a locker it does not know holds the display. A service that answered
            # before and is silent now cannot say: counted locked, its next "inactive" would
            # be the owner's unlock — fresh trust for the stranger of a lock that never took
            answer = self._ask()
            if answer is True or (answer is None and not self._heard):
                self._pending, self.locked = False, True
            elif self._locker() is True:
                self._pending, self.locked, self._by_locker = False, True, True
                log.info("screen locked by a locker the screensaver service does not know")
            elif now - self._since >= LOCK_SETTLE_S * 1e9:
                self._pending = False
                log.warning("the screen did not lock: the screensaver stayed inactive")
            return self.locked
        if self._by_locker:
            # a locker held the display: only its letting go is the unlock (a probe that
            # cannot tell — a refused connection — is no unlock, whatever input resumes)
            if self._locker() is False:
                return self._unlocked("screen unlocked (the locker let go of the display)")
            return self.locked
        answer = self._ask()
        if answer is False:
            return self._unlocked("screen unlocked (screensaver reports inactive)")
        if answer is None and self._heard:
            # it answered before: the person typing at the lock screen while it restarts
            # (or hangs) is not the owner back — wait for its "inactive"
            if not self._silent:
                self._silent = True
                log.warning("the screensaver service does not answer: the screen counts as "
                            "locked until it says it is not (if it is unlocked, restart "
                            "the agent)")
            return self.locked
        # nothing answers: input resuming after the lock is the owner back — unless a locker
        # still holds the display (that input is a password typed into it)
        if answer is None and last_input_ns is not None \
                and last_input_ns - self._since >= UNLOCK_QUIET_S * 1e9 \
                and self._locker() is not True:
            return self._unlocked("screen assumed unlocked: input resumed after the lock")
        return self.locked

    def _ask(self) -> bool | None:
        answer = self._query()
        self._heard = self._heard or answer is not None
        self._silent = self._silent and answer is None
        return answer

    def _unlocked(self, why: str) -> bool:
        self.locked = self._by_locker = False
        log.info(why)
        return False

    def _watch(self, now: int) -> None:
        """Between locks of ours: has the screen locked or blanked by itself (or ended so)?"""
        if not self._watch_always:
            return
        # the X11 locker, where no screensaver service answers (a bare window manager): where
        # one does, it knows the desktop's own lock, and a full-screen game holding both grabs
        # in an override-redirect window would pass for a locker and go unscored
        if (not self._heard or self._saver_by_locker) and (
                self._last_locker is None or now - self._last_locker >= 1_000_000_000):
            self._last_locker = now
            self._watch_locker(now)
        changed = getattr(self._query, "changed", None)
        if callable(changed) and changed():
            self._last_poll = None  # the screensaver says it changed: ask it now
        every = 1_000_000_000 if self._saver_by_service else int(PASSIVE_POLL_S * 1e9)
        if self._last_poll is not None and now - self._last_poll < every:
            return
        self._last_poll = now
        answer = self._ask()
        if answer is None and self._saver_by_service:
            # silent (restarting, hung): a moment of it ends nothing — a password typed then
            # would be kept —, but this lock is the owner's own or a blank screen, watched for
            # privacy only: a service silent for PASSIVE_SILENCE_S (the bus gone) must not
            # switch scoring off for good
            if self._saver_silence.brief(now):
                return
            log.warning("the screensaver service stopped answering: input is scored again")
            answer = False
        self._saver_silence.end()
        active = answer is True
        if active != self._saver_by_service:
            self._saver_by_service = active
            log.info("the screensaver came on: input is neither stored nor scored until it "
                     "goes off" if active else "the screensaver went off")

    def _watch_locker(self, now: int) -> None:
        """An X11 locker no screensaver service knows (``xss-lock -- i3lock`` on a bare window
        manager, or the agent restarted under its own i3lock): what is typed into it is a
        password."""
        held = self._locker()
        if held is True:
            self._locker_silence.end()
            if not self._saver_by_locker:
                self._saver_by_locker = True
                log.info("a screen locker holds the display: input is neither stored nor "
                         "scored until it lets go")
            return
        if not self._saver_by_locker:
            return
        if held is None and self._locker_silence.brief(now):  # cannot tell (the X server
            return  # refused us): as the service's silence
        self._saver_by_locker = False
        self._locker_silence.end()
        log.info("the screen locker let go of the display")

    def close(self) -> None:
        """Let go of the locker watch's X connection and the screensaver's signal listener."""
        for part in (self._locker, self._query):
            close = getattr(part, "close", None)
            if callable(close):
                close()


class _Silence:
    """How long a source watched between locks of ours has not answered: a moment of it ends
    nothing (a password typed then would be kept), ``PASSIVE_SILENCE_S`` of it does (the
    watch is for privacy, and must not switch scoring off for good)."""

    def __init__(self) -> None:
        self._since: int | None = None

    def brief(self, now: int) -> bool:
        """Silent at ``now``: True while the silence has lasted less than PASSIVE_SILENCE_S."""
        if self._since is None:
            self._since = now
        return now - self._since < PASSIVE_SILENCE_S * 1e9

    def end(self) -> None:
        self._since = None


def _cannot_tell() -> bool | None:
    return None


def subprocess_updater(paths: Paths, settings: Settings) -> None:
    subprocess_trainer(paths, settings, update=True)


def subprocess_upgrader(paths: Paths, settings: Settings) -> None:
    subprocess_trainer(paths, settings, upgrade=True)


def subprocess_adder(paths: Paths, settings: Settings) -> None:
    subprocess_trainer(paths, settings, new=True)


class _ScreensaverQuery:
    """Is the screen locked? Linux: ``GetActive`` of the session's screensaver
    (:func:`activesec.actions.lock.screensaver_active`), the service that answered last asked
    first; Windows: whether the input desktop is Winlogon's
    (:func:`~activesec.actions.lock.windows_session_locked`); macOS: the window server's
    ``CGSSessionScreenIsLocked`` (:func:`~activesec.actions.lock.macos_session_locked`).
    None when unanswerable. ``platform`` and ``ask`` are test seams (``ask`` replaces the
    Windows or macOS question)."""

    def __init__(self, platform: str = sys.platform,
                 ask: Callable[[], bool | None] | None = None) -> None:
        self._answered: tuple[str, str, str] | None = None
        self._platform = platform
        self._ask = ask
        self._listener: Any = None  # activesec.actions._dbus.SignalListener
        self._listening_since = 0.0

    def changed(self) -> bool:
        """Linux: a screensaver announced a change (its ``ActiveChanged`` signal) since the
        last look — ask it now rather than at the next poll, so the owner's own lock is known
        at once, not up to ``PASSIVE_POLL_S`` later. Listening starts at the first look; a
        listener that ended (the bus restarted) is started again at most once a minute."""
        if self._platform != "linux" or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return False
        now = time.monotonic()
        if self._listener is None or (not self._listener.alive
                                      and now - self._listening_since >= 60.0):
            from activesec.actions._dbus import SignalListener

            self._listener, self._listening_since = SignalListener("ActiveChanged"), now
        return bool(self._listener.fired())

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def __call__(self) -> bool | None:
        if self._platform in ("win32", "darwin"):
            from activesec.actions import lock

            ask = self._ask or (lock.windows_session_locked if self._platform == "win32"
                                else lock.macos_session_locked)
            try:
                return ask()
            except Exception:  # never let the platform's API stop the agent: fall back on input
                return None
        if self._platform != "linux" or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return None
        from activesec.actions.lock import screensaver_active

        try:
            active, self._answered = screensaver_active(first=self._answered)
        except Exception:  # never let a bus problem stop the agent: fall back on input
            return None
        return active


class _Tee(CaptureBackend):
    """The real backend, with every delivered batch also handed to ``also`` — or to neither
    while ``withhold`` (set by the agent's thread: the screen is locked, so the input is a
    password typed into the lock screen, or wakes a screensaver): such batches are only
    counted, and their last time kept (the unlock may be known by input resuming)."""

    def __init__(self, inner: CaptureBackend, also: Sink) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self._also = also
        self.withhold = False
        self.withheld = 0
        self.last_withheld_ns: int | None = None

    @classmethod
    def probe(cls) -> Any:  # pragma: no cover - the inner backend was probed
        raise NotImplementedError

    def start(self, sink: Sink) -> None:
        def both(batch: np.ndarray) -> None:
            if self.withhold:
                if len(batch):
                    self.withheld += len(batch)
                    self.last_withheld_ns = int(batch["t_ns"].max())
                return
            sink(batch)
            self._also(batch)

        self.inner.start(both)

    def stop(self) -> None:
        self.inner.stop()

    def info(self) -> Any:
        return self.inner.info()

    @property
    def error(self) -> BaseException | None:
        return self.inner.error

    @error.setter
    def error(self, value: BaseException | None) -> None:
        pass  # the base class initialises it; the inner backend owns it


@dataclass
class AgentSummary:
    """What :meth:`Agent.run` returns."""

    state: str
    stats: LiveStats | None
    decisions: list[dict[str, Any]] = field(default_factory=list)  # the last KEEP_DECISIONS
    reason: str | None = None
    n_decisions: int = 0


class Agent:
    """The foreground agent (module docstring)."""

    def __init__(self, paths: Paths, settings: Settings, backend: CaptureBackend, clock: Clock,
                 *, dry_run: bool = False, owner: str | None = None,
                 loader: ModelLoader | None = None, trainer: Trainer | None = None,
                 updater: Trainer | None = None, upgrader: Trainer | None = None,
                 adder: Trainer | None = None,
                 app_probe: AppProbe | None = None,
                 screen: ScreenWatch | None = None,
                 reload_settings: Callable[[], Settings] | None = None) -> None:
        self.paths = paths
        self.settings = settings
        self.clock = clock
        self.dry_run = dry_run
        self.owner = owner or settings.user or "owner"
        self.cfg = agent_engine_config(settings)
        self.actions = build_actions(settings, dry_run)  # bad action config fails here
        self.reload_settings = reload_settings
        self._started_as = settings  # what RESTART_SECTIONS run with until a restart
        self._config_stamp = config_stamp(paths)
        self.config_note: str | None = None  # a configuration change refused or not yet applied
        self._applied_note: str | None = None  # config_note as the last applied change left it
        self.loader = loader or default_loader
        self.trainer = trainer or subprocess_trainer
        self.updater = updater or subprocess_updater
        self.upgrader = upgrader or subprocess_upgrader
        self.adder = adder or subprocess_adder  # a model for a modality enrolled later
        self._next_drift = 0
        self._bg_stamp: tuple[tuple[str, int, int], ...] | None = None
        self._upgrade_delay_s = UPGRADE_RETRY_S  # the next failure's back-off
        self._upgrade_retry_ns: int | None = None  # monotonic: when a failed upgrade is retried
        self.upgrade_retry: dict[str, Any] | None = None  # the status file's ``upgrade_retry``
        self.screen = screen or ScreenWatch(clock)
        self.log = DecisionLog(decisions_path(paths))
        self.history = TrustHistory(history_path(paths))
        self.backend = backend
        self._tee = _Tee(backend, self._enqueue)
        self.runner = CaptureRunner(self._tee, paths.database, settings, clock,
                                    app_probe=app_probe, owner=self.owner)
        self._kinds = CaptureRunner._kept_kinds(settings)
        self.handover = HandOver(QUEUE_MAX_EVENTS)
        self.engine: Engine | None = None
        self.models: dict[str, ModalityModel] = {}
        self.reason: str | None = None
        self.enrolment: dict[str, Any] = {}
        self.training = "idle"
        self._train_thread: threading.Thread | None = None
        self._train_after = 0
        self._new_delay_s = TRAIN_RETRY_S  # the next failed `train --new`'s wait
        self._wipe_gen: int | None = None
        self._tried_stamp: tuple[tuple[str, int, int], ...] | None = None
        self._next_status = 0
        self._next_house = 0
        self._seen_devices: list[Any] | None = None  # the backend's list the scorer knows
        self._last_decision: dict[str, Any] | None = None
        # the newest in memory (all of them are in decisions.jsonl): an agent runs for weeks
        self.decisions: deque[dict[str, Any]] = deque(maxlen=KEEP_DECISIONS)
        self.n_decisions = 0
        self.n_scored = 0  # trust updates since the agent started (an unlock resets trust's)
        self.latencies_ms: deque[float] = deque(maxlen=KEEP_LATENCIES)
        self._stats: LiveStats | None = None
        self._started_wall = clock.wall_ns()
        self._running = False
        self._gated_by: Decision | None = None  # the gate decision in force, until restored
        self._due: int | None = None  # when silence completes an action (Engine.next_flush_ns)
        self.store_error: str | None = None  # input cannot be stored (a full disk), since when
        self._write_errors = 0
        self._failing_since: tuple[int, int] = (0, 0)  # (stored, dropped) before the failure
        self._next_hold = 0
        self._next_beat = 0  # monotonic: the next agent event "alive" (heartbeat_s)
        self._was_paused = False  # the state the last agent event "paused"/"resumed" told

    # ------------------------------------------------------------------------------ public
    def run(self, duration_s: float | None = None,
            stop_event: threading.Event | None = None,
            on_started: Callable[[], None] | None = None) -> AgentSummary:
        """Run until ``duration_s``, ``stop_event`` or :meth:`stop`; flush and report.
        ``on_started`` runs once capture is running (store open, backend started)."""
        for a in self.actions.values():
            a.start()
        gate = self.actions.get("gate")
        left = gate.resumed_at_start if isinstance(gate, GateAction) else (
            _resume_left_gate(self.settings) if not self.dry_run else None)
        self._running = True
        self._load_models()
        self._agent_event("start")
        if left:  # the decision log, alert log and SIEM saw a gate that never ended: end it
            self._handle([Decision(
                level="restore", state=self.state.value, trust=MAX_TRUST,
                t_wall_ns=self.clock.wall_ns(),
                reason="gate lifted: the previous agent stopped without lifting it (killed or "
                       f"crashed); {left}", evidence={})])
        try:
            stats = self.runner.run(duration_s, stop_event, on_tick=self._tick, tick_s=TICK_S,
                                    wake=self.handover.wake if WAKE_ON_INPUT else None,
                                    next_wait_s=self._next_wait_s, on_started=on_started)
            self._stats = stats
            self._drain(final=True)
            self._housekeep(final=True)
        finally:
            self._running = False
            if self._gated_by is not None:  # the apps are resumed: the logs (a SIEM) say so
                try:
                    trust = self.engine.trust.trust if self.engine is not None else (
                        self._gated_by.trust)
                    self._lift_gate(float(trust), self.state.value, "the agent stopped")
                except Exception:  # stopping the actions below still resumes the apps
                    log.exception("recording that the gate is lifted failed")
            err = self.runner.error
            self._agent_event("stop", reason="stopped" if err is None else
                              getattr(err, "message", None) or str(err) or type(err).__name__)
            for a in self.actions.values():
                a.stop()
            self.history.close()
            self.screen.close()
            self._write_status()
        if self.runner.error is not None:
            raise self.runner.error
        return AgentSummary(self.state.value, self._stats, list(self.decisions), self.reason,
                            self.n_decisions)

    def stop(self) -> None:
        self.runner.stop()

    @property
    def state(self) -> AgentState:
        if self._stats is not None and self._stats.paused:
            return AgentState.PAUSED
        if self.engine is None:
            return AgentState.ENROLLING
        if self.screen.withholding:
            return AgentState.LOCKED
        return self.engine.status().state

    def status(self) -> dict[str, Any]:
        """The status file's content (shape documented in the CLI's run --help)."""
        st = self._stats
        eng = self.engine.status() if self.engine is not None else None
        return {
            "running": self._running,
            "pid": os.getpid(),
            "updated_wall_ns": self.clock.wall_ns(),
            "started_wall_ns": self._started_wall,
            "state": self.state.value,
            "trust": None if eng is None or eng.n_updates == 0 else round(eng.trust, 2),
            "scores": 0 if eng is None else eng.n_updates,
            "trust_minute": self.history.open_minute(),  # not in the history file yet
            "reason": self.reason,
            "dry_run": self.dry_run,
            "backend": self.backend.name,
            "models": sorted(self.models),
            # pointer events since the agent started of a kind of device with no model yet
            "unscored_pointer": ({} if self.engine is None
                                 else dict(self.engine.scorer.unmodelled_pointer)),
            "training": self.training,
            "enrolment": self.enrolment,
            "screen_locked": self.screen.locked,
            "screensaver_active": self.screen.saver_active,
            "withheld_locked": self._tee.withheld,
            "events": 0 if st is None else st.received,
            "stored": 0 if st is None else st.stored,
            "dropped": (0 if st is None else st.dropped) + self.queue_dropped,
            "last_decision": self._last_decision,
            "decisions": self.n_decisions,
            "latency_ms": self.latency_summary(),
            "gate": self._gate_status(),
            "config": self.config_note,
            "upgrade_retry": self.upgrade_retry,
            "store_error": self.store_error,
        }

    def latency_summary(self) -> dict[str, float] | None:
        """Completing input -> trust updated (module docstring) over the newest scores:
        ``p50``, ``p99``, ``max`` (ms) and ``n``; None before the first score."""
        if not self.latencies_ms:
            return None
        a = np.fromiter(self.latencies_ms, float)
        p50, p99 = np.percentile(a, [50, 99])
        return {"p50": round(float(p50), 2), "p99": round(float(p99), 2),
                "max": round(float(a.max()), 2), "n": len(a)}

    # ------------------------------------------------------------------------------ capture side
    def _enqueue(self, batch: np.ndarray) -> None:
        """Backend thread: never blocks; overflow is counted (:mod:`.handover`)."""
        if self._kinds is not None:
            batch = batch[np.isin(batch["kind"], self._kinds)]
        self.handover.put(batch, self.clock.monotonic_ns())

    @property
    def queue_dropped(self) -> int:
        return self.handover.dropped

    # ------------------------------------------------------------------------------ the tick
    def _tick(self, stats: LiveStats) -> None:
        before, self._stats = self._stats, stats
        self._watch_store(stats)
        now = self.clock.monotonic_ns()
        # the writer began a new session: a wipe (within its 0.25 s poll) — drop the models,
        # the gate and the logs now, not at the next housekeeping round up to 10 s later
        wiped = (before is not None and before.session_id is not None
                 and stats.session_id != before.session_id)
        if now >= self._next_house or wiped:
            self._next_house = now + int(HOUSEKEEP_EVERY_S * 1e9)
            self._housekeep()
            self._check_config()
            if self.engine is not None:  # devices plugged in since
                self.engine.scorer.devices.update(self._devices())
        if self.engine is not None:
            # a device plugged in (a tablet, a Bluetooth pen back after a resume) before its
            # first events are scored: up to a housekeeping round later, they were scored as
            # an unknown device's — by the mouse's model, whatever the device
            seen = self.backend.info().devices
            if seen != self._seen_devices:
                self._seen_devices = seen
                self.engine.scorer.devices.update(self._devices())
        self._drain(final=False)
        eng = self.engine
        due = eng.next_flush_ns() if eng is not None else None
        status_due = now >= self._next_status
        # actions completed by silence as soon as they are (the loop wakes then), time-based
        # rules (restore, grace, unlock) and the gate's hold once a second
        if eng is None and status_due:  # enrolling: a locked screen's input is no enrolment
            self._watch_screen(None)
        if eng is not None and (status_due or (due is not None and due <= now)):
            last = eng.trajectory[-1] if eng.trajectory else None
            out = eng.tick(self._context())
            updates = _since(eng.trajectory, last)
            if updates and due is not None:  # silence completed them at ``due``
                done = self.clock.monotonic_ns()
                self.latencies_ms.extend([(done - due) / 1e6] * len(updates))
            self._observe(updates)
            self._handle(out)
            self._hold_gate(now)
            due = eng.next_flush_ns() if self.engine is eng else None
        self._due = due  # for the runner's wait, until the next pass
        if status_due:
            self._next_status = now + int(STATUS_EVERY_S * 1e9)
            self.history.tick(self.clock.wall_ns() / 1e9)
            self._write_status()
        if self._beats() is not None:  # nothing on the tick's path when they are off
            # a resume shows once the engine has ticked without the pause (a status tick)
            if (paused := self.state is AgentState.PAUSED) != self._was_paused:
                self._was_paused = paused
                self._agent_event("paused" if paused else "resumed")
            elif now >= self._next_beat:
                self._agent_event("alive")

    def _beats(self) -> AlertLogAction | None:
        """The alert log when ``[actions.params.alertlog] heartbeat_s`` asks it for the agent's
        own events (alertlog's docstring), else None."""
        beats = self.actions.get("alertlog")
        return beats if isinstance(beats, AlertLogAction) and beats.heartbeat_s else None

    def _agent_event(self, event: str, **extra: Any) -> None:
        """The agent's start, stop, pause, resume and heartbeat to the alert log and syslog,
        when they are asked for (:meth:`_beats`)."""
        beats = self._beats()
        if beats is None or beats.heartbeat_s is None:
            return
        self._next_beat = self.clock.monotonic_ns() + int(beats.heartbeat_s * 1e9)
        eng = self.engine.status() if self.engine is not None else None
        st = self._stats
        facts = {
            "state": self.state.value,
            "trust": None if eng is None or eng.n_updates == 0 else round(eng.trust, 2),
            "models": sorted(self.models),
            "backend": self.backend.name,
            "pid": os.getpid(),
            "version": __version__,
            "decisions": self.n_decisions,
            "stored": 0 if st is None else st.stored,
            "dropped": (0 if st is None else st.dropped) + self.queue_dropped,
            "store_error": self.store_error,  # a full disk: input judged but not kept
            "started_wall_ns": self._started_wall,
            "t_wall_ns": self.clock.wall_ns(),
            **extra,
        }
        try:
            res = beats.agent_event(event, facts)
        except Exception:  # a report of the agent's life must never end it
            log.exception("logging the agent's %s failed", event)
            return
        if not res.ok:
            log.warning("agent %s: %s", event, res.detail)

    def _next_wait_s(self) -> float:
        """Until silence completes an action (:meth:`Engine.next_flush_ns`), for the runner's
        wait; ``TICK_S`` when nothing waits for silence or it is already due (the tick that
        just ran flushed what it could: never spin)."""
        due = self._due if self.engine is not None else None
        if due is None:
            return TICK_S
        left = (due - self.clock.monotonic_ns()) / 1e9
        return left if left > 0 else TICK_S

    def _context(self) -> Context:
        eng = self.engine
        last = eng.scorer.last_event_ns if eng is not None else None
        withheld = self._tee.last_withheld_ns  # input at the lock screen reaches no scorer
        if withheld is not None and (last is None or withheld > last):
            last = withheld
        locked = self._watch_screen(last)
        paused = self._stats.paused if self._stats is not None else False
        return Context(screen_locked=locked, paused=paused, enrolling=eng is None)

    def _watch_screen(self, last_input_ns: int | None) -> bool:
        """Ask the screen watch (True: our lock holds), and let the capture tee withhold
        input exactly while the screen is locked."""
        locked = self.screen.update(last_input_ns)
        self._tee.withhold = self.screen.withholding
        return locked

    def _drain(self, final: bool) -> None:
        ev = self.handover.take(self.clock.monotonic_ns(), force=final)
        eng = self.engine
        if eng is None or not (len(ev) or final):
            return
        ctx = self._context()
        last = eng.trajectory[-1] if eng.trajectory else None
        try:
            out = eng.feed(ev, ctx) if len(ev) else []
            if final:
                out += eng.finish(ctx)
        except ModelError as exc:
            self._scoring_failed(exc)
            return
        updates = _since(eng.trajectory, last)
        if not final:  # live input (a non-final drain always has some); shutdown is no reaction
            self._time_updates(updates, ev)
        self._observe(updates)
        self._handle(out)

    def _scoring_failed(self, exc: ModelError) -> None:
        """A model that failed while scoring — a plug-in detector's bug, said in one line by the
        detector base class — is refused as one that fails its checks is: the agent goes on
        recording and the other models on scoring, `status` says why, and automatic training
        waits ``TRAIN_RETRY_S``. It ended the agent ("stopped … not restarted by itself")."""
        from activesec.detectors.base import Detector

        broken = [m for m, model in self.models.items()
                  if isinstance(model.detector, _PluginScorer)
                  or (isinstance(model.detector, Detector) and model.detector._is_plugin())]
        keep = {m: v for m, v in self.models.items() if m not in broken} if broken else {}
        log.error("model refused while scoring: %s", exc)
        why = f"model refused: {exc}"
        self._set_models(keep, f"{why}; scoring with {', '.join(sorted(keep))} — run "
                               "`activesec train`" if keep else why)
        self._train_after = self.clock.monotonic_ns() + int(TRAIN_RETRY_S * 1e9)

    def _observe(self, updates: list[TrustState]) -> None:
        """Every trust update, whatever completed it, goes into the trust history (and the count
        of scores since the agent started)."""
        wall_s = self.clock.wall_ns() / 1e9
        self.n_scored += len(updates)
        for st in updates:
            self.history.observe(wall_s, st.trust)

    def _time_updates(self, updates: list[TrustState], ev: np.ndarray) -> None:
        """Record completing input -> now (module docstring) for the trust ``updates`` the feed
        of ``ev`` made."""
        now = self.clock.monotonic_ns()
        new = []
        for st in updates:
            model = self.models.get(st.modality)
            settle = int(model.settle_s * 1e9) if model is not None else 0
            new.append((now - completed_at(ev, st.t_ns, settle)) / 1e6)
        self.latencies_ms.extend(new)

    # ------------------------------------------------------------------------------ decisions
    def _fire(self, names: list[str], op: str, d: Decision) -> list[ActionOutcome]:
        out = []
        for name in names:
            act = self.actions[name]
            r = act.fire(d) if op == "fire" else act.revert(d)
            out.append(ActionOutcome(name, op, r.ok, r.detail))
            (log.info if r.ok else log.warning)("action %s %s: %s", name, op, r.detail)
        return out

    def _handle(self, decisions: list[Decision]) -> None:
        a = self.settings.actions
        for d in decisions:
            log.warning("decision %s (trust %.1f): %s", d.level, d.trust, d.reason)
            if d.level == "restore":
                outcomes = self._fire(list(a.on_gate), "revert", d)
            elif d.level == "lock":
                outcomes = self._fire(list(a.on_lock), "fire", d)
                lockers = [o for o in outcomes if o.name == "lock"] or [
                    o for o in outcomes if self.actions[o.name].locks_session]
                if lockers and all(not o.ok for o in lockers):
                    why = "; ".join(o.detail for o in lockers)
                    failed = dataclasses.replace(d, reason=f"LOCK FAILED ({why}); {d.reason}")
                    rest = [n for n in a.on_notify if n not in a.on_lock]
                    notify = [n for n in a.on_notify if n in a.on_lock and n != "lock"]
                    outcomes += self._fire(rest + notify, "fire", failed)
                    log.error("lock failed: %s", why)
                elif lockers and not self.dry_run:
                    self.screen.lock_fired()
            else:
                names = a.on_notify if d.level == "notify" else a.on_gate
                outcomes = self._fire(list(names), "fire", d)
            if d.level == "gate":
                self._gated_by = d
                self._next_hold = self.clock.monotonic_ns() + int(HOLD_GATE_EVERY_S * 1e9)
            elif d.level == "restore":
                self._gated_by = None
            self._record(d, outcomes)

    def _record(self, d: Decision, outcomes: list[ActionOutcome]) -> None:
        """Append ``d`` and what the actions did to the decision log and the status."""
        n = self.n_scored
        try:
            rec = self.log.append(d, outcomes, dry_run=self.dry_run,
                                  extra={"scores_so_far": n})
        except OSError as exc:  # a full disk must not stop the protection itself
            rec = record(d, outcomes, dry_run=self.dry_run, extra={"scores_so_far": n})
            log.error("cannot append to %s (%s): the decision is kept in memory and in "
                      "the status file only", self.log.path, exc.strerror or exc)
        self.decisions.append(rec)
        self.n_decisions += 1
        self._last_decision = {k: rec[k] for k in ("level", "state", "trust", "t_wall_ns",
                                                   "reason", "actions")}
        # why trust fell, for `status`: the features of the last scored action or window that
        # lay furthest from the owner's profile (names and spreads only)
        evidence = rec.get("evidence") or {}
        self._last_decision["deviating_features"] = evidence.get("deviating_features") or []

    def _hold_gate(self, now: int) -> None:
        """While gated, apply the gate again (module docstring); record what it caught."""
        d, eng = self._gated_by, self.engine
        if d is None or eng is None or not eng.policy.gated or self.dry_run \
                or now < self._next_hold:
            return
        self._next_hold = now + int(HOLD_GATE_EVERY_S * 1e9)
        outcomes = []
        for name in self.settings.actions.on_gate:
            r = self.actions[name].hold_guarded(d)
            if r is not None:
                outcomes.append(ActionOutcome(name, "fire", r.ok, r.detail))
                (log.info if r.ok else log.warning)("action %s hold: %s", name, r.detail)
        if not outcomes:
            return
        since = time.strftime("%H:%M:%S", time.localtime(d.t_wall_ns / 1e9))
        trust = eng.trust.trust
        held = Decision(
            level="gate", state=eng.policy.state.value, trust=float(trust),
            t_wall_ns=self.clock.wall_ns(),
            reason=f"still gated since {since} ({d.reason}), trust now {trust:.1f}: "
                   "caught gated apps started or resumed since",
            evidence={"gated_since_wall_ns": d.t_wall_ns, "gate_reason": d.reason,
                      **{k: d.evidence[k] for k in ("apps", "thresholds") if k in d.evidence}})
        log.warning("decision gate (trust %.1f): %s", held.trust, held.reason)
        self._record(held, outcomes)

    def _gate_status(self) -> dict[str, Any] | None:
        """What is gated now, since when and why (the status file's ``gate``); None if not."""
        d = self._gated_by
        if d is None:
            return None
        c = self.cfg.policy
        apps = [app for name in self.settings.actions.on_gate
                if isinstance(act := self.actions[name], GateAction) for app in act.held()]
        until = f"trust stays >= {c.restore_above:g} for {c.restore_after_s:g} s"
        eng = self.engine
        if eng is not None and eng.policy.trust is None:
            # after an unlock trust is full, but the minute counts from the first action judged
            # since: a parent who unlocked and walked away left the gate in place, unexplained
            until += (" of your input, counted from your first action judged (none since the "
                      "unlock or the model's reload yet)")
        return {"since_wall_ns": d.t_wall_ns, "reason": d.reason, "trust_at_gate": d.trust,
                "apps": apps, "dry_run": self.dry_run, "until": until}

    # ------------------------------------------------------------------------------ models
    def _models_stamp(self) -> tuple[tuple[str, int, int], ...]:
        """Names, sizes and mtimes of the model folders' files: reload only when they changed
        (a refused model is not re-read, and re-logged, every few seconds). Loose files beside
        them (a background population, the drift state) and staging folders are not models."""
        from activesec.service.models import model_dirs

        try:
            dirs = model_dirs(self.paths)  # with a model a stopped swap left as .old-<name>
        except OSError:
            return ()
        return self._files_stamp(f for m in dirs for f in sorted(m.rglob("*")))

    @staticmethod
    def _files_stamp(files: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
        """(name, size, mtime) of those of ``files`` that exist."""
        out = []
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f), st.st_size, st.st_mtime_ns))
        return tuple(out)

    def _load_models(self) -> None:
        self._tried_stamp = self._models_stamp()
        from activesec.service.models import model_dirs

        # one directory per modality (loose files such as an installed background are not models)
        if not model_dirs(self.paths):
            self._set_models({}, "no model yet: enrolling")
            return
        try:
            loaded = self.loader(self.paths)
        except ActiveSecError as exc:
            self._set_models({}, f"model refused: {exc}")
            log.warning("model refused, enrolment continues: %s", exc)
            return
        models = {m: _bounded_plugin(model) for m, model in loaded.items()}
        refused = list(getattr(loaded, "refused", []))  # load_each: the ones that failed checks
        why = ""
        if refused:
            why = "; ".join(f"{name}: {exc}" for name, exc in refused)
            log.warning("model refused: %s", why)
        if not models:
            self._set_models({}, f"model refused: {why}" if refused else "no model yet: enrolling")
            return
        self._set_models(models, f"model refused: {why}; scoring with "
                                 f"{', '.join(sorted(models))} — run `activesec train`"
                         if refused else None)
        log.info("models loaded: %s", ", ".join(sorted(models)))

    def _set_models(self, models: dict[str, ModalityModel], reason: str | None) -> None:
        before = self.engine
        self.models = models
        self.reason = reason
        self.engine = Engine(models, self.cfg, devices=self._devices(), clock=self.clock) \
            if models else None
        if before is not None and self.engine is not None:
            # new models (by hand, a drift update) or settings: not full trust for whoever is
            # at the keyboard — a stranger could otherwise run `activesec train` to be trusted
            self.engine.trust.carry(before.trust)
            self.engine.policy.carry(before.policy)  # cool-downs, escalation, grace
        if self._gated_by is None:
            return
        if self.engine is not None:  # new models (a drift update): the gate stays until trust
            self.engine.policy.carry_gate()  # recovers, as the old policy would have required
            return
        # no model left (a wipe, deleted models): nothing can ever restore by evidence
        trust = before.trust.trust if before is not None else self._gated_by.trust
        self._lift_gate(float(trust), AgentState.ENROLLING.value,
                        f"{reason or 'no model'} (no model left to judge trust by)")

    def _lift_gate(self, trust: float, state: str, why: str) -> None:
        """Restore the gated apps now, with a restore decision that says ``why`` (the decision
        log, the alert log and syslog record it as the gate's end)."""
        assert self._gated_by is not None
        self._handle([Decision(
            level="restore", state=state, trust=trust, t_wall_ns=self.clock.wall_ns(),
            reason=f"gate lifted: {why}",
            evidence={"gated_since_wall_ns": self._gated_by.t_wall_ns,
                      "gate_reason": self._gated_by.reason})])

    def _devices(self) -> dict[int, DeviceType]:
        """Device index -> type, as the backend knows them now (some learn them once started).
        With ``engine.scoring.injected = "score"`` a virtual (XTEST, uinput) pointer is scored
        as a mouse: injected input is then meant to be judged like any other."""
        score_virtual = self.cfg.scoring.injected == "score"
        out = {}
        for d in self.backend.info().devices:
            t = DeviceType(int(d.type))
            out[d.index] = DeviceType.MOUSE if score_virtual and t == DeviceType.VIRTUAL else t
        return out

    def _housekeep(self, final: bool = False) -> None:
        from activesec.service.train import enrolment_counts, enrolment_since
        from activesec.store.db import Store

        try:
            # every HOUSEKEEP_EVERY_S: no page-by-page integrity check, counters only
            store = Store.open(self.paths.database, check=False)
        except ActiveSecError as exc:
            log.debug("store not readable for housekeeping: %s", exc)
            return
        counted: tuple[int, int] | None = None
        try:
            gen = store.wipe_generation()
            try:
                counted = enrolment_counts(store, self.owner, enrolment_since(self.paths))
            except ActiveSecError as exc:  # a damaged enrolment.json: training says the same
                if self.engine is None:
                    self.reason = f"cannot count enrolment data: {exc}"
        finally:
            store.close()
        if self._wipe_gen is not None and gen != self._wipe_gen:
            log.warning("store wiped: models dropped, decision log and trust history cleared, "
                        "enrolling again")
            self.log.clear()
            self.history.clear()
            self.decisions.clear()
            self.n_decisions = 0
            self._last_decision = None
            self._set_models({}, "wiped: enrolling again")
        self._wipe_gen = gen
        keep_reserve(self.paths)  # again once a full disk has space: `pause` needs it there
        if counted is None:
            return
        ptr, keys = counted
        e = self.settings.enrol
        progress = max(min(1.0, ptr / e.pointer_events), min(1.0, keys / e.keystrokes))
        self.enrolment = {"pointer_events": ptr, "pointer_needed": e.pointer_events,
                          "keystrokes": keys, "keystrokes_needed": e.keystrokes,
                          "progress": round(progress, 4)}
        if final:
            return
        if self.engine is not None and not self.paths.models_dir.is_dir():
            self._set_models({}, "models deleted: enrolling again")
        now = self.clock.monotonic_ns()
        if self.engine is None and self._train_thread is None:
            if self._models_stamp() != self._tried_stamp:
                self._load_models()  # a model trained elsewhere (`activesec train`)
            if (self.engine is None and self.settings.train.auto and progress >= 1.0
                    and now >= self._train_after):
                self._start_training()
        elif self._train_thread is not None:
            if not self._train_thread.is_alive():
                self._train_thread = None
                if self.training == "done":
                    self._load_models()
        elif self.engine is not None and self._models_stamp() != self._tried_stamp:
            # `activesec train` run by hand (a new model) or `train --reset` (none: enrolling
            # again): the agent went on scoring with the model it had loaded until restarted
            self._load_models()
        elif self.engine is not None and self._new_modality_due(ptr, keys, now):
            self._start_training("new")
        elif self.engine is not None and self._upgrade_due():
            self._start_training("upgrade")
        elif self.engine is not None and self._drift_due():
            self._start_training("update")

    def _check_config(self) -> None:
        """Apply an edited config file or machine policy (module docstring, *settings*)."""
        if self.reload_settings is None:
            return
        stamp = config_stamp(self.paths)
        if stamp == self._config_stamp:
            return
        if self._gated_by is not None:  # the gate action holds the suspended apps: keep it
            self._note_pending(stamp)
            return
        self._config_stamp = stamp
        actions: dict[str, Action] = {}
        try:
            new = self.reload_settings()
            check_settings(new)
            cfg = agent_engine_config(new)
            actions = build_actions(new, self.dry_run)
            for a in actions.values():  # e.g. an alert log path that cannot be opened
                a.start()
        except Exception as exc:  # whatever it is, the running protection must not end here
            if not isinstance(exc, ActiveSecError):
                log.exception("reloading the configuration failed")
            for a in actions.values():
                a.stop()
            self.config_note = _not_applied(exc)
            log.error("%s", self.config_note)
            return
        old, self.settings = self.settings, new
        for a in self.actions.values():
            a.stop()
        self.actions = actions
        changed = [k for k in type(new).model_fields if getattr(new, k) != getattr(old, k)]
        # against what runs since the start: an edit undone needs no restart any more
        later = [k for k in RESTART_SECTIONS if getattr(new, k) != getattr(self._started_as, k)]
        if cfg != self.cfg:
            self.cfg = cfg
            if self.engine is not None:  # scoring, trust or policy changed: trust starts afresh
                self._set_models(self.models, self.reason)
        self.config_note = self._applied_note = (
            f"{', '.join(later)} settings changed: they apply when the agent is restarted"
            if later else None)
        log.info("configuration reloaded (%s changed)%s", ", ".join(changed) or "nothing",
                 f"; {self.config_note}" if later else "")

    def _note_pending(self, stamp: tuple[tuple[str, int, int], ...]) -> None:
        """While gated, an edit waits; the status says whether it is valid (an invalid one
        would not apply after the gate either) or, undone, that nothing waits any more."""
        assert self.reload_settings is not None
        try:
            new = self.reload_settings()
            check_settings(new)
        except Exception as exc:
            self.config_note = _not_applied(exc)
            return
        if new == self.settings:  # the edit was undone: nothing waits
            self._config_stamp = stamp
            self.config_note = self._applied_note
            return
        self.config_note = "the configuration changed: it applies once the gate is lifted"

    def _new_modality_due(self, ptr: int, keys: int, now: int) -> bool:
        """Enrolment of a modality with no model yet — the keyboard, typically, completed
        after the pointer's model was trained, or a new kind of pointing device (a touchpad
        after enrolling on a mouse) — is complete: train it (``train --new``), as the first
        model was. Only the first training used to be automatic, so a keyboard model never
        came without `activesec train` by hand; and a pointer model of one kind counted as
        "the pointer's", so a touchpad used every day after enrolling on a mouse stayed
        unscored for good (its input counted live, :attr:`StreamScorer.unmodelled_pointer`).
        A failure waits ``TRAIN_RETRY_S``, twice that after the next, … up to
        ``NEW_RETRY_MAX_S``."""
        if not self.settings.train.auto or now < self._train_after:
            return False
        e, c = self.settings.enrol, self.settings.capture
        keyboard = KEYBOARD in self.models
        pointer = any(m != KEYBOARD for m in self.models)
        unscored = self.engine.scorer.unmodelled_pointer if self.engine is not None else {}
        new_kind = any(n >= e.pointer_events for n in unscored.values())
        return bool((c.keyboard and not keyboard and keys >= e.keystrokes)
                    or (c.pointer and not pointer and ptr >= e.pointer_events)
                    or (c.pointer and new_kind))

    def _drift_due(self) -> bool:
        """Hourly: is the newest model older than ``train.retrain_days``?"""
        now = self.clock.monotonic_ns()
        if self.settings.train.retrain_days <= 0 or now < self._next_drift:
            return False
        self._next_drift = now + int(DRIFT_CHECK_S * 1e9)
        from activesec.service.train import retrain_due

        try:
            return retrain_due(self.paths, self.settings, self.clock)
        except ActiveSecError as exc:
            log.warning("cannot tell whether a drift update is due: %s", exc)
            return False

    def _upgrade_due(self) -> bool:
        """A background population appeared or changed since the last look (or the agent
        started) while a model is a one-class fallback: refit it (``train --upgrade``)."""
        from activesec.service.background import MODALITIES, candidates

        stamp = self._files_stamp(f for m in MODALITIES  # the data, then its card: the
                                  for c in candidates(self.paths, m)  # account's, the machine's
                                  for f in (c, c.with_suffix(".json")))
        if stamp != self._bg_stamp:  # a new background: at once, and a fresh back-off
            self._bg_stamp = stamp
            self._upgrade_delay_s = UPGRADE_RETRY_S
        elif (self._upgrade_retry_ns is None
              or self.clock.monotonic_ns() < self._upgrade_retry_ns):
            return False
        self._upgrade_retry_ns = self.upgrade_retry = None
        from activesec.service.train import fallback_upgrades

        return bool(fallback_upgrades(self.paths))

    def _upgrade_done(self, error: BaseException | None) -> None:
        """After an automatic upgrade: a failure is retried after the back-off (doubled for
        the next one, up to UPGRADE_RETRY_MAX_S), a success resets it."""
        if error is None:
            self._upgrade_delay_s = UPGRADE_RETRY_S
            self._upgrade_retry_ns = self.upgrade_retry = None
            return
        delay = self._upgrade_delay_s
        self._upgrade_retry_ns = self.clock.monotonic_ns() + int(delay * 1e9)
        self.upgrade_retry = {"at_wall_ns": self.clock.wall_ns() + int(delay * 1e9),
                              "after_s": delay, "error": str(error)}
        self._upgrade_delay_s = min(2 * delay, UPGRADE_RETRY_MAX_S)
        log.info("refitting the fallback model is tried again in %s", _duration(delay))

    def _start_training(self, kind: Literal["train", "update", "upgrade", "new"] = "train"
                        ) -> None:
        self.training, starting, what = TRAINING_JOBS[kind]
        log.info(starting)
        run = {"train": self.trainer, "update": self.updater, "upgrade": self.upgrader,
               "new": self.adder}[kind]

        def work() -> None:
            try:
                run(self.paths, self.settings)
                self.training = "done"
                if kind == "upgrade":
                    self._upgrade_done(None)
                if kind == "new":
                    self._new_delay_s = TRAIN_RETRY_S
            except Exception as exc:
                if kind == "upgrade":
                    self._upgrade_done(exc)
                self.training = "failed"
                refused = self.reason if self.reason and "refused" in self.reason else None
                self.reason = "; ".join(x for x in (refused, f"{what}: {exc}") if x)
                log.error("%s: %s", what, exc)
                wait = TRAIN_RETRY_S
                if kind == "new":
                    wait, self._new_delay_s = (self._new_delay_s,
                                               min(2 * self._new_delay_s, NEW_RETRY_MAX_S))
                self._train_after = self.clock.monotonic_ns() + int(wait * 1e9)

        self._train_thread = threading.Thread(target=work, name="activesec-train", daemon=True)
        self._train_thread.start()

    def _watch_store(self, stats: LiveStats) -> None:
        """Say in one line when input stops being stored (a full disk) and when it is again.
        The writer's warnings go to the log file, which sits on the same full disk: without
        this the agent said only that its log file was off, and `status` showed no drop (the
        drop counter is in the store too)."""
        failed = stats.write_errors > self._write_errors
        self._write_errors = stats.write_errors
        if failed and self.store_error is None:
            self.store_error = stats.error or "a write to the event store failed"
            self._failing_since = (stats.stored, self._failing_since[1])
            _say(f"warning: cannot store input: {self.store_error}; the agent goes on scoring "
                 "and acting, and counts what it cannot store as dropped")
        elif not failed and self.store_error is not None and stats.stored > self._failing_since[0]:
            lost = stats.dropped - self._failing_since[1]
            self.store_error = None
            _say(f"input is stored again ({lost:,} events dropped while it could not be)")
        if self.store_error is None:  # the drops before a failure are not the failure's
            self._failing_since = (stats.stored, stats.dropped)

    # ------------------------------------------------------------------------------ status
    def _write_status(self) -> None:
        st = self.status()
        path = status_path(self.paths)
        try:
            make_private_dirs(self.paths.run_dir)  # 0700, as every folder (a removed one too)
            text = json.dumps(st, default=str, indent=1) + "\n"
            # room to rewrite it in place on a full disk, longer (a store error) and all: the
            # rest of its last 4 KiB block, at least STATUS_SLACK (no more blocks written)
            room = -(len(text) + STATUS_SLACK) % 4096 + STATUS_SLACK
            write_private_text(path, text + " " * room, durable=False)  # rewritten each second
        except OSError as exc:
            if exc.errno == errno.ENOSPC and _rewrite_in_place(path, json.dumps(st, default=str)):
                return  # `status` goes on showing what happens (store_error, drops) live
            log.warning("cannot write the status file: %s", exc)


def _say(line: str) -> None:
    """One line on stderr (the journal, under the log-in service) and in the log."""
    log.warning("%s", line)
    with contextlib.suppress(Exception):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _rewrite_in_place(path: Path, text: str) -> bool:
    """On a full disk the status file's temporary copy cannot be written, so `status` showed
    the agent as it was when the disk filled, for as long as it stayed full. The existing file's
    own space is already allocated: overwrite it there, padded with spaces (JSON allows them)
    to its length, when the text fits; False when it does not or the write fails."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        data = text.encode("utf-8")
        if len(data) + 1 > size:
            return False
        os.pwrite(fd, data + b" " * (size - len(data) - 1) + b"\n", 0)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
