"""Enrolment and training: the owner's stored sessions -> calibrated per-modality models.

:func:`train` reads the sessions labelled with the profile's user (other labels are never
owner data), turns them into feature rows with the very functions the agent scores with —
:func:`~activesec.features.pointer.pointer_features` per pointer device type (one model per
type: mouse, touchpad, pen, …; events of unknown devices count as mouse, as the live scorer
routes them; XTEST/virtual devices and events flagged injected are never training data) and
:func:`~activesec.features.keys.keystroke_windows` (window 50, step 10; a session is windowed
stretch by stretch between absences — gaps of over ``engine.trust.idle_after_s``, 60 s, between
key events — as the agent scores it, :func:`~activesec.features.keys
.keystroke_windows_between_absences`, so no model is fitted or calibrated on a window straddling
a lunch break, which the agent never scores). Sessions are read newest first, a slice at a
time, until each modality has the latest :func:`rows_to_read` rows (:func:`owner_rows`): what
it fits on and holds out, and no more, whatever the length of the history. Per modality:

1. **enough data?** at least ``enrol.pointer_events`` pointer events of that type /
   ``enrol.keystrokes`` keystrokes, and enough rows to hold some out; otherwise the modality is
   *skipped* with "need N more …" (an error only when nothing at all can be trained);
2. **chronological split**: the latest ``train.holdout`` share of rows is held out; for
   overlapping keystroke windows the windows that share keys with the held-out ones are
   dropped (a purge gap), so held-out scores are honest;
3. **fit** the configured detector (``train.pointer_detector`` / ``keys_detector``, else the
   project default); a population detector uses the installed background
   (:mod:`activesec.service.background`). Without one it falls back to the best one-class
   detector measured for the modality (``FALLBACK``: ``gmm`` for pointer, ``scaled_manhattan``
   for keys; figures beside it) — weaker, and said so in the summary and the card;
4. **calibrate** on the held-out owner scores at ``train.target_far``
   (:class:`~activesec.engine.trust.Calibration`, with the statistics of those scores
   averaged, in time order, over the trust model's fusion window) — a pointer model that is
   the one-class fallback at a fifth of it (:data:`FALLBACK_FAR_DIVISOR`);
5. **save** with the model card (:func:`~activesec.detectors.persist.save_model`), a NumPy-only
   twin (:mod:`activesec.detectors.compact`) and the fitted rows, into a staging directory that
   replaces the old model in one rename — a crash never leaves half a model.

:func:`retrain` is the drift update: rows since the last training that the current model
scores at or below its threshold (confidently the owner — flagged rows are never learnt) replace
at most ``train.max_drift`` of the training rows, oldest first; if the recent rows as a whole
do not look like the owner (too many flagged, or their median shifted — ``SUSPECT_*``), it
refuses to learn at all: an impostor the model flags cannot teach the profile, and one it does
not flag moves it by at most ``max_drift`` per update. The decision is
:func:`activesec.engine.drift.drift_update`, which ``activesec evaluate freihaut --drift``
measures (Freihaut & Göritz, 2026-12-06: EER 7-14 days after enrolment 27.8 % with updates
against 30.6 % without; another user's sessions fed as the owner's were learnt from in 1,125 of
the 1,632 owner/attacker pairs that reached a decision — attackers the model already
accepted —, refused in the rest). A refusal is a decision like a learnt update: the rows it
judged are never offered again (``models/drift.json``) and the next update is due
``retrain_days`` later. Before, refused rows stayed in every hourly retry, so one bad stretch
kept the owner's later typing refused with it and the profile froze until ``train --reset``.
:func:`upgrade` refits models trained with the one-class fallback once a background population
is installed (``train --upgrade``; the agent runs it when a background file appears or changes):
with the detector they asked for, on the rows they were fitted on only.
:func:`reset_enrolment` deletes the models and restarts enrolment from now.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from activesec.core import profile
from activesec.core.clock import Clock, SystemClock
from activesec.core.config import Settings
from activesec.core.errors import ConfigError, DataError, ModelError, save_error
from activesec.core.events import DeviceType, Kind, own_input, stored_device_type
from activesec.core.paths import Paths, make_private_dir, write_private_text
from activesec.core.signals import signals_held
from activesec.engine.drift import (  # noqa: F401  (SUSPECT_*: the gate's limits, re-exported)
    MIN_HOLDOUT_ROWS,
    MIN_TRAIN_ROWS,
    SUSPECT_FLAGGED_MIN,
    SUSPECT_FLAGGED_X,
    SUSPECT_SHIFT,
    drift_update,
    recalibrate,
)
from activesec.engine.scoring import KEYBOARD, owner_spread, pointer_modality
from activesec.engine.trust import FUSION_WINDOW, IDLE_AFTER_S, Calibration
from activesec.features.keys import (
    KEY_FEATURE_NAMES,
    KEY_STEP,
    KEY_WINDOW,
    keystroke_windows_between_absences,
    overlap_rows,
)
from activesec.features.pointer import POINTER_FEATURE_NAMES, pointer_features
from activesec.service import models as model_files
from activesec.service.background import file_for, load_background, located

if TYPE_CHECKING:
    from activesec.store.db import Store

#: one-class detector used when a population detector has no background, chosen by
#: measurement. Pointer — Balabit, per-user models from training_files, 816 labelled test
#: sessions (``activesec evaluate balabit --detector NAME``), pooled AUC / EER: gmm 0.771 / 30.1 %,
#: scaled_manhattan 0.742 / 33.3 %, isolation_forest 0.718 / 34.8 %. Keys — Aalto, mean
#: per-user EER: scaled_manhattan 15.5 % (best of the one-class detectors, see
#: :mod:`activesec.detectors`). Both have NumPy-only compact forms.
FALLBACK = {"pointer": "gmm", KEYBOARD: "scaled_manhattan"}
#: a one-class fallback model is calibrated at ``train.target_far`` / this: the trust defaults
#: were chosen for the population detector, and the weaker, heavier-tailed fallback scores
#: then locked the owner out three times as often. Measured on Balabit's training split
#: (``evaluate balabit --tune-trust``'s protocol: 24,104 owner actions, 2,124 impostor chunks
#: of 100 actions; default trust), 2026-12-07: gmm at 0.05 falsely locked its owners 48 times
#: (an owner action in 502), at 0.02 21 times, at 0.01 15 times — as often as the population
#: default at 0.05 (15) —, locking 530 impostor chunks at 0.01 against 1,040 at 0.05 (the
#: population detector: 1,840). The owner of a default install (no background population)
#: is spared most false locks; the protection stays weak until a background is built. The
#: keyboard's fallback (``scaled_manhattan``) keeps ``target_far``: not measured that way.
FALLBACK_FAR_DIVISOR = 5.0
#: most owner rows a model is fitted on (the most recent): a tree ensemble's size grows with
#: its training rows (and with how hard the owner is to tell from the background), and the
#: agent holds it in memory — Balabit user7 (8,600 rows): a 19 MB compact model, agent peak RSS
#: 64 MB; user12 at this cap with the default background: 43 MB, agent peak 100 MB
#: (``tests/bench/test_bench_agent.py``; issue 4's target is 120 MB).
MAX_TRAIN_ROWS = 10_000
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
ENROLMENT_FILE = "enrolment.json"
_POINTER_KINDS = np.array([Kind.MOVE, Kind.BUTTON_DOWN, Kind.BUTTON_UP, Kind.SCROLL], np.uint8)

#: progress(stage, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class ModalityResult:
    """What happened to one modality (``status``: trained | skipped)."""

    modality: str
    status: str
    reason: str = ""
    detector: str = ""
    fallback: str = ""
    sessions: int = 0
    events: int = 0
    rows_train: int = 0
    rows_holdout: int = 0
    threshold: float | None = None
    target_far: float | None = None
    holdout_scores: dict[str, float] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    upgraded_from: str = ""  # :func:`upgrade`: the one-class fallback it replaced
    # :func:`upgrade`: why ``detector`` and not the one the fallback model was trained for
    # (the configuration names another now); "" when they are the same
    detector_note: str = ""
    # the parameters given to the detector asked for (`train --param`, or those its model's
    # card recorded): {} for its defaults
    params: dict[str, Any] = field(default_factory=dict)
    # why the NumPy-only twin a plug-in offers (its compact()) is not used: '' when it is
    twin_note: str = ""
    seconds: float = 0.0


@dataclass
class TrainSummary:
    user: str
    results: list[ModalityResult]
    enrolment: dict[str, Any]
    reset: bool = False
    seconds: float = 0.0

    @property
    def trained(self) -> list[ModalityResult]:
        return [r for r in self.results if r.status == "trained"]

    @property
    def skipped(self) -> list[ModalityResult]:
        return [r for r in self.results if r.status != "trained"]

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "reset": self.reset, "seconds": round(self.seconds, 3),
                "enrolment": self.enrolment,
                "trained": [asdict(r) for r in self.trained],
                "skipped": [{"modality": r.modality, "reason": r.reason} for r in self.skipped]}


@dataclass
class _Rows:
    """One modality's owner rows in time order, and what they came from."""

    X: list[np.ndarray] = field(default_factory=list)
    t_end: list[np.ndarray] = field(default_factory=list)
    events: int = 0
    sessions: set[int] = field(default_factory=set)

    def add(self, sid: int, X: np.ndarray, t_end_wall: np.ndarray, n_events: int) -> None:
        self.events += n_events
        if n_events:
            self.sessions.add(sid)
        if len(X):
            self.X.append(X)
            self.t_end.append(t_end_wall)

    @property
    def n_rows(self) -> int:
        return sum(len(x) for x in self.X)

    def arrays(self, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.X:
            return np.zeros((0, n_features)), np.zeros(0, np.int64)
        X, t = np.vstack(self.X), np.concatenate(self.t_end)
        order = np.argsort(t, kind="stable")
        return X[order], t[order]

    def keep_newest(self, n: int) -> None:
        """Only the ``n`` latest rows stay."""
        if self.n_rows > n:
            X, t = self.arrays(self.X[0].shape[1])
            self.X, self.t_end = [X[-n:]], [t[-n:]]


# --------------------------------------------------------------------------- owner data
@dataclass(frozen=True)
class EnrolmentStart:
    """Where enrolment restarted (after ``train --reset``): sessions up to ``last_session``
    are not owner training data, except the events at or after ``wall_ns`` of ``open_session``
    — the session that was still capturing at the reset (the running agent's), if any."""

    wall_ns: int
    last_session: int
    open_session: int | None = None


def enrolment_since(paths: Paths) -> EnrolmentStart | None:
    """Where enrolment (re)started after a reset, else None (all owner data counts)."""
    f = paths.models_dir / ENROLMENT_FILE
    _require_models_dir(paths)
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
        open_session = raw.get("open_session")
        return EnrolmentStart(int(raw["since_wall_ns"]), int(raw.get("last_session", 0)),
                              None if open_session is None else int(open_session))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            RecursionError) as exc:
        # only where enrolment restarted is lost: a missing file is the default (all the
        # owner's sessions count), so deleting it is the repair; `train --reset` would
        # delete working models as well
        raise ModelError(
            f"enrolment state {f} is damaged ({exc.__class__.__name__})",
            f"delete {f} (your models are kept; enrolment then counts all your sessions)",
        ) from None


