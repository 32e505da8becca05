"""The drift update's decision (:mod:`activesec.engine.drift`) and its evaluation
(:mod:`activesec.evaluate.drift`) on synthetic rows: the shared decision is the one ``retrain``
took before it was shared, a slowly drifting owner is tracked, a stranger is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from activesec.core.config import TrainConfig
from activesec.engine.drift import (
    MIN_HOLDOUT_ROWS,
    MIN_TRAIN_ROWS,
    SUSPECT_FLAGGED_MIN,
    SUSPECT_FLAGGED_X,
    SUSPECT_SHIFT,
    drift_update,
)
from activesec.engine.trust import FUSION_WINDOW, Calibration
from activesec.evaluate.drift import days_curve, enrol, walk

NF = 8
DETECTOR = "scaled_manhattan"


def before_refactor(X_old: np.ndarray, t_old: np.ndarray, X: np.ndarray, t: np.ndarray,
                    scorer, cal: Calibration, train: TrainConfig, purge: int
                    ) -> tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None, int]:
    """``_retrain_one``'s decision as it was written before it became ``drift_update`` (commit
    c19d951, copied line for line): (reason or '', X_fit, t_fit, X_hold, replaced)."""
    n_hold = max(MIN_HOLDOUT_ROWS, round(train.holdout * len(X)))
    if len(X) < n_hold + MIN_TRAIN_ROWS + purge:
        return (f"only {len(X)} new rows since the last training; keeping the model",
                None, None, None, 0)
    thr = cal.threshold
    s = np.asarray(scorer.score(X))
    flagged = float(np.mean(s > thr))
    shift = float(np.median(cal.u(s)))
    limit = max(SUSPECT_FLAGGED_X * train.target_far, SUSPECT_FLAGGED_MIN)
    if flagged > limit or shift > SUSPECT_SHIFT:
        return ((f"recent data do not look like the owner ({flagged:.0%} of rows above "
                 f"the threshold, limit {limit:.0%}; median {shift:+.2f} owner-σ from the "
                 f"owner's, limit +{SUSPECT_SHIFT}): not learning from them"),
                None, None, None, 0)
    pool_end = len(X) - n_hold - purge
    ok = np.flatnonzero(s[:pool_end] <= thr)
    k = min(len(ok), math.floor(train.max_drift * len(X_old)))
    take = ok[len(ok) - k:]
    return ("", np.vstack([X_old[k:], X[take]]), np.concatenate([t_old[k:], t[take]]),
            X[len(X) - n_hold:], k)


def owner_model(rng: np.random.Generator, n: int = 40):
    from activesec.detectors.registry import create

    X_old = rng.normal(size=(n, NF))
    det = create(DETECTOR).fit(X_old[: n * 3 // 4])
    cal = Calibration.from_scores(det.score(X_old[n * 3 // 4:]), 0.05, FUSION_WINDOW)
    return X_old, np.arange(n, dtype=np.int64), det, cal


@pytest.mark.parametrize("case", ["owner", "stranger", "too few", "owner, purged"])
def test_the_shared_decision_is_the_one_retrain_took_before(case: str) -> None:
    rng = np.random.default_rng(3)
    X_old, t_old, det, cal = owner_model(rng)
    train = TrainConfig(max_drift=0.25)
    n, purge = {"owner": (60, 0), "stranger": (60, 0), "too few": (19, 0),
                "owner, purged": (60, 4)}[case]
    X = rng.normal(size=(n, NF)) + (4.0 if case == "stranger" else 0.0)
    t = 100 + np.arange(n, dtype=np.int64)
    calls: list[int] = []

    def score(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return np.asarray(det.score(rows))

    up = drift_update(X_old, t_old, X, t, score, cal, train, purge=purge)
    reason, X_fit, t_fit, X_hold, k = before_refactor(X_old, t_old, X, t, det, cal, train, purge)
    assert up.reason == reason
    assert up.learn == (reason == "")
    assert up.refused == ("not learning" in reason)
    if case == "owner":
        assert up.learn and 0 < up.replaced == k <= 10  # max_drift x 40 old rows
    if case == "stranger":
        assert up.refused
    if case == "too few":
        assert not calls  # the scorer is not even asked
    if up.learn:
        assert up.X_fit is not None and X_fit is not None
        np.testing.assert_array_equal(up.X_fit, X_fit)
        np.testing.assert_array_equal(up.t_fit, t_fit)
        np.testing.assert_array_equal(up.X_hold, X_hold)
        assert up.replaced == k and len(up.X_fit) == len(X_old)  # replaced, not added
        assert np.all(det.score(X[up.take]) <= cal.threshold)  # never a flagged row


def test_the_calibration_is_read_only_when_there_is_something_to_decide() -> None:
    rng = np.random.default_rng(0)
    X_old, t_old, det, _ = owner_model(rng)

    def damaged() -> Calibration:
        raise AssertionError("read")

    few = drift_update(X_old, t_old, X_old[:5], t_old[:5], det.score, damaged, TrainConfig())
    assert not few.learn and not few.refused and "only 5 new rows" in few.reason


def drifting_owner(rng: np.random.Generator, per_day: float, days: np.ndarray) -> np.ndarray:
    direction = np.where(np.arange(NF) % 2 == 0, 1.0, -1.0)
    return direction * per_day * days[:, None] + rng.normal(size=(len(days), NF))


def test_a_slowly_drifting_owner_is_tracked_by_the_updates() -> None:
    """An owner whose every feature moves 0.03 σ a day (1.7 σ in 8 weeks), ~5 sessions a day,
    enrolled on 40 rows: the weekly updates learn, and the EER of weeks 5-8 against strangers is
    far lower with them than without."""
    rng = np.random.default_rng(0)
    enrol_rows = drifting_owner(rng, 0.03, np.linspace(-3, 0, 40))
    days = np.sort(rng.uniform(0.01, 56, 280))
    X = drifting_owner(rng, 0.03, days)
    strangers = rng.normal(size=(400, NF)) + 1.5 * rng.normal(size=(400, NF))
    train = TrainConfig()
    start = enrol(DETECTOR, {}, enrol_rows, train.target_far)
    w = walk(start, X, days, train, DETECTOR, {})
    assert w.learnt >= 6 and w.refused == 0  # every week, never refused
    assert len(w.models[-1].X) == 40 and not w.models[-1].foreign.any()
    imp = [np.asarray(m.det.score(strangers)) for m in w.models]
    with_ = days_curve([{"days": days, "scores": w.scores, "version": w.version,
                         "impostor": imp}])
    without = days_curve([{"days": days, "scores": np.asarray(start.det.score(X)),
                           "version": np.zeros(len(X), np.int64), "impostor": imp[:1]}])
    assert [r["days_from"] for r in with_] == [0, 1, 3, 7, 14, 28]
    # before the first update (7 days) both curves are the same model's
    assert [r["eer"] for r in with_[:3]] == [r["eer"] for r in without[:3]]
    assert with_[-1]["eer"] < 0.25 < 0.45 < without[-1]["eer"]
    assert with_[-2]["eer"] < without[-2]["eer"]


def test_a_patient_stranger_fed_as_the_owner_is_refused_every_time() -> None:
    rng = np.random.default_rng(1)
    enrol_rows = rng.normal(size=(40, NF))
    days = np.sort(rng.uniform(0.01, 56, 280))
    stranger = rng.normal(size=(280, NF)) + 3.0 * np.where(np.arange(NF) < 4, 1.0, -1.0)
    train = TrainConfig()
    start = enrol(DETECTOR, {}, enrol_rows, train.target_far)
    w = walk(start, stranger, days, train, DETECTOR, {}, foreign=True)
    # one decision a week over 8 weeks, each refusing only that week's rows
    assert w.attempted >= 6 and w.refused == w.attempted and w.learnt == 0
    assert len(w.models) == 1 and not w.models[-1].foreign.any()  # the profile never moved
    assert np.all(w.version == 0)


def test_enrolment_is_calibrated_on_leave_one_out_scores() -> None:
    from activesec.detectors.registry import create

    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, NF))
    m = enrol(DETECTOR, {}, X, 0.05)
    loo = [float(create(DETECTOR).fit(np.delete(X, i, 0)).score(X[i:i + 1])[0])
           for i in range(10)]
    assert m.cal == Calibration.from_scores(np.array(loo), 0.05, FUSION_WINDOW)
    in_sample = Calibration.from_scores(create(DETECTOR).fit(X).score(X), 0.05, FUSION_WINDOW)
    assert m.cal.threshold > in_sample.threshold  # held-out scores are the honest ones
