"""The protocol-independent core: fit one user's model, score their test units, fuse.

Every protocol reduces its dataset to one :class:`UserTask` per evaluated user — enrolment
feature rows, an optional background (other people's rows, for population detectors) and test
:class:`Unit` s (a session, a sentence, a repetition) labelled genuine or impostor — and calls
:func:`run_users`. The detector is created through the same registry the live agent uses, and
a unit's score is the same fusion of per-row scores the live agent applies over consecutive
actions or windows.

Amount of data: each row of a unit carries the cumulative amount of data it has consumed when
it ends (actions: 1, 2, 3, ...; keystroke windows: keystrokes up to the window's end). The score
"at amount k" fuses the rows whose amount is <= k — the first k actions, or the windows that fit
in the first k keystrokes. A unit with less data than k is scored on all of it; a unit with no
row within k is left out at that amount (so small k compare over the units that have a score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from activesec.core.errors import ActiveSecError, ConfigError
from activesec.evaluate.parallel import Progress, pmap
from activesec.evaluate.result import ALL, UserScores


@dataclass
class Unit:
    id: str
    genuine: bool
    X: np.ndarray  # feature rows in time order
    amount: np.ndarray | None = None  # cumulative data per row; None = 1, 2, 3, ... (actions)
    days: float | None = None  # time since the owner's enrolment ended (drift curves)
    nested: bool = False  # rows are growing prefixes of one unit: the score at k is the last
    # row within k (not a fusion of all of them)


@dataclass
class UserTask:
    user: str
    enrol: np.ndarray
    background: np.ndarray | None = None
    background_groups: np.ndarray | None = None  # person id per background row (PLDA-type)
    units: list[Unit] = field(default_factory=list)
    skipped_reason: str | None = None


@dataclass(frozen=True)
class DetectorSpec:
    """Which detector, with which parameters, fused how; ``min_enrol`` rows to fit at all."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    fusion: str = "mean"
    min_enrol: int = 5


def prefix_scores(scores: np.ndarray, method: str) -> np.ndarray:
    """Element i = the fused score of the first i+1 rows, through the live agent's fusion code
    (:func:`activesec.detectors.fusion.fuse` with a window as long as the unit)."""
    from activesec.detectors import fusion

    s = np.asarray(scores, dtype=np.float64)
    return np.asarray(fusion.fuse(s, method, k=max(1, len(s))), dtype=np.float64)


def _finite_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        X = X.reshape(len(X), -1)
    return X[np.all(np.isfinite(X), axis=1)]


def run_user(task: UserTask, spec: DetectorSpec, amounts: Sequence[int] = ()) -> UserScores:
    """Fit ``spec`` on the task's enrolment rows and score every unit at every amount."""
    from activesec.detectors.registry import create

    enrol = _finite_rows(task.enrol)
    out = UserScores(user=task.user, n_enrol=int(enrol.shape[0]))
    if task.skipped_reason:
        out.skipped_reason = task.skipped_reason
        return out
    if enrol.shape[0] < spec.min_enrol:
        out.skipped_reason = (
            f"only {enrol.shape[0]} enrolment rows (need {spec.min_enrol}: enrol on more "
            "data, e.g. a larger --enrol-sessions; an Aalto sentence is one row)"
        )
        return out
    units = [u for u in task.units if len(u.X)]
    if not units:
        out.skipped_reason = "no test unit with data"
        return out
    det = create(spec.name, **spec.params)
    bg, groups = None, None
    if getattr(det, "needs_background", False):
        if task.background is None or len(task.background) < 2:
            out.skipped_reason = f"{spec.name} needs background rows and the protocol has none"
            return out
        bg = np.asarray(task.background, dtype=np.float64)
        ok = np.all(np.isfinite(bg), axis=1)
        bg = bg[ok]
        if getattr(det, "needs_groups", False):
            if task.background_groups is None:
                out.skipped_reason = (f"{spec.name} needs the background's person ids and the "
                                      "protocol has none")
                return out
            groups = np.asarray(task.background_groups)[ok]
    try:
        det.fit(enrol, bg, groups) if groups is not None else det.fit(enrol, bg)
    except ConfigError:  # a bad detector parameter fails every user alike: said once
        raise
    except ActiveSecError as e:  # too little or unusable data for this user: a reported skip
        out.skipped_reason = f"cannot fit: {e.message}"
        return out

    X = np.concatenate([np.asarray(u.X, dtype=np.float64) for u in units])
    bad = ~np.all(np.isfinite(X), axis=1)
    X[bad] = 0.0  # scored then ignored below; keeps one vectorised score call
    s = np.asarray(det.score(X), dtype=np.float64)
    s[bad] = np.nan
    bounds = np.cumsum([0] + [len(u.X) for u in units])

    keys = [str(k) for k in amounts] + [ALL]
    g: dict[str, list[float]] = {k: [] for k in keys}
    i: dict[str, list[float]] = {k: [] for k in keys}
    days: list[float] = []
    for u, a, b in zip(units, bounds[:-1], bounds[1:], strict=True):
        su = s[a:b]
        amt = np.arange(1, len(su) + 1) if u.amount is None else np.asarray(u.amount)
        keep = np.isfinite(su)
        if not keep.any():
            continue
        su, amt = su[keep], amt[keep]
        dest = g if u.genuine else i
        # nested units (growing prefixes): the last row within k *is* the score at k
        f = su if u.nested else prefix_scores(su, spec.fusion)
        dest[ALL].append(float(f[-1]))
        if u.genuine:
            days.append(np.nan if u.days is None else float(u.days))
        for k in amounts:
            n_within = int(np.searchsorted(amt, k, side="right"))
            if n_within:
                dest[str(k)].append(float(f[n_within - 1]))
    out.genuine = {k: np.asarray(v) for k, v in g.items() if v}
    out.impostor = {k: np.asarray(v) for k, v in i.items() if v}
    if any(u.days is not None for u in units):
        out.genuine_days = np.asarray(days)
    return out


def _run_chunk(args: tuple[list[UserTask], DetectorSpec, tuple[int, ...]]) -> list[UserScores]:
    tasks, spec, amounts = args
    return [run_user(t, spec, amounts) for t in tasks]


def run_users(
    tasks: Sequence[UserTask],
    spec: DetectorSpec,
    amounts: Sequence[int] = (),
    *,
    jobs: int = 1,
    progress: Progress | None = None,
) -> list[UserScores]:
    """:func:`run_user` over all tasks, in parallel on the active backend.

    Tasks travel in chunks (at least four per worker, up to 32 for a smooth progress bar), so
    a background array shared by many users is serialised once per chunk, not once per user.
    """
    a = tuple(int(k) for k in amounts)
    n_workers = jobs if jobs > 0 else 4
    n_chunks = max(4 * n_workers, min(len(tasks), 32))
    size = max(1, -(-len(tasks) // n_chunks)) if jobs != 1 else 1
    chunks = [list(tasks[i:i + size]) for i in range(0, len(tasks), size)]
    done = pmap(_run_chunk, [(c, spec, a) for c in chunks], jobs=jobs, progress=progress,
                stage=f"users ({spec.name})")
    return [u for part in done for u in part]
