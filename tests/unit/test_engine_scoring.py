"""StreamScorer: incremental == batch with the real feature functions, routing, injected input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core.events import EVENT_DTYPE, DeviceType, Flag, Kind, make
from activesec.core.keys import KeyClass
from activesec.detectors.oneclass import ScaledManhattan
from activesec.engine.scoring import (
    DEVIATION_CAP,
    KEYBOARD,
    ModalityModel,
    Rows,
    Score,
    ScoringConfig,
    StreamScorer,
    owner_spread,
    pointer_modality,
)
from activesec.engine.trust import IDLE_AFTER_S, INJECTED, Calibration
from activesec.features.keys import keystroke_windows, keystroke_windows_between_absences
from activesec.features.pointer import POINTER_FEATURE_NAMES, pointer_features

CAL = Calibration(threshold=1.0, scale=1.0, center=0.0)
S = 1_000_000_000


# ----------------------------------------------------------------------------- synthetic input


def pointer_stream(n_actions: int, seed: int, t0: float = 10.0, device: int = 0) -> np.ndarray:
    """Moves toward random targets at 125 Hz (minimum-jerk profile), with pauses, clicks, drags
    and scrolls — enough variety to exercise every segmentation rule."""
    rng = np.random.default_rng(seed)
    t, x, y = t0, 500.0, 400.0
    parts = []
    for _ in range(n_actions):
        t += rng.choice([0.05, 0.3, 1.5, 2.5, 4.0], p=[0.3, 0.3, 0.2, 0.1, 0.1])
        r = rng.random()
        if r < 0.1:  # scroll burst
            k = int(rng.integers(1, 6))
            ts = t + np.arange(k) * 0.05
            parts.append(make((ts * S).astype(np.int64), Kind.SCROLL, int(x), int(y),
                              code=int(rng.choice([-1, 1])), device=device))
            t = float(ts[-1])
            continue
        n = int(rng.integers(8, 60))
        tx, ty = rng.uniform(0, 1900), rng.uniform(0, 1000)
        tau = np.linspace(0, 1, n)
        s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5
        xs = x + (tx - x) * s + rng.normal(0, 1.5, n)
        ys = y + (ty - y) * s + rng.normal(0, 1.5, n)
        ts = t + np.arange(n) * 0.008
        drag = r < 0.2
        if drag:  # press first, move, release
            parts.append(make([int(t * S)], Kind.BUTTON_DOWN, int(x), int(y), code=1,
                              device=device))
            ts = ts + 0.1
        parts.append(make((ts * S).astype(np.int64), Kind.MOVE, xs.astype(int), ys.astype(int),
                          device=device))
        t, x, y = float(ts[-1]), float(xs[-1]), float(ys[-1])
        if drag or r < 0.6:  # click (or drop)
            t += 0.0 if drag else rng.uniform(0.05, 0.6)
            parts.append(make([int(t * S)], Kind.BUTTON_DOWN, int(x), int(y), code=1,
                              device=device) if not drag else make([], Kind.MOVE))
            t += rng.uniform(0.05, 0.2)
            parts.append(make([int(t * S)], Kind.BUTTON_UP, int(x), int(y), code=1,
                              device=device))
    ev = np.concatenate(parts)
    return ev[np.argsort(ev["t_ns"], kind="stable")]


def key_stream(n_strokes: int, seed: int, t0: float = 10.0) -> np.ndarray:
    """Typing with rollover, pauses and one long modifier hold."""
    rng = np.random.default_rng(seed)
    press = t0 + np.cumsum(rng.exponential(0.18, n_strokes) + 0.03)
    press[rng.random(n_strokes) < 0.03] += 3.0  # thinking pauses
    press = np.sort(press)
    dwell = rng.uniform(0.06, 0.16, n_strokes)
    dwell[n_strokes // 2] = 6.0  # a modifier held while typing (under stuck_s)
    cls = rng.choice([int(KeyClass.LETTER), int(KeyClass.SPACE), int(KeyClass.MODIFIER),
                      int(KeyClass.BACKSPACE)], n_strokes, p=[0.75, 0.15, 0.05, 0.05])
    sid = np.arange(n_strokes) + 1
    down = make((press * S).astype(np.int64), Kind.KEY_DOWN, sid, 0, cls)
    up = make(((press + dwell) * S).astype(np.int64), Kind.KEY_UP, sid, 0, cls)
    ev = np.concatenate([down, up])
    return ev[np.argsort(ev["t_ns"], kind="stable")]


def chunks(ev: np.ndarray, seed: int, max_size: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, max_size, len(ev)))
    cuts = cuts[cuts < len(ev)]
    return np.split(ev, cuts)


# ----------------------------------------------------------------------------- models


class Linear:
    """A deterministic stand-in detector (the contract: one float per row)."""

    def score(self, X: np.ndarray) -> np.ndarray:
        w = np.sin(np.arange(X.shape[1]) + 1.0)
        return np.asarray(X) @ w


@pytest.fixture(scope="module")
def pointer_model() -> ModalityModel:
    X = pointer_features(pointer_stream(200, seed=100)).X
    det = ScaledManhattan().fit(X)
    return ModalityModel.pointer(det, CAL, feature_center=np.median(X, 0),
                                 feature_scale=X.std(0))


def key_model() -> ModalityModel:
    return ModalityModel.keyboard(Linear(), CAL, window=50, step=10)


def batch_scores(model: ModalityModel, ev: np.ndarray) -> list[tuple[int, int, float]]:
    rows = model.features(ev)
    sc = model.detector.score(rows.X) if len(rows.X) else np.zeros(0)
    return [(int(a), int(b), float(c)) for a, b, c in zip(rows.t_start_ns, rows.t_end_ns, sc,
                                                         strict=True)]


def key_of(scores: list[Score]) -> list[tuple[int, int, float]]:
    return [(s.t_start_ns, s.t_end_ns, s.score) for s in scores]


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pointer_incremental_equals_batch(pointer_model: ModalityModel, seed: int) -> None:
    ev = pointer_stream(150, seed)
    expected = batch_scores(pointer_model, ev)
    sc = StreamScorer({"pointer:mouse": pointer_model}, {0: DeviceType.MOUSE})
    got: list[Score] = []
    for c in chunks(ev, seed):
        got += sc.feed(c)
    got += sc.flush()
    assert len(expected) > 100
    assert [(a, b) for a, b, _ in key_of(got)] == [(a, b) for a, b, _ in expected]
    np.testing.assert_allclose([s for *_, s in key_of(got)], [s for *_, s in expected],
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", [1, 2])
def test_keyboard_incremental_equals_batch(seed: int) -> None:
    m = key_model()
    ev = key_stream(400, seed)
    expected = batch_scores(m, ev)
    sc = StreamScorer({KEYBOARD: m})
    got: list[Score] = []
    for c in chunks(ev, seed, 15):
        got += sc.feed(c)
    got += sc.flush()
    assert len(expected) > 30
    assert [(a, b) for a, b, _ in key_of(got)] == [(a, b) for a, b, _ in expected]
    np.testing.assert_allclose([s for *_, s in key_of(got)], [s for *_, s in expected],
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("gap_s", [61.0, 8 * 3600.0])
def test_no_keystroke_window_spans_an_absence(gap_s: float) -> None:
    """Lunch, or a night with the lid closed, between two stretches of typing: the windows
    after it hold only keys typed after it (with the overlap of 50 keys every 10, the first
    four were mostly the keys typed before), and each side scores as a recording of its own
    would. Without ``absence_s`` (as offline on one recording) windows do span it."""
    m = key_model()
    before = key_stream(200, 4)
    t_gap = int(before["t_ns"].max()) + int(gap_s * 1e9)
    after = key_stream(120, 5, t0=t_gap / 1e9)
    ev = np.concatenate([before, after])
    expected = batch_scores(m, before) + batch_scores(m, after)
    for absence_s, spans in ((60.0, False), (None, True)):
        sc = StreamScorer({KEYBOARD: m}, absence_s=absence_s)
        got: list[Score] = []
        for c in chunks(ev, 4, 15):
            got += sc.feed(c)
        got += sc.flush()
        across = [s for s in got if s.t_start_ns < t_gap - gap_s * 1e9 + 1 < s.t_end_ns]
        assert bool(across) is spans
        if not spans:
            assert [(a, b) for a, b, _ in key_of(got)] == [(a, b) for a, b, _ in expected]


class RowRecorder(Linear):
    """Linear, keeping every row it scores (to compare the live rows themselves)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []

    def score(self, X: np.ndarray) -> np.ndarray:
        self.rows.append(np.array(X, copy=True))
        return super().score(X)


