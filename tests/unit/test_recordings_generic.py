"""Generic mouse/keys layouts: reading, malformed rows, layout iteration, write -> read."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activesec.core.errors import DataError
from activesec.core.events import Button, Flag, Kind, make
from activesec.core.keys import KeyClass
from activesec.recordings.base import natural_key
from activesec.recordings.generic import (
    iter_layout,
    read_keys_csv,
    read_mouse_csv,
    write_keys_csv,
    write_keys_parquet,
    write_mouse_csv,
    write_mouse_parquet,
)

MOUSE = "timestamp,button,state,x,y\n"
KEYS = "key,press,release\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def one(root: Path, modality: str) -> dict:
    (rec,) = list(iter_layout(root, modality))  # type: ignore[arg-type]
    return rec.meta


# ---------------------------------------------------------------------------- mouse


def test_mouse_vocabulary(tmp_path: Path, csv_parser: str) -> None:
    f = write(
        tmp_path / "s.csv",
        MOUSE + "0.5,NoButton,Move,10,20\n"
        "0.6,Left,Pressed,11,21\n"
        "0.7,NoButton,Drag,12,22\n"
        "0.8,Left,Released,12,22\n"
        "0.9,Right,Pressed,1,1\n"
        "0.95,Right,Released,1,1\n"
        "1.0,Middle,Pressed,1,1\n"
        "1.1,Scroll,Up,5,6\n"
        "1.2,Scroll,Down,5,6\n",
    )
    ev = read_mouse_csv(f)
    assert ev["kind"].tolist() == [
        Kind.MOVE, Kind.BUTTON_DOWN, Kind.MOVE, Kind.BUTTON_UP,
        Kind.BUTTON_DOWN, Kind.BUTTON_UP, Kind.BUTTON_DOWN, Kind.SCROLL, Kind.SCROLL,
    ]  # fmt: skip
    assert ev["code"].tolist() == [0, 1, 0, 1, 3, 3, 2, 1, -1]
    assert ev["t_ns"][0] == 500_000_000 and ev["t_ns"][-1] == 1_200_000_000
    assert ev["x"][2] == 12 and ev["y"][2] == 22


def test_mouse_malformed_rows_are_skipped_and_counted(tmp_path: Path, csv_parser: str) -> None:
    write(
        tmp_path / "u" / "s.csv",
        MOUSE + "0.1,NoButton,Move,1,1\n"
        "0.2,NoButton,Move\n"  # too few fields
        "0.3,NoButton,Move,1,1,9\n"  # too many
        "abc,NoButton,Move,1,1\n"  # bad time
        "1e300,NoButton,Move,1,1\n"  # beyond int64 nanoseconds
        "0.4,Left,Wiggle,1,1\n"  # unknown state
        "0.5,Scroll,Pressed,1,1\n"  # invalid pair
        "0.6,NoButton,Move,1,\n"  # missing coordinate
        "0.7,NoButton,Move,-5,3\n"  # negative: fine (monitor left of primary)
        "\n",
    )
    meta = one(tmp_path, "mouse")
    assert meta["n_events"] == 2
    assert meta["bad_shape"] == 2
    assert meta["bad_time"] == 2
    assert meta["bad_vocabulary"] == 2
    assert meta["bad_coordinates"] == 1
    assert meta["skipped_rows"] == 7


def test_a_file_read_in_many_blocks_reads_as_in_one(
        tmp_path: Path, csv_parser: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are read and decoded a block of rows at a time, so that a recording of millions of
    rows never sits in memory as text (the pure path held about 12x the file's size): blocks
    of 7 rows (and of 64 bytes for pyarrow), each with its own new vocabulary and its own bad
    rows, give the events and counts of one block."""
    from activesec.recordings import _table, generic

    rng = np.random.default_rng(3)
    pairs = ["NoButton,Move", "NoButton,Drag", "Left,Pressed", "Left,Released", "Scroll,Up",
             "Right,Pressed", "Right,Released", "Left,Wiggle"]
    lines = [f"{0.01 * i:.2f},{pairs[int(rng.integers(len(pairs)))]},{i},{-i},{i % 3}"
             for i in range(200)]
    lines[50] = "0.5,NoButton,Move,1"  # a wrong number of fields
    lines[120] = ",NoButton,Move,1,1,0"  # and a missing time
    f = write(tmp_path / "s.csv", "timestamp,button,state,x,y,injected\n" + "\n".join(lines))
    if csv_parser == "arrow":  # pyarrow reads it all: its blocks are the ones tested
        monkeypatch.setattr(_table, "_read_pure", None)
    whole, whole_meta = generic._read(f, "mouse")
    monkeypatch.setattr(_table, "BLOCK_ROWS", 7)
    monkeypatch.setattr(generic, "BLOCK_ROWS", 7)
    monkeypatch.setattr(_table, "ARROW_BLOCK_BYTES", 64)
    blocks, blocks_meta = generic._read(f, "mouse")
    assert blocks.tobytes() == whole.tobytes() and len(whole) > 150
    assert blocks_meta == whole_meta
    assert (whole_meta["bad_shape"], whole_meta["bad_time"]) == (1, 1)
    assert whole_meta["bad_vocabulary"] > 0 and (whole["flags"] != 0).any()
    if csv_parser == "arrow":  # the same events written as parquet read in blocks too
        pq_file = tmp_path / "s.parquet"
        generic.write_mouse_parquet(pq_file, whole, injected=True)
        assert generic._read(pq_file, "mouse")[0].tobytes() == whole.tobytes()


