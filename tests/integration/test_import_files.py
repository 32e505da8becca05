"""`import` through the real CLI on trees that are not quite the generic layouts: nothing
recognised is an error saying what was found, and what was left out is said, not hidden."""

from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.cli import cli, initialised, one_line_error

from activesec.store.db import Store

HEADER = "timestamp,button,state,x,y\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return initialised(tmp_path / "home")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _sessions(env: dict[str, str]) -> int:
    return int(json.loads(cli("status", "--json", env=env).stdout)["sessions"])


def test_a_tree_without_recognised_files_is_an_error_saying_what_it_holds(
    env: dict[str, str], tmp_path: Path
) -> None:
    gz = tmp_path / "gz" / "mouse" / "u" / "s.csv.gz"
    gz.parent.mkdir(parents=True)
    gz.write_bytes(gzip.compress((HEADER + "0.1,NoButton,Move,1,2\n").encode()))
    line = one_line_error(cli("import", str(tmp_path / "gz"), env=env))
    assert "no recording files" in line and "mouse/u/s.csv.gz" in line
    assert "mouse/<user>/<session>.csv" in line
    deep = tmp_path / "deep" / "mouse" / "u" / "extra" / "s.csv"
    _write(deep, HEADER + "0.1,NoButton,Move,1,2\n")
    line = one_line_error(cli("import", str(tmp_path / "deep"), env=env))
    assert "mouse/u/extra/s.csv" in line and "one folder per user" in line
    assert _sessions(env) == 0


def test_skipped_rows_and_already_present_sessions_are_said(
    env: dict[str, str], tmp_path: Path
) -> None:
    _write(tmp_path / "rec" / "mouse" / "u" / "s.csv",
           HEADER + "0.1,NoButton,Move,1,2\nnan,NoButton,Move,1,2\n"
           "abc,NoButton,Move,1,2\n0.3,NoButton,Move,99999999999,2\n0.4,NoButton,Move,5,6\n")
    r = cli("import", str(tmp_path / "rec"), env=env)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert ("imported 1 session (2 events); 3 unreadable rows skipped (2 with a time that is "
            "not a number of seconds, 1 with x/y not numbers in range)") in text
    again = cli("import", str(tmp_path / "rec"), env=env)
    assert again.returncode == 0, again.stderr
    text = " ".join(again.stdout.split())
    assert "imported 0 sessions" in text and "1 already present" in text
    assert "unreadable" not in text  # the rows of a session not imported again are not counted
    assert _sessions(env) == 1


