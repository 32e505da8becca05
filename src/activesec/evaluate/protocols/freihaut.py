"""Freihaut & Göritz 2022: chronological enrolment and the drift of EER over weeks.

Per user, sessions are ordered by their wall-clock start (``meta['wall_time']``). The first
``enrol_sessions`` (default 10) enrol; every later session is a genuine test, tagged with the
days elapsed since the last enrolment session; impostor tests are all sessions of the other
users. ``by_days`` then gives the EER of genuine sessions in each age bin (0-1, 1-3, 3-7,
7-14, 14-28, 28-56, 56+ days) against all impostor sessions — how a profile ages, the drift
the live agent faces. Each session (one typed passphrase) is one feature window
(``window=0``) by default, never cut at an absence (a pause of over a minute) as the live
agent's windows are: a passphrase is one unit, as in the published protocol.

Measured 2026-12-06 (``activesec evaluate freihaut --data …/Long_Keyboard_Raw_Dataset.json.gz
--drift --json``, 54 s on a shared 2-core machine; 49 of 52 users, 3 with 10 or fewer usable
sessions skipped): ``by_days`` EER 23.8 % (0-1 d), 25.5 % (1-3), 29.9 % (3-7), 30.6 % (7-14).
``--drift`` replays the same sessions through the agent's drift update on its own schedule
(:mod:`activesec.evaluate.drift`): with updates 23.8 / 25.5 / 29.9 % (no update is due in the
first week) and **27.8 %** at 7-14 d (mean per-user EER 23.4 % against 25.0 %). 26 owners were
updated; the gate refused the owner's own typing in 58 of 84 decisions (6 owners every time).
Attack (every owner against every other user, 2,499 pairs, 1,632 of which fed enough rows for
a decision): 3,663 of 4,788 updates refused, but 1,125 pairs learnt from — 20 % of the profile
the attacker's (the ``max_drift`` cap), an attacker already accepted 98.2 % of the time before
and 93.5 % after.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.evaluate.engine import Unit, UserTask
from activesec.evaluate.protocols._common import Options, Prepared, key_rows
from activesec.evaluate.protocols.keys_common import whole_and_prefix_rows
from activesec.evaluate.result import Skip

ENROL = 10
DAY_BINS = [0.0, 1.0, 3.0, 7.0, 14.0, 28.0, 56.0, math.inf]


def wall_seconds(v: Any) -> float:
    """Seconds since the epoch from a datetime, an ISO string, or a number in s or ms."""
    if isinstance(v, _dt.datetime):
        return v.timestamp()
    if isinstance(v, str):
        try:
            return _dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            v = float(v)
    x = float(v)
    if x > 1e17:  # ns
        return x / 1e9
    if x > 1e11:  # ms
        return x / 1e3
    return x


def _featurise(args: tuple[list[np.ndarray], int, int]) -> list[np.ndarray]:
    events, window, step = args
    if window == 0:  # one row per session, batched (see keys_common.whole_and_prefix_rows)
        return [X for X, _, _ in whole_and_prefix_rows(events)]
    return [key_rows(ev, window, step)[0] for ev in events]


def prepare(path: str | Path, opts: Options) -> Prepared:
    from activesec.recordings import iter_freihaut

    t0 = time.perf_counter()
    window = 0 if opts.window is None else opts.window
    step = 1 if opts.step is None else opts.step
    enrol_n = opts.enrol_sessions or ENROL
    sessions: dict[str, list[tuple[float, str, np.ndarray]]] = {}
    skipped: list[Skip] = []
    for rec in iter_freihaut(Path(path)):
        if opts.users and rec.user not in set(opts.users):
            continue
        if "wall_time" not in rec.meta or rec.meta["wall_time"] is None:
            skipped.append(Skip("session", f"{rec.user}/{rec.session}", "no start time"))
            continue
        sessions.setdefault(rec.user, []).append(
            (wall_seconds(rec.meta["wall_time"]), rec.session, rec.events))
    if not sessions:
        raise DataError(f"{path} holds no Freihaut & Göritz session",
                        "pass Long_Keyboard_Raw_Dataset.json(.gz)")
    users = sorted(sessions)
    if opts.max_users:
        users = users[: opts.max_users]
    flat = [(u, s) for u in users for s in sorted(sessions[u], key=lambda x: x[0])]
    feats = _featurise(([ev for _, (_, _, ev) in flat], window, step))
    per_user: dict[str, list[tuple[float, str, np.ndarray]]] = {u: [] for u in users}
    for (u, (t, sid, _)), X in zip(flat, feats, strict=True):
        if len(X) == 0:
            skipped.append(Skip("session", f"{u}/{sid}", "too few keystrokes for a window"))
            continue
        per_user[u].append((t, sid, X))
    tasks: list[UserTask] = []
    for u in users:
        s = per_user[u]
        if len(s) <= enrol_n:
            tasks.append(UserTask(u, np.zeros((0, 0)), skipped_reason=(
                f"only {len(s)} usable sessions (need {enrol_n} to enrol + 1 to test)")))
            continue
        enrol = np.concatenate([X for _, _, X in s[:enrol_n]])
        t_enrol = s[enrol_n - 1][0]
        units = [Unit(f"{u}/{sid}", True, X, days=(t - t_enrol) / 86400.0)
                 for t, sid, X in s[enrol_n:]]
        units += [Unit(f"{o}/{sid}", False, X) for o in users if o != u
                  for _, sid, X in per_user[o]]
        tasks.append(UserTask(u, enrol, units=units))
    protocol = (f"chronological per user: first {enrol_n} sessions enrol, later sessions "
                "genuine (binned by days since enrolment), all other users' sessions impostor")
    return Prepared(dataset="freihaut", protocol=protocol, modality="keys", tasks=tasks,
                    skipped=skipped, curve_name="by_days", day_bins=DAY_BINS,
                    use_background=False,
                    params={"fusion": opts.fusion, "window": window, "step": step,
                            "enrol_sessions": enrol_n},
                    prepare_s=time.perf_counter() - t0)
