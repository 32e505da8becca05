"""The drift update, measured: does it track the owner over weeks, and can an impostor teach it?

``activesec evaluate freihaut --data … --drift`` (:func:`freihaut_drift`) replays the
Freihaut & Göritz protocol (:mod:`activesec.evaluate.protocols.freihaut`: one feature row per
typed passphrase, each user's first 10 sessions enrol) through the product's drift update —
:func:`activesec.engine.drift.drift_update`, the very decision ``activesec train --update`` and
the agent's automatic update take — with the ``[train]`` defaults (``target_far``, ``holdout``,
``max_drift``, ``retrain_days``).

**Enrolment.** The detector (the protocol's: ``scaled_manhattan``, the agent's keyboard
fallback without a background) is fitted on all 10 enrolment rows, exactly as the protocol's
``by_days`` figures fit it, so the curve *without* updates is those figures. The update's gate
needs a calibration, and the agent's (the newest 25 %, at least 10 rows, held out) cannot be
made from 10 rows: the enrolment model is calibrated (:func:`~activesec.engine.drift
.recalibrate`, as training does) on the 10 leave-one-out scores — each enrolment session scored
by the model fitted on the other nine, the only held-out owner scores 10 sessions give
(in-sample scores would set the threshold too low and make the gate refuse the owner).

**Cadence** — the agent's: it asks hourly whether the newest model is older than
``retrain_days`` (7 d) and, while it is, runs the update, which sees every owner row since the
last decision; too few rows leave the model, and so the next hourly attempt sees more rows,
while a refusal is a decision like a learnt update (its rows are never offered again, the next
update is due ``retrain_days`` later). Rows only arrive with sessions, so an attempt just
before a session sees what any hourly attempt since the previous session saw: here the update
is attempted before each session once the model is due, on the sessions since the last decision,
and each session is scored by the model in force *before* it is learnt from. A successful
update needs at least 20 new rows (10 to fit from, 10 held out to recalibrate), so with one row
per passphrase and ~5 sessions a day a user gets about one update in the ~10 days recorded.

**EER by days** (bins of the protocol) *with* and *without* updates: each genuine session is
scored by the model in force at its time; its impostors are all other users' sessions scored by
the model versions in force in that bin (pooled EER over users, and the mean per-user EER).

**The attack.** For every owner and every other user (the attacker; ``max_attackers`` samples
them, seeded): the attacker's last 25 % of sessions are held out, the rest are fed to the update
as the owner's recent rows, on the owner's own post-enrolment session times (so through the
same rounds of the same schedule as the owner). Reported: the updates attempted, refused by the
gate and learnt; the share of the final model's training rows that are the attacker's (how far
the profile moved); and the attacker's acceptance (held-out sessions scoring at or below the
threshold) by the enrolment model and by the model after the attack.

**Measured** 2026-12-06 on the whole file (``activesec evaluate freihaut --data
…/Long_Keyboard_Raw_Dataset.json.gz --drift --json``, 54 s on a shared 2-core machine; 49 users,
3 skipped with 10 or fewer usable sessions). EER by days, pooled, with / without updates:
23.8 / 23.8 % (0-1 d), 25.5 / 25.5 % (1-3), 29.9 / 29.9 % (3-7; no update is due yet),
27.8 / 30.6 % (7-14); mean per-user EER 7-14 d 23.4 / 25.0 %. The without-updates curve equals
the protocol's ``by_days`` to the digit (same model, same rows). Owner: 32 decisions, one for
each user who reached a due update with 20 new sessions: 26 learnt, 6 refused by the gate;
10.6 % of a profile replaced on average. (Measured the same day before a refusal counted as a
decision: the same EER and the same 26 learnt, but 58 refusals — refused rows stayed in every
hourly retry, so an owner refused once stayed refused, 6 users every time.) Attack: 2,499 pairs,
1,632 fed enough rows for a decision; 517 refused, 1,115 pairs learnt from (once each: the data
end before the next due date), each then holding 20 % attacker rows (2 of 10, the ``max_drift``
cap; 8.9 % over all pairs). The attackers learnt from were accepted 98.3 % of the time by the
enrolment model (75.6 % over all pairs: at a 5 % owner false-alarm target this one-class
passphrase model, EER ~25-30 %, accepts most people) and 93.5 % after (73.5 % over all pairs):
the profile moved, acceptance did not rise — the gate sees only what the detector separates.

Sensitivity, not a proposed default (``freihaut_drift(…, train=TrainConfig(retrain_days=1))``,
~50 s): daily updates give 25.5 -> 24.8 % (1-3 d), 29.9 -> 26.3 % (3-7), 30.6 -> 26.1 % (7-14);
55 owner updates learnt (31 users), 12 refused; attack: 1,193 pairs learnt from, attacker
rows 37 % of those profiles on average (up to 80 %), their acceptance 97.9 -> 88.9 %.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.config import TrainConfig
from activesec.engine.drift import DriftUpdate, drift_update, recalibrate
from activesec.engine.trust import Calibration
from activesec.evaluate import metrics
from activesec.evaluate.protocols.freihaut import DAY_BINS

#: attacker sessions held out to measure acceptance (the rest are fed to the update)
ATTACK_HOLDOUT = 0.25


@dataclass
class Model:
    """One model version: detector, calibration, training rows (with their origin)."""

    det: Any
    cal: Calibration
    X: np.ndarray
    t: np.ndarray
    foreign: np.ndarray  # per training row: True when it came from an attacker
    version: int = 0


@dataclass
class Walk:
    """One replay of rows through the scheduled update."""

    scores: np.ndarray  # per row, by the model in force before it was learnt
    version: np.ndarray  # which model version scored each row
    models: list[Model]
    decisions: list[DriftUpdate] = field(default_factory=list)

    @property
    def attempted(self) -> int:  # decisions with enough rows to decide
        return sum(1 for d in self.decisions if d.learn or d.refused)

    @property
    def refused(self) -> int:
        return sum(1 for d in self.decisions if d.refused)

    @property
    def learnt(self) -> int:
        return sum(1 for d in self.decisions if d.learn)

    @property
    def replaced(self) -> int:
        return sum(d.replaced for d in self.decisions)


def _fit(name: str, params: dict[str, Any], X: np.ndarray) -> Any:
    from activesec.detectors.registry import create

    return create(name, **params).fit(X)


def enrol(name: str, params: dict[str, Any], X: np.ndarray, target_far: float) -> Model:
    """Fit on all enrolment rows; calibrate on their leave-one-out scores (module docstring)."""
    loo = np.array([float(np.asarray(_fit(name, params, np.delete(X, i, axis=0))
                                     .score(X[i:i + 1]))[0]) for i in range(len(X))])
    t = np.zeros(len(X))
    return Model(_fit(name, params, X), recalibrate(loo, target_far), X, t,
                 np.zeros(len(X), bool))


def walk(start: Model, X: np.ndarray, days: np.ndarray, train: TrainConfig, name: str,
         params: dict[str, Any], *, foreign: bool = False) -> Walk:
    """Rows ``X`` arriving at ``days`` (since enrolment ended, ascending) through the agent's
    scheduled drift update (module docstring, *Cadence*)."""
    model = start
    models = [start]
    scores = np.full(len(X), np.nan)
    version = np.zeros(len(X), np.int64)
    decisions: list[DriftUpdate] = []
    trained_at, since = 0.0, 0  # the model's creation day; first row it has not seen
    for i in range(len(X)):
        due = train.retrain_days > 0 and days[i] - trained_at >= train.retrain_days
        if due and i > since:  # rows since..i-1 are new to this decision
            m = model
            up = drift_update(m.X, m.t, X[since:i], days[since:i], m.det.score, m.cal, train)
            if up.learn or up.refused:
                decisions.append(up)
            if up.refused:  # never offered again; the next decision retrain_days later
                trained_at = max(trained_at + train.retrain_days, float(days[i - 1]))
                since = i
            if up.learn:
                assert up.X_fit is not None and up.t_fit is not None and up.X_hold is not None
                assert up.take is not None
                det = _fit(name, params, up.X_fit)
                cal = recalibrate(np.asarray(det.score(up.X_hold)), train.target_far)
                origin = np.concatenate([m.foreign[up.replaced:],
                                         np.full(len(up.take), foreign)])
                model = Model(det, cal, up.X_fit, up.t_fit, origin, len(models))
                models.append(model)
                # saved at the first hourly check that was due and saw these rows
                trained_at = max(trained_at + train.retrain_days, float(days[i - 1]))
                since = i
        scores[i] = float(np.asarray(model.det.score(X[i:i + 1]))[0])
        version[i] = model.version
    return Walk(scores, version, models, decisions)


@dataclass
class UserData:
    user: str
    enrol: np.ndarray
    rows: np.ndarray  # later sessions, time order
    days: np.ndarray  # since enrolment ended


def _users(path: str | Path, enrol_sessions: int | None, users: Sequence[str] | None,
           max_users: int | None
           ) -> tuple[list[UserData], dict[str, np.ndarray], list[str]]:
    """The protocol's rows (:func:`activesec.evaluate.protocols.freihaut.prepare`): the users
    it evaluates, every user's sessions in time order (as impostor or attacker), the skipped."""
    from activesec.evaluate.protocols import freihaut
    from activesec.evaluate.protocols._common import Options

    prep = freihaut.prepare(path, Options(enrol_sessions=enrol_sessions, users=users,
                                          max_users=max_users))
    every: dict[str, list[np.ndarray]] = {}
    out, skipped = [], []
    for task in prep.tasks:
        for u in task.units:
            if not u.genuine:
                every.setdefault(u.id.split("/", 1)[0], []).append(u.X[-1])
        if task.skipped_reason:
            skipped.append(task.user)
            continue
        gen = [u for u in task.units if u.genuine and np.all(np.isfinite(u.X[-1]))]
        X = np.asarray(task.enrol, np.float64)
        out.append(UserData(task.user, _finite(X), np.array([u.X[-1] for u in gen]),
                            np.array([float(u.days or 0.0) for u in gen])))
    return out, {u: _finite(np.array(r)) for u, r in every.items()}, skipped