def _require_models_dir(paths: Paths) -> None:
    d = paths.models_dir
    if d.exists() and not d.is_dir():
        raise ModelError(
            f"the models directory {d} is not a directory",
            f"move {d} out of the way (ActiveSec never deletes it); it is recreated empty",
        )


#: events decoded at a time while reading the owner's sessions (~12 MB)
SLICE_EVENTS = 1 << 19


def rows_to_read(settings: Settings) -> int:
    """Most feature rows per modality training reads: the :data:`MAX_TRAIN_ROWS` it fits on,
    the windows purged before the held-out rows, and the ``train.holdout`` share after them."""
    return math.ceil((MAX_TRAIN_ROWS + _purge(KEYBOARD)) / (1 - settings.train.holdout)) + 1


def _modelled(paths: Paths) -> set[str]:
    """The modalities that have a model now."""
    return {model_files.modality_of(d) for d in model_files.model_dirs(paths)}


def owner_rows(store: Any, user: str, since: EnrolmentStart | None = None,
               progress: Progress | None = None, absence_s: float = IDLE_AFTER_S,
               max_rows: int | None = None, also: Iterable[str] = ()) -> dict[str, _Rows]:
    """Feature rows per modality from the owner's sessions since enrolment started; no
    keystroke window spans a gap of more than ``absence_s`` (the agent's ``idle_after_s``).

    With ``max_rows``, only each modality's latest ``max_rows``: sessions are read newest
    first, :data:`SLICE_EVENTS` events at a time, a modality that has its rows takes no more,
    and reading stops once every modality has them (the stored counters tell whether older
    sessions hold keystrokes or pointer events at all). Training fits on the latest rows
    anyway (:data:`MAX_TRAIN_ROWS`), and reading everything since enrolment made a heavy
    user's weekly drift update decode and featurise months of input — millions of events a
    day — in time and memory that grew with them. ``events`` then counts the events read.
    ``also``: modalities to look for further back though the newest sessions lack them (those
    with a model: a touchpad used only in older sessions was otherwise never refitted by
    `train` or the drift update, as it would have been had every session been read)."""
    out: dict[str, _Rows] = {}
    # the session capturing at the reset counts from the reset on (filtered below), also once
    # it has ended
    sessions = [s for s in store.sessions(label=user) if since is None
                or s.id > since.last_session or s.id == since.open_session]
    sessions.sort(key=lambda s: (s.started_wall_ns, s.id), reverse=True)
    # from the stored counters (nothing decoded): whether session i or an older one holds any
    # keystrokes / pointer events, so that a modality none of the newest sessions holds (the
    # keyboard of an owner who typed little lately) is still looked for further back
    keys_from = np.cumsum([s.n_keys > 0 for s in sessions][::-1])[::-1] > 0
    pointer_from = np.cumsum([s.n_pointer > 0 for s in sessions][::-1])[::-1] > 0

    def full(m: str) -> bool:
        return max_rows is not None and m in out and out[m].n_rows >= max_rows

    def done(i: int) -> bool:
        """Nothing more to read from session ``i`` on."""
        if max_rows is None or not all(full(m) for m in out):
            return False
        if not full(KEYBOARD) and keys_from[i]:
            return False
        if any(not full(m) and (keys_from[i] if m == KEYBOARD else pointer_from[i])
               for m in also):
            return False
        return bool(any(m != KEYBOARD for m in out) or not pointer_from[i])

    for i, s in enumerate(sessions):
        if done(i):
            break
        off = s.started_wall_ns - s.started_mono_ns  # wall = t_ns + off
        types = {d.index: stored_device_type(d.type, d.name) for d in store.devices(s.id)}
        slices = (store.event_slices(s.id, SLICE_EVENTS) if max_rows is not None
                  else iter([store.events(s.id)]))
        for ev in slices:
            if since is not None and s.id == since.open_session:
                ev = ev[ev["t_ns"] + off >= since.wall_ns]
            _add_rows(out, s.id, own_input(ev, types), types, off, absence_s, skip=full)
            if done(i):
                break
        if progress:
            progress("reading sessions", i + 1, len(sessions))
    if max_rows is not None:
        for r in out.values():
            r.keep_newest(max_rows)
    if progress and sessions:
        progress("reading sessions", len(sessions), len(sessions))
    return out