def test_mouse_rows_out_of_order_are_sorted_stably(tmp_path: Path, csv_parser: str) -> None:
    f = write(
        tmp_path / "s.csv",
        MOUSE + "2,NoButton,Move,2,0\n1,NoButton,Move,1,0\n2,NoButton,Move,3,0\n"
        "1,NoButton,Move,4,0\n",
    )
    ev = read_mouse_csv(f)
    assert ev["x"].tolist() == [1, 4, 2, 3]


def test_mouse_header_order_and_case_do_not_matter(tmp_path: Path, csv_parser: str) -> None:
    f = write(tmp_path / "s.csv", "X, Y ,Timestamp,State,Button\n3,4,1.5,Move,NoButton\n")
    ev = read_mouse_csv(f)
    assert (ev["x"][0], ev["y"][0], ev["t_ns"][0]) == (3, 4, 1_500_000_000)


@pytest.mark.parametrize(("sep", "point"), [(";", "."), (";", ","), ("\t", "."), ("\t", ",")])
def test_semicolon_and_tab_separated_files_read_as_comma_separated(
        tmp_path: Path, csv_parser: str, sep: str, point: str) -> None:
    """A spreadsheet's "CSV" in many locales: semicolons (or tabs), decimal commas, a BOM and
    CRLF line ends. It was refused as a header lacking every column (`import` took a keys file
    for a mouse file), so a researcher's own recordings needed converting by hand."""
    mouse_rows = ["0.5,NoButton,Move,10,20", "0.625,Left,Pressed,11,21", "0.75,Left,Released,12,22"]
    keys_rows = ["shift,0.9,1.3", "a,1.0,1.125", "space,1.2,"]

    def local(header: str, rows: list[str]) -> str:
        lines = [header.rstrip("\n")] + [
            sep.join(f.replace(".", point) for f in r.split(",")) for r in rows]
        return "\ufeff" + "\r\n".join(ln.replace(",", sep) if i == 0 else ln
                                       for i, ln in enumerate(lines)) + "\r\n"

    for header, rows, read in ((MOUSE, mouse_rows, read_mouse_csv),
                               (KEYS, keys_rows, read_keys_csv)):
        comma = read(write(tmp_path / "comma.csv", header + "\n".join(rows) + "\n"))
        other = read(write(tmp_path / "local.csv", local(header, rows)))
        assert other.tolist() == comma.tolist() and len(comma)


