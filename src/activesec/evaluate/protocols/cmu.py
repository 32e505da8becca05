"""CMU DSL-StrongPasswordData: Killourhy & Maxion's (DSN 2009) protocol, exactly.

For each of the 51 subjects, in the file's order (sessionIndex, rep): the first 200
repetitions of ``.tie5Roanl`` train a one-class model; the last 200 are genuine tests and the
first 5 repetitions of every other subject (250) are impostor tests. Every repetition is scored
on its own (no fusion). Reported: mean and SD of the per-subject EER (the paper's best, scaled
Manhattan, is 0.096 / 0.069). The features are the file's 31 hold / keydown-keydown /
keyup-keydown times — the password is fixed, so the per-key timing vector *is* the feature row;
no background exists in this protocol, so population detectors do not apply.

A file whose subjects lack the 400 repetitions (e.g. the 10-row schema sample) gives a reported
skip per subject, and no number.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from activesec.evaluate.engine import Unit, UserTask
from activesec.evaluate.protocols._common import Options, Prepared
from activesec.evaluate.result import Skip

N_TRAIN, N_TEST, N_IMPOSTOR_REPS = 200, 200, 5

PROTOCOL = ("Killourhy & Maxion 2009: first 200 reps train, last 200 reps genuine, first 5 reps "
            "of every other subject impostor; per-rep scores; mean and SD of per-subject EER")


def prepare(path: str | Path, opts: Options) -> Prepared:
    from activesec.recordings import load_cmu

    t0 = time.perf_counter()
    data = load_cmu(Path(path))
    subjects = np.asarray(data.subjects).astype(str)
    order = np.lexsort((np.asarray(data.rep), np.asarray(data.session_index)))
    X = np.asarray(data.X, dtype=np.float64)
    names = sorted(set(subjects.tolist()))
    if opts.users:
        names = [n for n in names if n in set(opts.users)]
    rows = {n: order[subjects[order] == n] for n in names}  # file order within each subject
    tasks: list[UserTask] = []
    skipped: list[Skip] = []
    evaluated = names[: opts.max_users] if opts.max_users else names
    for s in evaluated:
        idx = rows[s]
        if len(idx) < N_TRAIN + N_TEST:
            tasks.append(UserTask(s, X[idx[:N_TRAIN]], skipped_reason=(
                f"only {len(idx)} repetitions (the protocol needs {N_TRAIN + N_TEST})")))
            continue
        units = [Unit(f"{s}/{int(i)}", True, X[i:i + 1]) for i in idx[-N_TEST:]]
        for o in names:
            if o != s:
                units += [Unit(f"{o}/{int(i)}", False, X[i:i + 1])
                          for i in rows[o][:N_IMPOSTOR_REPS]]
        tasks.append(UserTask(s, X[idx[:N_TRAIN]], units=units))
    return Prepared(dataset="cmu", protocol=PROTOCOL, modality="keys", tasks=tasks,
                    skipped=skipped, params={"n_train": N_TRAIN, "n_test": N_TEST,
                                             "impostor_reps": N_IMPOSTOR_REPS},
                    use_background=False, prepare_s=time.perf_counter() - t0)
