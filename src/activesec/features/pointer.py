"""Pointer actions and their mouse-dynamics features (pure, vectorised NumPy).

Segmentation rules (:func:`segment_actions`), applied to the pointer events of a batch after
dropping sentinel coordinates (``|x|`` or ``|y|`` above ``max_abs_coord``, e.g. Balabit's
65535) and a stable sort by time (out-of-order rows are reordered, never dropped):

1. A **pause** longer than ``pause_s`` between two consecutive events ends an action. Default
   0.5 s: an aimed movement with its corrective sub-movements runs without a still gap of
   that length (Fitts-law movement times are 0.3-1.2 s, sub-movements follow each other within
   ~0.2 s), while a longer stillness means the user stopped to read or think, so the next
   movement is a new intention. Measured on Balabit (extra trees, session = mean of actions):
   pause 0.5 s gave AUC 0.969 / EER 6.6 %, 1 s 0.967 / 7.5 %, 2 s 0.969 / 7.2 %, 4 s
   0.969 / 8.3 %; shorter pauses give more, shorter actions per session. Continuously
   (2026-12-04, ``evaluate balabit --continuous``, default trust): 0.5 s locks impostors after
   27.0 actions (330 of 405 sessions locked; 179 s mean, 81 s median) with 16 false locks in
   37,978 owner actions; 1 s after 23.3 (333; 177 s, 82 s) with 26 false locks in 33,255; 2 s
   after 21.7 (336; 172 s, 79 s) with 28 in 31,034. Longer actions need fewer of them, but
   falsely lock the owner more often in the same 162,379 s of work; made as rare as at 0.5 s
   (2 s with A = -0.1: 16 false locks), 2 s locks 308 sessions after 24.4 actions but 198 s
   (median 85 s) — fewer impostors, later: the saving in actions comes from a longer unit,
   not from better detection. Two exceptions keep an intention whole: a wait of up to
   ``click_wait_s`` before a button *press* (aiming, then clicking — that wait is the "pause
   before click" feature), and any stillness while a button is *held* (a drag is one action
   however long it lasts).
2. A **button release** ends the action that contains its press: *point-click* = moves then
   press and release within ``drag_px`` of the press; *drag-drop* = press, moves, release
   farther than ``drag_px`` away — the press then also *starts* the drag action, so the
   approach movement before it is its own mouse-move action.
3. **Scroll** events are grouped into scroll actions: a switch between scrolling and
   non-scrolling events ends an action (and rule 1 splits long scroll sessions).
4. Everything else is a **mouse-move** action. Actions with fewer than ``min_events`` events
   (``min_scroll_events`` for scrolls) are dropped: their kinematics are noise.

Features (:data:`POINTER_FEATURE_NAMES`) follow the mouse-dynamics literature (Gamboa & Fred
2004; Ahmed & Traore 2007; Antal & Egyed-Zsigmond 2019): duration, traveled and end-to-end
distance, straightness, velocity / acceleration / jerk statistics, angular velocity, curvature,
direction (cos/sin and 8 sectors), critical points, largest deviation from the straight line,
pause before click, click dwell, number of points. Because pixel-based magnitudes depend on
screen size, DPI and pointer acceleration, many features are scale-free: ratios (straightness,
relative deviation, velocity shape), angles and curvature-sign statistics, and time-shape
features (time to peak velocity, time to half distance, accelerating share).

Measured and not added (2026-11-22, extra_trees; per-action AUC on a training-only split —
each Balabit user's last 20 % of training actions as genuine vs the other users' last 20 % as
impostors, models fitted on the first 80 %): 34 further scale-free trajectory features —
distance covered at 10-90 % of the duration, time to 25/75/90/95 % of the distance, share of
the path in each of 8 step directions, turning-angle histogram and mean cosine, overshoot,
backtrack and homing time past 90 % of the straight line, signed deviation at 25/50/75 % of
the path, significant sub-movements and distance after the velocity peak — left the mean
per-action AUC at 0.811 (0.811 without them; 0.818 vs 0.818 with ``max_features`` 0.3). What
separates an action is mostly its length: per-action AUC 0.72 for actions of < 6 points (25 %
of actions), 0.77 for 6-9, 0.80 for 10-15, 0.84 for 16-29, 0.93 for 30+; scrolls 0.66. Raising
``min_events`` lifts the per-action figure on that split (0.823 keeping >= 8 points), but
leaving the short actions out of the labelled test sessions' scores (same models, offline)
made whole sessions worse (pooled AUC 0.971 -> 0.959, EER 6.9 -> 9.7 %): they still carry
evidence, so ``min_events`` stays 4.

Also measured and not added (2026-11-22, cross-fitted extra trees on the labelled test
sessions, same seed): the **time since the previous action ended** (log, capped at 30 s) —
pooled EER 6.6 -> 7.3 %, first-action EER 26 -> 33 % —, with the **previous action's kind**
as well (7.4 %); and a classifier over **5-action windows** (mean and SD of each feature over
the last 5 actions; plain 100-tree forests for both sides) instead of averaging 5 action
scores: per-user EER after 5 actions worse for 6 of 9 users (e.g. 13 -> 21 %, 21 -> 30 %),
equal for 2 (0 %), better for 1 (13.8 -> 13.3 %). The inter-action pause reflects the task as
much as the person, and averaging scores already uses what a window of features adds.

Pixel- and sampling-rate-dependent features stay in, although a live impostor uses the owner's
own mouse, pointer acceleration and screen while the background was recorded on other
machines — so these features might teach "this machine", not "this person". Measured
(2026-12-04, default extra trees fitted on each Balabit user's first 80 % of training actions
against the other users' first 80 %; mean over the 10 users of the per-action AUC on the training
split's last 20 % / on the labelled test sessions / of 5-action means on the test sessions):
all 61 features 0.814 / 0.786 / 0.881; without the 26 pixel-magnitude ones (distances,
velocities, accelerations, jerks, curvatures, deviations in px, scroll rate) 0.801 / 0.772 /
0.864; without the 3 sampling-rate ones (``dt_median_s``, ``n_points``, ``critical_rate``)
0.809 / 0.782 / 0.877; without both 0.793 / 0.768 / 0.861. The test sessions, which should
gain if the forest had learnt machines, lost as much as the training split (without the pixel
features 7 of 10 users 0.014-0.029 lower, 3 within 0.001): the magnitudes carry how the person
moves, not only the machine.

Polling rate: an action keeps one point per ``resample_s`` (7 ms) of its time, the last one,
so a 500 or 1000 Hz gaming mouse is seen as at ~143 Hz. Unresampled, a 1000 Hz step is 0-2
whole pixels, and kinematics became quantisation noise divided by 1 ms (measured 2026-12-08 on
synthetic minimum-jerk movements, median of 300 point-clicks, 1000 Hz / 125 Hz: a_std x49,
j_std x357, omega_mean_abs x27, n_critical x26, still_frac x4.8, v_median 0; resampled, no
feature beyond x0.7-x2.4); Balabit scored at 1000 Hz (its sessions interpolated, whole pixels)
by its own 60 Hz model put 4-31 % of the owner's 10-action windows over the 5 % threshold,
3.9-17.5 % resampled. Points 7 ms or more apart — 125 Hz mice, the 60 Hz datasets — are all
kept, so their features are as before. Samples with the same timestamp are merged alike, so
duplicate timestamps never divide by zero; zero-length steps count as stillness and
carry no angle; the output is always finite (empty statistics are 0).

Everything is vectorised over all actions at once with segment ids (``np.bincount``,
``ufunc.reduceat`` and one ``lexsort`` per quantile set) — no per-event or per-action loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activesec.core.events import Kind
from activesec.features import _grouped as g

MOUSE_MOVE, POINT_CLICK, DRAG_DROP, SCROLL = 1, 2, 3, 4
ACTION_KIND_NAMES = {MOUSE_MOVE: "mouse-move", POINT_CLICK: "point-click", DRAG_DROP: "drag-drop",
                     SCROLL: "scroll"}

_POINTER_KINDS = np.array([Kind.MOVE, Kind.BUTTON_DOWN, Kind.BUTTON_UP, Kind.SCROLL], np.uint8)


@dataclass(frozen=True)
class PointerConfig:
    """Segmentation and feature parameters (see the module docstring for the rules)."""

    pause_s: float = 0.5
    click_wait_s: float = 3.0
    drag_px: float = 5.0
    min_events: int = 4
    min_scroll_events: int = 1
    max_abs_coord: int = 60000
    critical_angle: float = np.pi / 4  # turn per step that counts as a critical point
    min_dt_s: float = 1e-3  # floor on a step's duration (timer resolution)
    resample_s: float = 0.007  # one point per this much time of an action (module docstring)


@dataclass(frozen=True)
class Segments:
    """Actions found in a batch: ``events`` is the cleaned, time-sorted pointer stream and
    action ``i`` is ``events[start[i]:stop[i]]``. ``closed[i]`` is False only for a last
    action that may still grow (no later event and not ended by a release) — a live scorer
    waits for it to close (or for ``pause_s`` of idleness)."""

    events: np.ndarray
    start: np.ndarray  # int64
    stop: np.ndarray  # int64
    kind: np.ndarray  # int8
    closed: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True)
class ActionSet:
    """One feature row per action (``X`` columns = :data:`POINTER_FEATURE_NAMES`)."""

    X: np.ndarray  # float64 (n_actions, n_features)
    kind: np.ndarray  # int8
    t_start_ns: np.ndarray  # int64
    t_end_ns: np.ndarray  # int64
    n_events: np.ndarray  # int32
    closed: np.ndarray | None = None  # bool; see Segments.closed

    def __len__(self) -> int:
        return len(self.kind)


POINTER_FEATURE_NAMES: list[str] = [
    # action type (one-hot) and size
    "is_mouse_move", "is_point_click", "is_drag_drop", "is_scroll",
    "duration_s", "n_points", "traveled_px", "e2e_px", "straightness",
    "dir_cos", "dir_sin", "dir_sector",
    # kinematics (pixel units)
    "v_mean", "v_std", "v_median", "v_p90", "v_max",
    "vx_mean", "vx_std", "vy_mean", "vy_std",
    "a_mean", "a_std", "a_min", "a_max",
    "j_mean", "j_std", "j_min", "j_max",
    # angles and curvature (scale-free except curvature, in rad/px)
    "omega_mean_abs", "omega_std", "omega_max_abs",
    "curv_mean_abs", "curv_std", "curv_max_abs",
    "turn_total", "turn_net", "n_critical", "critical_rate",
    "dev_max_px", "dev_rel", "dev_mean_rel",
    # shape of the velocity profile in time (scale-free)
    "v_cv", "v_mean_over_max", "t_vmax_frac", "t_half_dist_frac", "accel_time_frac",
    "n_vpeaks", "still_frac", "dt_median_s", "first_v_over_mean", "last_v_over_mean",
    # clicks and scrolls
    "pause_before_press_s", "click_dwell_s", "press_release_px", "button_right",
    "scroll_steps", "scroll_rate", "scroll_dir", "log_duration", "log_traveled",
]

_F = {name: i for i, name in enumerate(POINTER_FEATURE_NAMES)}


def _empty_segments(events: np.ndarray) -> Segments:
    e = np.zeros(0, dtype=np.int64)
    return Segments(events[:0], e, e.copy(), np.zeros(0, np.int8), np.zeros(0, bool))


def _clean(events: np.ndarray, cfg: PointerConfig) -> np.ndarray:
    ev = np.asarray(events)
    ev = ev[np.isin(ev["kind"], _POINTER_KINDS)]
    lim = cfg.max_abs_coord
    ev = ev[(np.abs(ev["x"].astype(np.int64)) <= lim) & (np.abs(ev["y"].astype(np.int64)) <= lim)]
    return ev[np.argsort(ev["t_ns"], kind="stable")]


def _pair_presses(kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(press index, release index) for presses followed by a release before any other press."""
    downs = np.flatnonzero(kind == Kind.BUTTON_DOWN)
    ups = np.flatnonzero(kind == Kind.BUTTON_UP)
    if len(downs) == 0 or len(ups) == 0:
        z = np.zeros(0, np.int64)
        return z, z.copy()
    j = np.searchsorted(ups, downs)  # first release after each press
    has = j < len(ups)
    d, u = downs[has], ups[j[has]]
    nxt = np.append(downs[1:], np.iinfo(np.int64).max)[has]
    ok = u < nxt  # a second press before the release: the first press is unmatched
    return d[ok], u[ok]