def test_a_column_named_twice_is_refused_not_guessed(tmp_path: Path, csv_parser: str) -> None:
    """Two "x" columns: pyarrow's reader stopped with a traceback, the pure one took the first
    unsaid — which one holds the coordinates cannot be told."""
    f = write(tmp_path / "s.csv", "timestamp,button,state,x,y,x\n0.5,NoButton,Move,1,2,3\n")
    with pytest.raises(DataError, match=r"s.csv: header .* names column\(s\) x more than once"):
        read_mouse_csv(f)
    other = write(tmp_path / "t.csv", "timestamp,button,state,x,y,note,note\n"
                                      "0.5,NoButton,Move,1,2,a,b\n")
    assert read_mouse_csv(other)["x"].tolist() == [1]  # other columns may repeat: unread


@pytest.mark.parametrize(
    "text", ["", "time,button,state,x,y\n1,NoButton,Move,1,1\n", KEYS + "a,1,2\n"]
)
def test_mouse_wrong_header_names_file_and_expectation(tmp_path: Path, text: str) -> None:
    f = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError) as e:
        read_mouse_csv(f)
    assert str(f) in e.value.message and "timestamp,button,state,x,y" in e.value.hint


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_mouse_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="does not exist"):
        list(iter_layout(tmp_path / "nope", "mouse"))


# ---------------------------------------------------------------------------- keys


def test_keys_pairs_share_stroke_ids_and_classes(tmp_path: Path, csv_parser: str) -> None:
    f = write(
        tmp_path / "s.csv",
        KEYS + "shift,0.9,1.3\nA,1.0,1.1\nspace,1.2,1.25\nletter,1.4,1.5\nBackSpace,2,2.1\n",
    )
    ev = read_keys_csv(f)
    assert len(ev) == 10
    downs, ups = ev[ev["kind"] == Kind.KEY_DOWN], ev[ev["kind"] == Kind.KEY_UP]
    assert downs["code"].tolist() == [
        KeyClass.MODIFIER, KeyClass.LETTER, KeyClass.SPACE, KeyClass.LETTER, KeyClass.BACKSPACE,
    ]  # fmt: skip
    assert downs["x"].tolist() == [0, 1, 2, 3, 4]  # stroke ids follow press order
    for sid in range(5):  # each stroke: one press, then its release, same class
        (d,) = downs[downs["x"] == sid]
        (u,) = ups[ups["x"] == sid]
        assert u["t_ns"] >= d["t_ns"] and u["code"] == d["code"]
    assert np.all(np.diff(ev["t_ns"]) >= 0)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_times_in_milliseconds_are_refused_not_read_as_seconds(tmp_path: Path,
                                                               scale: float) -> None:
    """A logger's milliseconds read as seconds: every movement 1,000 times slower, trained and
    evaluated on in silence."""
    t = np.arange(40) * 0.012  # a 83 Hz pointer; keys typed every 0.2 s, held 0.1 s
    mouse = write(tmp_path / "m.csv", MOUSE + "".join(
        f"{v * scale:.6f},NoButton,Move,{i},{i}\n" for i, v in enumerate(t)))
    keys = write(tmp_path / "k.csv", KEYS + "".join(
        f"a,{(0.2 * i) * scale:.6f},{(0.2 * i + 0.1) * scale:.6f}\n" for i in range(30)))
    if scale == 1.0:
        assert len(read_mouse_csv(mouse)) == 40 and len(read_keys_csv(keys)) == 60
        return
    with pytest.raises(DataError, match=r"m.csv: the median step between pointer moves is 12 s:"
                                        r" its times look like milliseconds"):
        read_mouse_csv(mouse)
    with pytest.raises(DataError, match=r"k.csv: the median key hold is 100 s: its times look "
                                        r"like milliseconds"):
        read_keys_csv(keys)


@pytest.mark.parametrize(("scale", "unit", "divisor"), [
    (1e3, "milliseconds", "1000"), (1e6, "microseconds", "1,000,000"),
    (1e9, "nanoseconds", "1,000,000,000")])