def test_another_folder_with_the_same_file_names_is_imported(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Two machines' recordings both named u/session1.csv: the second was skipped as
    "1 already present (imported before …)" — a recording never imported, lost to the profile
    with a message saying the opposite. The same file again is still recognised."""
    _write(tmp_path / "a" / "mouse" / "u" / "session1.csv",
           HEADER + "0.1,NoButton,Move,1,2\n0.5,NoButton,Move,5,6\n")
    _write(tmp_path / "b" / "mouse" / "u" / "session1.csv",
           HEADER + "0.2,NoButton,Move,7,8\n0.3,NoButton,Move,9,9\n0.9,NoButton,Move,1,1\n")
    for folder, imported in (("a", 1), ("b", 1), ("a", 0), ("b", 0)):
        r = cli("import", str(tmp_path / folder), "--json", env=env)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert (summary["sessions"], summary["already_present"]) == (imported, 1 - imported), (
            folder, summary)
    assert _sessions(env) == 2


def test_files_without_a_readable_row_make_no_session(env: dict[str, str], tmp_path: Path) -> None:
    _write(tmp_path / "hdr" / "mouse" / "u" / "h.csv", HEADER)
    line = one_line_error(cli("import", str(tmp_path / "hdr"), env=env))
    assert "holds a readable row" in line and "nothing was imported" in line
    _write(tmp_path / "mix" / "mouse" / "w" / "h.csv", HEADER)
    _write(tmp_path / "mix" / "mouse" / "w" / "s.csv", HEADER + "0.1,NoButton,Move,1,2\n")
    r = cli("import", str(tmp_path / "mix"), "--json", env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["sessions"], summary["empty_sessions"], summary["files"]) == (1, 1, 2)
    assert _sessions(env) == 1


def _dates(home: Path) -> dict[str, tuple[int, int, int, int]]:
    """Per session label: (start wall, end wall, first and last chunk wall time), in ns."""
    with Store.open(home / "activesec.db") as s:
        out = {}
        for info in s.sessions():
            ev = s.events(info.id)
            off = info.started_wall_ns - info.started_mono_ns
            assert info.ended_wall_ns is not None
            out[info.label] = (info.started_wall_ns, info.ended_wall_ns,
                               int(ev["t_ns"][0]) + off, int(ev["t_ns"][-1]) + off)
        return out


def test_a_session_spans_its_own_time_and_epoch_times_date_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Unix-epoch times (2016) date the session by them; times from zero or from boot end it
    at the import (it was recorded before: starting then, it ended in the future); either way
    it spans exactly its first to its last event (epoch times are float seconds: read to
    within ~0.2 µs)."""
    epoch = 1471948496.25
    _write(tmp_path / "rec" / "keys" / "old" / "s.csv",
           f"key,press,release\na,{epoch + 1},{epoch + 1.1}\nb,{epoch + 2},{epoch + 2.125}\n")
    _write(tmp_path / "rec" / "mouse" / "old" / "s.csv",
           HEADER + f"{epoch},NoButton,Move,1,2\n{epoch + 3.5},NoButton,Move,3,4\n")
    _write(tmp_path / "rec" / "mouse" / "zero" / "s.csv",
           HEADER + "0,NoButton,Move,1,2\n3600.5,NoButton,Move,3,4\n")  # an hour
    _write(tmp_path / "rec" / "mouse" / "boot" / "s.csv",
           HEADER + "259200.5,NoButton,Move,1,2\n259202.5,NoButton,Move,3,4\n")
    before = time.time_ns()
    r = cli("import", str(tmp_path / "rec"), env=env)
    after = time.time_ns()
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "imported 3 sessions" in text and "1 dated by their files' Unix times" in text
    assert "1 of them ended over 90 days ago" in text and "keep_days = 0" in text
    dates = _dates(Path(env["ACTIVESEC_HOME"]))
    t0, t1, c0, c1 = dates["old"]
    assert (c0, c1) == (t0, t1)
    assert abs(t0 - epoch * 1e9) < 1000 and abs(t1 - t0 - 3_500_000_000) < 1000
    for label, span in (("zero", 3_600_500_000_000), ("boot", 2_000_000_000)):
        t0, t1, c0, c1 = dates[label]
        assert before <= t1 <= after and (t1, c0, c1) == (t0 + span, t0, t0 + span), label
    # export --since goes by those dates; times come back relative to the first event, exact
    out = tmp_path / "out"
    r = cli("export", "--out", str(out), "--since", "2016-08-23", env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.parent.name for p in out.rglob("*.csv")) == ["boot", "old", "old", "zero"]
    (keys,) = (out / "keys" / "old").glob("*.csv")
    times = [float(t) for row in keys.read_text().splitlines()[1:] for t in row.split(",")[1:]]
    assert np.allclose(times, [1, 1.1, 2, 2.125], rtol=0, atol=1e-6)
    recent = tmp_path / "recent"
    r = cli("export", "--out", str(recent), "--since", "30d", env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.parent.name for p in recent.rglob("*.csv")) == ["boot", "zero"]


def test_a_binary_file_is_said_to_be_no_text_csv_without_echoing_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    junk = random.Random(7).randbytes(4000)
    (tmp_path / "bin" / "mouse" / "u").mkdir(parents=True)
    (tmp_path / "bin" / "mouse" / "u" / "b.csv").write_bytes(junk)
    line = one_line_error(cli("import", str(tmp_path / "bin"), env=env))
    assert "b.csv is not a text CSV file" in line and len(line) < 300 and line.isprintable()
    r = cli("import", str(tmp_path / "bin"), "--json", env=env)
    error = json.loads(r.stdout)["error"]
    assert "not a text CSV file" in error and len(error) < 200 and error.isprintable()
    # a long text header that is not the layout's is shown cut short
    _write(tmp_path / "long" / "mouse" / "u" / "l.csv", "zeit," + "x" * 500 + "\n1,2\n")
    line = one_line_error(cli("import", str(tmp_path / "long"), env=env))
    assert "header 'zeit,xxx" in line and "…' lacks column(s) timestamp" in line
    assert len(line) < 300
    assert _sessions(env) == 0


def test_recordings_labelled_by_another_folder_are_said_not_to_train_the_profile(
        env: dict[str, str], tmp_path: Path) -> None:
    """An owner imported their own recordings from `rec/<user>/…` with a folder name that is
    not the profile's owner: "imported 3 sessions" — and enrolment stayed at 0 %, with
    nothing saying why (the sessions carry the folder's label, someone else to ActiveSec)."""
    from activesec.recordings import write_mouse_csv
    from activesec.recordings.synthetic import pointer_person

    write_mouse_csv(tmp_path / "rec" / "me" / "s1.csv", pointer_person(10, 1))
    r = cli("import", str(tmp_path / "rec"), env=env)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())
    assert "labelled me, not alice (the owner)" in said, said
    assert "import them again with `--label alice`" in said, said
    r = cli("import", str(tmp_path / "rec"), "--label", "alice", "--json", env=env)
    assert json.loads(r.stdout)["labels"] == ["alice"]
    enrolled = json.loads(cli("status", "--json", env=env).stdout)["enrolment"]
    assert enrolled["pointer_events"] > 0
    write_mouse_csv(tmp_path / "more" / "alice" / "s2.csv", pointer_person(10, 2))
    r = cli("import", str(tmp_path / "more"), env=env)
    assert r.returncode == 0 and "labelled" not in r.stdout, r.stdout


