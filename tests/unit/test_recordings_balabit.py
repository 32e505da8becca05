"""Balabit reader on a synthetic copy of the original layout (real slices: integration tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from activesec.core.errors import DataError
from activesec.core.events import Kind
from activesec.recordings.balabit import iter_balabit

HEADER = "record timestamp,client timestamp,button,state,x,y\n"


def put(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    put(
        tmp_path / "training_files" / "user7" / "session_2",
        HEADER + "0.0,0.0,NoButton,Move,10,10\n"
        "0.1,0.2,Left,Pressed,11,10\n"
        "0.1,0.1,NoButton,Drag,12,10\n"  # out of order by client time
        "0.2,0.3,Left,Released,65535,65535\n"  # sentinel: dropped
        "0.3,0.3,NoButton,Move,13,-1\n"  # negative: dropped
        "0.3,0.3,Scroll,Down,13,10\n"  # duplicate timestamp
        "0.3,0.3,Scroll,Up,13,10\n"
        "0.4,0.4,XButton,Pressed,13,10\n"
        "0.5,0.5,XButton,Released,13,10\n",
    )
    put(tmp_path / "training_files" / "user7" / "session_10", HEADER + "0,0,NoButton,Move,1,1\n")
    put(tmp_path / "training_files" / "user12" / "session_1", HEADER + "0,0,NoButton,Move,1,1\n")
    put(tmp_path / "test_files" / "user7" / "session_a", HEADER + "0,0,NoButton,Move,1,1\n")
    put(tmp_path / "test_files" / "user7" / "session_b", HEADER + "0,0,NoButton,Move,1,1\n")
    put(tmp_path / "test_files" / "user7" / "session_unlabelled", HEADER)
    put(tmp_path / "test_files" / "user12" / "session_c", HEADER)
    put(
        tmp_path / "public_labels.csv",
        "filename,is_illegal\nsession_a,0\nsession_b,1\nsession_c,0\n",
    )
    return tmp_path


def test_training_order_sentinels_and_sorting(root: Path, csv_parser: str) -> None:
    recs = list(iter_balabit(root, "training"))
    assert [(r.user, r.session) for r in recs] == [
        ("user7", "session_2"), ("user7", "session_10"), ("user12", "session_1"),
    ]  # fmt: skip
    r = recs[0]
    assert r.source == "balabit" and r.meta["split"] == "training"
    assert r.meta["bad_coordinates"] == 2 and r.meta["skipped_rows"] == 2
    assert r.meta["rows"] == 9 and r.meta["n_events"] == 7
    ev = r.events
    assert np.all(np.diff(ev["t_ns"]) >= 0)
    assert ev["kind"].tolist() == [
        Kind.MOVE, Kind.MOVE, Kind.BUTTON_DOWN, Kind.SCROLL, Kind.SCROLL,
        Kind.BUTTON_DOWN, Kind.BUTTON_UP,
    ]  # fmt: skip
    assert ev["code"].tolist() == [0, 0, 1, -1, 1, 8, 8]  # ties keep file order
    assert ev["t_ns"][1] == 100_000_000  # the client timestamp, not the record one


def test_test_split_labels_and_unlabelled_skipped(root: Path, csv_parser: str) -> None:
    recs = list(iter_balabit(root, "test"))
    assert [(r.user, r.session, r.meta["is_illegal"]) for r in recs] == [
        ("user7", "session_a", False), ("user7", "session_b", True), ("user12", "session_c", False),
    ]  # fmt: skip
    assert recs[2].meta["empty"] is True and len(recs[2].events) == 0


def test_users_filter_accepts_numbers(root: Path) -> None:
    assert {r.user for r in iter_balabit(root, "training", users=[12])} == {"user12"}
    with pytest.raises(DataError, match="user99"):
        list(iter_balabit(root, "training", users=["user99"]))


def test_not_balabit(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        list(iter_balabit(tmp_path / "none", "training"))
    with pytest.raises(DataError, match="does not look like the Balabit"):
        list(iter_balabit(tmp_path, "training"))
    with pytest.raises(DataError, match="split"):
        list(iter_balabit(tmp_path, "validation"))  # type: ignore[arg-type]


def test_wrong_session_header(root: Path) -> None:
    put(root / "training_files" / "user12" / "session_1", "timestamp,button,state,x,y\n")
    with pytest.raises(DataError, match="client timestamp"):
        list(iter_balabit(root, "training", users=["user12"]))


def test_bad_labels_file(root: Path) -> None:
    (root / "public_labels.csv").write_text("name,label\nsession_a,0\n")
    with pytest.raises(DataError, match="labels"):
        list(iter_balabit(root, "test"))
    (root / "public_labels.csv").write_text("filename,is_illegal\nsession_a,maybe\n")
    with pytest.raises(DataError, match="malformed label"):
        list(iter_balabit(root, "test"))
    (root / "public_labels.csv").unlink()
    with pytest.raises(DataError, match=r"public_labels\.csv"):
        list(iter_balabit(root, "test"))
