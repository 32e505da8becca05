"""The agent's trust history file (:mod:`activesec.service.history`): minutes, damage, pruning."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from activesec.core.errors import DataError
from activesec.service import history
from activesec.service.history import TrustHistory

T0 = 1_764_950_400  # a minute's start


def lines(path: Path) -> list[dict[str, float]]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def test_updates_become_one_line_per_minute_once_it_is_over(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    h = TrustHistory(path)
    for dt, trust in ((1, 90.0), (20, 45.5), (59.9, 70.0)):
        h.observe(T0 + dt, trust)
    h.tick(T0 + 59.99)
    assert not path.exists()  # the minute is still open
    h.tick(T0 + 60)
    assert lines(path) == [{"t": T0, "lo": 45.5, "hi": 90.0, "last": 70.0, "n": 3}]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    h.observe(T0 + 185, 99.0)  # two idle minutes leave no line
    h.close()
    assert [r["t"] for r in lines(path)] == [T0, T0 + 180]
    assert history.read(path, since_s=T0 + 1) == [
        {"t": T0 + 180, "lo": 99.0, "hi": 99.0, "last": 99.0, "n": 1}]


def test_an_update_in_a_new_minute_closes_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    h = TrustHistory(path)
    h.observe(T0 + 10, 80.0)
    h.observe(T0 + 70, 60.0)
    assert lines(path) == [{"t": T0, "lo": 80.0, "hi": 80.0, "last": 80.0, "n": 1}]
    h.observe(T0 + 75, float("nan"))  # never a NaN in the file
    h.close()
    assert lines(path)[-1] == {"t": T0 + 60, "lo": 60.0, "hi": 60.0, "last": 60.0, "n": 1}


def test_a_clock_set_back_closes_the_minute_and_the_reader_sorts(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    h = TrustHistory(path)
    h.observe(T0 + 10, 80.0)
    h.tick(T0 - 3600)  # the wall clock went back an hour
    h.observe(T0 - 3590, 50.0)
    h.close()
    assert [r["t"] for r in lines(path)] == [T0, T0 - 3600]
    assert [r["t"] for r in history.read(path)] == [T0 - 3600, T0]


def test_a_minute_written_twice_after_the_clock_went_back_is_one_minute(tmp_path: Path) -> None:
    """NTP sets the clock back 5 minutes while the agent scores: the minutes it lives again are
    written a second time; the chart and the summary see each minute once."""
    path = tmp_path / "h.jsonl"
    h = TrustHistory(path)
    h.observe(T0 + 10, 80.0)
    h.observe(T0 + 70, 75.0)
    h.tick(T0 - 180)  # set back: minutes T0 and T0 + 60 come again
    h.observe(T0 + 20, 50.0)
    h.observe(T0 + 30, 60.0)
    h.close()
    assert [r["t"] for r in lines(path)] == [T0, T0 + 60, T0]
    rows = history.read(path)
    assert rows == [{"t": T0, "lo": 50.0, "hi": 80.0, "last": 60.0, "n": 3},
                    {"t": T0 + 60, "lo": 75.0, "hi": 75.0, "last": 75.0, "n": 1}]
    assert history.summary(rows)["minutes"] == 2


def test_minutes_dated_by_a_clock_that_ran_ahead_are_not_today_and_get_pruned(
        tmp_path: Path) -> None:
    """The date was set two days ahead for a while, then corrected: the minutes scored
    meanwhile are not "the last 24 hours" (``status`` names the lowest of those), and the next
    prune drops them instead of keeping them for two days and a week."""
    path = tmp_path / "h.jsonl"
    ahead = T0 + 2 * 86_400
    h = TrustHistory(path)
    h.observe(ahead + 5, 12.0)  # the agent's first write prunes: nothing to drop yet
    h.observe(T0 + 65, 90.0)  # the clock is right again
    h.close()
    assert history.read(path, since_s=T0 - 86_400, until_s=T0 + 120) == [
        {"t": T0 + 60, "lo": 90.0, "hi": 90.0, "last": 90.0, "n": 1}]
    h = TrustHistory(path)  # a new agent prunes at its first write
    h.observe(T0 + 125, 91.0)
    h.close()
    assert [r["t"] for r in lines(path)] == [T0 + 60, T0 + 120]


def test_damaged_lines_are_skipped_and_a_partial_line_is_not_glued_to_the_next(
        tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    good = {"t": T0, "lo": 41.0, "hi": 90.0, "last": 88.0, "n": 4}
    path.write_bytes(json.dumps(good).encode() + b"\n" + b"not json\n" + b"\xff\xfe\n"
                     + b'{"t": 1e300, "lo": 1, "hi": 1, "last": 1, "n": 1}\n'
                     + b'{"t": 5, "lo": NaN, "hi": 1, "last": 1, "n": 1}\n'
                     + b'[1, 2]\n{"t": 3}\n' + b'{"t": ' + str(T0 + 60).encode() + b', "lo": 3')
    assert history.read(path) == [good]
    h = TrustHistory(path)
    h.observe(T0 + 120, 77.0)
    h.close()
    assert history.read(path) == [good, {"t": T0 + 120, "lo": 77.0, "hi": 77.0, "last": 77.0,
                                          "n": 1}]


def test_old_minutes_are_pruned(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps({"t": T0 - d * 86_400, "lo": 50, "hi": 60, "last": 55,
                                        "n": 2}) + "\n" for d in (9, 8, 6, 1)))
    h = TrustHistory(path, keep_days=7)
    h.observe(T0 + 5, 90.0)
    h.close()
    assert [r["t"] for r in lines(path)] == [T0 - 6 * 86_400, T0 - 86_400, T0]


def test_summary_names_the_lowest_minute(tmp_path: Path) -> None:
    rows = [{"t": T0, "lo": 70.0, "hi": 99.0, "last": 90.0, "n": 5},
            {"t": T0 + 60, "lo": 31.5, "hi": 80.0, "last": 31.5, "n": 3}]
    assert history.summary(rows) == {"minutes": 2, "updates": 8, "lowest": 31.5,
                                     "lowest_at_s": T0 + 60, "first_s": T0,
                                     "last_s": T0 + 60}
    assert history.summary([])["lowest"] is None


def test_an_unwritable_history_costs_the_line_not_the_agent(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "h.jsonl"
    path.mkdir()  # appending fails for real
    h = TrustHistory(path)
    h.observe(T0, 50.0)
    h.close()
    assert "cannot write the trust history" in caplog.text
    with pytest.raises(DataError, match="cannot read the trust history"):
        history.read(path)


def test_clear_deletes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    h = TrustHistory(path)
    h.observe(T0, 50.0)
    h.close()
    h.observe(T0 + 61, 40.0)
    h.clear()
    h.close()  # the open minute went with it
    assert not path.exists() and history.read(path) == []


def test_the_open_minute_joins_what_status_summarises(tmp_path: Path) -> None:
    """Status said "lowest 80 in the last 24 h" while the agent showed trust 35: this minute's
    updates are only written when it is over. The agent's status file carries the open minute
    and the summary merges it (into its own row, if the file already holds that minute)."""
    h = TrustHistory(tmp_path / "h.jsonl")
    h.observe(60.0, 80.0)
    h.observe(125.0, 90.0)  # closes minute 60
    h.observe(130.0, 35.0)
    rows = history.read(h.path)
    assert history.summary(rows)["lowest"] == 80.0
    merged = history.with_open_minute(rows, h.open_minute())
    assert history.summary(merged)["lowest"] == 35.0 and merged[-1] == {
        "t": 120, "lo": 35.0, "hi": 90.0, "last": 35.0, "n": 2}
    # the file holding that minute too (a clock set back): one row, both counted
    doubled = history.with_open_minute([*rows, {"t": 120, "lo": 50.0, "hi": 95.0,
                                                "last": 50.0, "n": 3}], h.open_minute())
    assert [r["t"] for r in doubled] == [60, 120] and doubled[-1]["n"] == 5
    assert doubled[-1]["lo"] == 35.0 and doubled[-1]["hi"] == 95.0
    assert history.with_open_minute(rows, None) == rows
    assert history.with_open_minute(rows, {"t": "x"}) == rows  # another version's status
