"""Freihaut & Göritz and the CMU sample, real files."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core.events import Kind
from activesec.recordings import detect_layout, iter_freihaut, load_cmu
from activesec.recordings.cmu import FEATURES

pytestmark = pytest.mark.datasets


def test_freihaut_sessions() -> None:
    path = dataset("freihaut2022", "Long_Keyboard_Raw_Dataset.json.gz")
    recs = list(iter_freihaut(path))
    assert len(recs) == 2378 and len({r.user for r in recs}) == 52  # as the README states
    by_user: dict[str, list[float]] = {}
    for r in recs:
        by_user.setdefault(r.user, []).append(r.meta["wall_time"])
    assert all(w == sorted(w) for w in by_user.values())  # chronological per user
    first = recs[0]
    ev = first.events
    assert first.source == "freihaut" and first.meta["keystrokes"] >= 10
    assert np.all(np.diff(ev["t_ns"]) >= 0)
    downs, ups = ev[ev["kind"] == Kind.KEY_DOWN], ev[ev["kind"] == Kind.KEY_UP]
    assert downs["x"].tolist() == list(range(len(downs))) and len(ups) == len(downs)
    assert sum(r.meta["empty"] for r in recs) == 0
    assert sum(r.meta["keystrokes"] for r in recs) > 50_000
    assert all(len(r.meta["screen"]) == 2 for r in recs[:20])
    assert detect_layout(path) == "freihaut"


def test_cmu_sample() -> None:
    path = dataset("cmu_keystroke", "DSL-StrongPasswordData.HEAD10.csv")
    d = load_cmu(path)
    assert d.X.shape == (10, 31) and d.columns == FEATURES
    assert set(d.subjects.tolist()) == {"s002"} and d.rep.tolist() == list(range(1, 11))
    assert d.X[0, 0] == pytest.approx(0.1491)
    assert not d.meta["full"] and d.meta["warnings"]
    assert detect_layout(path.parent) == "cmu"
