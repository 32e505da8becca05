"""Aalto 136M Keystrokes: enrol on 5 sentences, test on the other 10 and on other people.

* Users are split once, with the seed, into a **background pool** (a quarter of the users by
  default, ``background_users`` to change) and the **evaluated** users; background rows for
  population detectors come only from the pool, so no evaluated person's typing ever trains
  another evaluated person's model (as TypeNet's disjoint train/test users).
* Per evaluated user: enrolment = their first 5 sentences (dataset order); genuine tests = their
  remaining sentences (10 in the dataset); impostor tests = ``impostors_per_user`` sentences
  (default 100), one random sentence each from as many other *evaluated* users, drawn with the
  seed — a fixed, documented sample that keeps the run tractable (all pairs would be 2,329 x
  34,935 sentence scores).
* A sentence is a unit: with ``window=0`` (default) the whole sentence is one feature row, and
  ``by_keystrokes`` scores its first n keystrokes; with ``window > 0`` sliding windows are fused.
* Users with fewer than 6 sentences are skipped with their reason.
* Sentences are never cut at absences (the live agent starts its keystroke windows afresh after
  a gap of over ``idle_after_s``, 60 s; ``keys-csv``, ``store`` and training do the same): a
  sentence is typed in seconds, and it stays one unit — one row, or windows within it — as in
  the published results these figures are compared with.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.evaluate.engine import Unit, UserTask
from activesec.evaluate.parallel import pmap
from activesec.evaluate.protocols._common import Options, Prepared, sample_index, user_seed
from activesec.evaluate.protocols.keys_common import (
    default_amounts,
    unit_rows,
    whole_and_prefix_rows,
)
from activesec.evaluate.result import Skip

ENROL = 5
IMPOSTORS_PER_USER = 100
DEFAULT_WINDOW, DEFAULT_STEP = 0, 1
MAX_BACKGROUND = 20000  # background rows shared by every evaluated user (seeded sample)


def _featurise(args: tuple[list[tuple[str, list[np.ndarray]]], int, int, tuple[int, ...]]
               ) -> list[tuple[str, list[tuple[np.ndarray, np.ndarray, bool]]]]:
    chunk, window, step, prefixes = args
    if window > 0:
        return [(user, [unit_rows(ev, window, step, prefixes) for ev in sentences])
                for user, sentences in chunk]
    flat = [ev for _, sentences in chunk for ev in sentences]
    rows = whole_and_prefix_rows(flat, prefixes)  # batched: same rows, far fewer calls
    out, i = [], 0
    for user, sentences in chunk:
        out.append((user, rows[i:i + len(sentences)]))
        i += len(sentences)
    return out


def prepare(path: str | Path, opts: Options, *, background_users: int | None = None,
            impostors_per_user: int = IMPOSTORS_PER_USER) -> Prepared:
    from activesec.recordings import iter_aalto

    t0 = time.perf_counter()
    window = DEFAULT_WINDOW if opts.window is None else opts.window
    step = DEFAULT_STEP if opts.step is None else opts.step
    enrol_n = opts.enrol_sessions or ENROL
    amounts = default_amounts(window, step)
    max_bg = opts.max_background or MAX_BACKGROUND
    by_user: dict[str, list[np.ndarray]] = {}
    for rec in iter_aalto(Path(path), users=opts.users, max_users=opts.max_users):
        by_user.setdefault(rec.user, []).append(rec.events)
    if not by_user:
        raise DataError(f"{path} holds no Aalto keystroke data",
                        "pass keystrokes.tsv(.gz) or the folder of *_keystrokes.txt files")
    skipped: list[Skip] = []
    for u in [u for u, s in by_user.items() if len(s) <= enrol_n]:
        skipped.append(Skip("user", u, f"only {len(by_user[u])} sentences "
                                       f"(need {enrol_n} to enrol + 1 to test)"))
        del by_user[u]
    users = sorted(by_user)
    if len(users) < 3:
        raise DataError(f"only {len(users)} usable Aalto users", "need at least 3 (a background "
                        "user and two evaluated users)")
    rng = np.random.default_rng(opts.seed)
    n_bg = background_users if background_users is not None else max(1, len(users) // 4)
    n_bg = min(n_bg, len(users) - 2)
    perm = rng.permutation(len(users))
    bg_users = sorted(users[i] for i in perm[:n_bg])
    ev_users = sorted(users[i] for i in perm[n_bg:])

    chunk = max(1, len(users) // (8 * max(1, opts.jobs if opts.jobs > 0 else 2)))
    order = bg_users + ev_users
    chunks = [[(u, by_user[u]) for u in order[i:i + chunk]] for i in range(0, len(order), chunk)]
    feats = pmap(_featurise, [(c, window, step, amounts) for c in chunks], jobs=opts.jobs,
                 progress=opts.progress, stage="features")
    rows: dict[str, list[tuple[np.ndarray, np.ndarray, bool]]] = {}
    for part in feats:
        rows.update(dict(part))

    def whole(r: tuple[np.ndarray, np.ndarray, bool]) -> np.ndarray:
        X, _, nested = r
        return X[-1:] if nested else X  # nested: the last row is the whole sentence

    bg = [(u, whole(r)) for u in bg_users for r in rows[u]]
    bg = [(u, b) for u, b in bg if len(b)]
    background, groups = None, None
    if bg:
        background = np.concatenate([b for _, b in bg])
        groups = np.concatenate([np.full(len(b), u, dtype=object) for u, b in bg]).astype(str)
        idx = sample_index(len(background), max_bg, np.random.default_rng(opts.seed))
        background, groups = background[idx], groups[idx]

    # with few users (--max-users) each has fewer others to draw impostors from: said so
    n_imp = min(impostors_per_user, len(ev_users) - 1)
    tasks: list[UserTask] = []
    for u in ev_users:
        urng = np.random.default_rng([opts.seed, user_seed(u)])
        enrol = [whole(r) for r in rows[u][:enrol_n]]
        units = [Unit(f"{u}/{j}", True, X, amt, nested=nested)
                 for j, (X, amt, nested) in enumerate(rows[u][enrol_n:], start=enrol_n)]
        others = [o for o in ev_users if o != u]
        pick = urng.choice(len(others), size=n_imp, replace=False)
        for k in np.sort(pick):
            o = others[int(k)]
            j = int(urng.integers(len(rows[o])))
            X, amt, nested = rows[o][j]
            units.append(Unit(f"{o}/{j}", False, X, amt, nested=nested))
        nf = next((e.shape[1] for e in enrol if e.ndim == 2), 0)
        E = np.concatenate([e for e in enrol if len(e)]) if any(len(e) for e in enrol) \
            else np.zeros((0, nf))
        tasks.append(UserTask(user=u, enrol=E, background=background,
                              background_groups=groups, units=units))
    params: dict[str, Any] = {
        "fusion": opts.fusion, "window": window, "step": step, "enrol_sentences": enrol_n,
        "impostors_per_user": n_imp, "background_users": len(bg_users),
        "evaluated_users": len(ev_users), "max_background": max_bg,
    }
    protocol = (f"enrol on each user's first {enrol_n} sentences; genuine = their other "
                f"sentences; impostors = 1 random sentence from each of {n_imp} "
                f"other evaluated users (seed {opts.seed}); background from "
                f"{len(bg_users)} disjoint users")
    return Prepared(dataset="aalto", protocol=protocol, modality="keys", tasks=tasks,
                    skipped=skipped, curve_name="by_keystrokes", amounts=amounts,
                    params=params, prepare_s=time.perf_counter() - t0)
