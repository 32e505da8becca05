"""Keystroke pairing and window features from class-only key events."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from activesec.core.events import Kind, make
from activesec.core.keys import KeyClass
from activesec.features.keys import (
    DEFAULTS,
    KEY_FEATURE_NAMES,
    keystroke_windows,
    keystroke_windows_between_absences,
    keystrokes,
    split_at_absences,
)

F = {n: i for i, n in enumerate(KEY_FEATURE_NAMES)}
MS = 1_000_000
L, S, B, M = KeyClass.LETTER, KeyClass.SPACE, KeyClass.BACKSPACE, KeyClass.MODIFIER


def typed(strokes: Sequence[tuple[float, float | None, int]]) -> np.ndarray:
    """Events from (press_ms, release_ms or None, class); stroke id = position."""
    parts = []
    for i, (p, r, c) in enumerate(strokes):
        parts.append(make(int(p * MS), Kind.KEY_DOWN, i + 100, 0, c))
        if r is not None:
            parts.append(make(int(r * MS), Kind.KEY_UP, i + 100, 0, c))
    e = np.concatenate(parts)
    return e[np.argsort(e["t_ns"], kind="stable")]


def regular(n: int, period: float = 200, dwell: float = 80, cls: int = L) -> list:
    return [(i * period, i * period + dwell, cls) for i in range(n)]


def test_regular_typing_timings() -> None:
    w = keystroke_windows(typed(regular(20)), window=0)
    assert w.X.shape == (1, len(KEY_FEATURE_NAMES))
    x = w.X[0]
    assert x[F["dwell_mean"]] == pytest.approx(0.08)
    assert x[F["pp_mean"]] == pytest.approx(0.2)
    assert x[F["rp_p50"]] == pytest.approx(0.12)
    assert x[F["rr_mean"]] == pytest.approx(0.2)
    assert x[F["pr_mean"]] == pytest.approx(0.28)
    assert x[F["pp2_mean"]] == pytest.approx(0.4)  # press to the press after next
    assert x[F["rate_keys_s"]] == pytest.approx(5.0)
    assert x[F["rollover_rate"]] == 0 and x[F["pause_rate"]] == 0
    assert x[F["share_letter"]] == 1
    assert w.n_keys[0] == 20 and w.t_start_ns[0] == 0 and w.t_end_ns[0] == (19 * 200 + 80) * MS


def test_rollover_pauses_and_digraph_classes() -> None:
    s = [(0, 150, L), (100, 180, L), (300, 360, S), (2000, 2100, L), (2150, 2230, B)]
    x = keystroke_windows(typed(s), window=0).X[0]
    assert x[F["rollover_rate"]] == pytest.approx(1 / 3)  # 0->1 overlaps; pauses excluded
    assert x[F["pause_rate"]] == pytest.approx(1 / 4)
    assert x[F["pause_mean_s"]] == pytest.approx(1.7)
    assert x[F["pp_LL"]] == pytest.approx(0.1)
    assert x[F["rp_LL"]] == pytest.approx(-0.05)
    assert x[F["pp_LS"]] == pytest.approx(0.2)
    assert x[F["pp_LB"]] == pytest.approx(0.15)
    assert x[F["share_backspace"]] == pytest.approx(0.2)  # correction rate
    assert x[F["dwell_space"]] == pytest.approx(0.06)


def test_rhythm_features_on_constructed_typing() -> None:
    # steady typing: no variance, so no correlation, spread or skew; LL tails = the one flight
    x = keystroke_windows(typed(regular(20)), window=0).X[0]
    for name in ("pp_lag1_corr", "dwell_lag1_corr", "pp_rel_iqr", "pp_log_skew",
                 "pp_half_log_ratio", "backspace_run"):
        assert x[F[name]] == pytest.approx(0.0), name
    assert x[F["pp_LL_p10"]] == pytest.approx(0.2) and x[F["pp_LL_p90"]] == pytest.approx(0.2)
    assert x[F["rr_LL"]] == pytest.approx(0.2) and x[F["rp_LL_mean"]] == pytest.approx(0.12)
    assert x[F["dwell_letter_mean"]] == pytest.approx(0.08)
    # short-long alternation: consecutive flights perfectly anti-correlated
    t = np.cumsum([0] + [100, 300] * 10)
    x = keystroke_windows(typed([(p, p + 80, L) for p in t]), window=0).X[0]
    assert x[F["pp_lag1_corr"]] == pytest.approx(-1.0)
    # twice as slow in the second half: the log ratio of the halves' median flights
    t = np.cumsum([0] + [100] * 10 + [200] * 10)
    x = keystroke_windows(typed([(p, p + 80, L) for p in t]), window=0).X[0]
    assert x[F["pp_half_log_ratio"]] == pytest.approx(np.log(2))
    # L L B B L B: two backspace runs of 3 presses; the letter before the space held 150 ms
    s = [(0, 80, L), (200, 280, L), (400, 480, B), (600, 680, B), (800, 880, L),
         (1000, 1080, B), (1200, 1350, L), (1400, 1480, S), (1600, 1680, L)]
    x = keystroke_windows(typed(s), window=0).X[0]
    assert x[F["backspace_run"]] == pytest.approx(1.5)
    assert x[F["dwell_letter_before_space"]] == pytest.approx(0.15)


def test_a_flight_of_exactly_pause_s_is_not_a_pause() -> None:
    """The pause rule compares integer nanoseconds: as float seconds since the first stroke,
    1.001000143 s -> 2.001000143 s is a hair above 1.0 s (millisecond stamps hit such edges)."""
    a = 1_001_000_143
    e = np.concatenate([make(0, Kind.KEY_DOWN, 0, 0, L), make(80 * MS, Kind.KEY_UP, 0, 0, L),
                        make(a, Kind.KEY_DOWN, 1, 0, L), make(a + 80 * MS, Kind.KEY_UP, 1, 0, L),
                        make(a + 1000 * MS, Kind.KEY_DOWN, 2, 0, L),
                        make(a + 1080 * MS, Kind.KEY_UP, 2, 0, L)])
    # flights: 1.001000143 s (a pause) and exactly 1 s (not one)
    assert keystroke_windows(e, window=0).X[0][F["pause_rate"]] == 1 / 2
    e["t_ns"][4:] += 1  # one nanosecond more is a pause
    assert keystroke_windows(e, window=0).X[0][F["pause_rate"]] == 1


def test_imputation_keeps_rows_finite() -> None:
    x = keystroke_windows(typed(regular(10)), window=0).X[0]
    # no space, backspace or digraph L->S in the window: the window's own statistic fills in
    assert x[F["dwell_space"]] == pytest.approx(x[F["dwell_p50"]])
    assert x[F["pp_LS"]] == pytest.approx(x[F["pp_p50"]])
    no_release = typed([(i * 100.0, None, L) for i in range(10)])
    y = keystroke_windows(no_release, window=0).X[0]
    assert np.isfinite(y).all()
    assert y[F["dwell_mean"]] == DEFAULTS["dwell"] and y[F["rp_p50"]] == DEFAULTS["rp"]
    assert y[F["pp_mean"]] == pytest.approx(0.1)


def test_pairing_unmatched_and_autorepeat() -> None:
    e = np.concatenate([
        make(0, Kind.KEY_DOWN, 1, 0, L), make(50 * MS, Kind.KEY_DOWN, 1, 0, L),  # auto-repeat
        make(90 * MS, Kind.KEY_UP, 1, 0, L),
        make(100 * MS, Kind.KEY_UP, 7, 0, L),  # release without press: ignored
        make(200 * MS, Kind.KEY_DOWN, 2, 0, S),  # press without release
    ])
    s = keystrokes(e)
    assert len(s) == 2
    assert s.release[0] == pytest.approx(0.09)
    assert np.isnan(s.release[1]) and s.release_ns[1] == -1
    assert list(s.cls) == [L, S]


def test_windows_and_order_invariance() -> None:
    rng = np.random.default_rng(0)
    strokes = [(i * 150 + rng.uniform(0, 60), i * 150 + 100 + rng.uniform(0, 60),
                int(rng.choice([L, S, B, M]))) for i in range(100)]
    e = typed(strokes)
    w = keystroke_windows(e, window=50, step=10)
    assert len(w) == 6 and (w.n_keys == 50).all()
    assert np.isfinite(w.X).all()
    w2 = keystroke_windows(e[rng.permutation(len(e))], window=50, step=10)
    np.testing.assert_array_equal(w.X, w2.X)
    assert len(keystroke_windows(e, window=101)) == 0


def test_empty_and_pointer_only_input() -> None:
    assert keystroke_windows(make(np.arange(5), Kind.MOVE, 1, 1)).X.shape == (0, len(F))
    with pytest.raises(ValueError):
        keystroke_windows(typed(regular(5)), window=5, step=0)


def test_sessions_split_at_absences_as_live_scoring_does() -> None:
    """A gap of more than ``absence_s`` between two key events cuts (exactly ``absence_s``
    does not); pointer events neither cut nor bridge a gap; input order does not matter.
    (That the windows equal the live scorer's: tests/unit/test_engine_scoring.py.)"""
    blocks = [typed(regular(n)) for n in (60, 60, 55)]
    for i, gap_ns in ((1, 60 * 10**9), (2, 60 * 10**9 + 1)):
        prev, b = blocks[i - 1], blocks[i]
        b["t_ns"] += int(prev["t_ns"].max()) + gap_ns
        b["x"] += int(prev["x"].max())
    e = np.concatenate(blocks)
    gaps = np.diff(np.sort(e["t_ns"]))
    assert sorted(gaps)[-2:] == [60_000 * MS, 60_000 * MS + 1]
    moves = make(int(84_000 * MS) + np.arange(100) * 500 * MS, Kind.MOVE, 1, 1)
    mixed = np.concatenate([e, moves])[np.random.default_rng(1).permutation(len(e) + 100)]
    parts = split_at_absences(mixed, 60.0)
    assert [len(p) for p in parts] == [240, 110]
    assert all((np.diff(p["t_ns"]) >= 0).all() for p in parts)
    w = keystroke_windows_between_absences(mixed, 60.0, 50, 10)
    whole, tail = keystroke_windows(parts[0], 50, 10), keystroke_windows(parts[1], 50, 10)
    assert (len(whole), len(tail), len(w)) == (8, 1, 9)
    np.testing.assert_array_equal(w.X, np.vstack([whole.X, tail.X]))
    np.testing.assert_array_equal(w.t_end_ns, np.r_[whole.t_end_ns, tail.t_end_ns])
    assert len(keystroke_windows_between_absences(moves, 60.0)) == 0
    assert split_at_absences(moves, 60.0) == []


def test_masked_medians_in_one_sort_equal_the_per_mask_quantile() -> None:
    """The batched medians the windows use are exactly the 0.5 quantile of ``_nanstats`` per
    mask — NaN in the data, masks selecting nothing, one value, ties — so the rows did not
    change when it replaced one call per key class and digraph."""
    from activesec.features.keys import _masked_medians, _nanstats

    rng = np.random.default_rng(3)
    a = rng.gamma(2.0, 0.05, (40, 49))
    a[rng.random(a.shape) < 0.1] = np.nan
    a[:, 5] = a[:, 6]  # ties
    masks = rng.random((40, 7, 49)) < rng.choice([0.0, 0.02, 0.3, 1.0], (1, 7, 1))
    got = _masked_medians(a, masks)
    for k in range(masks.shape[1]):
        want = _nanstats(np.where(masks[:, k], a, np.nan))[3 + 2]
        np.testing.assert_array_equal(got[:, k], want)
    assert np.isnan(got).any() and not np.isnan(got).all()
    assert _masked_medians(a[:, :0], masks[:, :, :0]).shape == (40, 7)
