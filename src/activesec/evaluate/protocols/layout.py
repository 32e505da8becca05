"""Generic layouts (``ROOT/<user>/<session>.csv``): the user's own recordings and exports.

Per user, sessions in natural file-name order: the first ``enrol_sessions`` (default 1) enrol,
the rest are genuine tests; impostor tests are the other users' *test* sessions (their
enrolment sessions are never scored, and never used as anyone's background either: the
background of a population detector is the other users' enrolment data). A session's score
fuses its actions (mouse) or keystroke windows (keys), with ``by_actions`` / ``by_keystrokes``
curves over the first k actions or n keystrokes. Keystroke windows never span an absence (a gap
of over the trust model's ``idle_after_s``, 60 s, between key events): your sessions are windowed
as the live agent scores them (:func:`activesec.features.keys.keystroke_windows_between_absences`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.engine.trust import IDLE_AFTER_S
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


_LAYOUT_HINT = {
    "mouse": "rows are timestamp (seconds),button (NoButton|Left|Right|Middle|Scroll),state "
             "(Move|Pressed|Released|Drag|Down|Up),x,y — README: the generic layouts",
    "keys": "rows are key,press (seconds),release (seconds) — README: the generic layouts",
}


def _looks_like_ms(events: np.ndarray) -> bool:
    """Consecutive events a median of over 2 s apart: no one points or types that slowly, but
    milliseconds read as seconds look like that."""
    gaps = np.diff(events["t_ns"]) if len(events) > 2 else np.empty(0)
    return bool(len(gaps)) and float(np.median(gaps)) > 2e9


def _load_user(args: tuple[Path, str, str, int, int]
               ) -> tuple[str, list[tuple[str, Any, str, str]]]:
    """One user's sessions: (session, feature rows, why it may hold no unit, unreadable rows).
    A file none of whose rows is readable is an error naming it (the header was right, the
    content is not), not a silently empty session."""
    from activesec.recordings import iter_layout
    from activesec.recordings.base import unreadable_rows, why_unreadable

    root, kind, user, window, step = args
    out: list[tuple[str, Any, str, str]] = []
    for r in iter_layout(root, "mouse" if kind == "mouse" else "keys", users=[user]):
        bad = unreadable_rows(r.meta)
        if r.meta.get("rows", 0) and r.meta.get("skipped_rows", 0) == r.meta["rows"]:
            raise DataError(f"{r.meta['path']}: none of its {r.meta['rows']:,} rows is readable "
                            f"({why_unreadable(r.meta)})", _LAYOUT_HINT[kind])
        if not r.meta.get("rows", 0):
            why = "no data row"
        elif _looks_like_ms(r.events):
            why = "its times are far apart: are they milliseconds? the layout wants seconds"
        else:
            why = f"{len(r.events):,} events"
        data = ((pointer_rows(r.events), None, False) if kind == "mouse"
                else unit_rows(r.events, window, step, absence_s=IDLE_AFTER_S))
        out.append((r.session, data, why, bad))
    return user, out


def _user_folders(root: Path, kind: str) -> tuple[list[str], list[str]]:
    """(user folders holding sessions, folders holding none), each in natural order; an
    export's ``ROOT/<kind>/`` sub-folder is descended."""
    from activesec.recordings.base import natural_key
    from activesec.recordings.generic import is_session_file, session_root

    if not root.is_dir():
        raise DataError(f"{root} is not a folder",
                        f"the {kind} layout is ROOT/<user>/<session>.csv")
    # an export with only the other modality is said to be one (its mouse/ is no user folder)
    base = root / kind if (root / kind).is_dir() else session_root(
        root, "mouse" if kind == "mouse" else "keys")
    dirs = sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))
    with_sessions = [p.name for p in dirs
                     if any(is_session_file(f) for f in p.iterdir())]
    return with_sessions, [p.name for p in dirs if p.name not in set(with_sessions)]


def _users(root: Path, kind: str) -> list[str]:
    """User folders of the layout that hold sessions; at least 2 or a :class:`DataError`."""
    users, without = _user_folders(root, kind)
    if len(users) < 2:
        also = (f"; {len(without)} folder(s) hold no .csv or .parquet file "
                f"({', '.join(without[:3])}{', …' if len(without) > 3 else ''})"
                if without else "")
        raise DataError(f"{root} holds {len(users)} user folder(s) with sessions{also}",
                        f"the {kind} layout needs ROOT/<user>/<session>.csv for at least 2 users "
                        "(uncompressed .csv or .parquet)")
    return users


def _prepare(root: Path, opts: Options, kind: str) -> Prepared:
    t0 = time.perf_counter()
    users = _users(root, kind)
    _, without = _user_folders(root, kind)
    if opts.users:
        users = [u for u in users if u in set(opts.users)]
    if opts.max_users:
        users = users[: opts.max_users]
    enrol_n = opts.enrol_sessions or ENROL
    window = KEY_WINDOW if opts.window is None else opts.window
    step = KEY_STEP if opts.step is None else opts.step
    loaded = pmap(_load_user, [(root, kind, u, window, step) for u in users], jobs=opts.jobs,
                  progress=opts.progress, stage="features")
    # a folder without a session file is named, not silently left out (e.g. .csv.gz files)
    skipped = [Skip("user", u, "its folder holds no .csv or .parquet file (compressed files "
                    "are not read)") for u in without]
    enrol: dict[str, np.ndarray] = {}
    tests: dict[str, list[Unit]] = {}
    reasons: dict[str, str] = {}
    what = "action" if kind == "mouse" else f"{window}-keystroke window"
    for user, sess in loaded:
        usable = []
        first_skip = ""
        for sid, (X, amt, nested), why, bad in sess:
            if len(X) == 0:
                detail = "; ".join(x for x in (why, bad) if x)
                skipped.append(Skip("session", f"{user}/{sid}", f"no complete {what} ({detail})"))
                first_skip = first_skip or f"; {sid}: no complete {what} ({detail})"
                continue
            if bad:  # evaluated on the rows that were read: say what was left out
                skipped.append(Skip("rows", f"{user}/{sid}", bad))
            usable.append((sid, X, amt, nested))
        if len(usable) <= enrol_n:
            reasons[user] = (f"only {len(usable)} usable sessions "
                             f"(need {enrol_n} to enrol + 1 to test){first_skip}")
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
        params = {"window": window, "step": step, "absence_s": IDLE_AFTER_S}
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