def segment_actions(events: np.ndarray, cfg: PointerConfig | None = None) -> Segments:
    """Split a pointer event stream into actions (rules in the module docstring)."""
    cfg = cfg or PointerConfig()
    ev = _clean(events, cfg)
    n = len(ev)
    if n == 0:
        return _empty_segments(ev)
    t = ev["t_ns"]
    kind = ev["kind"]
    x = ev["x"].astype(np.float64)
    y = ev["y"].astype(np.float64)
    gap = np.diff(t) / 1e9

    d, u = _pair_presses(kind)
    held = np.zeros(n + 1, np.int64)  # events strictly after a press up to its release
    np.add.at(held, d + 1, 1)
    np.add.at(held, u + 1, -1)
    held_mask = np.cumsum(held)[:n] > 0
    drag = np.hypot(x[u] - x[d], y[u] - y[d]) > cfg.drag_px

    is_scroll = kind == Kind.SCROLL
    pause = gap > cfg.pause_s
    pause &= ~((kind[1:] == Kind.BUTTON_DOWN) & (gap <= cfg.click_wait_s))
    pause &= ~held_mask[1:]
    start = np.zeros(n, bool)
    start[0] = True
    start[1:] = pause | (kind[:-1] == Kind.BUTTON_UP) | (is_scroll[:-1] != is_scroll[1:])
    start[d[drag]] = True
    seg = np.cumsum(start) - 1
    n_seg = int(seg[-1]) + 1
    first = np.flatnonzero(start)
    last = np.append(first[1:], n)

    skind = np.full(n_seg, MOUSE_MOVE, np.int8)
    skind[g.counts(seg[is_scroll], n_seg) > 0] = SCROLL
    same = seg[d] == seg[u]
    skind[seg[u[same & ~drag]]] = POINT_CLICK
    skind[seg[u[same & drag]]] = DRAG_DROP

    size = last - first
    keep = np.where(skind == SCROLL, size >= cfg.min_scroll_events, size >= cfg.min_events)
    closed = np.ones(n_seg, bool)
    closed[-1] = kind[-1] == Kind.BUTTON_UP
    return Segments(ev, first[keep].astype(np.int64), last[keep].astype(np.int64),
                    skind[keep], closed[keep])