def test_unix_epoch_times_in_a_finer_unit_say_so(tmp_path: Path, scale: float, unit: str,
                                                 divisor: str) -> None:
    """`Date.now()` times (1471948496904): every row was skipped as "a time that is not a
    number of seconds", which did not say why; epoch seconds read as ever."""
    t = 1_471_948_496.904 + np.arange(40) * 0.012
    mouse = write(tmp_path / "m.csv", MOUSE + "".join(
        f"{v * scale:.0f},NoButton,Move,{i},{i}\n" for i, v in enumerate(t)))
    keys = write(tmp_path / "k.csv", KEYS + "".join(
        f"a,{(t[i]) * scale:.0f},{(t[i] + 0.1) * scale:.0f}\n" for i in range(30)))
    for path, read in ((mouse, read_mouse_csv), (keys, read_keys_csv)):
        with pytest.raises(DataError, match=f"{path.name}: its times look like Unix-epoch "
                                            f"{unit} .* divide the time columns by {divisor}"):
            read(path)
    seconds = write(tmp_path / "s.csv", MOUSE + "".join(
        f"{v:.3f},NoButton,Move,{i},{i}\n" for i, v in enumerate(t)))
    assert len(read_mouse_csv(seconds)) == 40


@pytest.mark.parametrize(("origin_s", "scale", "unit", "divisor"), [
    (0.0, 1e6, "microseconds", "1,000,000"), (0.0, 1e9, "nanoseconds", "1,000,000,000"),
    (2 * 86400.0, 1e9, "nanoseconds", "1,000,000,000"),  # perf_counter_ns two days after boot
    (3 * 86400.0, 1e6, "microseconds", "1,000,000")])
def test_times_in_a_finer_unit_name_that_unit(tmp_path: Path, origin_s: float, scale: float,
                                               unit: str, divisor: str) -> None:
    """A logger's monotonic micro- or nanoseconds were called milliseconds ("divide by 1000",
    which led to the same refusal), or, counted from boot, Unix-epoch microseconds."""
    t = origin_s + np.arange(40) * 0.012
    mouse = write(tmp_path / "m.csv", MOUSE + "".join(
        f"{v * scale:.0f},NoButton,Move,{i},{i}\n" for i, v in enumerate(t)))
    keys = write(tmp_path / "k.csv", KEYS + "".join(
        f"a,{(origin_s + 0.2 * i) * scale:.0f},{(origin_s + 0.2 * i + 0.1) * scale:.0f}\n"
        for i in range(30)))
    for path, read in ((mouse, read_mouse_csv), (keys, read_keys_csv)):
        with pytest.raises(DataError, match=f"{path.name}: .*its times look like {unit} .* "
                                            f"divide the time columns by {divisor} "):
            read(path)


def test_epoch_seconds_read_with_the_same_steps_as_times_from_zero(
        tmp_path: Path, csv_parser: str) -> None:
    """Times are used only as differences, whatever their origin (README) — but Unix-epoch
    seconds were rounded to a float64's 256 ns near 1.7e18 ns: steps of 16 ms read as
    15.999808 ms, and the same recording evaluated with epoch times gave another EER threshold
    and one more false lock (ANGA 232 against 265)."""
    rng = np.random.default_rng(3)
    t_ms = np.cumsum(rng.integers(0, 40, 300))  # a logger's milliseconds

    def sec(origin: int, ms: int) -> str:
        return f"{origin + ms // 1000}.{ms % 1000:03d}"

    for origin in (0, 1_733_000_000, 2_000_000_000):
        mouse = write(tmp_path / f"m{origin}.csv", MOUSE + "".join(
            f"{sec(origin, ms)},NoButton,Move,{i},{i}\n" for i, ms in enumerate(t_ms)))
        keys = write(tmp_path / f"k{origin}.csv", KEYS + "".join(
            f"a,{sec(origin, ms)},{sec(origin, ms + 95)}\n" for ms in t_ms[::3]))
        m, k = read_mouse_csv(mouse), read_keys_csv(keys)
        assert (m["t_ns"] - m["t_ns"][0]).tolist() == ((t_ms - t_ms[0]) * 1_000_000).tolist()
        assert m["t_ns"][0] == origin * 1_000_000_000 + int(t_ms[0]) * 1_000_000
        pressed = dict(zip(k["x"][k["kind"] == Kind.KEY_DOWN].tolist(),
                           k["t_ns"][k["kind"] == Kind.KEY_DOWN].tolist(), strict=True))
        holds = {t - pressed[x] for x, t in zip(k["x"][k["kind"] == Kind.KEY_UP].tolist(),
                                                 k["t_ns"][k["kind"] == Kind.KEY_UP].tolist(),
                                                 strict=True)}
        assert holds == {95_000_000}