def test_a_row_with_a_field_too_long_for_csv_is_skipped_and_counted(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A row holding a field over 128 KiB (a log line, another program's blob) made Python's
    csv reader — which reads a file pyarrow gives up, here for a time that is no number —
    raise "field larger than field limit": `import` ended in a traceback. The row is one more
    unreadable row."""
    long_field = "A" * 200_000
    _write(
        tmp_path / "rec" / "mouse" / "u" / "s.csv",
        f"{HEADER}0.1,NoButton,Move,1,2\nabc,NoButton,Move,1,2\n0.2,{long_field},Move,3,4\n"
        "0.4,NoButton,Move,5,6\n",
    )
    r = cli("import", str(tmp_path / "rec"), env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    text = " ".join(r.stdout.split())
    assert "imported 1 session (2 events); 2 unreadable rows skipped" in text, text
    assert _sessions(env) == 1


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_a_keys_tree_saved_by_a_spreadsheet_is_imported_as_keys(
    env: dict[str, str], tmp_path: Path, sep: str
) -> None:
    """Excel's "CSV UTF-8" starts with a BOM, and in many locales separates with semicolons:
    `import` read such a header as a mouse file's and refused it for lacking timestamp,button,
    state,x,y — the keys recordings could not be imported at all."""
    rows = ["key,press,release", "a,0.1,0.2", "b,0.3,0.4", "space,0.5,0.6"]
    f = tmp_path / "rec" / "alice" / "s1.csv"
    f.parent.mkdir(parents=True)
    f.write_text("\ufeff" + "\r\n".join(r.replace(",", sep) for r in rows) + "\r\n",
                 encoding="utf-8")
    r = cli("import", str(tmp_path / "rec"), "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"] == 6
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["events"]["key_down"] == 3, status["events"]