def _ranges(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated indices of ``[start_i, stop_i)`` and the segment id of each."""
    lens = stop - start
    sid = np.repeat(np.arange(len(start)), lens)
    offs = np.cumsum(lens) - lens
    idx = np.arange(int(lens.sum())) - np.repeat(offs, lens) + np.repeat(start, lens)
    return idx, sid


def _safe_div(a: np.ndarray, b: np.ndarray, fill: float = 0.0) -> np.ndarray:
    out = np.full(np.broadcast(a, b).shape, fill, dtype=np.float64)
    np.divide(a, b, out=out, where=b > 0)
    return out


def pointer_features(events: np.ndarray, cfg: PointerConfig | None = None) -> ActionSet:
    """Segment ``events`` (an EVENT_DTYPE array) into actions and compute one row each."""
    cfg = cfg or PointerConfig()
    segs = segment_actions(events, cfg)
    return features_of_segments(segs, cfg)


def features_of_segments(segs: Segments, cfg: PointerConfig | None = None) -> ActionSet:
    cfg = cfg or PointerConfig()
    n = len(segs)
    nf = len(POINTER_FEATURE_NAMES)
    X = np.zeros((n, nf), dtype=np.float64)
    ev = segs.events
    if n == 0:
        z = np.zeros(0, np.int64)
        return ActionSet(X, np.zeros(0, np.int8), z, z.copy(), np.zeros(0, np.int32),
                         np.zeros(0, bool))
    idx, sid = _ranges(segs.start, segs.stop)
    e = ev[idx]
    kind = e["kind"]
    t_ns = e["t_ns"]
    t0 = t_ns[np.searchsorted(sid, np.arange(n))]  # first time of each action
    t = (t_ns - t0[sid]) / 1e9  # seconds since the action start
    x = e["x"].astype(np.float64)
    y = e["y"].astype(np.float64)
    F = _F

    akind = segs.kind
    for k, name in ((MOUSE_MOVE, "is_mouse_move"), (POINT_CLICK, "is_point_click"),
                    (DRAG_DROP, "is_drag_drop"), (SCROLL, "is_scroll")):
        X[:, F[name]] = akind == k
    dur = (ev["t_ns"][segs.stop - 1] - ev["t_ns"][segs.start]) / 1e9
    X[:, F["duration_s"]] = dur
    X[:, F["log_duration"]] = np.log1p(dur)

    # --- positions: one per resample_s bin of the action's time (the last sample kept)
    tbin = np.floor(t / cfg.resample_s) if cfg.resample_s > 0 else t
    nxt_same = np.zeros(len(e), bool)
    nxt_same[:-1] = (sid[1:] == sid[:-1]) & (tbin[1:] == tbin[:-1])
    keep = ~nxt_same
    px, py, pt, ps = x[keep], y[keep], t[keep], sid[keep]
    X[:, F["n_points"]] = g.counts(ps, n)

    # --- steps between consecutive points of the same action
    st = ps[1:] == ps[:-1]
    sdx = (px[1:] - px[:-1])[st]
    sdy = (py[1:] - py[:-1])[st]
    sdt = np.maximum((pt[1:] - pt[:-1])[st], cfg.min_dt_s)
    stm = ((pt[1:] + pt[:-1]) / 2)[st]  # step mid-time
    sgid = ps[1:][st]
    ds = np.hypot(sdx, sdy)
    v = ds / sdt
    traveled = g.gsum(ds, sgid, n)
    X[:, F["traveled_px"]] = traveled
    X[:, F["log_traveled"]] = np.log1p(traveled)

    fi = np.searchsorted(ps, np.arange(n))  # first point of each action
    li = np.append(fi[1:], len(ps)) - 1
    ex, ey = px[li] - px[fi], py[li] - py[fi]
    e2e = np.hypot(ex, ey)
    X[:, F["e2e_px"]] = e2e
    X[:, F["straightness"]] = np.where(traveled > 0, _safe_div(e2e, traveled, 1.0), 1.0)
    X[:, F["dir_cos"]] = _safe_div(ex, e2e)
    X[:, F["dir_sin"]] = _safe_div(-ey, e2e)  # screen y grows downwards
    ang = np.arctan2(-ey, ex)
    X[:, F["dir_sector"]] = np.where(e2e > 0, np.floor((ang % (2 * np.pi)) / (np.pi / 4)) % 8, -1)

    # velocity statistics
    X[:, F["v_mean"]] = _safe_div(traveled, g.gsum(sdt, sgid, n))
    X[:, F["v_std"]] = g.gstd(v, sgid, n)
    med, p90 = g.gquantiles(v, sgid, n, (0.5, 0.9))
    X[:, F["v_median"]] = med
    X[:, F["v_p90"]] = p90
    vmax = g.gmax(v, sgid, n)
    X[:, F["v_max"]] = vmax
    vx, vy = sdx / sdt, sdy / sdt
    X[:, F["vx_mean"]] = g.gmean(vx, sgid, n)
    X[:, F["vx_std"]] = g.gstd(vx, sgid, n)
    X[:, F["vy_mean"]] = g.gmean(vy, sgid, n)
    X[:, F["vy_std"]] = g.gstd(vy, sgid, n)
    vmean_steps = g.gmean(v, sgid, n)
    X[:, F["v_cv"]] = _safe_div(X[:, F["v_std"]], vmean_steps)
    X[:, F["v_mean_over_max"]] = _safe_div(vmean_steps, vmax)
    imax = g.gargmax_pos(v, sgid, n)
    has_steps = imax >= 0
    X[has_steps, F["t_vmax_frac"]] = _safe_div(stm[imax[has_steps]], dur[has_steps])
    X[:, F["still_frac"]] = g.gmean((ds == 0).astype(np.float64), sgid, n)
    X[:, F["dt_median_s"]] = g.gquantiles(sdt, sgid, n, (0.5,))[0]
    sfirst = np.searchsorted(sgid, np.arange(n))
    slast = np.append(sfirst[1:], len(sgid)) - 1
    X[has_steps, F["first_v_over_mean"]] = _safe_div(v[sfirst[has_steps]], vmean_steps[has_steps])
    X[has_steps, F["last_v_over_mean"]] = _safe_div(v[slast[has_steps]], vmean_steps[has_steps])

    # time to half the traveled distance (fraction of the duration)
    cum = np.cumsum(ds)
    base = np.zeros(n)
    base[has_steps] = (cum - ds)[sfirst[has_steps]]
    csum_seg = cum - base[sgid]
    half = csum_seg >= 0.5 * traveled[sgid]
    half &= traveled[sgid] > 0
    first_half = g.gmin(np.where(half, stm, np.inf), sgid, n, fill=np.inf)
    first_half[~np.isfinite(first_half)] = 0.0
    X[:, F["t_half_dist_frac"]] = _safe_div(first_half, dur)

    # --- acceleration and jerk (between consecutive steps of one action)
    sa = sgid[1:] == sgid[:-1]
    a = ((v[1:] - v[:-1]) / ((sdt[1:] + sdt[:-1]) / 2))[sa]
    adt = ((sdt[1:] + sdt[:-1]) / 2)[sa]
    agid = sgid[1:][sa]
    X[:, F["a_mean"]] = g.gmean(a, agid, n)
    X[:, F["a_std"]] = g.gstd(a, agid, n)
    X[:, F["a_min"]] = g.gmin(a, agid, n)
    X[:, F["a_max"]] = g.gmax(a, agid, n)
    X[:, F["accel_time_frac"]] = _safe_div(g.gsum(adt * (a > 0), agid, n), g.gsum(adt, agid, n))
    sj = agid[1:] == agid[:-1]
    jerk = ((a[1:] - a[:-1]) / ((adt[1:] + adt[:-1]) / 2))[sj]
    jgid = agid[1:][sj]
    X[:, F["j_mean"]] = g.gmean(jerk, jgid, n)
    X[:, F["j_std"]] = g.gstd(jerk, jgid, n)
    X[:, F["j_min"]] = g.gmin(jerk, jgid, n)
    X[:, F["j_max"]] = g.gmax(jerk, jgid, n)
    # velocity peaks (sub-movements): a step faster than both neighbours
    if len(v) >= 3:
        peak = (v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:]) & sa[:-1] & sa[1:]
        X[:, F["n_vpeaks"]] = g.counts(sgid[1:-1][peak], n)

    # --- angles: turn between consecutive moving steps
    theta = np.arctan2(sdy, sdx)
    both = sa & (ds[1:] > 0) & (ds[:-1] > 0)
    dth = np.angle(np.exp(1j * (theta[1:] - theta[:-1])))[both]
    dgid = sgid[1:][both]
    omega = dth / ((sdt[1:] + sdt[:-1]) / 2)[both]
    curv = dth / ((ds[1:] + ds[:-1]) / 2)[both]
    X[:, F["omega_mean_abs"]] = g.gmean(np.abs(omega), dgid, n)
    X[:, F["omega_std"]] = g.gstd(omega, dgid, n)
    X[:, F["omega_max_abs"]] = g.gmax(np.abs(omega), dgid, n)
    X[:, F["curv_mean_abs"]] = g.gmean(np.abs(curv), dgid, n)
    X[:, F["curv_std"]] = g.gstd(curv, dgid, n)
    X[:, F["curv_max_abs"]] = g.gmax(np.abs(curv), dgid, n)
    X[:, F["turn_total"]] = g.gsum(np.abs(dth), dgid, n)
    X[:, F["turn_net"]] = g.gsum(dth, dgid, n)
    crit = g.counts(dgid[np.abs(dth) > cfg.critical_angle], n)
    X[:, F["n_critical"]] = crit
    X[:, F["critical_rate"]] = _safe_div(crit.astype(np.float64), g.counts(dgid, n))

    # --- deviation from the straight start->end line
    lx, ly, lfx, lfy = ex[ps], ey[ps], px[fi][ps], py[fi][ps]
    cross = np.abs(lx * (py - lfy) - ly * (px - lfx))
    dev = _safe_div(cross, e2e[ps])
    dmax = g.gmax(dev, ps, n)
    X[:, F["dev_max_px"]] = dmax
    X[:, F["dev_rel"]] = np.minimum(_safe_div(dmax, e2e), 10.0)
    X[:, F["dev_mean_rel"]] = np.minimum(_safe_div(g.gmean(dev, ps, n), e2e), 10.0)

    # --- clicks: last press/release of each action (on the raw, unmerged events)
    is_down = kind == Kind.BUTTON_DOWN
    is_up = kind == Kind.BUTTON_UP
    pos = np.arange(len(e))
    dpos = g.gmax(np.where(is_down, pos, -1).astype(np.float64), sid, n, fill=-1).astype(np.int64)
    upos = g.gmax(np.where(is_up, pos, -1).astype(np.float64), sid, n, fill=-1).astype(np.int64)
    click = (dpos >= 0) & (upos > dpos)
    # last move before the press inside the action
    mpos = np.where(kind == Kind.MOVE, pos, -1)
    last_move = np.maximum.accumulate(mpos)  # running index of the latest move
    lm_before = np.where(dpos > 0, last_move[np.maximum(dpos - 1, 0)], -1)
    lm_ok = click & (lm_before >= np.searchsorted(sid, np.arange(n)))
    X[lm_ok, F["pause_before_press_s"]] = t[dpos[lm_ok]] - t[lm_before[lm_ok]]
    X[click, F["click_dwell_s"]] = t[upos[click]] - t[dpos[click]]
    X[click, F["press_release_px"]] = np.hypot(x[upos[click]] - x[dpos[click]],
                                               y[upos[click]] - y[dpos[click]])
    X[click, F["button_right"]] = e["code"][dpos[click]] == 3

    # --- scrolls
    is_sc = kind == Kind.SCROLL
    steps = np.abs(e["code"].astype(np.float64)) * is_sc
    steps = np.where(is_sc & (steps == 0), 1.0, steps)  # a scroll record without a count = 1 step
    nsteps = g.gsum(steps, sid, n)
    X[:, F["scroll_steps"]] = nsteps
    X[:, F["scroll_rate"]] = _safe_div(nsteps, np.maximum(dur, cfg.min_dt_s)) * (nsteps > 0)
    sgn = np.sign(e["code"].astype(np.float64)) * is_sc
    X[:, F["scroll_dir"]] = _safe_div(g.gsum(sgn, sid, n), g.counts(sid[is_sc], n).astype(float))

    np.nan_to_num(X, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return ActionSet(
        X=X,
        kind=segs.kind.astype(np.int8),
        t_start_ns=ev["t_ns"][segs.start].astype(np.int64),
        t_end_ns=ev["t_ns"][segs.stop - 1].astype(np.int64),
        n_events=(segs.stop - segs.start).astype(np.int32),
        closed=segs.closed,
    )