def test_training_windows_are_exactly_the_live_windows_across_absences() -> None:
    """:func:`keystroke_windows_between_absences` (what training and evaluation fit and
    calibrate on) gives row for row, with the same start and end times, what the live scorer
    scores, over a day with lunch, a pause of exactly ``idle_after_s`` (not an absence), a
    short burst between two absences (no window), a key held across an absence, a night, and
    mouse moves during a keyboard absence (the keyboard still sees a gap)."""
    gap = int(IDLE_AFTER_S * S)

    def after(prev: np.ndarray, ev: np.ndarray, gap_ns: int) -> np.ndarray:
        e = ev.copy()
        e["t_ns"] += int(prev["t_ns"].max()) + gap_ns - int(e["t_ns"].min())
        e["x"] += int(prev["x"].max())
        return e

    parts = [key_stream(230, 6)]
    for n, seed, gap_ns in ((120, 7, gap + 1), (90, 8, gap), (30, 9, 2 * gap),
                            (140, 10, 3 * gap), (200, 11, 8 * 3600 * S)):
        parts.append(after(parts[-1], key_stream(n, seed), gap_ns))
    held = parts[3]  # the last stroke of the short burst is released after the next absence
    last_up = np.flatnonzero(held["kind"] == Kind.KEY_UP)[-1]
    held["t_ns"][last_up] = int(parts[4]["t_ns"].min()) - 1
    mouse = make(int(parts[1]["t_ns"].max()) + np.arange(1, 40) * S, Kind.MOVE, 5, 5)
    ev = np.concatenate([*parts, mouse])
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]

    rec = RowRecorder()
    sc = StreamScorer({KEYBOARD: ModalityModel.keyboard(rec, CAL, window=50, step=10)},
                      absence_s=IDLE_AFTER_S)
    got: list[Score] = []
    for c in chunks(ev, 6, 25):
        got += sc.feed(c)
    got += sc.flush()
    w = keystroke_windows_between_absences(ev, IDLE_AFTER_S, 50, 10)

    # 3 stretches of typing between absences windowed (230 keys, 120 + 90, 140, 200): 19 + 17
    # + 10 + 16 windows; the 30-key burst gives none
    assert len(w) == 62
    assert [(s.t_start_ns, s.t_end_ns) for s in got] == list(zip(
        w.t_start_ns.tolist(), w.t_end_ns.tolist(), strict=True))
    # the features of a window the live scorer recomputes from its buffer's anchor differ in
    # the last bits only (times are taken relative to the buffer's first press)
    np.testing.assert_allclose(np.vstack(rec.rows), w.X, rtol=1e-9, atol=1e-9)
    # and the whole-session windows it replaces straddled the absences
    assert len(keystroke_windows(ev, 50, 10)) == 77


