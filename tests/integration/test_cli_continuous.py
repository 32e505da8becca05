"""`activesec evaluate balabit|mouse-csv|keys-csv --continuous` as a user runs it: the real CLI
in a subprocess on small real slices — Balabit (for mouse-csv written as a user's own
recordings in the generic layout) and Aalto 136M (keys-csv) —, with ``--jobs 2`` where the
replay then runs users in parallel."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import cli, env_for, one_line_error
from tests.helpers.slices import keys_layout, labelled_balabit, mouse_layout


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
    assert out["unit"] == "actions" and out["skipped_users"] == {}  # as README documents
    assert out["params"]["jobs"] == 2
    # per_user stays the session-level rows; each replayed user's figures join its row
    rows = out["per_user"]
    assert {r["user"] for r in rows} == {"user7", "user9", "user12"}
    assert all("eer" in r and "auc" in r for r in rows)
    assert sum(r["continuous"]["impostor_sessions"] for r in rows) == 3


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
    # a tuning option without tuning was silently ignored
    line = one_line_error(cli("evaluate", "balabit", "--data", str(data), "--target-anga", "500",
                              env=env))
    assert "--target-anga only applies to --tune-trust" in line


def test_evaluate_mouse_csv_continuous_on_your_own_recordings(tmp_path: Path) -> None:
    data = mouse_layout(tmp_path / "mine")  # 3 users x 3 sessions
    mouse_layout(tmp_path / "mine", users=("user15",), sessions=1)  # too few to enrol + test
    env = env_for(tmp_path / "home")
    r = cli("evaluate", "mouse-csv", "--data", str(data), "--continuous", "--json", "--jobs", "2",
            "--enrol-sessions", "1", "--param", "n_estimators=10", env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the session protocol's split: per user 1 session enrols, 2 are genuine tests, and every
    # other user's 2 test sessions are impostors
    replayed = {r["user"]: r["continuous"] for r in out["per_user"] if "continuous" in r}
    assert set(replayed) == {"user7", "user9", "user12"}
    assert all("eer" in r for r in out["per_user"])  # the session-level rows are kept
    assert sum(c["genuine_actions"] for c in replayed.values()) == out["genuine_actions"]
    assert out["genuine_sessions"] == 3 * 2 and out["impostor_sessions"] == 3 * 2 * 2
    assert out["impostor_locked"] + out["impostor_not_locked"] == 12
    assert out["genuine_actions"] > 0 and {"ania", "anga", "seconds_to_lock"} <= set(out)
    assert "user15" in out["skipped_users"] and "need 1 to enrol + 1 to test" in (
        out["skipped_users"]["user15"])
    assert out["engine"] == {}  # the shipped trust model and policy
    # a researcher's own trust setting for the replay: a break-even point far below the owner's
    # scores makes every action count against whoever acts, so more sessions lock
    r = cli("evaluate", "mouse-csv", "--data", str(data), "--continuous", "--json", "--jobs", "2",
            "--enrol-sessions", "1", "--param", "n_estimators=10", "--engine",
            "trust.neutral_z=-3", "--engine", "window=1", env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    eager = json.loads(r.stdout)
    assert eager["engine"] == {"trust.neutral_z": -3, "window": 1}
    assert eager["impostor_locked"] + eager["false_locks"] > (
        out["impostor_locked"] + out["false_locks"])
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(data), "--continuous",
                              "--engine", "trust.speed=1", env=env))
    assert "bad --engine value for 'trust.speed': unknown setting" in line
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(data), "--engine",
                              "window=3", env=env))
    assert "--engine sets the replay's trust model and policy" in line
    human = cli("evaluate", "mouse-csv", "--data", str(data), "--continuous",
                "--param", "n_estimators=10", env=env, timeout=600)
    assert human.returncode == 0 and "continuous: ANIA" in human.stdout
    # nobody can enrol and test: one line saying what to record
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(data), "--continuous",
                              "--enrol-sessions", "3", "--param", "n_estimators=10", env=env,
                              timeout=600))
    assert "need 3 to enrol + 1 to test" in line
    # enrolment sessions too short to fit and calibrate on (a handful of actions): said per user
    small = mouse_layout(tmp_path / "short", events=400)
    r = cli("evaluate", "mouse-csv", "--data", str(small), "--continuous",
            "--param", "n_estimators=10", env=env, timeout=600)
    line = one_line_error(r)
    assert "user7: only 5 enrolment actions to fit on (of 7; need 10)" in line
    assert "user12: need >= 10 finite held-out owner scores to calibrate, got 5" in line
    # ... after the session-level figures computed before it, which were once lost with it
    assert "AUC" in r.stdout and "EER" in r.stdout and "continuous:" not in r.stdout
    r = cli("evaluate", "mouse-csv", "--data", str(small), "--continuous", "--json",
            "--param", "n_estimators=10", env=env, timeout=600)
    assert r.returncode == 2 and r.stderr.startswith("error: no user of"), r.stderr
    got = json.loads(r.stdout)  # one object: the figures, and the error as `ok: false`
    assert got["ok"] is False and got["error"].startswith("no user of") and got["hint"]
    assert 0 <= got["auc"] <= 1 and len(got["per_user"]) == 3
    assert not any("continuous" in row for row in got["per_user"])


def test_evaluate_keys_csv_continuous_counts_keystroke_windows(tmp_path: Path) -> None:
    # 4 Aalto participants; per participant 12 sentences enrol, the next 3 are tested
    data = keys_layout(tmp_path / "typing", users=4, split=(12, 3))
    env = env_for(tmp_path / "home")
    r = cli("evaluate", "keys-csv", "--data", str(data), "--continuous", "--json",
            env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["unit"] == "keystroke windows" and out["modality"] == "keys"
    # two participants typed too little in 12 sentences to hold 10 windows out: said per user
    assert set(out["skipped_users"]) == {"1005", "1011"}
    assert all("held-out owner scores" in why for why in out["skipped_users"].values())
    # the other two are replayed: their own test session, and 3 other people's as impostors
    assert {r["user"] for r in out["per_user"] if "continuous" in r} == {"1002", "1010"}
    assert out["genuine_sessions"] == 2 and out["impostor_sessions"] == 2 * 3
    assert out["impostor_locked"] >= 1 and out["false_locks"] == 0
    assert out["ania"] is not None and out["ania"] >= 5  # one odd window never locks
    human = cli("evaluate", "keys-csv", "--data", str(data), "--continuous", env=env,
                timeout=600)
    assert human.returncode == 0 and "keystroke windows" in human.stdout
    # the two left out were said only with --json: the figures read as if all were replayed
    assert "users left out of the replay: 2 (see --json for reasons)" in " ".join(
        human.stdout.split())