def test_keys_bad_rows(tmp_path: Path, csv_parser: str) -> None:
    write(
        tmp_path / "u" / "s.csv",
        KEYS + "a,1.0,1.1\n"
        "b,2.0,\n"  # still held when recording ended: press kept alone
        "c,3.0,2.5\n"  # released before pressed: dropped
        "d,,4\n"  # no press: dropped
        "e,5\n",  # wrong field count
    )
    (rec,) = list(iter_layout(tmp_path, "keys"))
    m = rec.meta
    assert (m["unreleased"], m["release_before_press"], m["bad_time"], m["bad_shape"]) == (
        1,
        1,
        1,
        1,
    )
    assert m["skipped_rows"] == 3
    assert rec.events["kind"].tolist() == [Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_DOWN]


def test_zero_dwell_press_precedes_release(tmp_path: Path, csv_parser: str) -> None:
    ev = read_keys_csv(write(tmp_path / "s.csv", KEYS + "a,1,1\nb,1,1\n"))
    assert ev["kind"].tolist() == [Kind.KEY_DOWN, Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_UP]


# ---------------------------------------------------------------------------- layout


def test_iter_layout_natural_order_users_filter_and_empty_sessions(tmp_path: Path) -> None:
    for user in ("user10", "user2", "user1"):
        for s in ("s10", "s9", "s1"):
            write(tmp_path / user / f"{s}.csv", MOUSE + "1,NoButton,Move,1,1\n")
    write(tmp_path / "user2" / "s0.csv", MOUSE)  # header only: empty session
    write(tmp_path / "user2" / "notes.txt", "ignored")
    recs = list(iter_layout(tmp_path, "mouse"))
    assert [(r.user, r.session) for r in recs][:4] == [
        ("user1", "s1"), ("user1", "s9"), ("user1", "s10"), ("user2", "s0"),
    ]  # fmt: skip
    assert [r.user for r in recs][-1] == "user10"
    empty = [r for r in recs if r.meta["empty"]]
    assert [(r.user, r.session, len(r.events)) for r in empty] == [("user2", "s0", 0)]
    only = list(iter_layout(tmp_path, "mouse", users=["user10"]))
    assert {r.user for r in only} == {"user10"} and len(only) == 3
    with pytest.raises(DataError, match="user3"):
        list(iter_layout(tmp_path, "mouse", users=["user3"]))


def test_iter_layout_descends_into_an_export_root(tmp_path: Path) -> None:
    write(tmp_path / "mouse" / "alice" / "1.csv", MOUSE + "1,NoButton,Move,1,1\n")
    write(tmp_path / "keys" / "alice" / "1.csv", KEYS + "a,1,2\n")
    (m,) = list(iter_layout(tmp_path, "mouse"))
    (k,) = list(iter_layout(tmp_path, "keys"))
    assert (m.user, m.source, len(m.events)) == ("alice", "mouse-csv", 1)
    assert (k.user, k.source, len(k.events)) == ("alice", "keys-csv", 2)
    (tmp_path / "keys" / "alice" / "1.csv").unlink()
    (tmp_path / "keys" / "alice").rmdir()
    (tmp_path / "keys").rmdir()
    with pytest.raises(DataError, match="export without keys"):
        list(iter_layout(tmp_path, "keys"))


def test_iter_layout_without_user_folders(tmp_path: Path) -> None:
    write(tmp_path / "s.csv", MOUSE)
    with pytest.raises(DataError, match="no user folders"):
        list(iter_layout(tmp_path, "mouse"))
    with pytest.raises(DataError, match="modality"):
        list(iter_layout(tmp_path, "pen"))  # type: ignore[arg-type]