def _add_rows(out: dict[str, _Rows], sid: int, ev: np.ndarray, types: dict[int, DeviceType],
              off: int, absence_s: float, skip: Callable[[str], bool]) -> None:
    """The feature rows of one session's events ``ev`` (all, or a slice), per modality, into
    ``out``; ``off`` turns their times into wall times; modalities ``skip`` names are passed."""
    k = ev["kind"]
    keys = ev[(k == Kind.KEY_DOWN) | (k == Kind.KEY_UP)]
    if len(keys) and not skip(KEYBOARD):
        w = keystroke_windows_between_absences(keys, absence_s, KEY_WINDOW, KEY_STEP)
        out.setdefault(KEYBOARD, _Rows()).add(
            sid, w.X, w.t_end_ns + off, int(np.count_nonzero(keys["kind"] == Kind.KEY_DOWN)))
    ptr = ev[np.isin(k, _POINTER_KINDS)]
    for dev in np.unique(ptr["device"]):
        dt = types.get(int(dev), DeviceType.UNKNOWN)
        if dt in (DeviceType.UNKNOWN, DeviceType.KEYBOARD):
            dt = DeviceType.MOUSE  # the live scorer routes unknown devices to the mouse model
        if skip(pointer_modality(dt)):
            continue
        sel = ptr[ptr["device"] == dev]
        a = pointer_features(sel)
        out.setdefault(pointer_modality(dt), _Rows()).add(sid, a.X, a.t_end_ns + off, len(sel))


def enrolment_counts(store: Store, user: str, since: EnrolmentStart | None = None
                     ) -> tuple[int, int]:
    """The owner's own (not injected) pointer events and keystrokes since enrolment (re)started:
    what ``status`` and the agent compare with ``settings.enrol``. Cheap (stored counters);
    training itself then decides per device type on the feature rows (:func:`owner_rows`)."""
    if since is None:
        return store.own_input(user)
    return store.own_input(user, after_session=since.last_session,
                           open_session=since.open_session, since_wall_ns=since.wall_ns)


def _absence_s(settings: Settings) -> float:
    """The agent's ``engine.trust.idle_after_s``: where its keystroke windows start afresh."""
    from activesec.service.agent import engine_config

    return engine_config(settings).trust.idle_after_s


# --------------------------------------------------------------------------- fitting
def _detector_name(settings: Settings, modality: str) -> str:
    from activesec.detectors import registry

    if modality == KEYBOARD:
        return settings.train.keys_detector or registry.default_for("keys")
    return settings.train.pointer_detector or registry.default_for("pointer")


@dataclass(frozen=True)
class BackgroundUse:
    """What training will contrast one modality's owner with (``activesec doctor`` shows it)."""

    modality: str  # "pointer" | "keyboard"
    detector: str  # the configured detector
    state: str  # "not needed" | "installed" | "missing" | "unusable"
    detail: str  # rows and people when installed; why, when unusable


