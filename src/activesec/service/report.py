"""What ``activesec status`` and the dashboard show: one snapshot of the profile, the store,
enrolment, models and the running agent, as plain JSON-ready data (no text, no colours)."""

from __future__ import annotations

import time
from typing import Any

from activesec.core import profile
from activesec.core.config import Settings
from activesec.core.errors import ActiveSecError
from activesec.core.paths import Paths

APP_DAYS = 7  # the apps in front in this many days are listed (the names gate rules match)
HISTORY_HOURS = 24  # the trust history summarised by status and drawn by the dashboard


def _progress(n: int, need: int) -> float:
    return round(min(1.0, n / need), 4) if need else 1.0


#: "markedly" another screen: its diagonal twice or half that of the screen a pointer model was
#: trained on, or more. Pointer distances and speeds are in pixels, not rescaled (README,
#: "Laptops"): measured on Balabit (5 owners), the owner's windows beyond the level 5 % reach
#: unscaled were 1-17 % with every distance doubled, 2-24 % halved, 0.3-55 % quadrupled — a
#: clear rise in false doubt for two owners from a factor of 2 on; nothing smaller was measured
#: to matter, and a warning on every 1080p-to-1440p change would teach owners to ignore it.
SCREEN_CHANGE = 2.0


def _screen_of(sessions: list[Any], from_ns: int, until_ns: int) -> list[int] | None:
    """The screen of the sessions with pointer input in [from_ns, until_ns] (the model card's
    data range): the one most of their pointer events were recorded on; None when none of
    them recorded one (imported recordings)."""
    seen: dict[tuple[int, int], int] = {}
    for si in sessions:
        end = si.ended_wall_ns if si.ended_wall_ns is not None else until_ns
        if si.screen and si.n_pointer and si.started_wall_ns <= until_ns and end >= from_ns:
            seen[si.screen] = seen.get(si.screen, 0) + si.n_pointer
    return list(max(seen.items(), key=lambda kv: kv[1])[0]) if seen else None


def current_screen(sessions: list[Any]) -> list[int] | None:
    """The screen the newest session recorded (the running agent's, else the last capture's:
    what the capture backend reported when it started)."""
    return next((list(si.screen) for si in reversed(sessions) if si.screen), None)


def screen_changes(found: list[dict[str, Any]], now: list[int] | None) -> list[dict[str, Any]]:
    """The pointer models trained on a screen markedly other than ``now`` (SCREEN_CHANGE):
    ``model``, ``trained_screen``, ``ratio`` (diagonal now / then)."""
    import math

    out = []
    for m in found:
        then = m.get("trained_screen")
        if not now or not then:
            continue
        ratio = math.hypot(*now) / math.hypot(*then)
        if round(max(ratio, 1 / ratio), 2) >= SCREEN_CHANGE:
            out.append({"model": m["name"], "trained_screen": then, "ratio": round(ratio, 2)})
    return out


def screen_note(changed: list[dict[str, Any]], now: list[int]) -> str:
    """``changed`` (:func:`screen_changes`) in words, for `status` and `doctor`."""
    def size(wh: list[int]) -> str:
        return f"{wh[0]}x{wh[1]}"

    which = "; ".join(f"{c['model']} was trained on a {size(c['trained_screen'])} screen"
                      for c in changed)
    return (f"{which}, this one is {size(now)}: pointer distances and speeds are in pixels, so "
            "your movements changed size for the model and it may doubt you")


SCREEN_HINT = ("if the agent now doubts you (false alarms), `activesec train --reset` re-enrols "
               "on this screen")


