"""Pointer segmentation and mouse-dynamics features on hand-built and real event streams."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core.events import Kind, make
from activesec.features.pointer import (
    DRAG_DROP,
    MOUSE_MOVE,
    POINT_CLICK,
    POINTER_FEATURE_NAMES,
    SCROLL,
    PointerConfig,
    pointer_features,
    segment_actions,
)

F = {n: i for i, n in enumerate(POINTER_FEATURE_NAMES)}
MS = 1_000_000


def moves(t0_ms: float, xs, ys, dt_ms: float = 10.0) -> np.ndarray:
    n = len(xs)
    t = (t0_ms + np.arange(n) * dt_ms) * MS
    return make(t.astype(np.int64), Kind.MOVE, np.asarray(xs), np.asarray(ys))


def ev(t_ms: float, kind: Kind, x: int, y: int, code: int = 0) -> np.ndarray:
    return make(int(t_ms * MS), kind, x, y, code)


def cat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts)


def test_straight_constant_speed_line() -> None:
    e = moves(0, np.arange(0, 200, 10), np.full(20, 50))  # 10 px per 10 ms = 1000 px/s
    a = pointer_features(e)
    assert a.X.shape == (1, len(POINTER_FEATURE_NAMES))
    assert a.X.dtype == np.float64 and a.kind.dtype == np.int8
    x = a.X[0]
    assert a.kind[0] == MOUSE_MOVE
    assert x[F["straightness"]] == pytest.approx(1.0)
    assert x[F["v_mean"]] == pytest.approx(1000.0)
    assert x[F["traveled_px"]] == pytest.approx(190.0)
    assert x[F["dir_cos"]] == pytest.approx(1.0)
    assert x[F["dir_sector"]] == 0
    assert x[F["curv_mean_abs"]] == 0 and x[F["n_critical"]] == 0
    assert x[F["t_half_dist_frac"]] == pytest.approx(0.5, abs=0.03)
    assert x[F["v_cv"]] == pytest.approx(0.0) and x[F["still_frac"]] == 0
    assert x[F["duration_s"]] == pytest.approx(0.19)
    assert a.n_events[0] == 20
    assert a.t_start_ns[0] == 0 and a.t_end_ns[0] == 190 * MS


def test_upward_movement_is_sector_two() -> None:
    a = pointer_features(moves(0, np.full(10, 100), 100 - np.arange(10) * 5))
    assert a.X[0, F["dir_sin"]] == pytest.approx(1.0)  # screen y grows downwards
    assert a.X[0, F["dir_sector"]] == 2


def test_pause_splits_actions() -> None:
    e = cat(moves(0, np.arange(10), np.zeros(10)), moves(3000, np.arange(10), np.zeros(10)))
    s = segment_actions(e)
    assert len(s) == 2
    assert list(s.kind) == [MOUSE_MOVE, MOUSE_MOVE]
    assert len(segment_actions(e, PointerConfig(pause_s=5.0))) == 1


def test_point_click_with_pause_before_press_and_dwell() -> None:
    e = cat(moves(0, np.arange(0, 100, 10), np.zeros(10)),
            ev(90 + 400, Kind.BUTTON_DOWN, 90, 0, 1), ev(90 + 400 + 120, Kind.BUTTON_UP, 90, 0, 1),
            moves(700, np.arange(100, 200, 10), np.zeros(10)))
    a = pointer_features(e)
    assert list(a.kind) == [POINT_CLICK, MOUSE_MOVE]  # the release ends the click action
    assert a.X[0, F["is_point_click"]] == 1
    assert a.X[0, F["pause_before_press_s"]] == pytest.approx(0.4)
    assert a.X[0, F["click_dwell_s"]] == pytest.approx(0.12)
    assert a.X[0, F["button_right"]] == 0


def test_drag_drop_is_its_own_action_after_the_approach() -> None:
    e = cat(moves(0, np.arange(0, 50, 5), np.zeros(10)),
            ev(100, Kind.BUTTON_DOWN, 45, 0, 1),
            moves(110, np.full(10, 45), np.arange(0, 100, 10)),
            ev(2500, Kind.BUTTON_UP, 45, 90, 1))  # held still for >1 s: still one drag
    a = pointer_features(e)
    assert list(a.kind) == [MOUSE_MOVE, DRAG_DROP]
    assert a.X[1, F["press_release_px"]] == pytest.approx(90.0)
    assert a.X[1, F["click_dwell_s"]] == pytest.approx(2.4)


def test_scrolls_are_grouped() -> None:
    sc = make(np.arange(5) * 50 * MS + 200 * MS, Kind.SCROLL, 10, 10, code=-1)
    e = cat(moves(0, np.arange(10), np.zeros(10)), sc, moves(500, np.arange(10), np.zeros(10)))
    a = pointer_features(e)
    assert list(a.kind) == [MOUSE_MOVE, SCROLL, MOUSE_MOVE]
    assert a.X[1, F["scroll_steps"]] == 5
    assert a.X[1, F["scroll_dir"]] == -1
    assert a.X[1, F["scroll_rate"]] == pytest.approx(5 / 0.2)


def test_robust_to_duplicates_zero_moves_sentinels_and_order() -> None:
    rng = np.random.default_rng(1)
    base = moves(0, np.cumsum(rng.integers(-3, 4, 300)), np.cumsum(rng.integers(-3, 4, 300)))
    dup = base[::7].copy()
    dup["x"] += 1  # same timestamp, another position
    still = moves(5000, np.full(30, 7), np.full(30, 7))  # zero-length moves
    sentinel = make(np.array([100, 200]) * MS, Kind.MOVE, 65535, 65535)
    e = cat(base, dup, still, sentinel)
    a = pointer_features(e)
    assert np.isfinite(a.X).all() and len(a) > 0
    shuffled = e[rng.permutation(len(e))]
    b = pointer_features(shuffled)
    # stable sort: rows with equal timestamps may swap, everything else is identical
    assert b.X.shape == a.X.shape
    assert np.array_equal(a.kind, b.kind) and np.array_equal(a.t_start_ns, b.t_start_ns)
    assert pointer_features(sentinel).X.shape == (0, len(POINTER_FEATURE_NAMES))


def test_empty_and_non_pointer_input() -> None:
    a = pointer_features(make(np.arange(5), Kind.KEY_DOWN, 1, 0, 1))
    assert a.X.shape == (0, len(POINTER_FEATURE_NAMES)) and len(a.kind) == 0
    assert len(segment_actions(make(np.zeros(0, np.int64), Kind.MOVE))) == 0


def test_scale_free_features_ignore_screen_scale() -> None:
    rng = np.random.default_rng(3)
    xs, ys = np.cumsum(rng.normal(3, 2, 60)), np.cumsum(rng.normal(1, 2, 60))
    a = pointer_features(moves(0, np.round(xs * 10), np.round(ys * 10)))
    b = pointer_features(moves(0, np.round(xs * 20), np.round(ys * 20)))
    for name in ("straightness", "dev_rel", "t_vmax_frac", "v_cv", "v_mean_over_max",
                 "dir_cos", "turn_total", "accel_time_frac"):
        assert a.X[0, F[name]] == pytest.approx(b.X[0, F[name]], rel=0.02, abs=0.02), name
    assert b.X[0, F["v_mean"]] == pytest.approx(2 * a.X[0, F["v_mean"]], rel=0.01)


def test_vectorised_matches_a_per_action_reference() -> None:
    rng = np.random.default_rng(7)
    parts = [moves(i * 2000, np.cumsum(rng.integers(0, 9, 40)), np.cumsum(rng.integers(-4, 5, 40)),
                   dt_ms=int(rng.integers(5, 20))) for i in range(6)]
    e = cat(*parts)
    a = pointer_features(e, PointerConfig(resample_s=0.0))  # every point, as the reference
    assert len(a) == 6
    for i, p in enumerate(parts):
        x, y, t = p["x"].astype(float), p["y"].astype(float), p["t_ns"] / 1e9
        ds = np.hypot(np.diff(x), np.diff(y))
        v = ds / np.diff(t)
        assert a.X[i, F["traveled_px"]] == pytest.approx(ds.sum())
        assert a.X[i, F["v_max"]] == pytest.approx(v.max())
        assert a.X[i, F["v_std"]] == pytest.approx(v.std())
        assert a.X[i, F["v_median"]] == pytest.approx(np.sort(v)[(len(v) - 1) // 2])
        e2e = np.hypot(x[-1] - x[0], y[-1] - y[0])
        assert a.X[i, F["straightness"]] == pytest.approx(e2e / ds.sum())


def test_last_action_is_open_until_closed() -> None:
    e = moves(0, np.arange(10), np.zeros(10))
    assert not segment_actions(e).closed[-1]
    e2 = cat(e, ev(95, Kind.BUTTON_DOWN, 9, 0, 1), ev(150, Kind.BUTTON_UP, 9, 0, 1))
    assert segment_actions(e2).closed[-1]


def _read_balabit(path, limit: int) -> np.ndarray:
    rows = []
    with open(path, newline="") as fh:
        r = csv.reader(fh)
        next(r)
        for i, (_, t, button, state, x, y) in enumerate(r):
            if i >= limit:
                break
            kind = {"Pressed": Kind.BUTTON_DOWN, "Released": Kind.BUTTON_UP}.get(state, Kind.MOVE)
            if button == "Scroll":
                kind = Kind.SCROLL
            rows.append((int(float(t) * 1e9), kind, int(x), int(y)))
    a = np.array(rows, dtype=np.int64)
    return make(a[:, 0], a[:, 1], np.clip(a[:, 2], 0, 2**31 - 1), np.clip(a[:, 3], 0, 2**31 - 1))


@pytest.mark.datasets
def test_real_balabit_slice_gives_all_action_kinds() -> None:
    root = dataset("balabit", "training_files", "user7")
    path = sorted(root.iterdir())[0]
    a = pointer_features(_read_balabit(path, 20000))
    assert len(a) > 100 and np.isfinite(a.X).all()
    assert {MOUSE_MOVE, POINT_CLICK, DRAG_DROP} <= set(a.kind.tolist())
    assert (a.t_end_ns >= a.t_start_ns).all() and (np.diff(a.t_start_ns) >= 0).all()


def _aimed_move(hz: int) -> np.ndarray:
    """One 400 px minimum-jerk movement over 0.6 s with a slight bend, sampled at ``hz`` and
    rounded to whole pixels as a mouse reports it."""
    tau = np.arange(0, int(0.6 * hz) + 1) / (0.6 * hz)
    s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5
    x = np.round(100 + 400 * s)
    y = np.round(300 + 30 * np.sin(np.pi * tau))
    t = np.round(tau * 600 * MS).astype(np.int64)
    return make(t, Kind.MOVE, x.astype(np.int64), y.astype(np.int64))


def test_a_1000hz_mouse_gives_the_kinematics_of_a_125hz_one() -> None:
    """At 1000 Hz a step is 0-2 whole pixels: velocities were quantised to 0, 1000, 1414 px/s,
    accelerations and angular velocities were that noise divided by 1 ms (x40-x60 those of the
    same movement at 125 Hz), the median velocity was 0, so the owner's gaming mouse made them
    a stranger to a model of 125 Hz data. An action keeps one point per ``resample_s``."""
    slow, fast = (pointer_features(_aimed_move(hz)).X[0] for hz in (125, 1000))
    for name in ("v_median", "v_max", "a_std", "a_max", "omega_mean_abs", "still_frac",
                 "n_points", "dt_median_s"):
        ratio = fast[F[name]] / slow[F[name]] if slow[F[name]] else fast[F[name]] + 1
        assert 0.6 < ratio < 1.6, (name, slow[F[name]], fast[F[name]])


def test_resampling_leaves_a_125hz_mouse_and_slower_streams_as_they_were() -> None:
    """Points at least ``resample_s`` apart (125 Hz mice, the 60 Hz datasets) are all kept."""
    e = _aimed_move(125)
    kept = pointer_features(e).X[0]
    raw = pointer_features(e, PointerConfig(resample_s=0.0)).X[0]
    np.testing.assert_array_equal(kept, raw)