def test_scores_arrive_as_actions_complete_and_memory_stays_bounded(
        pointer_model: ModalityModel) -> None:
    ev = pointer_stream(250, 7)
    sc = StreamScorer({"pointer:mouse": pointer_model}, {0: DeviceType.MOUSE})
    emitted = 0
    peak = 0
    for c in chunks(ev, 7, 10):
        emitted += len(sc.feed(c))
        peak = max(peak, len(sc.streams["pointer:mouse"].buf))
    assert emitted > 150  # scored on the way, not at the end
    assert peak < 400  # one action or so (+ the anchor), not the whole stream
    assert len(sc.flush()) <= 2  # only the trailing action(s) were held back


def test_trailing_action_is_held_back_until_idle_flush(pointer_model: ModalityModel) -> None:
    xs = np.arange(20) * 10
    ev = make((np.arange(20) * 8_000_000 + S).astype(np.int64), Kind.MOVE, xs, 100)
    sc = StreamScorer({"pointer:mouse": pointer_model}, {0: DeviceType.MOUSE})
    assert sc.next_flush_ns() is None  # nothing buffered
    assert sc.feed(ev) == []
    last = int(ev["t_ns"][-1])
    assert sc.next_flush_ns() == last + 3 * S  # when the agent wakes to flush it
    assert sc.flush(last + int(2.0 * S)) == []  # 2 s of silence: a click could still follow
    (s,) = sc.flush(last + int(3.0 * S))
    assert s.t_end_ns == last and s.modality == "pointer:mouse"
    assert len(s.deviations) == 3 and s.deviations[0][0] in POINTER_FEATURE_NAMES
    assert sc.next_flush_ns() is None  # flushed: only input can complete anything now
    assert sc.flush(last + int(10 * S)) == []  # never twice