def models(paths: Paths, sessions: list[Any] | None = None) -> list[dict[str, Any]]:
    """Each trained model with its detector and threshold, or why it would be refused —
    ``problem``, null for a model in use. Both carry the same keys (null where they do not
    apply): ``status --json`` documents ``name``, ``ok``, ``problem`` and ``update_refused`` for
    every model, and a script reading ``m["problem"]`` of a good one got a KeyError. With the
    store's ``sessions``, a pointer model's ``trained_screen`` is the screen it learnt on."""
    from datetime import datetime, timezone

    from activesec.service.models import model_dirs, verify_model
    from activesec.service.train import drift_state

    refusals = drift_state(paths)["refusals"]
    out: list[dict[str, Any]] = []
    for d in model_dirs(paths):
        try:
            card = verify_model(d)
        except ActiveSecError as exc:
            out.append({"name": d.name, "ok": False, "problem": str(exc), "detector": None,
                        "threshold": None, "created": None, "fallback": None,
                        "update_refused": None, "trained_screen": None})
            continue
        extra = card.get("extra") or {}
        data = extra.get("data") or {}
        trained_screen = None
        if sessions is not None and extra.get("modality") != "keyboard" \
                and "from_wall_ns" in data and "until_wall_ns" in data:
            trained_screen = _screen_of(sessions, int(data["from_wall_ns"]),
                                        int(data["until_wall_ns"]))
        cal = card.get("calibration") or {}
        created = str(card.get("created") or "")
        try:
            created_ns = int(datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
                             .replace(tzinfo=timezone.utc).timestamp() * 1e9)
        except ValueError:
            created_ns = 0
        refusal = refusals.get(d.name)
        out.append({"name": d.name, "ok": True, "problem": None,
                    "detector": card.get("detector"),
                    "threshold": cal.get("threshold"), "created": card.get("created"),
                    # why a one-class detector stands in for the configured one (no background)
                    "fallback": (card.get("extra") or {}).get("fallback"),
                    # the last drift update refused the recent input, and none learnt since
                    "update_refused": refusal if refusal and refusal["at_wall_ns"] > created_ns
                    else None,
                    # the screen of the sessions it was trained on (pointer models, when known)
                    "trained_screen": trained_screen})
    return out


def recent_history(paths: Paths) -> list[dict[str, Any]]:
    """The agent's trust minutes of the last ``HISTORY_HOURS`` (what status and the dashboard
    show), the running agent's open minute included — else the lowest trust "in the last 24 h"
    could be above the trust it shows now."""
    from activesec.service import history

    now = time.time()  # not later than now: minutes a clock running ahead dated in the future
    rows = history.read(history.history_path(paths), now - HISTORY_HOURS * 3600, now)
    agent = running_agent(paths)
    return history.with_open_minute(rows, agent.get("trust_minute") if agent else None)


def left_frozen(paths: Paths) -> list[dict[str, Any]]:
    """Apps an agent suspended and could not resume because it was killed (``gated.json``,
    :mod:`activesec.actions.gate`): the next agent resumes them; [] when there are none.
    Only those still frozen: one that exited since (the child killed the frozen game, the
    machine restarted) is not, nor a process that reused its pid."""
    import json

    from activesec.actions.gate import STATE_FILE, still_suspended

    try:
        raw = json.loads((paths.run_dir / STATE_FILE).read_text(encoding="utf-8"))
        return [{"pid": int(e["pid"]), "app": str(e["rule"])} for e in raw["suspended"]
                if still_suspended(int(e["pid"]), float(e["create_time"]))]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return []


def running_agent(paths: Paths) -> dict[str, Any] | None:
    """The running agent's status file; None when no agent runs (a capture may hold the lock,
    or the file is a dead agent's)."""
    from activesec.core.instance import is_locked, read_pid
    from activesec.service.agent import read_status

    lock = paths.run_dir / "capture.lock"
    agent = read_status(paths) if is_locked(lock) else None
    return agent if agent and agent.get("pid") == read_pid(lock) else None


#: what `status` and the dashboard say while the running agent trains in the background
#: (its ``training``)
TRAINING_NOW = {
    "running": "enrolment is complete: the agent is training your model now (scoring starts "
               "once it is loaded, within a minute or two)",
    "updating": "the agent is updating your model for drift now (it scores with the current "
                "one meanwhile)",
    "upgrading": "the agent is refitting the one-class fallback model against the background "
                 "now (it scores with the current one meanwhile)",
}


