"""Continuous evaluation (evaluate.continuous): replay through the live engine, ANIA/ANGA."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.unit.test_agent import models, owner, stranger  # noqa: F401 - fixture re-export

from activesec.engine.pipeline import EngineConfig, replay_events
from activesec.engine.scoring import ModalityModel
from activesec.evaluate.continuous import SessionOutcome, replay_session, summarize


def test_owner_session_matches_the_engine_replay(models: dict[str, ModalityModel]) -> None:  # noqa: F811
    ev = owner(120, 21)
    o = replay_session(models, ev, user="u", session="s", genuine=True)
    decisions, eng = replay_events(models, ev)
    assert o.n_actions == eng.trust.n_updates  # no lock: identical to the engine's own replay
    assert [d.level for d in o.decisions] == [d.level for d in decisions]
    assert o.lock_actions == [] and o.final_trust == pytest.approx(eng.trust.trust)
    assert o.summary()["actions_to_first_lock"] is None


def test_stranger_locks_within_few_actions(models: dict[str, ModalityModel]) -> None:  # noqa: F811
    o = replay_session(models, stranger(60, 22), genuine=False)
    assert o.lock_actions and 6 <= o.lock_actions[0] <= 15  # one odd action never locks
    assert o.first_lock_s is not None and 0 < o.first_lock_s < o.duration_s
    assert o.decisions[[d.level for d in o.decisions].index("lock")].trust < 40


def test_after_a_lock_the_owner_unlocks_and_trust_is_reset(
        models: dict[str, ModalityModel]) -> None:  # noqa: F811
    ev = np.concatenate([stranger(30, 23), owner(250, 24, t0=200.0)])
    o = replay_session(models, ev, genuine=False)
    locks = [d for d in o.decisions if d.level == "lock"]
    assert locks and o.n_locks == len(locks) and o.lock_actions[0] <= 15
    # the session's actions are all of its 30 + 250 (bar one swallowed by each locked
    # screen), not only those since the last unlock: they are ANGA's numerator
    assert o.n_actions >= 30 + 250 - o.n_locks
    assert o.summary()["actions"] >= o.summary()["actions_to_first_lock"]
    # each lock is followed by an unlock (trust reset): the owner's actions then rebuild trust
    assert o.final_trust > 70


def test_summarize() -> None:
    def mk(genuine: bool, n: int, locks: list[int], t: float | None = None) -> SessionOutcome:
        return SessionOutcome("u", "s", genuine, 10, n, 60.0, [], locks, t, 50.0)

    s = summarize([mk(True, 1000, []), mk(True, 3000, [500]), mk(False, 30, [8], 12.0),
                   mk(False, 40, [12], 20.0), mk(False, 20, [])])
    assert s["anga"] == 4000 and s["false_locks"] == 1
    assert s["ania"] == 10 and s["ania_censored"] == pytest.approx((8 + 12 + 20) / 3)
    assert s["impostor_not_locked"] == 1 and s["seconds_to_lock"] == 16.0
    assert math.isinf(summarize([mk(True, 10, [])])["anga"])
    assert EngineConfig().policy.lock_below == 40


def test_fit_model_scores_with_the_agents_numpy_twin() -> None:
    from activesec.detectors.compact import CompactScorer
    from activesec.detectors.registry import create
    from activesec.evaluate.continuous import fit_model
    from activesec.features.pointer import POINTER_FEATURE_NAMES

    rng = np.random.default_rng(5)
    n_f = len(POINTER_FEATURE_NAMES)
    own, bg = rng.normal(0.0, 1.0, (300, n_f)), rng.normal(0.7, 1.2, (300, n_f))
    m = fit_model(own, bg, detector="extra_trees", params={"n_estimators": 10})
    assert isinstance(m.detector, CompactScorer)  # what the live agent loads, not scikit-learn
    full = create("extra_trees", n_estimators=10)
    full.fit(own[:240], bg)
    probe = rng.normal(0.3, 1.1, (50, n_f))
    np.testing.assert_allclose(m.detector.score(probe), full.score(probe), rtol=0, atol=1e-12)
    # calibrated on the held-out last 20 %, as the full model would have been
    assert m.calibration.center == pytest.approx(float(np.median(full.score(own[240:]))))


def test_fit_model_keyboard_purges_overlapping_windows_and_uses_groups() -> None:
    """Keyboard rows are overlapping windows: the 4 windows before the held-out ones share
    keys with them and are fitted on by neither side (as `activesec train` does); PLDA, the
    keyboard default, learns from the background's person ids."""
    from activesec.core.errors import DataError
    from activesec.detectors.compact import CompactScorer
    from activesec.detectors.registry import create
    from activesec.evaluate.continuous import fit_model
    from activesec.features.keys import KEY_FEATURE_NAMES, KEY_STEP, KEY_WINDOW

    rng = np.random.default_rng(6)
    n_f = len(KEY_FEATURE_NAMES)
    own = rng.normal(0.0, 1.0, (100, n_f))
    bg = np.vstack([rng.normal(rng.normal(0, 1, n_f), 1.0, (60, n_f)) for _ in range(8)])
    groups = np.repeat([f"p{i}" for i in range(8)], 60)
    m = fit_model(own, bg, modality="keyboard", groups=groups)
    assert isinstance(m.detector, CompactScorer) and m.detector.kind == "plda"
    assert m.weight == KEY_STEP / KEY_WINDOW  # a window brings 10 new keys of its 50
    full = create("plda").fit(own[:76], bg, groups)  # 80 held back 20, 4 purged
    probe = rng.normal(0.2, 1.1, (30, n_f))
    np.testing.assert_allclose(m.detector.score(probe), full.score(probe), atol=1e-6)
    assert m.calibration.center == pytest.approx(float(np.median(full.score(own[80:]))),
                                                 abs=1e-6)
    with pytest.raises(DataError, match="only 8 enrolment keystroke windows to fit on"):
        fit_model(own[:15], bg, modality="keyboard", groups=groups)