def test_natural_key() -> None:
    names = ["s10", "s9", "S1", "s1a", "a", "10", "2"]
    assert sorted(names, key=natural_key) == ["2", "10", "a", "S1", "s1a", "s9", "s10"]


# ---------------------------------------------------------------------------- round trips


def sample_pointer() -> np.ndarray:
    t = np.array([0, 5, 10, 12, 20, 30, 30, 41, 55, 60], dtype=np.int64) * 1_000_003 + 7
    kind = [
        Kind.MOVE,
        Kind.BUTTON_DOWN,
        Kind.MOVE,
        Kind.MOVE,
        Kind.BUTTON_UP,
        Kind.SCROLL,
        Kind.SCROLL,
        Kind.BUTTON_DOWN,
        Kind.BUTTON_UP,
        Kind.SCROLL,
    ]
    code = [0, Button.LEFT, 0, 0, Button.LEFT, 1, -1, Button.BACK, Button.BACK, 1]
    flags = [0] * 9 + [Flag.HSCROLL]
    return make(t, kind, x=np.arange(10) * 7 - 3, y=np.arange(10) * 11, code=code, flags=flags)


def sample_keys() -> np.ndarray:
    # stroke 0 (shift) overlaps stroke 1 (letter); stroke 3 is never released
    t = np.array([0, 50, 90, 120, 200, 260, 300]) * 1_000_000 + 123
    kind = [
        Kind.KEY_DOWN,
        Kind.KEY_DOWN,
        Kind.KEY_UP,
        Kind.KEY_UP,
        Kind.KEY_DOWN,
        Kind.KEY_UP,
        Kind.KEY_DOWN,
    ]
    x = [0, 1, 1, 0, 2, 2, 3]
    code = [
        KeyClass.MODIFIER,
        KeyClass.LETTER,
        KeyClass.LETTER,
        KeyClass.MODIFIER,
        KeyClass.SPACE,
        KeyClass.SPACE,
        KeyClass.ENTER,
    ]
    return make(t, kind, x=x, code=code)


def canonical_keys(ev: np.ndarray) -> list[tuple[int, int, int | None]]:
    """(press t, class, release t) per stroke: what survives without stroke ids."""
    ups = {int(e["x"]): int(e["t_ns"]) for e in ev if e["kind"] == Kind.KEY_UP}
    return [
        (int(e["t_ns"]), int(e["code"]), ups.get(int(e["x"])))
        for e in ev
        if e["kind"] == Kind.KEY_DOWN
    ]


def test_mouse_round_trip_through_csv(tmp_path: Path, csv_parser: str) -> None:
    ev = sample_pointer()
    assert write_mouse_csv(tmp_path / "u" / "s.csv", ev) == 10
    back = read_mouse_csv(tmp_path / "u" / "s.csv")
    for f in ("t_ns", "kind", "x", "y", "code", "flags"):
        assert back[f].tolist() == ev[f].tolist(), f
    text = (tmp_path / "u" / "s.csv").read_text()
    assert "NoButton,Drag" in text and "XButton,Pressed" in text  # Balabit's words


def test_mouse_writer_to_file_object_and_multi_step_scroll() -> None:
    buf = io.StringIO()
    ev = make([1_000_000_000, 2_500_000_000], Kind.SCROLL, code=[3, -2])
    assert write_mouse_csv(buf, ev) == 5
    assert buf.getvalue().splitlines() == [
        "timestamp,button,state,x,y", *["1,Scroll,Up,0,0"] * 3, *["2.5,Scroll,Down,0,0"] * 2,
    ]  # fmt: skip


def test_keys_round_trip_through_csv(tmp_path: Path, csv_parser: str) -> None:
    ev = sample_keys()
    assert write_keys_csv(tmp_path / "k.csv", ev) == 4
    text = (tmp_path / "k.csv").read_text()
    assert text.splitlines()[1:] == [
        "modifier,0.000000123,0.120000123", "letter,0.050000123,0.090000123",
        "space,0.200000123,0.260000123", "enter,0.300000123,",
    ]  # fmt: skip
    back = read_keys_csv(tmp_path / "k.csv")
    assert canonical_keys(back) == canonical_keys(ev)


