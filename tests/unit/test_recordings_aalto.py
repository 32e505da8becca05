"""Aalto 136M reader on synthetic files in both original forms, including broken rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from activesec.core.errors import DataError
from activesec.core.events import Kind
from activesec.core.keys import KeyClass
from activesec.recordings.aalto import HEADER, iter_aalto

H = "\t".join(HEADER) + "\n"
SENT = "Secret words here."


def row(
    pid: int,
    sid: int,
    press: int | str,
    release: int | str,
    letter: str,
    code: int,
    sentence: str = SENT,
    typed: str = SENT,
) -> str:
    return f"{pid}\t{sid}\t{sentence}\t{typed}\t1\t{press}\t{release}\t{letter}\t{code}\n"


def user5() -> str:
    return (
        row(5, 100, 1000, 1100, "SHIFT", 16)
        + row(5, 100, 1050, 1090, "S", 83)
        + row(5, 100, 1200, 1260, " ", 32)
        + row(5, 100, 1300, "", "e", 69)  # never released: dropped
        + row(5, 100, 1400, 1390, "c", 67)  # released before pressed: dropped
        + row(5, 100, 1500, 1580, "BKSP", 8)
        + row(5, 100, "x", 1600, "r", 82)  # unparseable time: skipped
        + "5\t100\tSecret\twords\ttyped\t1\t1700\t1790\t,\t188\n"  # stray tab in the text
        + "5\t100\tSecret words\tSecret wo\n"  # a line break inside USER_INPUT …
        + "rds here.\t1\t1800\t1850\te\t69\n"  # … splits the row: both halves skipped
        + row(5, 200, 5000, 5100, "7", 55)
        + row(5, 200, 4900, 4990, "&", 55)  # shifted digit row: punctuation; out of order
    )


def user12() -> str:
    return row(12, 300, 10, 20, "a", 65) + row(12, 301, 30, 40, "b", 66)


def test_concatenated_file(tmp_path: Path) -> None:
    f = tmp_path / "keystrokes.tsv"
    f.write_text(H + user5() + user12())
    recs = list(iter_aalto(f))
    assert [(r.user, r.session) for r in recs] == [
        ("5", "100"), ("5", "200"), ("12", "300"), ("12", "301"),
    ]  # fmt: skip
    r = recs[0]
    m = r.meta
    assert (m["unreleased"], m["release_before_press"], m["skipped_rows"]) == (1, 1, 3)
    assert m["keystrokes"] == 5 and m["wall_time"] == 1.0
    ev = r.events
    assert r.source == "aalto" and len(ev) == 10 and np.all(np.diff(ev["t_ns"]) >= 0)
    assert ev["t_ns"][0] == 0 and ev["t_ns"][-1] == 790_000_000  # ms -> ns from first press
    downs = ev[ev["kind"] == Kind.KEY_DOWN]
    assert downs["code"].tolist() == [
        KeyClass.MODIFIER, KeyClass.LETTER, KeyClass.SPACE, KeyClass.BACKSPACE,
        KeyClass.PUNCTUATION,
    ]  # fmt: skip
    assert downs["x"].tolist() == [0, 1, 2, 3, 4]
    ups = ev[ev["kind"] == Kind.KEY_UP]
    assert sorted(ups["x"].tolist()) == [0, 1, 2, 3, 4]
    second = recs[1].events
    assert second[second["kind"] == Kind.KEY_DOWN]["code"].tolist() == [
        KeyClass.PUNCTUATION, KeyClass.DIGIT,
    ]  # fmt: skip


def test_gzip_directory_forms_agree(tmp_path: Path) -> None:
    (tmp_path / "concat").mkdir()
    with gzip.open(tmp_path / "concat" / "keystrokes.tsv.gz", "wt") as fh:
        fh.write(H + user5() + user12())
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "12_keystrokes.txt").write_text(H + user12())
    (tmp_path / "files" / "5_keystrokes.txt").write_text(H + user5())
    a = list(iter_aalto(tmp_path / "concat"))
    b = list(iter_aalto(tmp_path / "files"))  # files in natural order: 5 before 12
    assert [(r.user, r.session) for r in a] == [(r.user, r.session) for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.events.tolist() == y.events.tolist()
    assert [r.session for r in iter_aalto(tmp_path / "files", users=["12"])] == ["300", "301"]


def test_users_and_max_users(tmp_path: Path) -> None:
    f = tmp_path / "k.tsv"
    f.write_text(H + user5() + user12() + row(13, 400, 1, 2, "a", 65))
    assert {r.user for r in iter_aalto(f, max_users=2)} == {"5", "12"}
    assert [r.session for r in iter_aalto(f, users=[12])] == ["300", "301"]
    with pytest.raises(DataError, match="99"):
        list(iter_aalto(f, users=["99"]))
    assert list(iter_aalto(f, max_users=0)) == []


def test_typed_text_never_leaves_the_reader(tmp_path: Path) -> None:
    f = tmp_path / "k.tsv"
    secret = "Zebras quietly juggle"
    f.write_text(
        H
        + "".join(
            row(5, 1, 100 + 10 * i, 105 + 10 * i, ch, ord(ch.upper()), secret, secret)
            for i, ch in enumerate(secret)
        )
    )
    (rec,) = list(iter_aalto(f))
    blob = repr(rec) + repr(rec.meta) + rec.events.tobytes().decode("latin-1")
    for word in secret.split():
        assert word.lower() not in blob.lower()
    assert set(rec.meta) <= {
        "path",
        "rows",
        "keystrokes",
        "unreleased",
        "release_before_press",
        "skipped_rows",
        "wall_time",
        "n_events",
        "empty",
    }


def test_section_with_only_bad_rows_is_empty(tmp_path: Path) -> None:
    f = tmp_path / "k.tsv"
    f.write_text(H + row(5, 1, 100, "", "a", 65))
    (rec,) = list(iter_aalto(f))
    assert rec.meta["empty"] is True and rec.meta["unreleased"] == 1 and "wall_time" not in rec.meta


@pytest.mark.parametrize("content", ["", "a,b,c\n1,2,3\n", "PARTICIPANT_ID\tX\n"])
def test_wrong_header(tmp_path: Path, content: str) -> None:
    f = tmp_path / "k.tsv"
    f.write_text(content)
    with pytest.raises(DataError, match="Aalto header") as e:
        list(iter_aalto(f))
    assert "PARTICIPANT_ID" in e.value.hint


def test_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        list(iter_aalto(tmp_path / "nope.tsv.gz"))
    with pytest.raises(DataError, match="keystrokes"):
        list(iter_aalto(tmp_path))
    data = gzip.compress((H + user5() * 200).encode())
    (tmp_path / "cut.tsv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        list(iter_aalto(tmp_path / "cut.tsv.gz"))


def test_participant_split_over_two_blocks_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = tmp_path / "k.tsv"
    f.write_text(H + row(5, 1, 1, 2, "a", 65) + row(6, 2, 1, 2, "a", 65) + row(5, 3, 1, 2, "a", 65))
    assert [(r.user, r.session) for r in iter_aalto(f)] == [("5", "1"), ("6", "2"), ("5", "3")]
    assert "participant 5 appears in two separate blocks" in caplog.text
