"""Keystroke units: one recording (a sentence, a session) to feature rows with data amounts.

Two modes, chosen by ``window``:

* ``window > 0`` — sliding windows of ``window`` keystrokes every ``step``; a unit's score fuses
  its windows, and the score "at n keystrokes" fuses the windows that end within the first n.
* ``window == 0`` — the whole unit is one window (short texts: a sentence, a passphrase). For
  the amount curve, the first n keystrokes are featurised as one window (growing prefixes; the
  unit is ``nested``), so "at n keystrokes" scores exactly what the owner typed so far.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from activesec.core.events import Kind
from activesec.evaluate.protocols._common import key_rows

_GAP_NS = 10**12  # 1000 s between recordings laid back to back: no window spans two


def first_keystrokes(events: np.ndarray, n: int) -> np.ndarray:
    """The events of the first ``n`` keystrokes (by press time): their presses and releases."""
    down = events[events["kind"] == Kind.KEY_DOWN]
    if len(down) <= n:
        return events
    ids = down["x"][:n]
    keep = np.isin(events["x"], ids) & np.isin(events["kind"], [Kind.KEY_DOWN, Kind.KEY_UP])
    return events[keep]


def unit_rows(
    events: np.ndarray, window: int, step: int, prefixes: Sequence[int] = (),
    absence_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(rows, amount per row, nested) for one test or enrolment unit; with ``absence_s``, sliding
    windows never span a longer gap (:func:`~activesec.evaluate.protocols._common.key_rows`)."""
    if window > 0:
        X, amount = key_rows(events, window, step, absence_s)
        return X, amount, False
    rows, amounts = [], []
    n_press = int(np.count_nonzero(events["kind"] == Kind.KEY_DOWN))
    for n in prefixes:
        if n >= n_press:
            break
        X, a = key_rows(first_keystrokes(events, n), 0, 1)
        if len(X):
            rows.append(X)
            amounts.append(a)
    X, a = key_rows(events, 0, 1)
    rows.append(X)
    amounts.append(a)
    nf = X.shape[1]
    Xs = np.concatenate([r.reshape(-1, nf) for r in rows])
    return Xs, np.concatenate(amounts), True


def default_amounts(window: int, step: int) -> tuple[int, ...]:
    """Keystroke counts for the ``by_keystrokes`` curve."""
    if window == 0:
        return (10, 20, 30, 40)
    return tuple(range(window, window + 4 * max(step, window // 2) + 1, max(step, window // 2)))


def _stream(evs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Key events of several recordings back to back (times shifted, stroke ids made unique),
    and the start time of each recording in the stream."""
    parts, starts = [], []
    t, sid = 0, 0
    for ev in evs:
        k = ev[(ev["kind"] == Kind.KEY_DOWN) | (ev["kind"] == Kind.KEY_UP)].copy()
        starts.append(t)
        if not len(k):
            continue
        k["t_ns"] = k["t_ns"] - k["t_ns"].min() + t
        k["x"] = k["x"] - k["x"].min() + sid
        t = int(k["t_ns"].max()) + _GAP_NS
        sid = int(k["x"].max()) + 1
        parts.append(k)
    stream = np.concatenate(parts) if parts else evs[0][:0]
    return stream, np.asarray(starts, dtype=np.int64)


def _stroke_counts(evs: Sequence[np.ndarray]) -> np.ndarray:
    """Keystrokes per recording as the feature code pairs them (one pairing call for all)."""
    from activesec.features.keys import keystrokes

    stream, starts = _stream(evs)
    press = keystrokes(stream).press_ns
    owner = np.searchsorted(starts, press, side="right") - 1
    return np.bincount(owner, minlength=len(evs))


def _rows_of_equal_length(evs: Sequence[np.ndarray], n: int) -> np.ndarray | None:
    """One window row per recording, each exactly ``n`` keystrokes long, in one call of the
    live feature code (windows of ``n`` every ``n`` over the back-to-back stream)."""
    stream, _ = _stream(evs)
    X, _ = key_rows(stream, n, n)
    return X if len(X) == len(evs) else None


def whole_and_prefix_rows(
    evs: Sequence[np.ndarray], prefixes: Sequence[int] = ()
) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """:func:`unit_rows` with ``window=0`` for many short recordings at once.

    Computing a window per recording costs a feature call each; here recordings are grouped by
    keystroke count (whole) or truncated to n keystrokes (prefixes) and featurised in one call
    per group, giving the same rows. Any recording whose truncation does not pair into exactly
    n strokes falls back to its own call."""
    counts = _stroke_counts(evs)
    nf: int | None = None
    whole: dict[int, np.ndarray] = {}
    for c in np.unique(counts):
        idx = np.flatnonzero(counts == c)
        if c < 2:
            continue
        X = _rows_of_equal_length([evs[int(i)] for i in idx], int(c))
        if X is None:
            for i in idx:
                whole[int(i)] = key_rows(evs[int(i)], 0, 1)[0]
        else:
            for j, i in enumerate(idx):
                whole[int(i)] = X[j:j + 1]
    pref: dict[int, list[tuple[int, np.ndarray]]] = {}
    for n in prefixes:
        idx = np.flatnonzero(counts > n)
        if not len(idx) or n < 2:
            continue
        cut = [first_keystrokes(evs[int(i)], n) for i in idx]
        ok = _stroke_counts(cut) == n
        good = [c for c, k in zip(cut, ok, strict=True) if k]
        X = _rows_of_equal_length(good, n) if good else None
        j = 0
        for i, c, k in zip(idx, cut, ok, strict=True):
            if k and X is not None:
                row = X[j:j + 1]
                j += 1
            else:
                row = key_rows(c, 0, 1)[0]
            if len(row):
                pref.setdefault(int(i), []).append((n, row))
    out = []
    for k in range(len(evs)):
        w = whole.get(k)
        if w is None or not len(w):
            if nf is None:
                from activesec.features.keys import KEY_FEATURE_NAMES

                nf = len(KEY_FEATURE_NAMES)
            out.append((np.zeros((0, nf)), np.zeros(0, np.int64), True))
            continue
        rows = [r for _, r in pref.get(k, [])] + [w]
        amt = [n for n, _ in pref.get(k, [])] + [int(counts[k])]
        out.append((np.concatenate(rows), np.asarray(amt, np.int64), True))
    return out