def test_keys_writer_pairs_reused_stroke_ids() -> None:
    ev = make(
        [1, 2, 3, 4, 5], [Kind.KEY_UP, Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_DOWN, Kind.KEY_UP],
        x=[7, 7, 7, 7, 7], code=KeyClass.LETTER,
    )  # fmt: skip
    buf = io.StringIO()
    assert write_keys_csv(buf, ev) == 2  # the leading release has no press: not written
    assert buf.getvalue().splitlines()[1:] == [
        "letter,0.000000002,0.000000003", "letter,0.000000004,0.000000005",
    ]  # fmt: skip


def test_writers_ignore_the_other_modality(tmp_path: Path) -> None:
    both = np.concatenate([sample_pointer(), sample_keys()])
    assert write_mouse_csv(tmp_path / "m.csv", both) == 10
    assert write_keys_csv(tmp_path / "k.csv", both) == 4


def test_parquet_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    write_mouse_parquet(tmp_path / "mouse" / "u" / "s.parquet", sample_pointer())
    write_keys_parquet(tmp_path / "keys" / "u" / "s.parquet", sample_keys())
    (m,) = list(iter_layout(tmp_path, "mouse"))
    (k,) = list(iter_layout(tmp_path, "keys"))
    ref = sample_pointer()
    assert m.events["kind"].tolist() == ref["kind"].tolist()
    assert np.abs(m.events["t_ns"] - ref["t_ns"]).max() <= 1
    assert [(c, r is None) for _, c, r in canonical_keys(k.events)] == [
        (c, r is None) for _, c, r in canonical_keys(sample_keys())
    ]


def test_parquet_with_wrong_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    f = tmp_path / "u" / "s.parquet"
    f.parent.mkdir()
    pq.write_table(pa.table({"time": [1.0], "x": [1]}), f)
    with pytest.raises(DataError, match="timestamp"):
        list(iter_layout(tmp_path, "mouse"))
    (tmp_path / "u" / "s.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="parquet"):
        list(iter_layout(tmp_path, "mouse"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(10**12), 10**13),  # ns, negative allowed (monotonic clocks)
            st.sampled_from([Kind.MOVE, Kind.BUTTON_DOWN, Kind.BUTTON_UP, Kind.SCROLL]),
            st.integers(-40000, 40000),
            st.integers(-40000, 40000),
        ),
        max_size=40,
    )
)
def test_mouse_round_trip_property(rows: list[tuple[int, Kind, int, int]]) -> None:
    t = np.sort(np.array([r[0] for r in rows], dtype=np.int64))
    kind = [r[1] for r in rows]
    code = [{Kind.MOVE: 0, Kind.SCROLL: -1}.get(k, int(Button.RIGHT)) for k in kind]
    ev = make(t, kind, x=[r[2] for r in rows], y=[r[3] for r in rows], code=code)
    with tempfile.TemporaryDirectory() as d:
        write_mouse_csv(Path(d) / "s.csv", ev)
        back = read_mouse_csv(Path(d) / "s.csv")
    assert back.tolist() == ev.tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**12),  # press, ns
            st.one_of(st.none(), st.integers(0, 10**9)),  # dwell, None = never released
            st.sampled_from(list(KeyClass)),
        ),
        max_size=30,
    )
)
def test_keys_round_trip_property(strokes: list[tuple[int, int | None, KeyClass]]) -> None:
    t: list[int] = []
    kind: list[Kind] = []
    x: list[int] = []
    code: list[KeyClass] = []
    for sid, (press, dwell, cls) in enumerate(strokes):
        t.append(press)
        kind.append(Kind.KEY_DOWN)
        x.append(sid)
        code.append(cls)
        if dwell is not None:
            t.append(press + dwell)
            kind.append(Kind.KEY_UP)
            x.append(sid)
            code.append(cls)
    ev = make(t, kind, x=x, code=code)
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    with tempfile.TemporaryDirectory() as d:
        write_keys_csv(Path(d) / "k.csv", ev)
        back = read_keys_csv(Path(d) / "k.csv")

    def order(r: tuple[int, int, int | None]) -> tuple[int, int, int]:
        return (r[0], r[1], -1 if r[2] is None else r[2])

    assert sorted(canonical_keys(back), key=order) == sorted(canonical_keys(ev), key=order)


