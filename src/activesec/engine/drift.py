"""The drift update's decision: which recent owner rows a model may learn, or why it refuses.

One pure function, :func:`drift_update`, shared by the product's update
(:func:`activesec.service.train.retrain`, ``activesec train --update`` and the agent's automatic
update) and by its evaluation (``activesec evaluate freihaut --drift``,
:mod:`activesec.evaluate.drift`), so both run literally the same decision. Given the rows the
current model was fitted on, the rows since its training in time order, the current model's
scorer and calibration and the ``[train]`` settings:

1. **enough rows?** the latest ``holdout`` share (at least :data:`MIN_HOLDOUT_ROWS`) is held out
   to recalibrate, and at least :data:`MIN_TRAIN_ROWS` (plus the ``purge`` rows that share
   events with held-out ones) must precede it — otherwise nothing changes;
2. **the gate**: the recent rows as a whole are refused when more than
   ``max(SUSPECT_FLAGGED_X x target_far, SUSPECT_FLAGGED_MIN)`` of them score above the current
   threshold, or their median lies more than ``SUSPECT_SHIFT`` owner-σ above the owner's
   median. This bounds what an impostor can teach the profile; it does not stop one the
   detector takes for the owner (measured below and in :mod:`activesec.evaluate.drift`);
3. **bounded replacement**: of the rows before the held-out ones, those at or below the
   threshold (never a flagged row) replace at most ``max_drift`` of the old training rows, the
   oldest first, the newest confident rows taken.

The caller then fits the detector on ``X_fit`` and calibrates it on ``X_hold``
(:func:`recalibrate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from activesec.core.config import TrainConfig
from activesec.engine.trust import FUSION_WINDOW, Calibration

MIN_HOLDOUT_ROWS = 10
MIN_TRAIN_ROWS = 10
#: drift gate: recent rows are refused as a whole when more than max(4 x target_far, 20 %) of
#: them are flagged, or their median sits more than 1 owner-σ above the owner's median.
#: Measured 2026-12-06 on Balabit (each user's default pointer model as ``evaluate --continuous``
#: fits it, 5 % target; each labelled test session of >= 20 actions taken as an update's recent
#: rows): the owner's genuine sessions flag a median 4.1 % of their actions (mean 4.6 %, upper
#: quartile 6.7 %) and 1 of 394 would be refused; impostor sessions flag a median 23 % and 229
#: of 381 (60 %) would be refused — the other 40 % pass, the gate sees what the detector sees.
SUSPECT_FLAGGED_X, SUSPECT_FLAGGED_MIN, SUSPECT_SHIFT = 4.0, 0.20, 1.0


@dataclass(frozen=True)
class DriftUpdate:
    """The decision. ``learn`` False: ``reason`` says why nothing changes (too few rows, or the
    gate refused them: ``refused`` True). ``learn`` True: fit on ``X_fit``/``t_fit`` (old rows
    less the ``replaced`` oldest, plus the recent confident rows ``take`` indexes), calibrate on
    ``X_hold`` (the newest ``n_hold`` recent rows)."""

    learn: bool
    reason: str = ""
    refused: bool = False
    X_fit: np.ndarray | None = None
    t_fit: np.ndarray | None = None
    X_hold: np.ndarray | None = None
    take: np.ndarray | None = None
    replaced: int = 0
    n_hold: int = 0
    recent_rows: int = 0
    flagged: float = float("nan")
    shift: float = float("nan")


def drift_update(X_old: np.ndarray, t_old: np.ndarray, X_new: np.ndarray, t_new: np.ndarray,
                 score: Callable[[np.ndarray], np.ndarray],
                 cal: Calibration | Callable[[], Calibration], train: TrainConfig, *,
                 purge: int = 0) -> DriftUpdate:
    """Decide a drift update (module docstring). ``X_new``/``t_new``: the rows since the model's
    training, in time order; ``score``: the current model's scorer and ``cal`` its calibration
    or how to read it — both used only when there are enough rows, so a model with too few new
    rows is kept whatever its card holds; ``purge``: rows before the held-out ones that share
    events with them (overlapping keystroke windows)."""
    n = len(X_new)
    n_hold = max(MIN_HOLDOUT_ROWS, round(train.holdout * n))
    if n < n_hold + MIN_TRAIN_ROWS + purge:
        return DriftUpdate(False, f"only {n} new rows since the last training; keeping the model",
                           n_hold=n_hold, recent_rows=n)
    if not isinstance(cal, Calibration):
        cal = cal()
    thr = cal.threshold
    s = np.asarray(score(X_new))
    flagged = float(np.mean(s > thr))
    shift = float(np.median(cal.u(s)))
    limit = max(SUSPECT_FLAGGED_X * train.target_far, SUSPECT_FLAGGED_MIN)
    if flagged > limit or shift > SUSPECT_SHIFT:
        return DriftUpdate(
            False, f"recent data do not look like the owner ({flagged:.0%} of rows above "
            f"the threshold, limit {limit:.0%}; median {shift:+.2f} owner-σ from the "
            f"owner's, limit +{SUSPECT_SHIFT}): not learning from them",
            refused=True, n_hold=n_hold, recent_rows=n, flagged=flagged, shift=shift)
    pool_end = n - n_hold - purge
    ok = np.flatnonzero(s[:pool_end] <= thr)  # never a flagged row
    k = min(len(ok), math.floor(train.max_drift * len(X_old)))
    take = ok[len(ok) - k:]
    return DriftUpdate(
        True, X_fit=np.vstack([X_old[k:], X_new[take]]),
        t_fit=np.concatenate([t_old[k:], t_new[take]]), X_hold=X_new[n - n_hold:], take=take,
        replaced=int(k), n_hold=n_hold, recent_rows=n, flagged=flagged, shift=shift)


def recalibrate(held_out_scores: np.ndarray, target_far: float) -> Calibration:
    """The refitted model's calibration on its held-out scores (as training calibrates)."""
    return Calibration.from_scores(held_out_scores, target_far, FUSION_WINDOW)
