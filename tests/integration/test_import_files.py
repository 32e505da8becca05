"""`import` through the real CLI on trees that are not quite the generic layouts: nothing
recognised is an error saying what was found, and what was left out is said, not hidden."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from tests.helpers.cli import cli, initialised, one_line_error

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
    assert ("imported 1 sessions (2 events); 3 unreadable rows skipped (2 with a time that is "
            "not a number of seconds, 1 with x/y not numbers in range)") in text
    again = cli("import", str(tmp_path / "rec"), env=env)
    assert again.returncode == 0, again.stderr
    text = " ".join(again.stdout.split())
    assert "imported 0 sessions" in text and "1 already present" in text
    assert "unreadable" not in text  # the rows of a session not imported again are not counted
    assert _sessions(env) == 1


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