# ---------------------------------------------------------------------------- injected column


def test_the_injected_column_flags_rows_and_refuses_unknown_values(tmp_path: Path,
                                                                  csv_parser: str) -> None:
    """0 a device, 1 injected, 2 a warp; anything else could be a bot's row read as a person's:
    left out and counted, like any unreadable row."""
    write(tmp_path / "m" / "u" / "s.csv", MOUSE.rstrip("\n") + ",injected\n"
          "0.0,NoButton,Move,1,2,0\n0.01,NoButton,Move,2,2,1\n0.02,NoButton,Move,3,2,\n"
          "0.03,NoButton,Move,4,2,2\n0.04,NoButton,Move,5,2,yes\n")
    (rec,) = list(iter_layout(tmp_path / "m", "mouse"))
    assert rec.events["flags"].tolist() == [0, Flag.INJECTED, Flag.INJECTED | Flag.WARPED]
    assert (rec.meta["bad_injected"], rec.meta["skipped_rows"]) == (2, 2)
    write(tmp_path / "k" / "u" / "s.csv", KEYS.rstrip("\n") + ",injected\n"
          "a,1.0,1.1,1\nb,2.0,2.1,0\nc,3.0,3.1,7\n")
    (rec,) = list(iter_layout(tmp_path / "k", "keys"))
    assert rec.events["flags"].tolist() == [Flag.INJECTED, Flag.INJECTED, 0, 0]
    assert rec.meta["bad_injected"] == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_injected_round_trip(tmp_path: Path, fmt: str) -> None:
    mouse = make([0, 10, 20], [Kind.MOVE] * 3, x=[1, 2, 3], y=[0, 0, 0])
    mouse["flags"] = [0, Flag.INJECTED, Flag.INJECTED | Flag.WARPED]
    keys = make([0, 5, 10, 15], [Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_DOWN, Kind.KEY_UP],
                x=[0, 0, 1, 1], code=[KeyClass.LETTER] * 4)
    keys["flags"] = [Flag.INJECTED, Flag.INJECTED, 0, 0]
    wm, wk = ((write_mouse_csv, write_keys_csv) if fmt == "csv"
              else (write_mouse_parquet, write_keys_parquet))
    wm(tmp_path / f"m.{fmt}", mouse, injected=True)
    wk(tmp_path / f"k.{fmt}", keys, injected=True)
    assert read_mouse_csv(tmp_path / f"m.{fmt}")["flags"].tolist() == mouse["flags"].tolist()
    assert read_keys_csv(tmp_path / f"k.{fmt}")["flags"].tolist() == keys["flags"].tolist()
    wm(tmp_path / f"plain.{fmt}", mouse)  # without the column: exactly the old layout
    assert read_mouse_csv(tmp_path / f"plain.{fmt}")["flags"].tolist() == [0, 0, 0]


def test_only_files_of_a_megabyte_or_more_go_through_arrow(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI that read two 3-row recordings through Arrow ended with SIGABRT after its work was
    done (an Arrow readahead thread alive at interpreter exit): small files take the pure path,
    which is as fast there; large ones keep Arrow's."""
    pytest.importorskip("pyarrow")
    from activesec.recordings import _table

    used: list[Path] = []
    real = _table._read_arrow

    def spy(path: Path, *args: object, **kw: object) -> object:
        used.append(path)
        return real(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(_table, "_read_arrow", spy)
    small = tmp_path / "small.csv"
    small.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" + "1,x\n" * (_table.ARROW_MIN_BYTES // 4 + 1), encoding="utf-8")
    assert _table.read_csv_table(small, ["a", "b"], ["a"]).n_rows == 2
    assert _table.read_csv_table(big, ["a", "b"], ["a"]).n_rows == _table.ARROW_MIN_BYTES // 4 + 1
    assert used == [big]