def test_balabit_continuous_in_parallel_equals_serial(tmp_path: Path) -> None:
    """A small real Balabit slice (3 users; 2 labelled test sessions each, one of them an
    impostor's where the labels allow): the result does not depend on ``jobs``."""
    from tests.helpers.slices import labelled_balabit

    from activesec.evaluate.continuous import balabit_continuous

    labelled_balabit(tmp_path)
    kw: dict[str, Any] = {"detector": "extra_trees", "params": {"n_estimators": 10},
                          "max_background": 500}
    serial = balabit_continuous(tmp_path, **kw)
    seen: list[str] = []
    parallel = balabit_continuous(tmp_path, jobs=2, progress=seen.append, **kw)
    assert seen == ["user12", "user7", "user9"]
    assert serial["impostor_sessions"] == 3 and serial["genuine_sessions"] == 3
    assert parallel["sessions"] == serial["sessions"]
    assert parallel["per_user"] == serial["per_user"]


def test_a_keys_replay_counts_keystroke_windows_and_says_so() -> None:
    """`replay` of a keys recording printed "29 actions" and "first lock after 12 actions" for
    keystroke windows (each 10 new keystrokes), while `evaluate --continuous` said windows."""
    from activesec.engine.scoring import KEYBOARD
    from activesec.evaluate.continuous import fit_model
    from activesec.evaluate.protocols.keys_common import unit_rows
    from activesec.recordings.synthetic import typing

    enrol = typing(1500, seed=1)
    rows, _, _ = unit_rows(enrol, 50, 10, absence_s=60.0)
    model = fit_model(rows, None, modality=KEYBOARD, detector="scaled_manhattan")
    o = replay_session({KEYBOARD: model}, typing(300, seed=2, t0=1000.0), user="u", session="s")
    assert o.n_actions > 0 and o.keyboard_units == o.n_actions
    assert o.unit == o.summary()["unit"] == "keystroke windows"
    assert SessionOutcome("u", "s", None, 10, 5, 1.0).unit == "actions"