def who_trains(data: dict[str, Any], auto: bool) -> str | None:
    """Who trains the first model, and when (None once there is one): the agent only when it
    runs with ``[train] auto`` on; ``activesec train`` otherwise (it said "trains by itself"
    either way, so an owner with enrolment complete and no agent running waited for nothing;
    ``status``, ``--json`` as ``enrolment.trains``, and the dashboard say this)."""
    if data["models"]:
        return None
    e, ag = data["enrolment"], data["agent"]
    complete = e["pointer_progress"] >= 1.0 or e["keys_progress"] >= 1.0
    if not auto:
        return ("enrolment complete: `activesec train` trains it — `[train] auto` is off, so "
                "the agent does not" if complete else "once enrolment is complete, "
                "`activesec train` trains it — `[train] auto` is off, so the agent does not")
    if ag["running"]:
        return ("enrolment complete: the agent trains it" if complete
                else "the agent trains it by itself when enrolment is complete")
    return ("enrolment complete: `activesec train` trains it now, or `activesec run`, which "
            "trains it by itself" if complete else "`activesec run` enrols you and trains it "
            "by itself when enrolment is complete")


def machine_policy() -> dict[str, Any] | None:
    """The machine policy in force (``status --json`` ``policy``), null without one: its
    ``path``, the values it ``enforced`` — which the account's own file, environment and flags
    cannot change — and the ``defaults`` it gives, each keyed by its ``section.key`` path (the
    lock level under both its names: enforcing either enforces both). An account saw none of
    this in ``status``, only in ``doctor``."""
    from activesec.core.site import dotted_keys, dotted_value, load_site, one_lock_level

    policy = load_site()
    if policy.path is None:
        return None

    def values(table: dict[str, Any]) -> dict[str, Any]:
        return {k: dotted_value(table, k) for k in dotted_keys(table)}

    return {"path": str(policy.path), "enforced": values(one_lock_level(policy.enforced)),
            "defaults": values(policy.defaults)}


def disk_full(paths: Paths, read_only: bool) -> dict[str, Any] | None:
    """``free_bytes`` and ``data_dir`` when the data directory's disk is full (the store could
    only be read straight from its file, or less than the reserve is free), else None."""
    from activesec.core.paths import RESERVE_BYTES, free_bytes

    free = free_bytes(paths.data_dir)
    if not read_only and (free is None or free >= RESERVE_BYTES):
        return None
    return {"free_bytes": free, "data_dir": str(paths.data_dir)}


