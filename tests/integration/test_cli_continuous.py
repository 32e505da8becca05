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
