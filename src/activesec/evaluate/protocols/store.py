"""The user's own event store: the owner's sessions against sessions labelled otherwise.

Chronological, so a model is never tested on data older than its enrolment:

* owner sessions (label == ``owner``), oldest first: the first ``enrol_sessions`` (default: the
  older half) enrol and the later ones are genuine tests; a single owner session is split in
  time — its first half enrols, its second half is the genuine test;
* each session labelled otherwise (``activesec label``) is split in time: its first half joins
  the background of population detectors, its second half is an impostor test — so no
  impostor row is both learnt from and tested on.

Only what a person made with a device is used, as ``activesec train`` uses it
(:func:`activesec.core.events.own_input`: no injected input, no pointer warps, no software
devices), and pointer actions are segmented per device (a mouse and a touchpad used in turn
are two streams to the live scorer, not one). Keystroke windows never span an absence (a gap
of over the trust model's ``idle_after_s``, 60 s, between key events), as the live agent scores
them (:func:`activesec.features.keys.keystroke_windows_between_absences`).

The report adds per-label distributions of the features that separate the owner most (the
"labelled data collection + exploratory analysis" step): histograms per label on shared bins.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.core.events import Kind, own_input, stored_device_type
from activesec.engine.trust import IDLE_AFTER_S
from activesec.evaluate.engine import Unit, UserTask
from activesec.evaluate.protocols._common import (
    ACTION_AMOUNTS,
    Options,
    Prepared,
    pointer_rows,
    stack,
)
from activesec.evaluate.protocols.keys_common import default_amounts, unit_rows
from activesec.evaluate.result import Skip
from activesec.features.keys import KEY_STEP, KEY_WINDOW

N_DIST_FEATURES = 12
N_BINS = 30


def _rows(events: np.ndarray, modality: str, window: int, step: int
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """Feature rows of a session's own input (module docstring): pointer actions segmented
    per device, as the live scorer streams each device apart, in the order they ended."""
    if modality == "pointer":
        from activesec.features.pointer import pointer_features

        k = events["kind"]
        ptr = events[(k != Kind.KEY_DOWN) & (k != Kind.KEY_UP)]
        devices = np.unique(ptr["device"])
        if len(devices) <= 1:
            return pointer_rows(ptr), None
        parts = [pointer_features(ptr[ptr["device"] == d]) for d in devices]
        t_end = np.concatenate([a.t_end_ns for a in parts])
        X = np.concatenate([np.asarray(a.X, np.float64) for a in parts])
        return X[np.argsort(t_end, kind="stable")], None
    X, amount, _ = unit_rows(events, window, step, absence_s=IDLE_AFTER_S)
    return X, amount


def _halves(X: np.ndarray, amount: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    h = len(X) // 2
    a = None if amount is None else amount[h:] - (amount[h - 1] if h else 0)
    return X[:h], X[h:], a


def feature_distributions(by_label: dict[str, np.ndarray], owner: str, names: list[str],
                          kind: str, n_features: int = N_DIST_FEATURES) -> dict[str, Any]:
    """Histograms per label of the features whose owner mean differs most from the others'."""
    own = by_label.get(owner)
    others = [v for k, v in by_label.items() if k != owner and len(v)]
    if own is None or not len(own) or not others:
        return {"kind": kind, "features": []}
    rest = np.concatenate(others)
    pooled_sd = np.sqrt((own.var(0) + rest.var(0)) / 2) + 1e-12
    effect = np.abs(own.mean(0) - rest.mean(0)) / pooled_sd
    effect[np.std(np.concatenate([own, rest]), 0) == 0] = 0
    pick = np.argsort(-effect)[:n_features]
    feats = []
    allx = np.concatenate([own, rest])
    for j in pick:
        lo, hi = np.quantile(allx[:, j], [0.01, 0.99])
        if hi <= lo:
            lo, hi = float(allx[:, j].min()) - 0.5, float(allx[:, j].max()) + 0.5
        edges = np.linspace(lo, hi, N_BINS + 1)
        hists = {}
        for lab, v in by_label.items():
            if not len(v):
                continue
            h, _ = np.histogram(np.clip(v[:, j], lo, hi), bins=edges)
            hists[lab] = {"n": len(v), "share": (h / len(v)).round(5).tolist()}
        feats.append({"name": names[j] if j < len(names) else f"f{j}",
                      "effect_size": round(float(effect[j]), 4),
                      "edges": edges.round(6).tolist(), "by_label": hists})
    return {"kind": kind, "owner": owner, "features": feats}


