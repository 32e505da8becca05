"""Balabit Mouse Dynamics Challenge: the labelled-test-session protocol.

Per user (Antal & Egyed-Zsigmond 2019, the published AUC 0.92):

* enrolment: the user's ``training_files`` sessions, cut into actions;
* background (population detectors): the other users' training actions — never test data;
* tests: the labelled sessions under ``test_files/<user>/`` (``public_labels.csv``): genuine if
  ``is_illegal == 0``, impostor if ``1``. A session's score fuses its action scores (mean by
  default), and ``by_actions`` repeats it with only the first k actions (k = 1, 5, 10, 20).

Pooled AUC/EER put all users' sessions under one threshold; the mean per-user EER gives each
user their own. Loading and feature extraction run per user in the worker pool.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.evaluate.engine import UserTask
from activesec.evaluate.parallel import pmap
from activesec.evaluate.protocols._common import (
    ACTION_AMOUNTS,
    Options,
    Prepared,
    background_tasks,
    pointer_rows,
    stack,
    unit,
)
from activesec.evaluate.result import Skip

MAX_BACKGROUND = 20000  # background rows per user (seeded sample of the other users)



def protocol(n_tests: int) -> str:
    """The protocol line, with the number of labelled test sessions actually evaluated (816 on
    the whole challenge)."""
    return ("per-user model on training_files; background = other users' training actions; "
            f"tests = {n_tests} labelled test sessions (public_labels.csv); session score = "
            "fused action scores")


def check_layout(root: Path) -> list[str]:
    """User folder names, or DataError if ``root`` is not the Balabit layout."""
    tr, te = root / "training_files", root / "test_files"
    if not tr.is_dir() or not te.is_dir():
        raise DataError(
            f"{root} is not the Balabit layout (no training_files/ and test_files/)",
            "pass the folder that holds training_files, test_files and public_labels.csv",
        )
    if not (root / "public_labels.csv").is_file():
        raise DataError(f"{root}/public_labels.csv is missing",
                        "the labelled-session protocol needs the challenge's public labels")
    users = sorted(p.name for p in tr.iterdir() if p.is_dir())
    if not users:
        raise DataError(f"{tr} holds no user folder", "expected training_files/userN/session_*")
    return users


def training_rows(root: Path, user: str, skips: list[Skip] | None = None) -> np.ndarray:
    """``user``'s training actions as feature rows, sessions in file order (also what
    ``evaluate --continuous`` enrols on); each session read without some of its rows (x/y
    sentinels) is added to ``skips`` as a ``rows`` entry, when given."""
    from activesec.features.pointer import POINTER_FEATURE_NAMES
    from activesec.recordings import iter_balabit
    from activesec.recordings.base import unreadable_rows

    train = []
    for r in iter_balabit(root, split="training", users=[user]):
        if skips is not None and (bad := unreadable_rows(r.meta)):
            skips.append(Skip("rows", f"{user}/{r.session}", bad))
        train.append(pointer_rows(r.events))
    return stack(train, len(POINTER_FEATURE_NAMES))


def _load_user(args: tuple[Path, str]) -> dict[str, Any]:
    """One user's training rows and labelled test sessions. A session evaluated without some
    unreadable rows (Balabit's x/y sentinels: 66 of the 816 test sessions) is said in
    ``skipped`` as ``rows``, as the README promises and the generic layouts and ``replay`` do."""
    from activesec.recordings import iter_balabit
    from activesec.recordings.base import unreadable_rows

    root, user = args
    skips: list[Skip] = []
    train = training_rows(root, user, skips)
    tests = []
    for r in iter_balabit(root, split="test", users=[user]):
        sid = f"{user}/{r.session}"
        if "is_illegal" not in r.meta:
            skips.append(Skip("session", sid, "not in public_labels.csv"))
            continue
        X = pointer_rows(r.events)
        if len(X) == 0:
            skips.append(Skip("session", sid, "no complete pointer action"))
            continue
        if bad := unreadable_rows(r.meta):
            skips.append(Skip("rows", sid, bad))
        tests.append((sid, not bool(int(r.meta["is_illegal"])), X))
    return {"user": user, "train": train, "tests": tests, "skips": skips}


def prepare(root: str | Path, opts: Options) -> Prepared:
    t0 = time.perf_counter()
    root = Path(root)
    users = check_layout(root)
    if opts.users:
        wanted = set(opts.users)
        users = [u for u in users if u in wanted]
    if opts.max_users:
        users = users[: opts.max_users]
    loaded = pmap(_load_user, [(root, u) for u in users], jobs=opts.jobs,
                  progress=opts.progress, stage="features")
    tasks: list[UserTask] = []
    skipped: list[Skip] = []
    own: dict[str, np.ndarray] = {}
    for d in loaded:
        skipped.extend(d["skips"])
        own[d["user"]] = d["train"]
        tasks.append(UserTask(
            user=d["user"],
            enrol=d["train"],
            units=[unit(sid, gen, X) for sid, gen, X in d["tests"]],
        ))
    background_tasks(tasks, own, opts.max_background or MAX_BACKGROUND, opts.seed)
    return Prepared(
        dataset="balabit", protocol=protocol(sum(len(t.units) for t in tasks)),
        modality="pointer", tasks=tasks,
        skipped=skipped, curve_name="by_actions", amounts=ACTION_AMOUNTS,
        params={"fusion": opts.fusion, "max_background": opts.max_background or MAX_BACKGROUND},
        prepare_s=time.perf_counter() - t0,
    )