def test_silence_recomputes_nothing_until_new_input(pointer_model: ModalityModel) -> None:
    """The agent flushes at every tick: after a flush has scored the buffer, later flushes must
    not run the feature function again on the anchor (idle CPU), yet the next action counts."""
    calls = []

    def counted(ev: np.ndarray) -> Rows:
        calls.append(len(ev))
        return pointer_features(ev)

    m = ModalityModel(pointer_model.detector, CAL, counted, probe=pointer_model.probe)
    sc = StreamScorer({"pointer:mouse": m}, {0: DeviceType.MOUSE})
    ev = pointer_stream(3, 21)
    sc.feed(ev)
    last = int(ev["t_ns"][-1])
    assert len(sc.flush(last + 4 * S)) == 1 and calls
    n = len(calls)
    for k in range(5, 60):
        assert sc.flush(last + k * S) == []
    assert len(calls) == n
    more = pointer_stream(2, 22, t0=(last + 61 * S) / S)
    got = sc.feed(more) + sc.flush(int(more["t_ns"][-1]) + 4 * S)
    assert len(got) == 2 and len(calls) > n


def test_no_flush_while_a_button_is_held(pointer_model: ModalityModel) -> None:
    ev = np.concatenate([
        make([S], Kind.BUTTON_DOWN, 100, 100, code=1),
        make((S + np.arange(1, 20) * 8_000_000).astype(np.int64), Kind.MOVE,
             100 + np.arange(19) * 5, 100),
    ])
    sc = StreamScorer({"pointer:mouse": pointer_model}, {0: DeviceType.MOUSE})
    assert sc.feed(ev) == []
    assert sc.next_flush_ns() is None  # a held button: silence completes nothing
    assert sc.flush(int(ev["t_ns"][-1]) + 5 * S) == []  # a drag paused mid-way
    (s,) = sc.feed(make([int(ev["t_ns"][-1]) + 6 * S], Kind.BUTTON_UP, 190, 100, code=1))
    assert s.t_start_ns == S  # the release completes it at once
    assert sc.flush(int(ev["t_ns"][-1]) + 20 * S) == []


def test_pointer_events_are_routed_per_device_type(pointer_model: ModalityModel) -> None:
    mouse = pointer_stream(30, 1, device=0)
    pad = pointer_stream(30, 2, device=3)
    pen = pointer_stream(5, 3, device=4)
    ev = np.concatenate([mouse, pad, pen])
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    models = {pointer_modality(DeviceType.MOUSE): pointer_model,
              pointer_modality(DeviceType.TOUCHPAD): pointer_model}
    sc = StreamScorer(models, {0: DeviceType.MOUSE, 3: DeviceType.TOUCHPAD, 4: DeviceType.PEN})
    out = sc.feed(ev) + sc.flush()
    by = {m: [s for s in out if s.modality == m] for m in models}
    assert key_of(by["pointer:mouse"]) == pytest.approx(batch_scores(pointer_model, mouse))
    assert key_of(by["pointer:touchpad"]) == pytest.approx(batch_scores(pointer_model, pad))
    assert sc.unmodelled == len(pen)  # no pen model: counted, not scored as a mouse
    assert [s.t_end_ns for s in out] == sorted(s.t_end_ns for s in out)


def test_unknown_device_falls_back_to_the_mouse_model(pointer_model: ModalityModel) -> None:
    sc = StreamScorer({"pointer:mouse": pointer_model})
    assert sc.modality_for_device(9) == "pointer:mouse"
    sc2 = StreamScorer({"pointer": pointer_model}, {1: DeviceType.TOUCHPAD})
    assert sc2.modality_for_device(1) == "pointer"


def injected(ev: np.ndarray) -> np.ndarray:
    ev = ev.copy()
    ev["flags"] |= int(Flag.INJECTED)
    return ev


