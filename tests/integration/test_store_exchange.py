"""Export -> import round trips through the generic layouts, on disk and through fsspec."""

from __future__ import annotations

import csv
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activesec.core.clock import FakeClock
from activesec.core.errors import ActiveSecError, DataError
from activesec.core.events import Button, Flag, Kind, empty
from activesec.core.keys import KeyClass
from activesec.store import exchange
from activesec.store.db import Store

MONO0 = 7_000_000_000


def _session_events() -> np.ndarray:
    """Moves, a left drag, a right click, scrolls both ways and axes, overlapping keys."""
    rows = [  # (ms since start, kind, x, y, code, flags)
        (0, Kind.MOVE, 100, 200, 0, 0),
        (8, Kind.MOVE, 103, 201, 0, Flag.INJECTED),
        (16, Kind.BUTTON_DOWN, 103, 201, Button.LEFT, 0),
        (24, Kind.MOVE, 110, 205, 0, 0),  # a drag
        (32, Kind.BUTTON_UP, 110, 205, Button.LEFT, 0),
        (40, Kind.BUTTON_DOWN, 110, 205, Button.RIGHT, 0),
        (95, Kind.BUTTON_UP, 110, 205, Button.RIGHT, 0),
        (120, Kind.SCROLL, 110, 205, 1, 0),
        (130, Kind.SCROLL, 110, 205, -1, 0),
        (140, Kind.SCROLL, 110, 205, 1, Flag.HSCROLL),
        (200, Kind.KEY_DOWN, 0, 0, KeyClass.MODIFIER, 0),
        (230, Kind.KEY_DOWN, 1, 0, KeyClass.LETTER, 0),
        (260, Kind.KEY_UP, 1, 0, KeyClass.LETTER, 0),
        (290, Kind.KEY_UP, 0, 0, KeyClass.MODIFIER, 0),  # rollover: shift outlives the letter
        (300, Kind.KEY_DOWN, 2, 0, KeyClass.SPACE, 0),
        (377, Kind.KEY_UP, 2, 0, KeyClass.SPACE, 0),
        (400, Kind.MOVE, -50, 1300, 0, 0),  # a monitor left of the primary one
    ]
    ev = empty(len(rows))
    for i, (ms, k, x, y, code, flags) in enumerate(rows):
        ev[i] = (MONO0 + ms * 1_000_000 + 123, k, flags, 0, x, y, code)  # ns precision
    return ev


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "activesec.db", create=True)
    sid = s.begin_session("alice", "x11", wall_ns=1_700_000_000 * 10**9, mono_ns=MONO0)
    s.append(sid, _session_events())
    s.end_session(sid, 1_700_000_001 * 10**9)
    s.begin_session("bob", "x11", wall_ns=1_700_000_100 * 10**9, mono_ns=0)  # empty: not exported
    s.commit()
    yield s
    s.close()


def _comparable(ev: np.ndarray) -> np.ndarray:
    """What the layouts carry: everything but the device (injected events are left out)."""
    out = ev.copy()
    out["flags"] &= int(Flag.HSCROLL)
    out["device"] = 0
    return out