def background_use(paths: Paths, settings: Settings) -> list[BackgroundUse]:
    """Per modality: does its detector need other people's rows, and would training find a
    usable background (the same check :func:`_fit` makes) or fall back to ``FALLBACK``?"""
    from activesec.detectors import registry

    out = []
    for modality in ("pointer", KEYBOARD):
        name = _detector_name(settings, modality)
        if not registry.get(name).needs_background:
            out.append(BackgroundUse(modality, name, "not needed", ""))
            continue
        try:
            bg = load_background(paths, modality)
        except ModelError as exc:
            out.append(BackgroundUse(modality, name, "unusable", exc.message))
            continue
        if bg is None:
            out.append(BackgroundUse(modality, name, "missing", ""))
        else:
            people = len(np.unique(bg[1]))
            where = located(paths, modality)
            whose = (f" (the machine's, {where.parent})"
                     if where is not None and where != file_for(paths, modality) else "")
            out.append(BackgroundUse(modality, name, "installed",
                                     f"{len(bg[0]):,} rows of {people} people{whose}"))
    return out


def checked_params(settings: Settings, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``train --param`` values per detector kind (``"pointer"``, ``"keyboard"``): each goes to
    the configured detectors whose constructor takes it, as ``evaluate --detector all`` shares
    them, converted as the constructor took them (``k=7``, ``eps=.5`` as 0.5). Checked before
    any row is read: a value the detector refuses (its own error too) is a ConfigError naming
    it, and a name no configured detector takes is refused listing the parameters they have."""
    from activesec.detectors import registry

    kinds = [k for k, on in (("pointer", settings.capture.pointer),
                             (KEYBOARD, settings.capture.keyboard)) if on]
    names = {k: _detector_name(settings, k) for k in kinds}
    taken = {key for n in names.values() for key in registry.accepted(n, params)}
    if unused := [k for k in params if k not in taken]:
        have = "; ".join(f"{n} ({k}): {', '.join(registry.get(n)._param_names()) or 'none'}"
                         for k, n in names.items())
        raise ConfigError(f"no detector this training fits takes --param "
                          f"{', '.join(unused)} (their parameters — {have})",
                          "change that --param value")
    out = {}
    for kind, name in names.items():
        given = registry.accepted(name, params)
        made = registry.create(name, **given)
        out[kind] = {k: made.get_params().get(k, v) for k, v in given.items()}
    return out


def _remembered(paths: Paths, name: str, modality: str) -> dict[str, Any]:
    """The parameters detector ``name`` was last given (``train --param``), from the card of
    ``modality``'s model, else of another model asking for the same detector (a new kind of
    pointer device); {} (its defaults) when none records any. The card is read with its seal
    checked only: a model refused as built by another version still says how it was made."""
    from activesec.detectors import persist

    own = model_files.dir_name(modality)
    for d in sorted(model_files.model_dirs(paths), key=lambda d: d.name.lstrip(".") != own):
        try:
            extra = persist.read_card(d).get("extra") or {}
        except ModelError:
            continue
        if extra.get("requested_detector") == name and isinstance(
                extra.get("requested_params"), dict):
            return dict(extra["requested_params"])
    return {}


def _remembered_usable(paths: Paths, name: str, modality: str) -> tuple[dict[str, Any], str]:
    """(:func:`_remembered` parameters, '') — or ({}, why) when detector ``name`` refuses them
    now (a new version of the plug-in dropped one): training at its defaults, said so, beats
    failing each time the agent retrains, which would leave the owner without a model."""
    from activesec.detectors import registry

    params = _remembered(paths, name, modality)
    if not params:
        return params, ""
    try:
        registry.create(name, **params)
    except ConfigError as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return {}, (f"the parameters {name} was last given ({given}) are refused now "
                    f"({exc.message}): trained at its defaults — `activesec train --param` "
                    "gives others")
    return params, ""


def _bg_key(modality: str) -> str:
    """The background a model of ``modality`` (``pointer:touchpad``…) contrasts with."""
    return KEYBOARD if modality == KEYBOARD else "pointer"


def _fit(paths: Paths, name: str, params: dict[str, Any], modality: str, X: np.ndarray
         ) -> tuple[Any, str, dict[str, Any] | None]:
    """(fitted detector, fallback reason or '', background info)."""
    from activesec.detectors import registry

    det = registry.create(name, **params)
    if not det.needs_background:
        return det.fit(X), "", None
    bg_key = _bg_key(modality)
    why = ""
    try:
        bg = load_background(paths, bg_key)
    except ModelError as exc:
        bg, why = None, f"{exc}"
    if bg is None:
        why = why or (f"{name} needs a background population and none is installed "
                      "(`activesec background build`)")
        fb = FALLBACK[bg_key]
        return registry.create(fb).fit(X), f"{why}; used the one-class {fb}", None
    Xb, groups = bg
    info: dict[str, Any] = {"rows": len(Xb), "people": len(np.unique(groups))}
    where = located(paths, bg_key)
    if where is not None and where != file_for(paths, bg_key):
        info["machine"] = str(where.parent)  # every account's (`background build --all-users`)
    return det.fit(X, Xb, groups), "", info


def _raise_plugin_bug(det: Any, exc: Exception) -> None:
    """Raise ``exc`` when it is a plug-in detector's own error scoring the held-out rows (it
    raised, or gave NaN or the wrong number of scores): no enrolment fixes it. It was folded
    into "nothing to train yet … keep `activesec run` going: it trains by itself"."""
    from activesec.detectors.base import Detector

    if isinstance(exc, ModelError) and isinstance(det, Detector) and det._is_plugin():
        raise exc


def _purge(modality: str) -> int:
    """Rows before the split that share events with held-out rows (overlapping windows)."""
    return overlap_rows(KEY_WINDOW, KEY_STEP) if modality == KEYBOARD else 0


def _save(paths: Paths, modality: str, det: Any, cal: Calibration, names: list[str],
          X_train: np.ndarray, t_train: np.ndarray, extra: dict[str, Any]) -> str:
    """Write the model into a staging directory, then swap it in with one rename. Returns why
    the NumPy-only twin a plug-in offers is not used ('' when it is, or offers none)."""
    from activesec.detectors import compact, persist

    final = model_files.model_dir(paths, modality)
    stage = paths.models_dir / f".staging-{final.name}"
    center, scale = owner_spread(X_train)
    extra = {**extra, "modality": modality, "feature_center": center.tolist(),
             "feature_scale": scale.tolist()}
    if modality == KEYBOARD:
        extra.update(window=KEY_WINDOW, step=KEY_STEP)
    try:
        offered = compact.offered(det)  # a plug-in's own twin (its compact())
        scorer = compact.compact(det) if offered or compact.supports(det.name) else None
        if scorer is not None and offered:
            compact.check_same(det, scorer, X_train)
    except ModelError as exc:  # e.g. a non-default scaler: the agent then loads the full model
        scorer = None
        if offered:  # the card says why the plug-in's twin is not used
            extra["compact_refused"] = exc.message
    try:
        make_private_dir(paths.models_dir)
        shutil.rmtree(stage, ignore_errors=True)
        make_private_dir(stage)
        # the twin and the rows first: the sealed card binds their hashes and the twin's meta
        twin = model_files.write_twin_files(stage, scorer, X_train, t_train)
        persist.save_model(det, stage, feature_names=names,
                           calibration=model_files.calibration_dict(cal),
                           extra={**extra, "agent_files": twin})
        model_files.write_agent_files(stage, scorer, X_train, t_train, twin)
    except OSError as exc:
        # a half-written staging folder (megabytes) must not keep the disk full for the store
        shutil.rmtree(stage, ignore_errors=True)
        raise save_error(exc, f"the {modality} model", paths.models_dir, "activesec train",
                         "; the previous model, if any, is kept") from None
    except BaseException:  # stopped (SIGTERM, Ctrl-C) while writing: nothing left behind
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = paths.models_dir / f".old-{final.name}"
    # two renames: a stop between them would leave the model only under .old-, so signals
    # wait until the swap is done and the previous model deleted
    with signals_held():
        if final.exists():  # else .old- may be the model a stopped swap left: kept until
            shutil.rmtree(old, ignore_errors=True)  # the new one is in (models.model_dirs)
            final.rename(old)
        stage.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    return str(extra.get("compact_refused") or "")


def _quantiles(s: np.ndarray) -> dict[str, float]:
    qs = np.quantile(s, QUANTILES)
    return {f"p{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)} | {
        "mean": float(np.mean(s)), "n": float(len(s))}


def _split(n: int, settings: Settings, modality: str) -> tuple[int, int]:
    """(rows to fit, rows held out) of ``n`` in time order: the latest ``train.holdout`` share
    is held out, and the overlapping windows before it are purged (:func:`_purge`)."""
    n_hold = max(MIN_HOLDOUT_ROWS, round(settings.train.holdout * n))
    return n - n_hold - _purge(modality), n_hold


def calibration_far(settings: Settings, modality: str, fallback: bool) -> float:
    """The false-alarm rate a model is calibrated at: ``train.target_far``, a fifth of it for
    a pointer model that is the one-class fallback (:data:`FALLBACK_FAR_DIVISOR`)."""
    far = settings.train.target_far
    return far / FALLBACK_FAR_DIVISOR if fallback and modality != KEYBOARD else far


def _calibration(det: Any, X_hold: np.ndarray, settings: Settings, modality: str,
                 fallback: bool = False) -> tuple[Calibration, dict[str, float]]:
    """The calibration at :func:`calibration_far` from the owner's held-out scores, and their
    quantiles (a DataError or ModelError when they cannot calibrate)."""
    hs = det.score(X_hold)
    far = calibration_far(settings, modality, fallback)
    return Calibration.from_scores(hs, far, FUSION_WINDOW), _quantiles(hs)


def _need(modality: str, have: int, need: int) -> str:
    what = "keystrokes" if modality == KEYBOARD else f"{modality.split(':')[-1]} pointer events"
    return f"need {need - have:,} more {what} (have {have:,} of {need:,})"


def _train_one(paths: Paths, settings: Settings, modality: str, rows: _Rows,
               params: dict[str, Any] | None = None) -> ModalityResult:
    """Train ``modality``'s model with ``params`` for its detector (None: those the card of a
    model of the same detector records, :func:`_remembered`)."""
    t0 = time.perf_counter()
    names = list(KEY_FEATURE_NAMES if modality == KEYBOARD else POINTER_FEATURE_NAMES)
    need = settings.enrol.keystrokes if modality == KEYBOARD else settings.enrol.pointer_events
    res = ModalityResult(modality, "skipped", sessions=len(rows.sessions), events=rows.events)
    if rows.events < need:
        res.reason = _need(modality, rows.events, need)
        return res
    X, t = rows.arrays(len(names))
    n = len(X)
    n_fit, n_hold = _split(n, settings, modality)
    if n_fit < MIN_TRAIN_ROWS:
        unit = "keystroke windows" if modality == KEYBOARD else "pointer actions"
        res.reason = (f"only {n} {unit} from {rows.events:,} events; need about "
                      f"{MIN_TRAIN_ROWS + MIN_HOLDOUT_ROWS + _purge(modality)} — keep enrolling")
        return res
    first = max(0, n_fit - MAX_TRAIN_ROWS)
    Xf, tf, Xh = X[first:n_fit], t[first:n_fit], X[n - n_hold:]
    n_fit -= first
    name = _detector_name(settings, modality)
    note = ""
    if params is None:
        params, note = _remembered_usable(paths, name, modality)
    try:
        det, fallback, bg = _fit(paths, name, params, modality, Xf)
    except DataError as exc:  # rows enough to train, too few for it (hist_gb: 40)
        res.reason = f"cannot fit {name}: {exc}"
        return res
    try:
        cal, quant = _calibration(det, Xh, settings, modality, fallback=bool(fallback))
    except (DataError, ModelError) as exc:
        _raise_plugin_bug(det, exc)
        res.reason = f"cannot calibrate: {exc}"
        return res
    extra = {"data": {"sessions": len(rows.sessions), "events": rows.events,
                      "rows_train": int(n_fit), "rows_holdout": int(n_hold),
                      "from_wall_ns": int(tf[0]), "until_wall_ns": int(t[-1])},
             "holdout_scores": quant, "background": bg, "fallback": fallback or None,
             "requested_detector": name, "requested_params": params, "trained_by": "train"}
    if note:
        extra["params_refused"] = note
    res.twin_note = _save(paths, modality, det, cal, names, Xf, tf, extra)
    res.status = "trained"
    res.detector, res.fallback, res.params = det.name, fallback, params
    res.detector_note = note
    res.rows_train, res.rows_holdout = int(n_fit), int(n_hold)
    res.threshold, res.target_far = cal.threshold, cal.target_far
    res.holdout_scores = quant
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _open_store(paths: Paths) -> Any:
    from activesec.store.db import Store

    return Store.open(paths.database)


def _owner(paths: Paths, settings: Settings) -> str:
    return profile.owner(paths, settings.user)


def reset_enrolment(paths: Paths, clock: Clock | None = None) -> None:
    """Delete every trained model and restart enrolment from now (the background stays; the
    stored events stay too, for `evaluate store`, but no longer train the profile)."""
    clock = clock or SystemClock()
    _require_models_dir(paths)
    with _open_store(paths) as store:
        sessions = store.sessions()
    last = max((s.id for s in sessions), default=0)
    capturing = [s.id for s in sessions if s.id == last and s.ended_wall_ns is None]
    try:
        for d in model_files.model_dirs(paths):
            shutil.rmtree(d)
        make_private_dir(paths.models_dir)
        write_private_text(paths.models_dir / ENROLMENT_FILE, json.dumps(
            {"since_wall_ns": clock.wall_ns(), "last_session": last,
             "open_session": capturing[0] if capturing else None}) + "\n")
    except OSError as exc:
        where = exc.filename or paths.models_dir
        raise ModelError(
            f"cannot reset enrolment: {where}: {exc.strerror or exc}",
            f"make {paths.models_dir} and what it holds writable by you (or free disk space), "
            "then run `activesec train --reset` again",
        ) from None


def train(paths: Paths, settings: Settings, *, progress: Progress | None = None,
          reset: bool = False, clock: Clock | None = None, new: bool = False,
          params: dict[str, Any] | None = None) -> TrainSummary:
    """Train every modality that has enough owner data (module docstring).

    ``reset=True`` only deletes the models and restarts enrolment (nothing is trained: the
    data to train on has yet to be captured). ``new=True`` trains only the modalities that have
    no model yet (the keyboard once its enrolment completes after the pointer's, a new kind of
    pointer device), leaving the others as they are. Raises ModelError when no modality could
    be trained, with the enrolment progress in the message. ``params`` (``train --param``) go
    to the detectors that take them (:func:`checked_params`, checked before any row is read);
    None: each model keeps the parameters its detector was last given (:func:`_remembered`)."""
    t0 = time.perf_counter()
    user = _owner(paths, settings)
    given = None if params is None or reset else checked_params(settings, params)
    if reset:
        reset_enrolment(paths, clock)
        return TrainSummary(user, [], {"restarted": True}, reset=True,
                            seconds=time.perf_counter() - t0)
    absence_s = _absence_s(settings)
    store = _open_store(paths)
    try:
        by_mod = owner_rows(store, user, enrolment_since(paths), progress, absence_s,
                            max_rows=rows_to_read(settings), also=_modelled(paths))
    finally:
        store.close()
    wanted = [KEYBOARD, pointer_modality(DeviceType.MOUSE)]
    mods = sorted(set(by_mod) | set(wanted))
    if new:  # the models there are stay as they are (the drift update keeps them current)
        have = {d.name for d in model_files.model_dirs(paths)}
        mods = [m for m in mods if model_files.dir_name(m) not in have]
        if not mods:
            raise ModelError("nothing new to train: every modality already has a model",
                             "`activesec train` retrains them all; `--update` follows drift")
    results = []
    for i, m in enumerate(mods):
        if (m == KEYBOARD and not settings.capture.keyboard) or (
                m != KEYBOARD and not settings.capture.pointer):
            continue
        results.append(_train_one(paths, settings, m, by_mod.get(m, _Rows()),
                                  None if given is None else given[_bg_key(m)]))
        if progress:
            progress("training", i + 1, len(mods))
    enrol = {m: {"have": by_mod[m].events if m in by_mod else 0,
                 "need": settings.enrol.keystrokes if m == KEYBOARD
                 else settings.enrol.pointer_events} for m in mods}
    summary = TrainSummary(user, results, enrol, seconds=time.perf_counter() - t0)
    if not summary.trained:
        why = "; ".join(f"{r.modality}: {r.reason}" for r in results) or "no owner data"
        raise ModelError(f"nothing to train yet for {user!r} — {why}",
                         "keep `activesec run` going: it trains by itself once enrolment is "
                         "complete (or record with `activesec capture`, then `activesec train`)")
    return summary


# --------------------------------------------------------------------------- drift
DRIFT_STATE = "drift.json"


def drift_state(paths: Paths) -> dict[str, Any]:
    """``{"refused_until": {model dir: wall ns}, "refusals": {model dir: {"at_wall_ns",
    "reason"}}, "decided_wall_ns": wall ns}``: rows an update refused (never offered again),
    why and when (``status`` shows it), and when the last update decided (:func:`retrain`).
    A missing or unreadable file is an empty state: it only holds the update's schedule."""
    f = paths.models_dir / DRIFT_STATE
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
        until = {str(k): int(v) for k, v in dict(raw.get("refused_until") or {}).items()}
        why = {str(k): {"at_wall_ns": int(v["at_wall_ns"]), "reason": str(v["reason"])}
               for k, v in dict(raw.get("refusals") or {}).items()}
        return {"refused_until": until, "refusals": why,
                "decided_wall_ns": int(raw.get("decided_wall_ns", 0))}
    except (OSError, ValueError, TypeError, AttributeError, KeyError, RecursionError):
        pass  # missing, or damaged: rewritten at the next refusal
    return {"refused_until": {}, "refusals": {}, "decided_wall_ns": 0}