def test_injected_input_distrust_makes_one_impostor_observation_per_burst(
        pointer_model: ModalityModel) -> None:
    own = pointer_stream(20, 1, t0=10.0)
    bot = injected(pointer_stream(20, 2, t0=10.0))
    bot = bot[bot["t_ns"] < 10.5 * S]  # one dense burst ...
    bot2 = injected(key_stream(10, 3, t0=100.0))  # ... and a later injected typing burst
    ev = np.concatenate([own, bot, bot2])
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    sc = StreamScorer({"pointer:mouse": pointer_model, KEYBOARD: key_model()},
                      {0: DeviceType.MOUSE})
    out = [s for c in chunks(ev, 4) for s in sc.feed(c)] + sc.flush()
    inj = [s for s in out if s.injected]
    assert [s.modality for s in inj] == [INJECTED, INJECTED]
    assert all(s.score == float("inf") for s in inj)
    assert inj[0].deviations[0] == ("injected_events", len(bot))
    # the owner's own actions are scored exactly as without the injected events
    real = [s for s in out if not s.injected]
    assert key_of(real) == pytest.approx(batch_scores(pointer_model, own))


def test_injected_input_score_and_ignore(pointer_model: ModalityModel) -> None:
    bot = injected(pointer_stream(20, 2))
    models = {"pointer:mouse": pointer_model}
    scored = StreamScorer(models, cfg=ScoringConfig(injected="score"))
    out = scored.feed(bot) + scored.flush()
    assert key_of(out) == pytest.approx(batch_scores(pointer_model, bot))
    ignored = StreamScorer(models, cfg=ScoringConfig(injected="ignore"))
    assert ignored.feed(bot) + ignored.flush() == []


def warped(ev: np.ndarray) -> np.ndarray:
    ev = ev.copy()
    ev["flags"] |= int(Flag.INJECTED | Flag.WARPED)
    return ev


