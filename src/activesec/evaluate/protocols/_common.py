"""Pieces shared by the protocols: options, the prepared-task bundle, featurising recordings.

Feature extraction calls the live agent's functions (:func:`pointer_features`,
:func:`keystroke_windows`) on each recording separately — actions and windows never span two
sessions or sentences, as in live use where a session boundary is a gap in activity. Protocols
that window long sessions pass ``absence_s`` to :func:`key_rows`, so no window spans an absence
either (:func:`activesec.features.keys.keystroke_windows_between_absences`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from activesec.evaluate.engine import Unit, UserTask
from activesec.evaluate.parallel import Progress
from activesec.evaluate.result import Skip

ACTION_AMOUNTS = (1, 5, 10, 20)  # by_actions: first k actions of a session (plus "all")


@dataclass
class Options:
    """Knobs every protocol understands (the CLI maps its flags onto these)."""

    jobs: int = 1
    backend: str = "loky"
    progress: Progress | None = None
    seed: int = 0
    enrol_sessions: int | None = None  # protocol default when None
    max_users: int | None = None  # evaluate at most this many users (tests, quick looks)
    users: Sequence[str] | None = None  # only these users (where the loader can filter)
    fusion: str = "mean"
    params: dict[str, Any] = field(default_factory=dict)  # detector parameters
    max_background: int | None = None  # cap on background rows (seeded); None = protocol's
    # keystroke windows (keys modalities): window=0 = a whole unit is one window
    window: int | None = None
    step: int | None = None
    owner: str = "owner"  # store: the label of the owner's sessions
    modality: str | None = None  # store: "pointer" or "keys" (default: whichever has more)


@dataclass
class Prepared:
    """A dataset reduced to per-user tasks, ready to run with any detector."""

    dataset: str
    protocol: str
    modality: str  # "pointer" | "keys"
    tasks: list[UserTask]
    skipped: list[Skip] = field(default_factory=list)
    curve_name: str | None = None
    amounts: tuple[int, ...] = ()
    day_bins: list[float] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    use_background: bool = True
    feature_distributions: dict[str, Any] | None = None
    prepare_s: float = 0.0


def pointer_rows(events: np.ndarray) -> np.ndarray:
    """Action feature rows (time order) of one recording, through the live feature code: of
    a person's own input only (a recording's ``injected`` column, as training learns)."""
    from activesec.core.events import own_input
    from activesec.features.pointer import pointer_features

    return np.asarray(pointer_features(own_input(events, {})).X, dtype=np.float64)


def key_rows(events: np.ndarray, window: int, step: int, absence_s: float | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Window feature rows of one recording and, per row, the keystrokes consumed at its end.

    With ``absence_s`` (and ``window > 0``), no window spans a gap of more than that between
    key events: the recording is windowed stretch by stretch, as the live agent scores it
    (:func:`~activesec.features.keys.keystroke_windows_between_absences`); the keystrokes
    consumed then include those of earlier stretches, windowed or not."""
    from activesec.core.events import own_input
    from activesec.features.keys import keystroke_windows, keystrokes, split_at_absences

    events = own_input(events, {})  # a person's keys only (the layouts' `injected` column)
    if absence_s is None or window == 0:
        ws = keystroke_windows(events, window=window, step=step)
        if window == 0:
            return np.asarray(ws.X, dtype=np.float64), np.asarray(ws.n_keys, dtype=np.int64)
        return (np.asarray(ws.X, dtype=np.float64),
                np.arange(len(ws), dtype=np.int64) * step + window)
    rows, amounts, before = [], [], 0
    for part in split_at_absences(events, absence_s):
        ws = keystroke_windows(part, window=window, step=step)
        rows.append(np.asarray(ws.X, dtype=np.float64))
        amounts.append(before + np.arange(len(ws), dtype=np.int64) * step + window)
        before += len(keystrokes(part))
    if not rows:
        return key_rows(events[:0], window, step)
    return np.concatenate(rows), np.concatenate(amounts)


def sample_rows(X: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` rows of X, drawn without replacement (all of them if fewer)."""
    return X[sample_index(len(X), limit, rng)]


def sample_index(n: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` rows (all of them if fewer)."""
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def stack(parts: Sequence[np.ndarray], n_features: int) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if parts else np.zeros((0, n_features))


def background_tasks(
    tasks: list[UserTask], own: dict[str, np.ndarray], limit: int | None, seed: int
) -> None:
    """Give each task the other users' enrolment rows as background (seeded cap per user),
    with the person id of every row (``background_groups``, for PLDA-type detectors)."""
    names = list(own)
    nf = next((v.shape[1] for v in own.values() if v.ndim == 2 and len(v)), 0)
    for t in tasks:
        rng = np.random.default_rng([seed, user_seed(t.user)])
        others = [n for n in names if n != t.user and len(own[n])]
        X = stack([own[n] for n in others], nf)
        g = np.concatenate([np.full(len(own[n]), n, dtype=object) for n in others]) \
            if others else np.empty(0, dtype=object)
        idx = sample_index(len(X), limit, rng)
        t.background, t.background_groups = X[idx], g[idx].astype(str)


def user_seed(user: str) -> int:
    """A stable per-user seed component (``hash()`` is salted per process)."""
    return zlib.crc32(user.encode())


def unit(id: str, genuine: bool, X: np.ndarray, amount: np.ndarray | None = None,
         days: float | None = None) -> Unit:
    return Unit(id=id, genuine=genuine, X=X, amount=amount, days=days)