def prepare(path: str | Path, opts: Options) -> Prepared:
    from activesec.features.keys import KEY_FEATURE_NAMES
    from activesec.features.pointer import POINTER_FEATURE_NAMES
    from activesec.store.db import Store

    t0 = time.perf_counter()
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p} is a folder", "pass the event store's database file "
                        "(see `activesec status`)")
    window = KEY_WINDOW if opts.window is None else opts.window
    step = KEY_STEP if opts.step is None else opts.step
    skipped: list[Skip] = []
    with Store.open_to_read(p) as st:  # reads only: also on a full disk
        sessions = st.sessions()
        mine = [s for s in sessions if s.label == opts.owner]
        theirs = [s for s in sessions if s.label != opts.owner]
        if not mine:
            raise DataError(f"no session labelled {opts.owner!r} in {p}",
                            "capture as the owner, or pass the owner's label")
        if not theirs:
            raise DataError(f"every session in {p} is the owner's: nothing to test against",
                            "record someone else after `activesec label NAME`")
        modality = opts.modality or (
            "pointer" if sum(s.n_pointer for s in mine) >= sum(s.n_keys for s in mine)
            else "keys")
        if modality not in ("pointer", "keys"):
            raise DataError(f"unknown modality {modality!r}", "use pointer or keys")
        rows: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        for s in sessions:
            types = {d.index: stored_device_type(d.type, d.name) for d in st.devices(s.id)}
            rows[s.id] = _rows(own_input(st.events(s.id), types), modality, window, step)
    nf = len(POINTER_FEATURE_NAMES if modality == "pointer" else KEY_FEATURE_NAMES)
    for s in sessions:
        if not len(rows[s.id][0]):
            skipped.append(Skip("session", f"{s.label}/{s.id}", "no complete action or window"))
    mine = [s for s in mine if len(rows[s.id][0])]
    theirs = [s for s in theirs if len(rows[s.id][0])]
    units: list[Unit] = []
    if len(mine) >= 2:
        n = min(opts.enrol_sessions or len(mine) // 2, len(mine) - 1)
        enrol = stack([rows[s.id][0] for s in mine[:n]], nf)
        units += [Unit(f"{s.label}/{s.id}", True, *rows[s.id]) for s in mine[n:]]
        split = f"first {n} of {len(mine)} owner sessions enrol"
    elif mine:
        X, amt = rows[mine[0].id]
        enrol, test, a = _halves(X, amt)
        units.append(Unit(f"{mine[0].label}/{mine[0].id}#2", True, test, a))
        split = "the single owner session is split in time (first half enrols)"
    else:
        enrol = np.zeros((0, nf))
        split = "no owner session with data"
    bg, groups = [], []
    for s in theirs:
        X, amt = rows[s.id]
        first, second, a = _halves(X, amt)
        bg.append(first)
        groups.append(np.full(len(first), s.label, dtype=object))
        if len(second):
            units.append(Unit(f"{s.label}/{s.id}#2", False, second, a))
    task = UserTask(opts.owner, enrol, background=stack(bg, nf),
                    background_groups=np.concatenate(groups).astype(str) if groups else None,
                    units=units)
    by_label: dict[str, list[np.ndarray]] = {}
    for s in sessions:
        by_label.setdefault(s.label, []).append(rows[s.id][0])
    dist = feature_distributions({k: stack(v, nf) for k, v in by_label.items()}, opts.owner,
                                 list(POINTER_FEATURE_NAMES if modality == "pointer"
                                      else KEY_FEATURE_NAMES), modality)
    curve, amounts = (("by_actions", ACTION_AMOUNTS) if modality == "pointer"
                      else ("by_keystrokes", default_amounts(window, step)))
    protocol = (f"owner {opts.owner!r} vs other labels, chronological: {split}; other labels' "
                "sessions: first half background, second half impostor tests")
    return Prepared(dataset="store", protocol=protocol, modality=modality, tasks=[task],
                    skipped=skipped, curve_name=curve, amounts=amounts,
                    params={"fusion": opts.fusion, "owner": opts.owner, "window": window,
                            "step": step,
                            **({"absence_s": IDLE_AFTER_S} if modality == "keys" else {})},
                    feature_distributions=dist, prepare_s=time.perf_counter() - t0)
