"""Trust tuning on a training split: grid parsing, the Poisson false-lock budget and the replay
through the live trust model (synthetic scores; the Balabit run is in the integration tests)."""

from __future__ import annotations

import numpy as np
import pytest

from activesec.core.errors import ConfigError
from activesec.engine.trust import Calibration, TrustConfig
from activesec.evaluate.trust_tuning import (
    _replay,
    _setting_summary,
    _UserResult,
    best_setting,
    parse_grid,
    poisson_upper,
    settings_of,
)


def test_parse_grid_reads_numbers_per_key() -> None:
    g = parse_grid(["neutral_z=-0.4,-0.3", "window=3,5", " max_penalty = 6 "])
    assert g == {"neutral_z": [-0.4, -0.3], "window": [3.0, 5.0], "max_penalty": [6.0]}


@pytest.mark.parametrize("item", ["nonsense=1", "neutral_z", "neutral_z=a,b", "max_penalty="])
def test_parse_grid_rejects_bad_items_with_a_hint(item: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_grid([item])
    assert "--grid" in str(exc.value) and exc.value.hint


@pytest.mark.parametrize("item", ["window=nan", "window=3,inf", "neutral_z=-inf"])
def test_parse_grid_refuses_values_that_are_not_finite(item: str) -> None:
    """`--grid window=nan` (or inf) ended `evaluate --tune-trust` in a traceback (int(nan))."""
    with pytest.raises(ConfigError, match="values must be finite numbers"):
        settings_of(parse_grid([item]))


def test_settings_are_the_product_in_grid_order_and_validated() -> None:
    s = settings_of({"window": [3, 5], "neutral_z": [-0.3, -0.1]})
    assert [(w, c.neutral_z) for w, c in s] == [(3, -0.3), (3, -0.1), (5, -0.3), (5, -0.1)]
    with pytest.raises(ConfigError, match="invalid"):
        settings_of({"max_penalty": [70.0]})  # one action could lock from full trust
    with pytest.raises(ConfigError, match="window"):
        settings_of({"window": [0]})


def test_poisson_budget_matches_the_documented_six_false_locks() -> None:
    # 24,104 owner actions, ANGA target 2,000: the 95 % upper bound must stay <= 12.05 locks
    assert poisson_upper(0) == pytest.approx(2.996, abs=1e-3)  # -ln(0.05)
    assert poisson_upper(6) == pytest.approx(11.84, abs=0.01)
    assert poisson_upper(7) > 24_104 / 2000 > poisson_upper(6)


def _cal(rng: np.random.Generator) -> Calibration:
    return Calibration.from_scores(rng.normal(0.0, 1.0, 5000), 0.05, 5)


def test_replay_locks_a_shifted_stream_and_resets_after_each_lock() -> None:
    rng = np.random.default_rng(0)
    cal, cfg = _cal(rng), TrustConfig()
    assert _replay(rng.normal(0.0, 1.0, 3000), cal, cfg, stop_at_first=False) == []
    far = np.full(200, 10.0)  # far beyond anything the owner produced
    locks = _replay(far, cal, cfg, stop_at_first=False)
    assert len(locks) > 10 and locks[0] >= 2  # one action never locks; each lock resets trust
    assert np.all(np.diff(locks) == locks[0])
    assert _replay(far, cal, cfg, stop_at_first=True) == locks[:1]


def test_a_higher_break_even_point_never_locks_an_impostor_sooner() -> None:
    rng = np.random.default_rng(1)
    cal = _cal(rng)
    chunks = [rng.normal(0.8, 1.0, 100) for _ in range(60)]
    firsts: dict[float, list[int | None]] = {}
    for a in (-0.5, -0.3, 0.0):
        cfg = TrustConfig(neutral_z=a)
        hits = [_replay(c, cal, cfg, stop_at_first=True) for c in chunks]
        firsts[a] = [h[0] if h else None for h in hits]
    for lo, hi in ((-0.5, -0.3), (-0.3, 0.0)):
        for f_lo, f_hi in zip(firsts[lo], firsts[hi], strict=True):
            assert f_hi is None or (f_lo is not None and f_lo <= f_hi)

    def censored(a: float) -> float:
        return float(np.mean([100 if f is None else f for f in firsts[a]]))

    assert censored(-0.5) < censored(-0.3) < censored(0.0)  # and the grid is not flat


def test_setting_summary_pools_users_and_marks_eligibility() -> None:
    users = [_UserResult("a", 12_000, [3], [[5, None, 15]]),
             _UserResult("b", 12_104, [3], [[None, 10]])]
    s = _setting_summary(5, TrustConfig(), 0, users, chunk=100, target_anga=2000)
    assert s["owner_actions"] == 24_104 and s["false_locks"] == 6 and s["eligible"]
    assert s["anga"] == pytest.approx(24_104 / 6)
    assert s["impostor_chunks"] == 5 and s["impostor_locked"] == 3
    assert s["ania"] == pytest.approx(10.0) and s["ania_censored"] == pytest.approx(46.0)
    assert s["per_user"]["a"] == {"false_locks": 3, "ania": 10.0}
    users[0].false_locks[0] = 4  # 7 in all: the upper bound passes 1 / 2,000
    assert not _setting_summary(5, TrustConfig(), 0, users, 100, 2000)["eligible"]


def test_best_is_the_eligible_setting_with_fewest_censored_impostor_actions() -> None:
    a = {"eligible": True, "ania": 20.0, "ania_censored": 60.0}  # locks few impostors
    b = {"eligible": True, "ania": 25.0, "ania_censored": 40.0}
    c = {"eligible": False, "ania": 10.0, "ania_censored": 15.0}  # too many false locks
    assert best_setting([a, b, c]) is b
    assert best_setting([c]) is None and best_setting([]) is None


def test_an_empty_owner_stream_is_never_eligible() -> None:
    s = _setting_summary(5, TrustConfig(), 0, [_UserResult("a", 0, [0], [[]])], 100, 2000)
    assert s["eligible"] is False and s["ania"] is None and s["ania_censored"] is None
    assert best_setting([s]) is None
