"""Protocols on small slices of the real datasets (skipped when ../shared/datasets is absent).

Loose sanity floors only: these check that the real layouts flow through the very feature and
detector code of the agent and produce plausible numbers; full-size figures are benchmarks
(tests/bench/test_bench_eval.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import dataset
from tests.helpers.cli import cli, env_for

from activesec.core.errors import DataError
from activesec.evaluate.api import Options, evaluate
from activesec.evaluate.report import render

pytestmark = pytest.mark.datasets


def test_balabit_two_users() -> None:
    root = dataset("balabit")
    res = evaluate("balabit", root, detector="random_forest",
                   options=Options(users=["user7", "user9"], max_background=3000,
                                   params={"n_estimators": 20}))
    js = res.to_json()
    assert js["n_users"] == 2  # no user or session left out (some read without sentinel rows)
    assert [s for s in js["skipped"] if s["what"] != "rows"] == []
    for row in js["per_user"]:
        assert row["n_genuine"] > 0 and row["n_impostor"] > 0 and row["n_enrol"] > 1000
    assert js["auc"] > 0.7 and js["mean_user_eer"] < 0.35
    ks = [r["k"] for r in js["by_actions"]]
    assert ks == [1, 5, 10, 20, "all"]
    assert "ROC" in render(res)


def test_balabit_says_which_sessions_it_read_without_some_rows(tmp_path: Path) -> None:
    """A session evaluated without its sentinel rows (66 of the 816 labelled test sessions) is
    in ``skipped`` as ``rows``, as the README promises and ``replay`` and the generic layouts
    said: ``evaluate balabit`` left them out without a word."""
    from tests.helpers.slices import labelled_balabit

    root = labelled_balabit(tmp_path / "balabit")
    test = sorted((root / "test_files" / "user7").iterdir())[0]
    with open(test, "a") as fh:
        fh.write("999.0,999.0,NoButton,Move,65535,65535\n")
    env = env_for(tmp_path / "home")
    r = cli("evaluate", "balabit", "--data", str(root), "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = {s["id"]: s["reason"] for s in json.loads(r.stdout)["skipped"] if s["what"] == "rows"}
    n = len(test.read_text().splitlines()) - 1  # data rows, the header left out
    assert rows[f"user7/{test.name}"] == (f"1 of {n:,} rows unreadable: 1 with x/y not "
                                          "numbers in range")
    assert rows["user9/session_0335985747"].startswith("3 of 3,999 rows unreadable")  # training
    text = " ".join(cli("evaluate", "balabit", "--data", str(root), env=env).stdout.split())
    assert f"unreadable rows left out of {len(rows)} session(s) (see --json)" in text


def test_aalto_twenty_users() -> None:
    path = dataset("aalto136m", "keystrokes.tsv.gz")
    res = evaluate("aalto", path, detector="extra_trees",
                   options=Options(max_users=20, params={"n_estimators": 50}))
    js = res.to_json()
    assert js["params"]["background_users"] == 5 and js["n_users"] == 15
    assert all(r["n_genuine"] == 10 and r["n_impostor"] == 14 for r in js["per_user"])
    assert js["auc"] > 0.75 and js["mean_user_eer"] < 0.35
    assert js["by_keystrokes"][-1]["n"] == "all"


def test_detector_all_goes_on_without_the_detectors_that_cannot_run(tmp_path: Path) -> None:
    """8 Aalto users enrol on 5 sentences each: hist_gb cannot split so few rows (it scored
    everyone alike, AUC 0.500) and plda has too few people — said, and the rest compared; one
    failing detector used to end the whole comparison."""
    path = dataset("aalto136m", "keystrokes.tsv.gz")
    r = cli("evaluate", "aalto", "--data", str(path), "--max-users", "8", "--detector", "all",
            "--json", env=env_for(tmp_path / "home"), timeout=600)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    missing = js["detectors_not_evaluated"]
    assert set(missing) == {"hist_gb", "plda"}
    assert "hist_gb learns nothing from 5 owner rows (needs 40" in missing["hist_gb"]
    assert "a user's background holds 2" in missing["plda"]
    ran = {d["detector"] for d in js["detectors"]}
    assert {"extra_trees", "scaled_manhattan"} <= ran and not ran & set(missing)
    assert all(d["auc"] > 0.5 for d in js["detectors"] if d["detector"] == "scaled_manhattan")
    text = " ".join(r.stderr.split())
    assert "warning: hist_gb left out of --detector all: " in text


def test_freihaut_drift_curve() -> None:
    path = dataset("freihaut2022", "Long_Keyboard_Raw_Dataset.json.gz")
    res = evaluate("freihaut", path, options=Options(max_users=8))
    js = res.to_json()
    assert js["detector"] == "scaled_manhattan"  # one-class: no background in this protocol
    assert js["auc"] > 0.6 and js["by_days"] and js["by_days"][0]["days_from"] == 0


def test_cmu_schema_sample_is_a_clear_skip() -> None:
    path = dataset("cmu_keystroke", "DSL-StrongPasswordData.HEAD10.csv")
    with pytest.raises(DataError, match="400"):
        evaluate("cmu", path)