def _finite(X: np.ndarray) -> np.ndarray:
    return X[np.all(np.isfinite(X), axis=1)] if len(X) else X


def days_curve(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """EER per day bin: each user's genuine sessions in the bin against the other users'
    sessions scored by the model versions in force for those genuine sessions."""
    rows = []
    for lo, hi in itertools.pairwise(DAY_BINS):
        g_all, i_all, eers = [], [], []
        for u in users:
            sel = (u["days"] >= lo) & (u["days"] < hi)
            if not sel.any():
                continue
            g = u["scores"][sel]
            i = np.concatenate([u["impostor"][v] for v in sorted(set(u["version"][sel]))])
            ok_g, ok_i = g[np.isfinite(g)], i[np.isfinite(i)]
            if not ok_g.size or not ok_i.size:
                continue
            g_all.append(ok_g)
            i_all.append(ok_i)
            eers.append(metrics.summarise(ok_g, ok_i).eer)
        if not g_all:
            continue
        s = metrics.summarise(np.concatenate(g_all), np.concatenate(i_all))
        rows.append({"days_from": lo, "days_to": hi if math.isfinite(hi) else None,
                     "eer": round(float(s.eer), 4), "auc": round(float(s.auc), 4),
                     "mean_user_eer": round(float(np.mean(eers)), 4), "n_users": len(eers),
                     "n_genuine": int(sum(x.size for x in g_all))})
    return rows


def _accept(model: Model, X: np.ndarray) -> float:
    return float(np.mean(np.asarray(model.det.score(X)) <= model.cal.threshold))


def _mean(xs: Sequence[float]) -> float | None:
    return round(float(np.mean(xs)), 4) if len(xs) else None


def freihaut_drift(path: str | Path, *, detector: str = "scaled_manhattan",
                   params: dict[str, Any] | None = None, enrol_sessions: int | None = None,
                   users: Sequence[str] | None = None, max_users: int | None = None,
                   max_attackers: int | None = None, seed: int = 0,
                   train: TrainConfig | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The drift evaluation (module docstring) as a JSON-ready dict."""
    t0 = time.perf_counter()
    train = train or TrainConfig()
    params = dict(params or {})
    data, every, skipped = _users(path, enrol_sessions, users, max_users)
    rng = random.Random(seed)
    per_user: list[dict[str, Any]] = []
    curve_with: list[dict[str, Any]] = []
    curve_without: list[dict[str, Any]] = []
    attacks: list[dict[str, Any]] = []
    for d in data:
        others = sorted(o for o in every if o != d.user and len(every[o]) >= 2)
        if len(d.enrol) < 2 or not len(d.rows) or not others:
            skipped.append(d.user)
            continue
        imp_X = np.concatenate([every[o] for o in others])
        start = enrol(detector, params, d.enrol, train.target_far)
        w = walk(start, d.rows, d.days, train, detector, params)
        imp = [np.asarray(m.det.score(imp_X), np.float64) for m in w.models]
        base = np.asarray(start.det.score(d.rows), np.float64)
        curve_with.append({"days": d.days, "scores": w.scores, "version": w.version,
                           "impostor": imp})
        curve_without.append({"days": d.days, "scores": base,
                              "version": np.zeros(len(d.rows), np.int64),
                              "impostor": imp[:1]})
        per_user.append({"user": d.user, "sessions": len(d.rows),
                         "updates_attempted": w.attempted, "updates_refused": w.refused,
                         "updates_learnt": w.learnt, "rows_replaced": w.replaced,
                         "training_rows": len(w.models[-1].X)})
        chosen = others
        if max_attackers is not None and len(others) > max_attackers:
            chosen = rng.sample(others, max_attackers)
        for a in chosen:
            rows = every[a]
            n_hold = max(1, round(ATTACK_HOLDOUT * len(rows)))
            feed, held = rows[:len(rows) - n_hold], rows[len(rows) - n_hold:]
            n = min(len(feed), len(d.days))
            if n == 0 or not len(held):
                continue
            aw = walk(start, feed[:n], d.days[:n], train, detector, params, foreign=True)
            final = aw.models[-1]
            attacks.append({
                "owner": d.user, "attacker": a, "fed": n,
                "attempted": aw.attempted, "refused": aw.refused, "learnt": aw.learnt,
                "rows_replaced": aw.replaced,
                "foreign_share": float(np.mean(final.foreign)),
                "accept_before": _accept(start, held), "accept_after": _accept(final, held)})
        if progress:
            progress(d.user)
    att = attacks
    n_att = sum(a["attempted"] for a in att)
    taught = [a for a in att if a["learnt"]]
    return {
        "protocol": ("freihaut chronological, first sessions enrol; the agent's drift update "
                     "(engine.drift.drift_update) every retrain_days, each session scored "
                     "before it is learnt; attack: another user's sessions fed as the owner's"),
        "detector": detector,
        "train": {"target_far": train.target_far, "holdout": train.holdout,
                  "max_drift": train.max_drift, "retrain_days": train.retrain_days},
        "n_users": len(per_user),
        "skipped_users": sorted(set(skipped)),
        "by_days_with_updates": days_curve(curve_with),
        "by_days_without_updates": days_curve(curve_without),
        "owner_updates": {
            "attempted": sum(u["updates_attempted"] for u in per_user),
            "refused": sum(u["updates_refused"] for u in per_user),
            "learnt": sum(u["updates_learnt"] for u in per_user),
            "users_updated": sum(1 for u in per_user if u["updates_learnt"]),
            "rows_replaced_share": _mean([u["rows_replaced"] / u["training_rows"]
                                          for u in per_user]),
        },
        "attack": {
            "pairs": len(att),
            "attempted": n_att,
            "refused": sum(a["refused"] for a in att),
            "learnt": sum(a["learnt"] for a in att),
            "pairs_decided": sum(1 for a in att if a["attempted"]),
            "pairs_learnt": sum(1 for a in att if a["learnt"]),
            "foreign_share": _mean([a["foreign_share"] for a in att]),
            "foreign_share_max": round(max((a["foreign_share"] for a in att), default=0.0), 4),
            "accept_before": _mean([a["accept_before"] for a in att]),
            "accept_after": _mean([a["accept_after"] for a in att]),
            "learnt_pairs": {  # only the pairs whose rows the update learnt
                "foreign_share": _mean([a["foreign_share"] for a in taught]),
                "accept_before": _mean([a["accept_before"] for a in taught]),
                "accept_after": _mean([a["accept_after"] for a in taught]),
            },
            "max_attackers": max_attackers,
            "seed": seed,
        },
        "per_user": per_user,
        "runtime_s": round(time.perf_counter() - t0, 3),
    }