def status_data(paths: Paths, settings: Settings) -> dict[str, Any]:
    """The snapshot (``activesec status --json`` prints exactly this)."""
    from activesec.core.instance import is_locked, read_pid
    from activesec.service import history, stopped
    from activesec.service.agent import read_status
    from activesec.service.train import enrolment_counts, enrolment_since
    from activesec.store.db import KIND_NAMES, NS_PER_DAY, Store

    profile.require(paths)  # a missing or damaged profile is an error whatever the config says
    owner = profile.owner(paths, settings.user)
    if not paths.database.exists():
        raise ActiveSecError(f"no event store at {paths.database}", "run `activesec init` first")
    with Store.open_to_read(paths.database) as store:
        read_only = store.read_only
        c = store.counts()
        sessions = store.sessions()
        size = store.size_bytes()
        paused = store.is_paused()
        paused_since, last_pause = store.pauses()
        current_label = store.current_label() or owner
        apps = store.recent_apps(since_wall_ns=time.time_ns() - APP_DAYS * NS_PER_DAY)
        # the owner's own (not injected) input since enrolment last (re)started
        owner_pointer, owner_keys = enrolment_counts(store, owner, enrolment_since(paths))
    by_kind = {name: int(c.get(name, 0)) for name in KIND_NAMES.values()}
    lock = paths.run_dir / "capture.lock"
    running = is_locked(lock)
    agent = running_agent(paths)
    agent_running = agent is not None
    agent = agent or read_status(paths)  # a stopped agent's last decision is still shown
    e = settings.enrol
    training = (agent or {}).get("training")
    data: dict[str, Any] = {
        "user": owner,
        "current_label": current_label,
        "capturing": running,
        "capture_pid": read_pid(lock) if running else None,
        "paused": paused,
        # when the pause in force began, and the last one that ended: nothing was recorded or
        # judged meanwhile (a parent sees that a child paused the agent, also after `resume`)
        "pause": {"since_wall_ns": paused_since,
                  "last": None if last_pause is None else
                  {"from_wall_ns": last_pause[0], "to_wall_ns": last_pause[1]}},
        "sessions": len(sessions),
        "labels": sorted({si.label for si in sessions}),
        "events": by_kind,
        "events_total": int(sum(by_kind.values())),
        "dropped": int(c.get("drops", 0)),
        "discarded_while_paused": int(c.get("paused_discarded", 0)),
        "injected": int(c.get("injected", 0)),
        "store_bytes": int(size),
        "database": str(paths.database),
        # the data directory's disk is full: read from the file as it is, nothing new stored
        "disk_full": disk_full(paths, read_only),
        "agent": {
            "running": agent_running,
            "state": (agent or {}).get("state") if agent_running else None,
            "trust": (agent or {}).get("trust") if agent_running else None,
            "reason": (agent or {}).get("reason") if agent_running else None,
            "latency_ms": (agent or {}).get("latency_ms") if agent_running else None,
            "last_decision": (agent or {}).get("last_decision"),
            "gate": (agent or {}).get("gate") if agent_running else None,
            "config": (agent or {}).get("config") if agent_running else None,
            # input the running agent cannot store (a full disk): it goes on scoring
            "store_error": (agent or {}).get("store_error") if agent_running else None,
            # the job under way, as documented: running | updating | upgrading, else None — the
            # agent's idle | done | failed (Agent._start_training) are no job (a failure is
            # said in `reason`); "done" read as a job under way forever after the first one
            "training": (training if agent_running and training in TRAINING_NOW else None),
            "training_note": (TRAINING_NOW.get(str((agent or {}).get("training")))
                              if agent_running else None),
            # a failed automatic upgrade of a fallback model: when it is tried again, and why
            "upgrade_retry": (agent or {}).get("upgrade_retry") if agent_running else None,
            # locked by the agent / the screensaver on by itself (the owner's own lock), and
            # the input events withheld meanwhile (neither stored nor scored)
            "screen_locked": bool((agent or {}).get("screen_locked")) if agent_running else None,
            "screensaver_active": (bool((agent or {}).get("screensaver_active"))
                                   if agent_running else None),
            "withheld_locked": (int((agent or {}).get("withheld_locked") or 0)
                                if agent_running else None),
            # pointer events of a kind of device with no model yet (``pointer:touchpad``…),
            # since the agent started: not judged until the agent has trained one
            "unscored_pointer": (dict((agent or {}).get("unscored_pointer") or {})
                                 if agent_running else None),
            # why the last start failed, while no agent runs (:mod:`activesec.service.stopped`)
            "stopped": None if running else stopped.read(paths),
        },
        "gate_left_frozen": [] if agent_running else left_frozen(paths),
        "trust_history": {"hours": HISTORY_HOURS, **history.summary(recent_history(paths))},
        "models": models(paths, [si for si in sessions if si.label == owner]),
        "policy": machine_policy(),
        "apps": {
            "days": APP_DAYS,
            "recent": [{"name": name, "last_seen_wall_ns": t} for name, t in apps],
        },
        "enrolment": {
            "pointer_events": owner_pointer,
            "pointer_needed": e.pointer_events,
            "pointer_progress": _progress(owner_pointer, e.pointer_events),
            "keystrokes": owner_keys,
            "keystrokes_needed": e.keystrokes,
            "keys_progress": _progress(owner_keys, e.keystrokes),
        },
    }
    data["enrolment"]["trains"] = who_trains(data, auto=settings.train.auto)
    now = current_screen(sessions)
    # pointer models trained on a markedly other screen: distances in pixels changed size
    data["screen"] = {"current": now, "changed": screen_changes(data["models"], now)}
    return data
