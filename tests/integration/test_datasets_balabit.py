"""The Balabit reader on slices of the real dataset, checked against an independent csv parse."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core.events import Kind
from activesec.recordings import detect_layout, iter_balabit

pytestmark = pytest.mark.datasets


def oracle(path: Path) -> dict[str, int]:
    """Counts per event kind straight from the file, the slow obvious way."""
    counts = {"move": 0, "down": 0, "up": 0, "scroll": 0, "sentinel": 0}
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        next(rows)
        for _rt, _ct, button, state, x, y in rows:
            if not (0 <= int(x) < 16384 and 0 <= int(y) < 16384):
                counts["sentinel"] += 1
            elif state in ("Move", "Drag"):
                counts["move"] += 1
            elif state == "Pressed":
                counts["down"] += 1
            elif state == "Released":
                counts["up"] += 1
            elif button == "Scroll":
                counts["scroll"] += 1
    return counts


def test_first_training_session_of_user7(csv_parser: str) -> None:
    root = dataset("balabit")
    r = next(iter_balabit(root, "training", users=["user7"]))
    assert (r.user, r.session) == ("user7", "session_0041905381")
    kinds = np.bincount(r.events["kind"], minlength=7)
    assert kinds[Kind.MOVE] == 76966 and kinds[Kind.SCROLL] == 3549
    assert (kinds[Kind.BUTTON_DOWN], kinds[Kind.BUTTON_UP]) == (1289, 1287)
    o = oracle(Path(r.meta["path"]))
    assert (o["move"], o["down"], o["up"], o["scroll"]) == (
        kinds[Kind.MOVE], kinds[Kind.BUTTON_DOWN], kinds[Kind.BUTTON_UP], kinds[Kind.SCROLL],
    )  # fmt: skip
    assert r.meta["skipped_rows"] == 0 and np.all(np.diff(r.events["t_ns"]) >= 0)
    x, y = r.events["x"], r.events["y"]
    assert x.min() >= 0 and y.min() >= 0 and x.max() < 16384 and y.max() < 16384


def test_sentinel_rows_are_dropped_and_counted(csv_parser: str) -> None:
    root = dataset("balabit")
    (r,) = [
        s for s in iter_balabit(root, "training", users=[7]) if s.session == "session_3826583375"
    ]
    o = oracle(Path(r.meta["path"]))
    assert r.meta["bad_coordinates"] == o["sentinel"] == 1
    assert r.meta["n_events"] == r.meta["rows"] - 1
    assert not np.any(r.events["x"] == 65535)


def test_labelled_test_sessions_of_one_user() -> None:
    root = dataset("balabit")
    with open(root / "public_labels.csv") as fh:
        labels = {row["filename"]: row["is_illegal"] == "1" for row in csv.DictReader(fh)}
    recs = list(iter_balabit(root, "test", users=["user35"]))
    files = {p.name for p in (root / "test_files" / "user35").iterdir()}
    assert {r.session for r in recs} == files & set(labels)
    assert all(r.meta["is_illegal"] == labels[r.session] for r in recs)
    assert any(r.meta["is_illegal"] for r in recs) and not all(r.meta["is_illegal"] for r in recs)
    assert detect_layout(root) == "balabit"
