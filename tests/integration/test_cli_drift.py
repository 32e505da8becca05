"""`activesec evaluate freihaut --drift` as a user runs it: the real CLI in a subprocess on the
first users of the Freihaut & Göritz file (skipped when ../shared/datasets is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import dataset
from tests.helpers.cli import cli, env_for, one_line_error

pytestmark = pytest.mark.datasets

USERS = 5


def test_evaluate_freihaut_drift_json(tmp_path: Path) -> None:
    path = dataset("freihaut2022", "Long_Keyboard_Raw_Dataset.json.gz")
    env = env_for(tmp_path / "home")
    r = cli("evaluate", "freihaut", "--data", str(path), "--drift", "--json",
            "--max-users", str(USERS), env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    d = out["drift"]
    assert d["detector"] == out["detector"] == "scaled_manhattan"
    assert d["train"] == {"target_far": 0.05, "holdout": 0.25, "max_drift": 0.25,
                          "retrain_days": 7.0}  # the product's defaults
    assert d["n_users"] == USERS and d["skipped_users"] == [] and len(d["per_user"]) == USERS
    # without updates the curve *is* the protocol's by_days (the same model, the same rows)
    assert [(b["days_from"], b["eer"], b["n_genuine"]) for b in d["by_days_without_updates"]] \
        == [(b["days_from"], round(b["eer"], 4), b["n_genuine"]) for b in out["by_days"]]
    with_ = d["by_days_with_updates"]
    assert [b["n_genuine"] for b in with_] == [b["n_genuine"] for b in out["by_days"]]
    # nothing is learnt in the first week (retrain_days 7): the same model scores it
    assert [b["eer"] for b in with_ if b["days_to"] and b["days_to"] <= 7] == \
        [b["eer"] for b in d["by_days_without_updates"] if b["days_to"] and b["days_to"] <= 7]
    o = d["owner_updates"]
    assert o["attempted"] == o["learnt"] + o["refused"] and o["users_updated"] <= USERS
    a = d["attack"]
    assert a["pairs"] == USERS * (USERS - 1)  # every owner against every other user
    assert a["attempted"] == a["learnt"] + a["refused"]
    assert a["pairs_learnt"] <= a["pairs_decided"] <= a["pairs"]
    assert 0.0 <= a["foreign_share"] <= a["foreign_share_max"] <= 0.25  # max_drift bounds it
    assert 0.0 <= a["accept_before"] <= 1.0 and 0.0 <= a["accept_after"] <= 1.0
    assert set(a["learnt_pairs"]) == {"foreign_share", "accept_before", "accept_after"}

    r = cli("evaluate", "freihaut", "--data", str(path), "--drift", "--max-users", "3",
            env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "drift 0-1 d: EER" in r.stdout and "owner updates:" in r.stdout
    assert "attack (6 owner/attacker pairs)" in r.stdout


def test_drift_is_refused_where_it_does_not_apply(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home")
    line = one_line_error(cli("evaluate", "balabit", "--data", str(tmp_path), "--drift", env=env))
    assert "--drift is implemented for the freihaut protocol" in line
    line = one_line_error(cli("evaluate", "freihaut", "--data", str(tmp_path), "--drift",
                              "--detector", "all", env=env))
    assert "one detector" in line
