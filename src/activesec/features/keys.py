"""Keystroke-timing features over windows of N keystrokes (pure, vectorised NumPy).

Input is an EVENT_DTYPE array: KEY_DOWN / KEY_UP events whose ``code`` is a key *class*
(:class:`activesec.core.keys.KeyClass`) and whose ``x`` is the stroke id shared by a press and
its release. Key identities never reach this module, so everything here works from classes.

Pairing (:func:`keystrokes`): events are ordered by (stroke id, time); a press is paired with the
release that immediately follows it under the same stroke id. Auto-repeat presses (a press
after a press of the same stroke id without a release) are merged into the first one; a press
without release keeps a NaN dwell; a release without press is ignored. Strokes are then
ordered by press time, so overlapping strokes (rollover) are handled naturally — their
release-press flight is negative.

Per window of ``window`` consecutive strokes (every ``step`` strokes), features
(:data:`KEY_FEATURE_NAMES`, seconds unless stated):

* dwell (hold) statistics; flight statistics for press-press (PP), release-press (RP),
  release-release (RR) and press-release (PR) of consecutive strokes;
* median dwell per key class and median PP / RP flight per digraph *class* (letter->letter,
  letter->space, space->letter, modifier->letter, ...);
* typing rate (keys per second while typing), pause structure (a PP flight above
  ``pause_s`` is a pause: their rate and mean length, capped at ``max_pause_s``), rollover
  rate (share of negative RP flights), class shares — correction rate (BACKSPACE share),
  modifier usage, spaces, digits, punctuation;
* rhythm and shape (:func:`_rhythm`): lag-1 correlations of consecutive flights and dwells,
  dwell-flight correlations, spread and skew of the timings, letter->letter and letter-dwell
  tails, backspace run length, slowing down within the window. On Aalto 136M (mean per-user
  EER, PLDA, the first 400 / next 400 evaluated users, chosen on the first 400 only) they
  take 4.65 / 4.99 % to 4.45 / 4.82 % (a prototype with the correlations alone: 4.64 / 4.97; the
  letter tails alone: 4.55 / 4.94) — shape and sequence, which per-class medians lack.

**Absences** (:func:`keystroke_windows_between_absences`): the live agent never lets a window
span a gap of more than the trust model's ``idle_after_s`` (60 s) between two key events — it
scores what it holds and starts afresh (:mod:`activesec.engine.scoring`). Training (``activesec
train``) and the evaluations that window long sessions (``evaluate keys-csv``, ``evaluate
store``, ``--continuous``) cut sessions the same way, so models are fitted and calibrated on
exactly the windows the agent scores. Per-sentence protocols (Aalto, CMU, Freihaut) keep a
sentence or passphrase as one unit, as the published figures they are compared with do.

Flights longer than ``pause_s`` are excluded from the flight statistics (they measure thinking,
not typing) and counted as pauses instead.

Imputation, so ``X`` is always finite: a per-class or per-digraph statistic absent from a
window takes the window's own statistic of the same kind (e.g. the median dwell over all its
strokes); if the window has none (no paired stroke at all), a population default
(:data:`DEFAULTS`, typical adult typing) is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activesec.core.events import Kind
from activesec.core.keys import KeyClass

# Typical adult typing (seconds) for windows that lack a timing entirely.
DEFAULTS = {"dwell": 0.10, "pp": 0.22, "rp": 0.12, "rr": 0.22, "pr": 0.32, "pp2": 0.44}

# Coarse groups for digraph classes: L letter, S space, M modifier, B correction, O other.
_GROUP = np.array([4, 0, 4, 1, 4, 3, 2, 4, 4], np.int8)  # indexed by KeyClass value
_GROUP_NAMES = "LSMBO"
_DIGRAPHS = [a + b for a in "LSMBO" for b in "LSMBO"]
_DIGRAPH_CODES = np.array([_GROUP_NAMES.index(d[0]) * 5 + _GROUP_NAMES.index(d[1])
                           for d in _DIGRAPHS], np.int64)
_DWELL_CLASSES = [KeyClass.LETTER, KeyClass.SPACE, KeyClass.MODIFIER, KeyClass.BACKSPACE,
                  KeyClass.PUNCTUATION, KeyClass.DIGIT]
_SHARE_CLASSES = [KeyClass.LETTER, KeyClass.SPACE, KeyClass.MODIFIER, KeyClass.BACKSPACE,
                  KeyClass.PUNCTUATION, KeyClass.DIGIT, KeyClass.ENTER, KeyClass.NAVIGATION]

_QS = (0.1, 0.25, 0.5, 0.75, 0.9)
_QS_COL = np.array(_QS)[:, None]

# The live keyboard model's windows: 50 keystrokes every 10 (the agent, training, background
# and the layout/store evaluations all use these).
KEY_WINDOW, KEY_STEP = 50, 10


def overlap_rows(window: int = KEY_WINDOW, step: int = KEY_STEP) -> int:
    """How many earlier windows share keystrokes with a given one — the purge gap between
    rows fitted on and held-out rows, so held-out scores are not of keys the model saw."""
    return max(0, -(-window // step) - 1) if window > 0 else 0


def _names() -> list[str]:
    stats = ["mean", "std", "p10", "p25", "p50", "p75", "p90"]
    names = [f"dwell_{s}" for s in stats]
    for f in ("pp", "rp", "rr", "pr", "pp2"):
        names += [f"{f}_{s}" for s in stats]
    names += ["rate_keys_s", "pause_rate", "pause_mean_s", "rollover_rate", "dwell_over_pp"]
    names += [f"share_{KeyClass(c).name.lower()}" for c in _SHARE_CLASSES]
    names += [f"dwell_{KeyClass(c).name.lower()}" for c in _DWELL_CLASSES]
    names += [f"pp_{d}" for d in _DIGRAPHS] + [f"rp_{d}" for d in _DIGRAPHS]
    names += _RHYTHM_NAMES
    return names


# Rhythm and shape features (see :func:`_rhythm`), appended after the digraph medians.
_RHYTHM_NAMES = [
    "pp_lag1_corr", "dwell_lag1_corr", "dwell_rp_corr", "dwell_pp_corr", "dwell_trend_corr",
    "pp_rel_iqr", "dwell_rel_iqr", "pp_log_skew", "dwell_log_skew",
    "pp_LL_p10", "pp_LL_p90", "pp_LL_mean", "rp_LL_mean", "rr_LL",
    "dwell_letter_p10", "dwell_letter_p90", "dwell_letter_mean",
    "backspace_run", "pp_half_log_ratio", "dwell_letter_before_space", "pp_SL_p90",
]


KEY_FEATURE_NAMES: list[str] = _names()


@dataclass(frozen=True)
class Strokes:
    """Keystrokes ordered by press time: times in seconds from the first press (release NaN
    when missing), class per stroke, and the absolute press/release times in ns."""

    press: np.ndarray
    release: np.ndarray
    cls: np.ndarray
    press_ns: np.ndarray
    release_ns: np.ndarray  # -1 when missing

    def __len__(self) -> int:
        return len(self.press)


@dataclass(frozen=True)
class WindowSet:
    """One row per window (``X`` columns = :data:`KEY_FEATURE_NAMES`)."""

    X: np.ndarray  # float64 (n_windows, n_features)
    t_start_ns: np.ndarray  # int64: first press of the window
    t_end_ns: np.ndarray  # int64: last press or release of the window
    n_keys: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.n_keys)


def keystrokes(events: np.ndarray) -> Strokes:
    """Pair presses and releases by stroke id (rules in the module docstring)."""
    ev = np.asarray(events)
    ev = ev[(ev["kind"] == Kind.KEY_DOWN) | (ev["kind"] == Kind.KEY_UP)]
    is_up = (ev["kind"] == Kind.KEY_UP).astype(np.int8)
    order = np.lexsort((is_up, ev["t_ns"], ev["x"]))  # by stroke id, time, press first
    e = ev[order]
    up = is_up[order].astype(bool)
    sid = e["x"]
    same_prev = np.zeros(len(e), bool)
    same_prev[1:] = sid[1:] == sid[:-1]
    down = ~up
    repeat = np.zeros(len(e), bool)  # press right after a press of the same stroke id
    repeat[1:] = down[1:] & down[:-1] & same_prev[1:]
    keep = ~repeat
    e, up, sid = e[keep], up[keep], sid[keep]
    down = ~up
    nxt_up = np.zeros(len(e), bool)
    nxt_up[:-1] = up[1:] & (sid[1:] == sid[:-1])
    di = np.flatnonzero(down)
    press_ns = e["t_ns"][di].astype(np.int64)
    rel_ns = np.where(nxt_up[di], e["t_ns"][np.minimum(di + 1, len(e) - 1)], -1).astype(np.int64)
    cls = e["code"][di].astype(np.int64)
    o = np.argsort(press_ns, kind="stable")
    press_ns, rel_ns, cls = press_ns[o], rel_ns[o], cls[o]
    t0 = press_ns[0] if len(press_ns) else 0
    press = (press_ns - t0) / 1e9
    release = np.where(rel_ns >= 0, (rel_ns - t0) / 1e9, np.nan)
    cls = np.where((cls >= 0) & (cls < len(_GROUP)), cls, int(KeyClass.OTHER))
    return Strokes(press, release, cls, press_ns, rel_ns)


def _nanstats(a: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise count, mean, std and the quantiles ``_QS`` ignoring NaN (no warnings)."""
    ok = ~np.isnan(a)
    cnt = ok.sum(1)
    z = np.where(ok, a, 0.0)
    mean = np.divide(z.sum(1), cnt, out=np.full(len(a), np.nan), where=cnt > 0)
    dev = np.where(ok, a - mean[:, None], 0.0)
    std = np.sqrt(np.divide((dev**2).sum(1), cnt, out=np.full(len(a), np.nan), where=cnt > 0))
    if not a.shape[1]:
        return (cnt, mean, std, *(np.full(len(a), np.nan) for _ in _QS))
    srt = np.sort(a, axis=1)  # NaN last
    i = np.floor(_QS_COL * np.maximum(cnt - 1, 0)).astype(np.int64).T  # (n, len(_QS))
    v = np.where(cnt[:, None] > 0, np.take_along_axis(srt, i, axis=1), np.nan)
    return (cnt, mean, std, *v.T)


