"""Layout detection from names and headers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from activesec.core.errors import DataError
from activesec.recordings.aalto import HEADER as AALTO
from activesec.recordings.cmu import HEADER as CMU
from activesec.recordings.detect import LAYOUTS, detect_layout


def put(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_each_layout(tmp_path: Path) -> None:
    put(
        tmp_path / "bal" / "training_files" / "user7" / "session_1",
        "record timestamp,client timestamp,button,state,x,y\n",
    )
    a = put(tmp_path / "aalto" / "5_keystrokes.txt", "\t".join(AALTO) + "\n")
    with gzip.open(tmp_path / "k.tsv.gz", "wt") as fh:
        fh.write("\t".join(AALTO) + "\n")
    fr = tmp_path / "fr" / "Long_Keyboard_Raw_Dataset.json.gz"
    fr.parent.mkdir()
    with gzip.open(fr, "wt") as fh:
        json.dump({"u": {"s": {"grabbedData": {"typingData": {}}}}}, fh)
    c = put(tmp_path / "cmu" / "DSL-StrongPasswordData.csv", ",".join(CMU) + "\n")
    m = put(tmp_path / "mouse" / "alice" / "1.csv", "timestamp,button,state,x,y\n")
    k = put(tmp_path / "keys" / "alice" / "1.csv", "key,press,release\n")
    expected = {
        tmp_path / "bal": "balabit",
        tmp_path / "aalto": "aalto",
        a: "aalto",
        tmp_path / "k.tsv.gz": "aalto",
        tmp_path / "fr": "freihaut",
        fr: "freihaut",
        tmp_path / "cmu": "cmu",
        c: "cmu",
        tmp_path / "mouse": "mouse-csv",
        m: "mouse-csv",
        tmp_path / "keys": "keys-csv",
        k: "keys-csv",
    }
    for path, layout in expected.items():
        assert detect_layout(path) == layout, path
    export = tmp_path / "export"
    put(export / "mouse" / "me" / "s1.csv", "timestamp,button,state,x,y\n")
    put(export / "keys" / "me" / "s1.csv", "key,press,release\n")
    assert detect_layout(export) == "mixed-export"
    assert set(expected.values()) | {"mixed-export"} == set(LAYOUTS)


def test_parquet_session(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    from activesec.core.events import Kind, make
    from activesec.recordings.generic import write_keys_parquet

    write_keys_parquet(tmp_path / "u" / "s.parquet", make([1, 2], [Kind.KEY_DOWN, Kind.KEY_UP]))
    assert detect_layout(tmp_path) == "keys-csv"


def test_nothing_matches(tmp_path: Path) -> None:
    put(tmp_path / "u" / "notes.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match="does not look like any supported layout") as e:
        detect_layout(tmp_path)
    assert "Balabit" in e.value.hint and "key,press,release" in e.value.hint
    with pytest.raises(DataError, match="does not exist"):
        detect_layout(tmp_path / "none")
    with pytest.raises(DataError, match="supported layout"):
        detect_layout(put(tmp_path / "x.json", json.dumps({"a": 1})))
    with pytest.raises(DataError, match="single Balabit session"):
        detect_layout(
            put(tmp_path / "session_1", "record timestamp,client timestamp,button,state,x,y\n")
        )


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated_layouts_are_recognised(tmp_path: Path, sep: str) -> None:
    """`replay` told a spreadsheet's semicolon-separated recordings "does not look like any
    supported layout", though `evaluate` reads them."""
    m = put(
        tmp_path / "mouse" / "alice" / "1.csv",
        "\ufefftimestamp,button,state,x,y\r\n".replace(",", sep),
    )
    k = put(tmp_path / "keys" / "alice" / "1.csv", "key,press,release\n".replace(",", sep))
    assert detect_layout(tmp_path / "mouse") == detect_layout(m) == "mouse-csv"
    assert detect_layout(tmp_path / "keys") == detect_layout(k) == "keys-csv"


def test_compressed_layout_files_are_said_to_need_decompressing(tmp_path: Path) -> None:
    """`replay` on a folder of .csv.gz recordings said it "does not look like any supported
    layout", and on one such file that it "is not a text CSV file (binary data)"."""
    for f in (
        tmp_path / "rec" / "alice" / "s1.csv.gz",
        tmp_path / "exp" / "keys" / "bo" / "1.csv.gz",
    ):
        f.parent.mkdir(parents=True)
        with gzip.open(f, "wt") as fh:
            fh.write("key,press,release\na,0.1,0.2\n")
    with pytest.raises(DataError, match=r"rec holds compressed recordings \(alice/s1.csv.gz\)"):
        detect_layout(tmp_path / "rec")
    with pytest.raises(DataError, match=r"exp holds compressed recordings \(keys/bo/1.csv.gz\)"):
        detect_layout(tmp_path / "exp")
    with pytest.raises(DataError, match=r"s1.csv.gz is a compressed recording") as e:
        detect_layout(tmp_path / "rec" / "alice" / "s1.csv.gz")
    assert "decompress" in e.value.hint
    # the datasets that are read compressed still are
    with gzip.open(tmp_path / "k.tsv.gz", "wt") as fh:
        fh.write("\t".join(AALTO) + "\n")
    assert detect_layout(tmp_path / "k.tsv.gz") == "aalto"


def test_macos_metadata_files_beside_recordings_are_not_read(tmp_path: Path) -> None:
    """macOS leaves `._s1.csv` (binary AppleDouble metadata) beside each file it copies to
    another disk or zips: it sorted first and made a keys tree look like no layout."""
    from activesec.recordings.generic import iter_layout

    k = put(tmp_path / "keys" / "alice" / "s1.csv", "key,press,release\na,0.1,0.2\n")
    (k.parent / "._s1.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    put(tmp_path / "keys" / "bob" / "s1.csv", "key,press,release\nb,0.1,0.2\n")
    assert detect_layout(tmp_path / "keys") == "keys-csv"
    assert [(r.user, r.session) for r in iter_layout(tmp_path / "keys", "keys")] == [
        ("alice", "s1"),
        ("bob", "s1"),
    ]