def _assert_same_events(got: np.ndarray, want: np.ndarray) -> None:
    got, want = _comparable(got), _comparable(want)
    for f in ("t_ns", "kind", "flags", "code", "y"):
        assert np.array_equal(got[f], want[f]), f
    ptr = ~np.isin(want["kind"], [Kind.KEY_DOWN, Kind.KEY_UP])
    assert np.array_equal(got["x"][ptr], want["x"][ptr])
    # keys: stroke ids may be renumbered, the pairing must not change
    gk, wk = got["x"][~ptr], want["x"][~ptr]
    assert np.array_equal(gk[:, None] == gk[None, :], wk[:, None] == wk[None, :])


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_export_writes_the_generic_layouts(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = exchange.export(store, out)
    # the injected move is left out: as a plain row it would import back as the owner's own
    assert summary == {"sessions": 1, "files": 2, "mouse_events": 10, "key_events": 6,
                       "injected_left_out": 1, "injected_only_sessions": 0, "out": str(out)}
    sid = store.sessions()[0].id
    mouse = _rows(out / "mouse" / "alice" / f"session_{sid}.csv")
    assert mouse[0] == ["timestamp", "button", "state", "x", "y"]
    assert mouse[1] == ["0.000000123", "NoButton", "Move", "100", "200"]
    assert "103" not in [r[3] for r in mouse if r[2] == "Move"]
    assert [r[1:3] for r in mouse[2:10]] == [
        ["Left", "Pressed"], ["NoButton", "Drag"], ["Left", "Released"], ["Right", "Pressed"],
        ["Right", "Released"], ["Scroll", "Up"], ["Scroll", "Down"], ["Scroll", "Right"]]
    assert _rows(out / "keys" / "alice" / f"session_{sid}.csv") == [
        ["key", "press", "release"], ["modifier", "0.200000123", "0.290000123"],
        ["letter", "0.230000123", "0.260000123"], ["space", "0.300000123", "0.377000123"]]
    # private like the store
    for p in [out, *out.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_with_injected_keeps_injected_input_flagged_through_import(
        store: Store, tmp_path: Path, fmt: exchange.Format) -> None:
    """Left out by default; `--with-injected` writes it with the `injected` column (1 injected,
    2 a pointer warp) and an import flags it again — never the owner's own input."""
    sid = store.begin_session("alice", "x11", wall_ns=1_700_000_200 * 10**9, mono_ns=MONO0)
    ev = _session_events()
    ev[0]["flags"] = int(Flag.INJECTED | Flag.WARPED)  # a game re-centring the pointer
    ev[10]["flags"] = ev[13]["flags"] = int(Flag.INJECTED)  # a bot's shift, down and up
    store.append(sid, ev)
    store.end_session(sid, 1_700_000_201 * 10**9)
    store.commit()
    out = tmp_path / "out"
    summary = exchange.export(store, out, fmt=fmt, label="alice", with_injected=True)
    assert summary["injected_left_out"] == 0
    assert (summary["mouse_events"], summary["key_events"]) == (2 * 11, 2 * 6)
    if fmt == "csv":
        mouse = _rows(out / "mouse" / "alice" / f"session_{sid}.csv")
        assert mouse[0] == ["timestamp", "button", "state", "x", "y", "injected"]
        assert [r[5] for r in mouse[1:4]] == ["2", "1", "0"]
        keys = _rows(out / "keys" / "alice" / f"session_{sid}.csv")
        assert keys[0][-1] == "injected" and [r[3] for r in keys[1:]] == ["1", "0", "0"]
    with Store.open(tmp_path / "other.db", create=True) as other:
        exchange.import_recordings(other, out, clock=FakeClock())
        infos = {i.n_injected: i for i in other.sessions()}
        # the fixture's session: its injected move; this one: the warp, that move, two keys
        assert set(infos) == {1, 4}
        got = other.events(infos[4].id)
        want = ev.copy()
        want["t_ns"] -= MONO0
        mask = int(Flag.INJECTED | Flag.WARPED | Flag.HSCROLL)
        assert np.array_equal(got["flags"] & mask, want["flags"] & mask)
        assert infos[4].n_injected_keys == 2
    # and without the column, exactly the old layout
    plain = exchange.export(store, tmp_path / "plain", fmt=fmt, label="alice")
    assert plain["injected_left_out"] == 1 + 4


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_store_export_import(store: Store, tmp_path: Path,
                                       fmt: exchange.Format) -> None:
    out = tmp_path / "out"
    exchange.export(store, out, fmt=fmt)
    with Store.open(tmp_path / "other.db", create=True) as other:
        summary = exchange.import_recordings(other, out, clock=FakeClock())
        assert (summary["sessions"], summary["events"], summary["skipped_rows"]) == (1, 16, 0)
        (info,) = other.sessions()
        assert (info.label, info.backend) == ("alice", "import")
        want = _session_events()
        want = want[(want["flags"] & int(Flag.INJECTED)) == 0]  # never exported
        want["t_ns"] -= MONO0
        _assert_same_events(other.events(info.id), want)
        # exporting the import gives the very same files
        exchange.export(other, tmp_path / "again", fmt=fmt)
    if fmt == "csv":
        a = sorted((p.relative_to(out).parent, p.read_text()) for p in out.rglob("*.csv"))
        b = sorted((p.relative_to(tmp_path / "again").parent, p.read_text())
                   for p in (tmp_path / "again").rglob("*.csv"))
        assert a == b


def test_import_is_idempotent_and_label_can_be_forced(store: Store, tmp_path: Path) -> None:
    exchange.export(store, tmp_path / "out")
    with Store.open(tmp_path / "other.db", create=True) as other:
        exchange.import_recordings(other, tmp_path / "out", label="guest")
        again = exchange.import_recordings(other, tmp_path / "out", label="guest")
        assert (again["sessions"], again["already_present"]) == (0, 1)
        assert [s.label for s in other.sessions()] == ["guest"]


def test_import_of_a_bare_keys_tree(tmp_path: Path) -> None:
    root = tmp_path / "keys_only" / "carol"
    root.mkdir(parents=True)
    (root / "s1.csv").write_text("key,press,release\na,1.0,1.1\nshift,1.05,1.3\nb,2.0,\n")
    with Store.open(tmp_path / "s.db", create=True) as s:
        summary = exchange.import_recordings(s, tmp_path / "keys_only")
        assert summary["events"] == 5  # the unreleased 'b' keeps its press
        (info,) = s.sessions()
        assert info.label == "carol" and info.counts["key_down"] == 3


def test_since_filters_sessions(store: Store, tmp_path: Path) -> None:
    summary = exchange.export(store, tmp_path / "out", since_wall_ns=1_700_000_050 * 10**9)
    assert summary["sessions"] == 0


def test_memory_url_round_trip(store: Store, tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    summary = exchange.export(store, "memory://bucket/export")
    assert summary["files"] == 2 and summary["out"] == "memory://bucket/export"
    fs = fsspec.filesystem("memory")
    names = sorted(fs.find("/bucket/export"))
    assert [n.split("/export/", 1)[1].split("/session_")[0] for n in names] == [
        exchange.MANIFEST, "keys/alice", "mouse/alice"]
    with Store.open(tmp_path / "other.db", create=True) as other:
        assert exchange.import_recordings(other, "memory://bucket/export")["events"] == 16
        assert other.sessions()[0].started_wall_ns == 1_700_000_000 * 10**9  # the manifest's
    fs.rm("/bucket", recursive=True)


def test_url_without_fsspec_names_the_extra(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_fsspec(name: str, *a: Any, **k: Any) -> Any:
        if name == "fsspec" or name.startswith("fsspec."):
            raise ImportError("No module named 'fsspec'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_fsspec)
    with pytest.raises(ActiveSecError, match=r"activesec\[s3\]"):
        exchange.export(store, "s3://bucket/x")
    with pytest.raises(ActiveSecError, match=r"activesec\[gcs\]"):
        exchange.import_recordings(store, "gs://bucket/x")


def test_bad_inputs_are_clear_errors(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ActiveSecError, match="format"):
        exchange.export(store, tmp_path / "o", fmt="xml")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="does not exist"):
        exchange.import_recordings(store, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError):
        exchange.import_recordings(store, tmp_path / "empty")
    bad = tmp_path / "bad" / "mouse" / "u"
    bad.mkdir(parents=True)
    (bad / "s.csv").write_text("this,is,not\n1,2,3\n")
    n_before = store.counts()["events"]
    with pytest.raises(DataError):
        exchange.import_recordings(store, tmp_path / "bad")
    assert store.counts()["events"] == n_before


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_export_keeps_its_dates_and_is_recognised_where_it_came_from(
        store: Store, tmp_path: Path, fmt: exchange.Format) -> None:
    out = tmp_path / "out"
    exchange.export(store, out, fmt=fmt)
    (original,) = [s for s in store.sessions() if s.n_events]
    again = exchange.import_recordings(store, out, clock=FakeClock())
    assert (again["sessions"], again["already_present"]) == (0, 1)
    assert len(store.sessions()) == 2  # alice's and bob's empty one: nothing added
    with Store.open(tmp_path / "other.db", create=True) as other:
        exchange.import_recordings(other, out, clock=FakeClock(wall_ns=1_800_000_000 * 10**9))
        (info,) = other.sessions()
        assert (info.started_wall_ns, info.ended_wall_ns) == (
            original.started_wall_ns, original.started_wall_ns + 400_000_123)
        # its export describes it the same way: recognised in the first profile too
        exchange.export(other, tmp_path / "again", fmt=fmt)
    assert exchange.import_recordings(store, tmp_path / "again")["already_present"] == 1
    # under another label it is a new session, as with any import
    assert exchange.import_recordings(store, out, label="guest")["sessions"] == 1


@pytest.mark.parametrize("text", ["{not json", '{"activesec_export": 9, "sessions": []}',
                                  '{"activesec_export": 1, "sessions": [{"label": "alice"}]}',
                                  '{"activesec_export": 1, "sessions": [{"label": "a", '
                                  '"session": "s", "started_wall_ns": "soon"}]}'])
def test_a_damaged_export_description_imports_nothing(store: Store, tmp_path: Path,
                                                      text: str) -> None:
    exchange.export(store, tmp_path / "out")
    (tmp_path / "out" / exchange.MANIFEST).write_text(text)
    with Store.open(tmp_path / "other.db", create=True) as other:
        with pytest.raises(DataError, match=r"activesec-export\.json is not an export description"):
            exchange.import_recordings(other, tmp_path / "out")
        assert other.sessions() == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_export_made_before_exports_described_their_sessions_is_recognised_too(
        store: Store, tmp_path: Path, fmt: exchange.Format) -> None:
    """Exports made before `activesec-export.json` existed (2026-12-06) hold no session starts:
    re-imported where they came from, every session was added a second time — the owner's
    input counted and trained on twice. Their `session_<id>` files are that profile's own."""
    out = tmp_path / "out"
    exchange.export(store, out, fmt=fmt)
    (out / exchange.MANIFEST).unlink()  # as such an export was written
    again = exchange.import_recordings(store, out, clock=FakeClock())
    assert (again["sessions"], again["already_present"]) == (0, 1)
    assert len(store.sessions()) == 2
    # another profile whose session 1 is someone else's recording: imported as new
    with Store.open(tmp_path / "other.db", create=True) as other:
        sid = other.begin_session("alice", "x11", wall_ns=1_700_000_000 * 10**9, mono_ns=MONO0)
        later = _session_events()
        later["t_ns"] += 5_000_000  # the same kinds, 5 ms later: another recording
        other.append(sid, later)
        other.end_session(sid, 1_700_000_001 * 10**9)
        other.commit()
        assert exchange.import_recordings(other, out, clock=FakeClock())["sessions"] == 1
    # under another label it is a new session, as with any import
    assert exchange.import_recordings(store, out, label="guest")["sessions"] == 1


def test_an_exports_mouse_and_keys_folders_imported_on_their_own_add_each_part_once(
        store: Store, tmp_path: Path) -> None:
    """`import out/mouse`, then `import out/keys`, then `import out`: the folders lost the
    export's dates (its description is beside them), and the whole export then added the
    session again — every pointer event and keystroke counted and trained on twice."""
    out = tmp_path / "out"
    summary = exchange.export(store, out)
    (original,) = [s for s in store.sessions() if s.n_events]
    with Store.open(tmp_path / "other.db", create=True) as other:
        clock = FakeClock(wall_ns=1_800_000_000 * 10**9)
        assert exchange.import_recordings(other, out / "mouse", clock=clock)["sessions"] == 1
        assert exchange.import_recordings(other, out / "keys", clock=clock)["sessions"] == 1
        again = exchange.import_recordings(other, out, clock=clock)
        assert (again["sessions"], again["already_present"]) == (0, 1)
        got = other.sessions()
        assert {s.started_wall_ns for s in got} == {original.started_wall_ns}
        assert sum(s.n_pointer for s in got) == summary["mouse_events"]
        assert sum(s.n_keys for s in got) == summary["key_events"]
    with Store.open(tmp_path / "third.db", create=True) as third:  # the mouse part, then all
        exchange.import_recordings(third, out / "mouse")
        assert exchange.import_recordings(third, out)["sessions"] == 1  # the keys part only
        assert sum(s.n_keys for s in third.sessions()) == summary["key_events"]
        assert sum(s.n_pointer for s in third.sessions()) == summary["mouse_events"]