def _doubted(paths: Paths, settings: Settings, t_wall_ns: np.ndarray) -> np.ndarray:
    """Which of the rows ending at ``t_wall_ns`` fall in a minute in which the agent's trust
    went below its notify level (its trust history, kept a week: the drift update's span).
    Minutes it did not score — not running, idle, enrolling — are not doubted: the update's
    own gate judges those rows."""
    from activesec.service import history
    from activesec.service.agent import engine_config

    level = engine_config(settings).policy.notify_below
    try:
        low = [int(m["t"]) for m in history.read(history.history_path(paths))
               if float(m["lo"]) < level]
    except DataError:  # unreadable: no minute is known to be doubtful
        low = []
    minute = (t_wall_ns // 10**9) // history.BUCKET_S * history.BUCKET_S
    return np.isin(minute, np.asarray(low, dtype=np.int64))


def _retrain_one(paths: Paths, settings: Settings, directory: Path, rows: _Rows,
                 refused_until: dict[str, int] | None = None,
                 refused_why: dict[str, str] | None = None) -> ModalityResult:
    t0 = time.perf_counter()
    card, scorer = model_files.load_scorer(directory, allow_sklearn=True)
    extra = card.get("extra") or {}
    modality = str(extra["modality"])
    names = list(card["feature_schema"]["names"])
    res = ModalityResult(modality, "skipped", detector=str(card.get("detector")))
    until = int((extra.get("data") or {}).get("until_wall_ns", 0))
    if refused_until is not None:  # rows a refused update judged are never offered again
        until = max(until, refused_until.get(directory.name, 0))
    X_old, t_old = model_files.load_rows(directory)
    X, t = rows.arrays(len(names))
    new = t > until
    X, t = X[new], t[new]
    # only input from minutes the running agent was confident in: a stranger it took trust
    # from (notified, locked out) must not teach the profile with the actions it did not flag
    doubted = _doubted(paths, settings, t)
    X, t = X[~doubted], t[~doubted]
    up = drift_update(X_old, t_old, X, t, scorer.score, lambda: model_files.calibration_of(card),
                      settings.train, purge=_purge(modality))
    if not up.learn:
        res.reason = up.reason
        if up.refused and refused_until is not None:
            refused_until[directory.name] = int(t[-1])
            if refused_why is not None:
                refused_why[directory.name] = up.reason
        return res
    assert up.X_fit is not None and up.t_fit is not None and up.X_hold is not None
    X_fit, t_fit, k, n_hold = up.X_fit, up.t_fit, up.replaced, up.n_hold
    flagged, shift = up.flagged, up.shift
    # the card's parameters: those it was fitted with — and, for a plug-in taking **kwargs
    # (which get_params cannot list), those it was given
    kept = dict(extra.get("requested_params") or {})
    params = dict(card.get("params") or {})
    if not extra.get("fallback"):  # else the card's detector is the fallback, not the one asked
        params.update(kept)
    det, fallback, bg = _fit(paths, str(card["detector"]), params, modality, X_fit)
    # a one-class fallback refitted stays one, for the detector it stands in for: else the
    # card no longer says so and the model is never upgraded once a background exists
    fallback = fallback or (str(extra.get("fallback")) if _fallback_extra(directory) else "")
    asked = extra.get("requested_detector") if fallback else card.get("detector")
    hs = det.score(up.X_hold)
    cal = recalibrate(hs, calibration_far(settings, modality, bool(fallback)))
    quant = _quantiles(hs)
    drift = {"replaced_rows": int(k), "of_rows": len(X_old),
             "max_drift": settings.train.max_drift, "recent_rows": len(X),
             "recent_doubted_rows": int(doubted.sum()),
             "recent_flagged_share": round(flagged, 4), "recent_median_shift": round(shift, 3)}
    res.twin_note = _save(paths, modality, det, cal, names, X_fit, t_fit, {
        "data": {"sessions": len(rows.sessions), "events": rows.events,
                 "rows_train": len(X_fit), "rows_holdout": int(n_hold),
                 "from_wall_ns": int(t_fit.min()), "until_wall_ns": int(t[-1])},
        "holdout_scores": quant, "background": bg, "fallback": fallback or None,
        "requested_detector": asked, "requested_params": kept, "trained_by": "retrain",
        "drift": drift})
    res.status, res.fallback, res.drift, res.params = "trained", fallback, drift, kept
    res.rows_train, res.rows_holdout = len(X_fit), int(n_hold)
    res.threshold, res.target_far, res.holdout_scores = cal.threshold, cal.target_far, quant
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def retrain(paths: Paths, settings: Settings, *, progress: Progress | None = None,
            clock: Clock | None = None) -> TrainSummary:
    """Bounded drift update of every trained model (module docstring). A model that cannot be
    loaded (stale, altered) is skipped with the reason: run :func:`train` instead."""
    t0 = time.perf_counter()
    user = _owner(paths, settings)
    dirs = model_files.model_dirs(paths)
    if not dirs:
        raise ModelError("no trained model to update", "run `activesec train` first")
    absence_s = _absence_s(settings)
    store = _open_store(paths)
    try:
        by_mod = owner_rows(store, user, enrolment_since(paths), progress, absence_s,
                            max_rows=rows_to_read(settings), also=_modelled(paths))
    finally:
        store.close()
    results = []
    state = drift_state(paths)
    refused = dict(state["refused_until"])
    why: dict[str, str] = {}
    for d in dirs:
        try:
            card = model_files.verify_card(d)
            m = str(card["extra"]["modality"])
            results.append(_retrain_one(paths, settings, d, by_mod.get(m, _Rows()), refused,
                                        why))
        except ModelError as exc:
            results.append(ModalityResult(d.name, "skipped", reason=str(exc)))
    if why:  # a refusal is a decision: the next one in retrain_days
        now = (clock or SystemClock()).wall_ns()
        refusals = {**state["refusals"],
                    **{k: {"at_wall_ns": now, "reason": r} for k, r in why.items()}}
        write_private_text(paths.models_dir / DRIFT_STATE, json.dumps(
            {"refused_until": refused, "refusals": refusals, "decided_wall_ns": now}) + "\n")
    return TrainSummary(user, results, {}, seconds=time.perf_counter() - t0)


def fallback_upgrades(paths: Paths) -> list[Path]:
    """Model directories trained with the one-class fallback (their detector wanted a
    background population) whose background is now installed and loads: :func:`upgrade` can
    refit them with the configured detector. Reads cards and backgrounds only (no
    scikit-learn): the agent asks whenever a background file changes."""
    out = []
    for d in model_files.model_dirs(paths):
        extra = _fallback_extra(d)
        try:
            if extra and load_background(paths, _bg_key(str(extra["modality"]))) is not None:
                out.append(d)
        except (ModelError, KeyError):  # a refused background or card: `status` says why
            continue
    return out


def _fallback_extra(directory: Path) -> dict[str, Any] | None:
    """The card's ``extra`` when the model in ``directory`` is a one-class fallback (its
    detector wanted a background); None otherwise, and for a model refused by its checks."""
    try:
        extra = model_files.verify_card(directory).get("extra") or {}
    except ModelError:
        return None
    return extra if extra.get("fallback") and extra.get("requested_detector") else None


def _upgrade_one(paths: Paths, settings: Settings, directory: Path) -> ModalityResult:
    """Refit a fallback model on the rows it was fitted on with the detector the configuration
    names now (the one it was trained for, unless ``train.pointer_detector`` /
    ``keys_detector`` changed since: what the user asks for now); the latest ``train.holdout``
    of them calibrate, as :func:`_train_one` splits."""
    t0 = time.perf_counter()
    card = model_files.verify_card(directory)
    extra = dict(card.get("extra") or {})
    modality, asked = str(extra["modality"]), str(extra["requested_detector"])
    want = _detector_name(settings, modality)
    note = ""
    if want != asked:
        key = "train.keys_detector" if modality == KEYBOARD else "train.pointer_detector"
        named = (f"the configured {key}" if getattr(settings.train, key.split(".")[1])
                 else f"the default ({key} is not set)")
        note = f"{want}, {named}, not {asked}, which the configuration named when it was trained"
    res = ModalityResult(modality, "skipped", detector=str(card.get("detector")))
    X, t = model_files.load_rows(directory)
    n = len(X)
    n_fit, n_hold = _split(n, settings, modality)
    if n_fit < MIN_TRAIN_ROWS:
        res.reason = f"only {n} rows to refit {want} on: `activesec train` with more data"
        return res
    # the card's "params" are the fallback's; those the detector asked for were given it
    params = dict(extra.get("requested_params") or {}) if want == asked else {}
    try:
        det, fallback, bg = _fit(paths, want, params, modality, X[:n_fit])
    except DataError as exc:  # rows enough for the fallback, too few for it (hist_gb: 40)
        res.reason = f"cannot fit {want}: {exc}"
        return res
    if fallback:  # the background went away or broke since it was looked at
        res.reason = fallback
        return res
    try:
        cal, quant = _calibration(det, X[n - n_hold:], settings, modality)
    except (DataError, ModelError) as exc:
        _raise_plugin_bug(det, exc)
        res.reason = f"cannot calibrate: {exc}"
        return res
    data = {**dict(extra.get("data") or {}), "rows_train": int(n_fit), "rows_holdout": int(n_hold),
            "from_wall_ns": int(t[0])}
    res.twin_note = _save(
        paths, modality, det, cal, list(card["feature_schema"]["names"]), X[:n_fit], t[:n_fit],
        {"data": data, "holdout_scores": quant, "background": bg, "fallback": None,
         "requested_detector": want, "requested_params": params, "trained_by": "upgrade",
         "upgraded_from": card.get("detector")})
    res.status, res.detector, res.upgraded_from = "trained", det.name, res.detector
    res.detector_note, res.params = note, params
    res.rows_train, res.rows_holdout = int(n_fit), int(n_hold)
    res.threshold, res.target_far, res.holdout_scores = cal.threshold, cal.target_far, quant
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def upgrade(paths: Paths, settings: Settings) -> TrainSummary:
    """Refit every model trained with the one-class fallback (:data:`FALLBACK`) with the
    configured detector (:func:`_upgrade_one`), once a background population is installed
    (``activesec train --upgrade``; the agent does it by itself). Only on the rows the
    fallback model was fitted on — the enrolment's, and what drift updates judged the
    owner's —, never on input recorded since: a stranger the weaker model accepted cannot be
    learnt by the upgrade."""
    t0 = time.perf_counter()
    user = _owner(paths, settings)
    dirs = fallback_upgrades(paths)
    if not dirs:
        models = model_files.model_dirs(paths)
        if not models:
            raise ModelError("no trained model to upgrade", "run `activesec train` first")
        fallbacks = [d for d in models if _fallback_extra(d)]
        if not fallbacks:
            raise ModelError("no model uses the one-class fallback: nothing to upgrade",
                             "`activesec status` lists each model's detector")
        raise ModelError(f"{len(fallbacks)} model(s) use the one-class fallback, but no usable "
                         "background population for them is installed",
                         "build it with `activesec background build` (`activesec doctor` says "
                         "what is missing)")
    results = []
    for d in dirs:
        try:
            results.append(_upgrade_one(paths, settings, d))
        except ModelError as exc:
            results.append(ModalityResult(d.name, "skipped", reason=str(exc)))
    return TrainSummary(user, results, {}, seconds=time.perf_counter() - t0)


def retrain_due(paths: Paths, settings: Settings, clock: Clock | None = None) -> bool:
    """True when the newest model, and the last update that refused (:func:`retrain`), are
    older than ``train.retrain_days`` (0 = never). A stamp more than a day ahead of the clock
    was made while the clock ran ahead (since corrected): its age is unknown, and waiting for
    the clock to reach it could hold off every update for years — so only the other stamps
    count, and with none left an update is due (it restamps)."""
    days = settings.train.retrain_days
    if days <= 0:
        return False
    now = (clock or SystemClock()).wall_ns() / 1e9
    stamps = []
    for d in model_files.model_dirs(paths):
        try:
            created = str(model_files.verify_card(d).get("created", ""))
            ts = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            stamps.append(ts.timestamp())
        except (ModelError, ValueError):
            continue
    if not stamps:
        return False
    stamps.append(drift_state(paths)["decided_wall_ns"] / 1e9)
    known = [t for t in stamps if t <= now + 86400]
    return not known or now - max(known) >= days * 86400
