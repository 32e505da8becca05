"""Freihaut & Göritz reader on synthetic Firebase-shaped JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activesec.core.errors import DataError
from activesec.core.events import Kind
from activesec.core.keys import KeyClass
from activesec.recordings.freihaut import FILE_NAME, iter_freihaut


def key(typ: str, code: str, k: str, kc: int, t: int) -> dict[str, Any]:
    return {
        "code": code,
        "cor": 0,
        "ctrlPressed": False,
        "eventType": typ,
        "key": k,
        "keyCode": kc,
        "shiftPressed": False,
        "time": t,
    }


def session(t0: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "grabbedData": {
            "disInf": {"screenSize": {"height": 900, "width": 1600}, "zoom": 1},
            "selfReportData": {"arousal": 50, "valence": 50},
            "time": t0 + 20_000,
            "typingData": {str(i): e for i, e in enumerate(events)},
        }
    }


def simple(t0: int) -> dict[str, Any]:
    return session(
        t0, [key("KeyDown", "KeyA", "a", 65, t0), key("KeyUp", "KeyA", "a", 65, t0 + 90)]
    )


def dataset() -> dict[str, Any]:
    t = 1_638_304_967_000
    tricky = [
        key("KeyDown", "ShiftLeft", "Shift", 16, t),
        key("KeyDown", "ShiftLeft", "Shift", 16, t + 30),  # auto-repeat of the held shift
        key("KeyDown", "KeyB", "B", 66, t + 40),
        key("KeyUp", "ShiftLeft", "Shift", 16, t + 80),  # released before B: rollover
        key("KeyUp", "KeyB", "b", 66, t + 100),  # release reports another character
        key("KeyUp", "Space", " ", 32, t + 120),  # release without press
        key("KeyDown", "Backspace", "Backspace", 8, t + 150),
        key("KeyUp", "Backspace", "Backspace", 8, t + 210),
        key("KeyDown", "Enter", "Enter", 13, t + 300),  # never released
    ]
    return {
        "userB": {
            "-later": simple(t + 86_400_000),
            "-earlier": session(t, tricky),
            "-profile": {"Sociodemographics": {"age": 1}, "appVersion": "x", "os": "darwin"},
            "finishedStudy": True,
        },
        "userA": {"-only": simple(t + 5)},
        "userNoData": {"-p": {"Sociodemographics": {"age": 2}, "os": "win32"}},
        "userEmpty": {"-e": session(t, [])},
    }


def dump(path: Path, data: Any) -> Path:
    with gzip.open(path, "wt") as fh:
        json.dump(data, fh)
    return path


def test_sessions_pairs_and_order(tmp_path: Path) -> None:
    recs = list(iter_freihaut(dump(tmp_path / FILE_NAME, dataset())))
    assert [(r.user, r.session) for r in recs] == [
        ("userA", "-only"), ("userB", "-earlier"), ("userB", "-later"), ("userEmpty", "-e"),
    ]  # fmt: skip
    r = recs[1]
    m = r.meta
    assert (m["keystrokes"], m["autorepeat"], m["unmatched_up"], m["unreleased"]) == (3, 1, 1, 1)
    assert m["wall_time"] == pytest.approx(1_638_304_967.0)
    assert m["submitted"] == pytest.approx(1_638_304_987.0)
    assert m["screen"] == (1600, 900) and m["os"] == "darwin"
    assert recs[2].meta["wall_time"] - m["wall_time"] == pytest.approx(86_400)
    ev = r.events
    assert np.all(np.diff(ev["t_ns"]) >= 0) and ev["t_ns"][0] == 0
    assert [(int(e["kind"]), int(e["x"]), int(e["code"])) for e in ev] == [
        (Kind.KEY_DOWN, 0, KeyClass.MODIFIER),
        (Kind.KEY_DOWN, 1, KeyClass.LETTER),
        (Kind.KEY_UP, 0, KeyClass.MODIFIER),
        (Kind.KEY_UP, 1, KeyClass.LETTER),
        (Kind.KEY_DOWN, 2, KeyClass.BACKSPACE),
        (Kind.KEY_UP, 2, KeyClass.BACKSPACE),
    ]
    assert ev["t_ns"][-1] == 210_000_000
    empty = recs[3]
    assert empty.meta["empty"] is True and empty.meta["wall_time"] is not None


def test_directory_and_plain_json(tmp_path: Path) -> None:
    dump(tmp_path / FILE_NAME, dataset())
    assert len(list(iter_freihaut(tmp_path))) == 4
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(dataset()))
    assert len(list(iter_freihaut(plain))) == 4


def test_malformed_events_are_counted(tmp_path: Path) -> None:
    t = 1_000_000
    s = session(t, [key("KeyDown", "KeyA", "a", 65, t), key("KeyUp", "KeyA", "a", 65, t + 5)])
    s["grabbedData"]["typingData"]["7"] = {"eventType": "KeyDown"}  # no time
    s["grabbedData"]["typingData"]["8"] = "garbage"
    (rec,) = list(iter_freihaut(dump(tmp_path / "f.json.gz", {"u": {"s": s}})))
    assert rec.meta["bad_events"] == 2 and rec.meta["keystrokes"] == 1


@pytest.mark.parametrize("data", [[1, 2], {"u": {"x": {"y": 1}}}, {}])
def test_not_freihaut(tmp_path: Path, data: Any) -> None:
    with pytest.raises(DataError, match="Long_Keyboard_Raw_Dataset"):
        list(iter_freihaut(dump(tmp_path / "f.json.gz", data)))


def test_unreadable(tmp_path: Path) -> None:
    (tmp_path / "f.json.gz").write_bytes(gzip.compress(b"{not json"))
    with pytest.raises(DataError, match="not readable JSON"):
        list(iter_freihaut(tmp_path / "f.json.gz"))
    with pytest.raises(DataError, match="does not exist"):
        list(iter_freihaut(tmp_path / "none.json.gz"))
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="holds no"):
        list(iter_freihaut(tmp_path / "d"))
