"""What an evaluation produces: per-user scores, summarised into one JSON-ready result.

A protocol hands :func:`build_result` one :class:`UserScores` per evaluated user (test-unit scores
at each amount of data — first k actions, first n keystrokes, day bins) and the skips it made;
this module turns them into pooled and per-user AUC/EER, the curves against the amount of data,
and the ``to_json()`` shape the CLI prints. Users whose scores cannot give an EER (no genuine or
no impostor test unit) are listed with a reason and left out of the means — never averaged in as
a made-up number.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import activesec
from activesec.core.errors import DataError
from activesec.evaluate import metrics

ALL = "all"  # the amount key meaning "every action / keystroke of the test unit"


@dataclass
class UserScores:
    """One evaluated user's test-unit scores, keyed by amount of data (``ALL`` always present).

    ``genuine_days`` optionally gives, per genuine unit (same order as ``genuine[ALL]``), the days
    since the user's enrolment ended (the Freihaut drift curve).
    """

    user: str
    genuine: dict[str, np.ndarray] = field(default_factory=dict)
    impostor: dict[str, np.ndarray] = field(default_factory=dict)
    genuine_days: np.ndarray | None = None
    skipped_reason: str | None = None
    n_enrol: int = 0  # enrolment rows (actions / windows / reps) the model was fitted on


@dataclass
class Skip:
    what: str  # "user", "session", or "rows" (a session evaluated without its unreadable rows)
    id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "id": self.id, "reason": self.reason}


class NoUserEvaluated(DataError):
    """No user could be evaluated; ``details`` is the result's JSON without figures (dataset,
    protocol, detector, ``per_user`` with each ``skipped_reason``, ``skipped``) — what
    ``evaluate --json`` prints before failing."""

    #: what each user needs; the hint adds where the reasons are (:meth:`for_json`)
    NEEDS = "each user needs enrolment data, a genuine and an impostor test unit"

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message, f"{self.NEEDS}; see the skip reasons with --json")
        self.details = details

    def for_json(self) -> None:
        """Word the hint as ``--json`` reports it: the reasons are in its JSON on stdout
        already (``per_user``, ``skipped``), so it does not send the user to --json."""
        self.hint = f"{self.NEEDS}; each user's skip reason is in per_user on stdout"


def _f(x: float | None) -> float | None:
    """JSON-safe float (NaN -> None), rounded for readable output."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), 6)


@dataclass
class EvalResult:
    dataset: str
    protocol: str
    detector: str
    modality: str  # "pointer" or "keys"
    auc: float
    eer: float
    eer_threshold: float
    mean_user_eer: float
    sd_user_eer: float
    mean_user_auc: float
    n_users: int
    per_user: list[dict[str, Any]]
    skipped: list[Skip]
    runtime_s: float
    genuine_scores: np.ndarray  # pooled, amount ALL (for ROC/DET/histograms in the report)
    impostor_scores: np.ndarray
    curve_name: str | None = None  # "by_actions" | "by_keystrokes" | "by_days"
    curve: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    feature_distributions: dict[str, Any] | None = None  # store: per label, per feature
    version: str = activesec.__version__

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "detector": self.detector,
            "modality": self.modality,
            "auc": _f(self.auc),
            "eer": _f(self.eer),
            "eer_threshold": _f(self.eer_threshold),
            "mean_user_eer": _f(self.mean_user_eer),
            "sd_user_eer": _f(self.sd_user_eer),
            "mean_user_auc": _f(self.mean_user_auc),
            "n_users": self.n_users,
            "n_genuine": int(self.genuine_scores.size),
            "n_impostor": int(self.impostor_scores.size),
            "per_user": self.per_user,
            "skipped": [s.to_json() for s in self.skipped],
            "runtime_s": round(self.runtime_s, 3),
            "params": self.params,
            "version": self.version,
        }
        if self.curve_name:
            out[self.curve_name] = self.curve
        if self.feature_distributions is not None:
            out["feature_distributions"] = self.feature_distributions
        return out


def _sorted_amounts(keys: set[str]) -> list[str]:
    nums = sorted(int(k) for k in keys if k != ALL)
    return [str(k) for k in nums] + ([ALL] if ALL in keys else [])


def _user_eer(g: np.ndarray, i: np.ndarray) -> tuple[float, float]:
    if g.size == 0 or i.size == 0:
        return math.nan, math.nan
    s = metrics.summarise(g, i)
    return s.auc, s.eer


def _pooled(users: list[UserScores], key: str) -> tuple[np.ndarray, np.ndarray]:
    g = [u.genuine[key] for u in users if key in u.genuine]
    i = [u.impostor[key] for u in users if key in u.impostor]
    return (
        np.concatenate(g) if g else np.empty(0),
        np.concatenate(i) if i else np.empty(0),
    )


def _amount_curve(users: list[UserScores], amount_field: str) -> list[dict[str, Any]]:
    keys: set[str] = set()
    for u in users:
        keys |= set(u.genuine) & set(u.impostor)
    rows = []
    for key in _sorted_amounts(keys):
        g, i = _pooled(users, key)
        if g.size == 0 or i.size == 0:
            continue
        s = metrics.summarise(g, i)
        per = [_user_eer(u.genuine.get(key, np.empty(0)), u.impostor.get(key, np.empty(0)))
               for u in users]
        eers = np.array([e for _, e in per if math.isfinite(e)])
        rows.append({
            amount_field: key if key == ALL else int(key),
            "auc": _f(s.auc),
            "eer": _f(s.eer),
            "mean_user_eer": _f(float(eers.mean())) if eers.size else None,
            "n_users": int(eers.size),
        })
    return rows


