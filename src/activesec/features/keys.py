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
  modifier usage, spaces, digits, punctuation.

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
_DWELL_CLASSES = [KeyClass.LETTER, KeyClass.SPACE, KeyClass.MODIFIER, KeyClass.BACKSPACE,
                  KeyClass.PUNCTUATION, KeyClass.DIGIT]
_SHARE_CLASSES = [KeyClass.LETTER, KeyClass.SPACE, KeyClass.MODIFIER, KeyClass.BACKSPACE,
                  KeyClass.PUNCTUATION, KeyClass.DIGIT, KeyClass.ENTER, KeyClass.NAVIGATION]

_QS = (0.1, 0.25, 0.5, 0.75, 0.9)


def _names() -> list[str]:
    stats = ["mean", "std", "p10", "p25", "p50", "p75", "p90"]
    names = [f"dwell_{s}" for s in stats]
    for f in ("pp", "rp", "rr", "pr", "pp2"):
        names += [f"{f}_{s}" for s in stats]
    names += ["rate_keys_s", "pause_rate", "pause_mean_s", "rollover_rate", "dwell_over_pp"]
    names += [f"share_{KeyClass(c).name.lower()}" for c in _SHARE_CLASSES]
    names += [f"dwell_{KeyClass(c).name.lower()}" for c in _DWELL_CLASSES]
    names += [f"pp_{d}" for d in _DIGRAPHS] + [f"rp_{d}" for d in _DIGRAPHS]
    return names


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
    srt = np.sort(a, axis=1)  # NaN last
    qs = []
    for q in _QS:
        i = np.floor(q * np.maximum(cnt - 1, 0)).astype(np.int64)[:, None]
        v = np.take_along_axis(srt, i, axis=1)[:, 0] if a.shape[1] else np.full(len(a), np.nan)
        qs.append(np.where(cnt > 0, v, np.nan))
    return (cnt, mean, std, *qs)


def _masked_median(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return _nanstats(np.where(mask, a, np.nan))[3 + 2]  # index of the 0.5 quantile


def keystroke_windows(
    events: np.ndarray,
    window: int = 50,
    step: int = 10,
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
    cols.append(np.stack([
        np.where(np.isnan(m := _masked_median(dwell, c == k)), med["dwell"], m)
        for k in _DWELL_CLASSES], 1))

    grp = _GROUP[c]
    dig = grp[:, :-1].astype(np.int64) * 5 + grp[:, 1:]
    for name, a in (("pp", pp), ("rp", rp)):
        a = np.where(typing, a, np.nan)
        cols.append(np.stack([
            np.where(np.isnan(m := _masked_median(
                a, dig == _GROUP_NAMES.index(d[0]) * 5 + _GROUP_NAMES.index(d[1]))),
                med[name], m)
            for d in _DIGRAPHS], 1))

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
