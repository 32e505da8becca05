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


def first_keystrokes(events: np.ndarray, n: int) -> np.ndarray:
    """The events of the first ``n`` keystrokes (by press time): their presses and releases."""
    down = events[events["kind"] == Kind.KEY_DOWN]
    if len(down) <= n:
        return events
    ids = down["x"][:n]
    keep = np.isin(events["x"], ids) & np.isin(events["kind"], [Kind.KEY_DOWN, Kind.KEY_UP])
    return events[keep]


def unit_rows(
    events: np.ndarray, window: int, step: int, prefixes: Sequence[int] = ()
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(rows, amount per row, nested) for one test or enrolment unit."""
    if window > 0:
        X, amount = key_rows(events, window, step)
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