def _days_curve(users: list[UserScores], bins: list[float]) -> list[dict[str, Any]]:
    """EER of genuine units whose age falls in each day bin, against all impostor units."""
    rows = []
    for lo, hi in itertools.pairwise(bins):
        g_all, i_all, eers = [], [], []
        for u in users:
            if u.genuine_days is None or ALL not in u.genuine:
                continue
            sel = (u.genuine_days >= lo) & (u.genuine_days < hi)
            g = u.genuine[ALL][sel]
            i = u.impostor.get(ALL, np.empty(0))
            if g.size == 0 or i.size == 0:
                continue
            g_all.append(g)
            i_all.append(i)
            eers.append(_user_eer(g, i)[1])
        if not g_all:
            continue
        s = metrics.summarise(np.concatenate(g_all), np.concatenate(i_all))
        rows.append({
            "days_from": lo,
            "days_to": hi if math.isfinite(hi) else None,
            "auc": _f(s.auc),
            "eer": _f(s.eer),
            "mean_user_eer": _f(float(np.mean(eers))),
            "n_users": len(eers),
            "n_genuine": int(sum(x.size for x in g_all)),
        })
    return rows


def build_result(
    *,
    dataset: str,
    protocol: str,
    detector: str,
    modality: str,
    users: list[UserScores],
    skipped: list[Skip],
    runtime_s: float,
    curve_name: str | None = None,
    day_bins: list[float] | None = None,
    params: dict[str, Any] | None = None,
) -> EvalResult:
    """Summarise per-user scores; raises :class:`NoUserEvaluated` (a DataError) if no user
    could be evaluated at all."""
    skipped = list(skipped)
    per_user: list[dict[str, Any]] = []
    ok: list[UserScores] = []
    for u in sorted(users, key=lambda u: _natural(u.user)):
        g = u.genuine.get(ALL, np.empty(0))
        i = u.impostor.get(ALL, np.empty(0))
        reason = u.skipped_reason
        if reason is None and g.size == 0:
            reason = "no genuine test unit"
        elif reason is None and i.size == 0:
            reason = "no impostor test unit"
        row: dict[str, Any] = {
            "user": u.user, "auc": None, "eer": None,
            "n_genuine": int(g.size), "n_impostor": int(i.size), "n_enrol": u.n_enrol,
        }
        if reason is not None:
            row["skipped_reason"] = reason
            skipped.append(Skip("user", u.user, reason))
        else:
            s = metrics.summarise(g, i)
            row["auc"], row["eer"] = _f(s.auc), _f(s.eer)
            ok.append(u)
        per_user.append(row)
    if not ok:
        reasons = sorted({r["skipped_reason"] for r in per_user if r.get("skipped_reason")})
        why = f": {reasons[0]}" + (f" (and {len(reasons) - 1} other reasons)"
                                   if len(reasons) > 1 else "") if reasons else ""
        raise NoUserEvaluated(
            f"no user of {dataset} could be evaluated{why}",
            {"dataset": dataset, "protocol": protocol, "detector": detector,
             "modality": modality, "n_users": 0, "per_user": per_user,
             "skipped": [s.to_json() for s in skipped], "params": params or {},
             "version": activesec.__version__},
        )
    g, i = _pooled(ok, ALL)
    pooled = metrics.summarise(g, i)
    eers = np.array([r["eer"] for r in per_user if r["eer"] is not None], dtype=np.float64)
    aucs = np.array([r["auc"] for r in per_user if r["auc"] is not None], dtype=np.float64)
    curve: list[dict[str, Any]] = []
    if curve_name == "by_days":
        curve = _days_curve(ok, day_bins or [0, 7, 14, 28, 56, math.inf])
    elif curve_name == "by_actions":
        curve = _amount_curve(ok, "k")
    elif curve_name == "by_keystrokes":
        curve = _amount_curve(ok, "n")
    return EvalResult(
        dataset=dataset,
        protocol=protocol,
        detector=detector,
        modality=modality,
        auc=pooled.auc,
        eer=pooled.eer,
        eer_threshold=pooled.eer_threshold,
        mean_user_eer=float(eers.mean()),
        sd_user_eer=float(eers.std(ddof=1)) if eers.size > 1 else 0.0,
        mean_user_auc=float(aucs.mean()),
        n_users=len(ok),
        per_user=per_user,
        skipped=skipped,
        runtime_s=runtime_s,
        genuine_scores=g,
        impostor_scores=i,
        curve_name=curve_name,
        curve=curve,
        params=params or {},
    )


def _natural(s: str) -> tuple[Any, ...]:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s))


def best_first(results: Sequence[EvalResult]) -> list[EvalResult]:
    """``--detector all``'s order, on stdout and in the report: the lowest mean per-user EER
    first, then the lowest pooled EER (an undefined figure last)."""
    def last(x: float) -> float:
        return x if math.isfinite(x) else math.inf

    def key(r: EvalResult) -> tuple[float, float]:
        return last(r.mean_user_eer), last(r.eer)

    return sorted(results, key=key)


def results_json(dataset: str, results: list[EvalResult]) -> dict[str, Any]:
    """The ``--detector all`` shape: ``{"dataset": ..., "detectors": [result, ...]}``, best
    first (:func:`best_first`) as the terminal table and the report list them."""
    return {"dataset": dataset, "detectors": [r.to_json() for r in best_first(results)]}
