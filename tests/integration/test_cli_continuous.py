"""`activesec evaluate balabit --continuous` as a user runs it: the real CLI in a subprocess on
a small real Balabit slice, with ``--jobs 2`` (the replay then runs users in parallel)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import cli, env_for
from tests.helpers.slices import labelled_balabit


def test_evaluate_balabit_continuous_json_with_jobs(tmp_path: Path) -> None:
    data = labelled_balabit(tmp_path / "balabit")
    r = cli("evaluate", "balabit", "--data", str(data), "--continuous", "--json", "--jobs", "2",
            "--param", "n_estimators=10", env=env_for(tmp_path / "home"), timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the continuous figures join the session-level ones in the one JSON object
    assert out["n_users"] == 3 and 0.0 <= out["auc"] <= 1.0
    assert out["impostor_sessions"] == 3 and out["genuine_sessions"] == 3
    assert out["impostor_locked"] + out["impostor_not_locked"] == 3
    assert out["genuine_actions"] > 0 and out["false_locks"] >= 0
    assert {"ania", "anga", "seconds_to_lock"} <= set(out)
    assert out["params"]["jobs"] == 2


def test_evaluate_balabit_tune_trust_grid_json(tmp_path: Path) -> None:
    # longer training slices: the last 20 % of each user must hold whole 100-action chunks
    data = labelled_balabit(tmp_path / "balabit", train_lines=20000)
    r = cli("evaluate", "balabit", "--data", str(data), "--tune-trust", "--json", "--jobs", "2",
            "--grid", "window=1,5", "--grid", "neutral_z=-0.3,-0.1",
            "--param", "n_estimators=10", env=env_for(tmp_path / "home"), timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["users"] == ["user12", "user7", "user9"] and "auc" not in out  # no test replay
    grid = [(s["window"], s["trust"]["neutral_z"]) for s in out["settings"]]
    assert grid == [(1, -0.3), (1, -0.1), (5, -0.3), (5, -0.1)]
    first = out["settings"][0]
    assert first["owner_actions"] > 100 and first["impostor_chunks"] >= 6
    for s in out["settings"]:
        assert s["owner_actions"] == first["owner_actions"]  # one owner stream for all settings
        assert s["impostor_chunks"] == first["impostor_chunks"]
        assert 0 <= s["impostor_locked"] <= s["impostor_chunks"]
        assert s["ania"] is None or 2 <= s["ania"] <= 100  # one action never locks
        assert set(s["per_user"]) == set(out["users"])
    # ~1,000 owner actions cannot show one false lock per 2,000 even with none (the 95 %
    # Poisson bound needs 5,992): nothing is eligible, and the table says why
    assert out["owner_actions_needed"] == 5992 and first["owner_actions"] < 5992
    assert out["best"] is None and not any(s["eligible"] for s in out["settings"])
    r = cli("evaluate", "balabit", "--data", str(data), "--tune-trust", "--grid", "window=5",
            "--param", "n_estimators=10", env=env_for(tmp_path / "home"), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "ANIA" in r.stdout and "needs 5,992" in " ".join(r.stdout.split())


def test_evaluate_tune_trust_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home")
    data = labelled_balabit(tmp_path / "balabit")
    r = cli("evaluate", "balabit", "--data", str(data), "--tune-trust", "--grid", "speed=1",
            env=env)
    assert r.returncode != 0 and "bad --grid 'speed=1'" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("evaluate", "aalto", "--data", str(data), "--tune-trust", env=env)
    assert r.returncode != 0 and "balabit" in r.stderr and "Traceback" not in r.stderr
    r = cli("evaluate", "balabit", "--data", str(data), "--tune-trust", "--continuous", env=env)
    assert r.returncode != 0 and "test sessions" in r.stderr and "Traceback" not in r.stderr