@pytest.mark.parametrize("mode", ["distrust", "score", "ignore"])
def test_pointer_warps_are_never_charged_nor_scored(pointer_model: ModalityModel,
                                                     mode: str) -> None:
    """A game's mouse look re-centres the cursor (XWarpPointer) every frame while the owner
    moves the mouse: the warps are no input (not charged as injected, which could lock a gaming
    owner out), and the motion between them is the game's zigzag around the centre (not
    scored, in any mode). The owner's actions before and after the game score as if the game
    had not been there; a bot's XTEST clicks are still charged."""
    own = pointer_stream(20, 1, t0=10.0)
    g0 = int(own["t_ns"].max()) // S + 5  # a 3-second game, 60 frames a second
    frames = g0 * S + np.arange(180) * (S // 60)
    warps = warped(make(frames, Kind.MOVE, 640, 512))
    game = make(frames + S // 120, Kind.MOVE, 640, 512)
    game["x"] += np.resize([7, -3, 12, -9], len(game))
    after = pointer_stream(10, 3, t0=g0 + 4.0)
    ev = np.concatenate([own, warps, game, after])
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    sc = StreamScorer({"pointer:mouse": pointer_model}, {0: DeviceType.MOUSE},
                      cfg=ScoringConfig(injected=mode))  # type: ignore[arg-type]
    out = [s for c in chunks(ev, 7) for s in sc.feed(c)] + sc.flush()
    assert not [s for s in out if s.injected]
    assert key_of(out) == pytest.approx(batch_scores(pointer_model,
                                                     np.concatenate([own, after])))
    assert sc.steered == len(game)
    if mode == "distrust":
        clicks = injected(pointer_stream(20, 2, t0=g0 + 60.0))
        clicks = clicks[clicks["t_ns"] < (g0 + 60.5) * S]
        assert [s.modality for s in sc.feed(clicks) + sc.flush()] == [INJECTED]


def test_the_next_flush_includes_the_end_of_an_open_injected_burst() -> None:
    sc = StreamScorer({}, cfg=ScoringConfig(burst_gap_s=0.5))
    bot = injected(make(S + np.arange(5) * 10_000_000, Kind.MOVE, 1, 1))
    assert sc.feed(bot) == []
    due = sc.next_flush_ns()
    assert due == int(bot["t_ns"][-1]) + S // 2 + 1
    assert sc.flush(due - 1) == [] and len(sc.flush(due)) == 1
    assert sc.next_flush_ns() is None


def test_a_single_injected_event_is_not_a_burst() -> None:
    sc = StreamScorer({}, cfg=ScoringConfig(burst_min_events=2))
    one = injected(make([S], Kind.MOVE, 1, 1))
    assert sc.feed(one) + sc.flush() == []


def test_empty_and_foreign_batches() -> None:
    sc = StreamScorer({KEYBOARD: key_model()})
    assert sc.feed(np.zeros(0, EVENT_DTYPE)) == []
    assert sc.feed(make([S, 2 * S], Kind.MOVE)) == []  # no pointer model
    assert sc.unmodelled == 2
    assert sc.flush() == []


@dataclass
class _Rows:
    X: np.ndarray
    t_start_ns: np.ndarray
    t_end_ns: np.ndarray


def test_buffer_is_capped_when_rows_never_complete() -> None:
    def never(ev: np.ndarray) -> _Rows:
        z = np.zeros(0, np.int64)
        return _Rows(np.zeros((0, 1)), z, z)

    sc = StreamScorer({KEYBOARD: ModalityModel(Linear(), CAL, never)},
                      cfg=ScoringConfig(max_buffer_events=1000))
    sc.feed(key_stream(3000, 1))
    st = sc.streams[KEYBOARD]
    assert len(st.buf) <= 1000 and st.dropped > 0


def test_probe_only_changes_when_features_run(pointer_model: ModalityModel) -> None:
    """Without the probe the scorer computes features after every batch: same scores."""
    ev = pointer_stream(60, 11)
    plain = ModalityModel(pointer_model.detector, CAL, pointer_features, settle_s=0.0)
    outs = []
    for m in (pointer_model, plain):
        sc = StreamScorer({"pointer:mouse": m})
        outs.append(key_of([s for c in chunks(ev, 11) for s in sc.feed(c)] + sc.flush()))
    assert outs[0] == outs[1]


@pytest.mark.datasets
def test_balabit_session_incremental_equals_batch(pointer_model: ModalityModel) -> None:
    """Real mouse data (sentinel coordinates, duplicate timestamps, long drags included)."""
    from activesec.recordings.balabit import read_session

    root = dataset("balabit", "training_files", "user7")
    ev, _ = read_session(sorted(root.iterdir())[0])
    ev = ev[:6000]
    expected = batch_scores(pointer_model, ev)
    sc = StreamScorer({"pointer:mouse": pointer_model})
    got = [s for c in chunks(ev, 5, 60) for s in sc.feed(c)] + sc.flush()
    assert len(expected) > 50
    assert [(a, b) for a, b, _ in key_of(got)] == [(a, b) for a, b, _ in expected]
    np.testing.assert_allclose([s for *_, s in key_of(got)], [s for *_, s in expected],
                               rtol=1e-9, atol=1e-9)


def test_owner_spread_survives_quantised_and_constant_features() -> None:
    rng = np.random.default_rng(0)
    X = np.zeros((400, 3))
    X[:, 0] = rng.normal(5.0, 2.0, 400)
    X[:360, 1], X[360:, 1] = 0.0, 0.016  # a recorder's quantised time step: IQR 0
    center, scale = owner_spread(X)  # column 2: a feature the owner never varied
    assert scale[0] == pytest.approx(2.0, rel=0.15)
    assert scale[1] == pytest.approx(0.0016 * 1.2533) and center[1] == 0.0
    assert scale[2] == 1e-9
    # rounding noise is no spread: 0.016 stored with float error in some rows
    X[:, 1] = 0.016
    X[::3, 1] = 0.016000000000000014
    center, scale = owner_spread(X)
    assert scale[1] == pytest.approx(0.0016)  # 10 % of the median, not ~1e-17
    assert abs((0.0156 - center[1]) / scale[1]) < 1  # another recorder's rounding: not 99 σ


def test_deviations_name_the_feature_and_stay_readable() -> None:
    """An explanation says which features deviated; a feature the owner never varied cannot
    give it an astronomically large number (seen live: 1.6e16 for dt_median_s)."""
    X = pointer_features(pointer_stream(200, seed=100)).X
    X_owner = X.copy()
    j = POINTER_FEATURE_NAMES.index("dt_median_s")
    X_owner[:, j] = 0.0
    center, scale = owner_spread(X_owner)
    model = ModalityModel.pointer(ScaledManhattan().fit(X_owner), CAL, feature_center=center,
                                  feature_scale=scale)
    scores = StreamScorer({"pointer:mouse": model}, {0: DeviceType.MOUSE}).feed(
        pointer_stream(20, seed=7))
    assert scores
    top = scores[0].deviations[0]
    assert top == ("dt_median_s", DEVIATION_CAP)  # its time steps are not the owner's 0
    assert all(abs(v) <= DEVIATION_CAP for s in scores for _, v in s.deviations)