def _masked_medians(a: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Row-wise medians of ``a`` (n, L) under each of ``masks`` (n, k, L) -> (n, k), with
    NaN ignored and NaN where nothing is selected — the 0.5 quantile of :func:`_nanstats`
    (lower median), in one sort for all ``k``: the agent computes a handful of windows at a
    time, where the number of NumPy calls, not the data, is the cost."""
    m = np.where(masks, a[:, None, :], np.nan)
    n, k, width = m.shape
    if not width:
        return np.full((n, k), np.nan)
    cnt = (~np.isnan(m)).sum(2)
    i = np.floor(0.5 * np.maximum(cnt - 1, 0)).astype(np.int64)[:, :, None]
    v = np.take_along_axis(np.sort(m, axis=2), i, axis=2)[:, :, 0]
    return np.where(cnt > 0, v, np.nan)


def _masked_median(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return _masked_medians(a, mask[:, None, :])[:, 0]


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation over the positions where both are finite (0 with fewer
    than 3 such pairs or no variance beyond float round-off)."""
    ok = ~np.isnan(a) & ~np.isnan(b)
    n = ok.sum(1)
    has = n > 2
    ma = np.divide(np.where(ok, a, 0.0).sum(1), n, out=np.zeros(len(a)), where=has)
    mb = np.divide(np.where(ok, b, 0.0).sum(1), n, out=np.zeros(len(a)), where=has)
    da = np.where(ok, a - ma[:, None], 0.0)
    db = np.where(ok, b - mb[:, None], 0.0)
    den = np.sqrt((da**2).sum(1) * (db**2).sum(1))
    return np.divide((da * db).sum(1), den, out=np.zeros(len(a)), where=has & (den > 1e-18))


def _skew(a: np.ndarray) -> np.ndarray:
    """Row-wise skewness ignoring NaN (0 without variance beyond float round-off)."""
    ok = ~np.isnan(a)
    n = np.maximum(ok.sum(1), 1)
    mu = np.where(ok, a, 0.0).sum(1) / n
    d = np.where(ok, a - mu[:, None], 0.0)
    var = (d**2).sum(1) / n
    return np.divide((d**3).sum(1) / n, var**1.5, out=np.zeros(len(a)), where=var > 1e-18)


def _rhythm(dwell: np.ndarray, pp: np.ndarray, rp: np.ndarray, rr: np.ndarray,
            c: np.ndarray, typing: np.ndarray, med: dict[str, np.ndarray]) -> np.ndarray:
    """The :data:`_RHYTHM_NAMES` columns: how consecutive timings depend on each other and
    the shape of their distributions — what per-class medians cannot express.

    * lag-1 correlations of log PP flights and of log dwells, dwell vs the release-press flight
      after it and vs the press-press flight into it, log dwell vs position (slowing down);
    * relative spread ((p75 - p25) / p50) and skewness of log PP and log dwell;
    * letter->letter PP tails and mean, RP mean, median RR; letter dwell tails and mean;
    * mean backspace run length, log ratio of the median PP of the window's second half to its
      first half, median dwell of a letter typed before a space, space->letter PP p90.

    Flights are typing flights only (pauses excluded, as elsewhere). Absent statistics take the
    window's own statistic of the same kind (an LL quantile: the window's PP quantile), and a
    correlation without three pairs is 0."""
    n_win = len(c)
    pp = np.where(typing, pp, np.nan)
    rp = np.where(typing, rp, np.nan)
    log_pp = np.log(np.maximum(pp, 1e-3))
    log_dw = np.log(np.maximum(dwell, 1e-3))
    pos = np.broadcast_to(np.arange(dwell.shape[1], dtype=np.float64), dwell.shape)
    cols = [_corr(log_pp[:, :-1], log_pp[:, 1:]), _corr(log_dw[:, :-1], log_dw[:, 1:]),
            _corr(dwell[:, :-1], rp), _corr(dwell[:, 1:], pp), _corr(pos, log_dw)]

    def q(a: np.ndarray) -> dict[str, np.ndarray]:
        _, mean, _, p10, p25, p50, p75, p90 = _nanstats(a)
        return {"mean": mean, "p10": p10, "p25": p25, "p50": p50, "p75": p75, "p90": p90}

    def fill(a: np.ndarray, default: np.ndarray | float) -> np.ndarray:
        return np.where(np.isnan(a), default, a)

    all_pp, all_dw = q(pp), q(dwell)
    for st in (all_pp, all_dw):
        cols.append(np.divide(st["p75"] - st["p25"], st["p50"], out=np.zeros(n_win),
                              where=st["p50"] > 0))
    cols += [_skew(log_pp), _skew(log_dw)]

    letter = c == KeyClass.LETTER
    ll = letter[:, :-1] & letter[:, 1:]
    ll_pp, ll_rp = q(np.where(ll, pp, np.nan)), q(np.where(ll, rp, np.nan))
    l_dw = q(np.where(letter, dwell, np.nan))
    cols += [fill(ll_pp["p10"], fill(all_pp["p10"], DEFAULTS["pp"])),
             fill(ll_pp["p90"], fill(all_pp["p90"], DEFAULTS["pp"])),
             fill(ll_pp["mean"], med["pp"]), fill(ll_rp["mean"], med["rp"]),
             fill(_masked_median(rr, ll & typing), med["rr"]),
             fill(l_dw["p10"], fill(all_dw["p10"], DEFAULTS["dwell"])),
             fill(l_dw["p90"], fill(all_dw["p90"], DEFAULTS["dwell"])),
             fill(l_dw["mean"], med["dwell"])]

    bs = c == KeyClass.BACKSPACE
    runs = (bs[:, 1:] & ~bs[:, :-1]).sum(1) + bs[:, 0]
    cols.append(np.divide(bs.sum(1), runs, out=np.zeros(n_win), where=runs > 0))
    h = max(1, pp.shape[1] // 2)
    first, second = q(pp[:, :h])["p50"], q(pp[:, h:])["p50"]
    first, second = fill(first, med["pp"]), fill(second, med["pp"])
    cols.append(np.log(np.maximum(second, 1e-3) / np.maximum(first, 1e-3)))
    before_space = np.zeros_like(letter)
    before_space[:, :-1] = letter[:, :-1] & (c[:, 1:] == KeyClass.SPACE)
    cols.append(fill(_masked_median(dwell, before_space), med["dwell"]))
    sl = (c[:, :-1] == KeyClass.SPACE) & letter[:, 1:]
    cols.append(fill(q(np.where(sl, pp, np.nan))["p90"], fill(all_pp["p90"], DEFAULTS["pp"])))
    return np.stack(cols, 1)


def keystroke_windows(
    events: np.ndarray,
    window: int = KEY_WINDOW,
    step: int = KEY_STEP,
    *,
    pause_s: float = 1.0,
    max_pause_s: float = 10.0,
) -> WindowSet:
    """Feature rows over windows of ``window`` keystrokes every ``step`` keystrokes.

    ``window=0`` makes the whole input one window (e.g. one typed sentence). Input with fewer
    strokes than ``window`` gives no window."""
    if window < 0 or step < 1:
        raise ValueError("window must be >= 0 and step >= 1")
    s = keystrokes(events)
    n = len(s)
    nf = len(KEY_FEATURE_NAMES)
    w = n if window == 0 else window
    if n == 0 or n < w or w < 2:
        z = np.zeros(0, np.int64)
        return WindowSet(np.zeros((0, nf)), z, z.copy(), np.zeros(0, np.int32))
    starts = np.arange(0, n - w + 1, step)
    idx = starts[:, None] + np.arange(w)[None, :]  # (n_win, w) stroke indices
    p, r, c = s.press[idx], s.release[idx], s.cls[idx]
    dwell = r - p
    pp = p[:, 1:] - p[:, :-1]
    rp = p[:, 1:] - r[:, :-1]
    rr = r[:, 1:] - r[:, :-1]
    pr = r[:, 1:] - p[:, :-1]
    # the pause rule on integer ns: float seconds since the first stroke put a flight of exactly
    # pause_s a hair above or below it, depending on where the stroke sits in the recording
    pns = s.press_ns[idx]
    pause = (pns[:, 1:] - pns[:, :-1]) > round(pause_s * 1e9)
    typing = ~pause
    cols: list[np.ndarray] = []

    def stats(a: np.ndarray, default: float) -> np.ndarray:
        _, mean, std, *qs = _nanstats(a)
        out = np.stack([mean, std, *qs], 1)
        fill = np.array([default, 0.0] + [default] * len(qs))
        return np.where(np.isnan(out), fill[None, :], out)

    dw = stats(dwell, DEFAULTS["dwell"])
    cols.append(dw)
    med = {"dwell": dw[:, 4]}
    pp2 = p[:, 2:] - p[:, :-2]  # press to the press after next (trigraph span)
    typing2 = typing[:, 1:] & typing[:, :-1]
    for name, a, ok in (("pp", pp, typing), ("rp", rp, typing), ("rr", rr, typing),
                        ("pr", pr, typing), ("pp2", pp2, typing2)):
        st = stats(np.where(ok, a, np.nan), DEFAULTS[name])
        cols.append(st)
        med[name] = st[:, 4]

    n_typing = typing.sum(1)
    typing_time = np.where(typing, pp, 0.0).sum(1)
    rate = np.divide(n_typing, typing_time, out=np.zeros(len(idx)), where=typing_time > 0)
    n_pause = pause.sum(1)
    pause_mean = np.divide(np.where(pause, np.minimum(pp, max_pause_s), 0.0).sum(1), n_pause,
                           out=np.zeros(len(idx)), where=n_pause > 0)
    rp_ok = ~np.isnan(rp) & typing
    n_rp = rp_ok.sum(1)
    rollover = np.divide((rp_ok & (rp < 0)).sum(1), n_rp, out=np.zeros(len(idx)), where=n_rp > 0)
    dwell_over_pp = np.divide(med["dwell"], med["pp"], out=np.zeros(len(idx)), where=med["pp"] > 0)
    cols.append(np.stack([rate, n_pause / (w - 1), pause_mean, rollover, dwell_over_pp], 1))

    cols.append(np.stack([(c == k).mean(1) for k in _SHARE_CLASSES], 1))
    m = _masked_medians(dwell, c[:, None, :] == np.array(_DWELL_CLASSES)[None, :, None])
    cols.append(np.where(np.isnan(m), med["dwell"][:, None], m))

    grp = _GROUP[c]
    dig = grp[:, :-1].astype(np.int64) * 5 + grp[:, 1:]
    digraph_masks = dig[:, None, :] == _DIGRAPH_CODES[None, :, None]
    for name, a in (("pp", pp), ("rp", rp)):
        m = _masked_medians(np.where(typing, a, np.nan), digraph_masks)
        cols.append(np.where(np.isnan(m), med[name][:, None], m))

    cols.append(_rhythm(dwell, pp, rp, rr, c, typing, med))

    X = np.concatenate(cols, axis=1)
    np.nan_to_num(X, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    rel_ns = s.release_ns[idx]
    t_end = np.maximum(s.press_ns[idx].max(1), rel_ns.max(1))
    return WindowSet(
        X=X,
        t_start_ns=s.press_ns[idx[:, 0]],
        t_end_ns=t_end.astype(np.int64),
        n_keys=np.full(len(idx), w, np.int32),
    )


def split_at_absences(events: np.ndarray, absence_s: float) -> list[np.ndarray]:
    """The key events (time order) cut wherever the next comes more than ``absence_s`` after
    the last — where the live scorer starts afresh (:mod:`activesec.engine.scoring`,
    *Absences*). A stroke held across an absence is cut too, as live: its press stays on one
    side without a release, its release on the other is ignored."""
    ev = np.asarray(events)
    ev = ev[(ev["kind"] == Kind.KEY_DOWN) | (ev["kind"] == Kind.KEY_UP)]
    if not len(ev):
        return []
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    t = ev["t_ns"].astype(np.int64)
    cuts = np.flatnonzero(np.diff(t) > int(absence_s * 1e9)) + 1  # the live scorer's rule
    return np.split(ev, cuts)


def keystroke_windows_between_absences(
    events: np.ndarray,
    absence_s: float,
    window: int = KEY_WINDOW,
    step: int = KEY_STEP,
) -> WindowSet:
    """:func:`keystroke_windows` over each stretch between absences (:func:`split_at_absences`),
    in time order: exactly the windows the live scorer emits for the same key events (given the
    trust model's ``idle_after_s`` as ``absence_s``; injected input already removed, as the
    scorer removes it by default), so a model is trained, calibrated and
    evaluated on the windows it will score — never on one straddling a lunch break. A stretch
    with fewer than ``window`` keystrokes gives no window, as live."""
    parts = [keystroke_windows(p, window, step) for p in split_at_absences(events, absence_s)]
    parts = [w for w in parts if len(w)]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return keystroke_windows(events[:0], window, step)
    return WindowSet(X=np.concatenate([w.X for w in parts]),
                     t_start_ns=np.concatenate([w.t_start_ns for w in parts]),
                     t_end_ns=np.concatenate([w.t_end_ns for w in parts]),
                     n_keys=np.concatenate([w.n_keys for w in parts]))
