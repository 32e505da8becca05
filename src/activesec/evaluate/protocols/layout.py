"""Generic layouts (``ROOT/<user>/<session>.csv``): the user's own recordings and exports.

Per user, sessions in natural file-name order: the first ``enrol_sessions`` (default 1) enrol,
the rest are genuine tests; impostor tests are the other users' *test* sessions (their
enrolment sessions are never scored, and never used as anyone's background either: the
background of a population detector is the other users' enrolment data). A session's score
fuses its actions (mouse) or keystroke windows (keys), with ``by_actions`` / ``by_keystrokes``
curves over the first k actions or n keystrokes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.evaluate.engine import Unit, UserTask
from activesec.evaluate.parallel import pmap
from activesec.evaluate.protocols._common import (
    ACTION_AMOUNTS,
    Options,
    Prepared,
    background_tasks,
    pointer_rows,
    stack,
)
from activesec.evaluate.protocols.keys_common import default_amounts, unit_rows
from activesec.evaluate.result import Skip
from activesec.features.keys import KEY_STEP, KEY_WINDOW

ENROL = 1
MAX_BACKGROUND = 20000
_SUFFIXES = (".csv", ".parquet")


def _load_user(args: tuple[Path, str, str, int, int]) -> tuple[str, list[tuple[str, Any]]]:
    from activesec.recordings import iter_layout

    root, kind, user, window, step = args
    out: list[tuple[str, Any]] = []
    for r in iter_layout(root, "mouse" if kind == "mouse" else "keys", users=[user]):
        if kind == "mouse":
            X = pointer_rows(r.events)
            out.append((r.session, (X, None, False)))
        else:
            out.append((r.session, unit_rows(r.events, window, step)))
    return user, out


def _users(root: Path, kind: str) -> list[str]:
    """User folders of the layout (an export's ``ROOT/<kind>/`` sub-folder is descended)."""
    from activesec.recordings.base import natural_key

    if not root.is_dir():
        raise DataError(f"{root} is not a folder",
                        f"the {kind} layout is ROOT/<user>/<session>.csv")
    base = root / kind if (root / kind).is_dir() else root
    users = sorted((p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")
                    and any(f.suffix.lower() in _SUFFIXES for f in p.iterdir())),
                   key=natural_key)
    if len(users) < 2:
        raise DataError(f"{root} holds {len(users)} user folder(s) with sessions",
                        f"the {kind} layout needs ROOT/<user>/<session>.csv for at least 2 users")
    return users


def _prepare(root: Path, opts: Options, kind: str) -> Prepared:
    t0 = time.perf_counter()
    users = _users(root, kind)
    if opts.users:
        users = [u for u in users if u in set(opts.users)]
    if opts.max_users:
        users = users[: opts.max_users]
    enrol_n = opts.enrol_sessions or ENROL
    window = KEY_WINDOW if opts.window is None else opts.window
    step = KEY_STEP if opts.step is None else opts.step
    loaded = pmap(_load_user, [(root, kind, u, window, step) for u in users], jobs=opts.jobs,
                  progress=opts.progress, stage="features")
    skipped: list[Skip] = []
    enrol: dict[str, np.ndarray] = {}
    tests: dict[str, list[Unit]] = {}
    reasons: dict[str, str] = {}
    what = "action" if kind == "mouse" else f"{window}-keystroke window"
    for user, sess in loaded:
        usable = []
        for sid, (X, amt, nested) in sess:
            if len(X) == 0:
                skipped.append(Skip("session", f"{user}/{sid}", f"no complete {what}"))
            else:
                usable.append((sid, X, amt, nested))
        if len(usable) <= enrol_n:
            reasons[user] = (f"only {len(usable)} usable sessions "
                             f"(need {enrol_n} to enrol + 1 to test)")
        nf = usable[0][1].shape[1] if usable else 0
        enrol[user] = stack([X for _, X, _, _ in usable[:enrol_n]], nf)
        tests[user] = [Unit(f"{user}/{sid}", True, X, amt, nested=nested)
                       for sid, X, amt, nested in usable[enrol_n:]]
    tasks = []
    for user in users:
        if user in reasons:
            tasks.append(UserTask(user, enrol[user], skipped_reason=reasons[user]))
            continue
        imp = [Unit(u.id, False, u.X, u.amount, nested=u.nested)
               for o in users if o != user for u in tests[o]]
        tasks.append(UserTask(user, enrol[user], units=tests[user] + imp))
    background_tasks(tasks, {u: enrol[u] for u in users if u not in reasons},
                     opts.max_background or MAX_BACKGROUND, opts.seed)
    amounts: tuple[int, ...]
    if kind == "mouse":
        curve, amounts = "by_actions", ACTION_AMOUNTS
        params: dict[str, Any] = {}
    else:
        curve, amounts = "by_keystrokes", default_amounts(window, step)
        params = {"window": window, "step": step}
    protocol = (f"first {enrol_n} session(s) of each user enrol, the rest genuine; impostors = "
                "other users' test sessions; background = other users' enrolment data")
    return Prepared(dataset=f"{kind}-csv", protocol=protocol,
                    modality="pointer" if kind == "mouse" else "keys", tasks=tasks,
                    skipped=skipped, curve_name=curve, amounts=amounts,
                    params={"fusion": opts.fusion, "enrol_sessions": enrol_n, **params},
                    prepare_s=time.perf_counter() - t0)


def prepare_mouse(root: str | Path, opts: Options) -> Prepared:
    return _prepare(Path(root), opts, "mouse")


def prepare_keys(root: str | Path, opts: Options) -> Prepared:
    return _prepare(Path(root), opts, "keys")
