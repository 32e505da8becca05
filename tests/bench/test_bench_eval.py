"""Full-size evaluation benchmarks (run with ``pytest tests/bench/test_bench_eval.py --bench``).

Each runs a whole public dataset once with the project's default detector, records AUC / EER /
runtime in the benchmark's ``extra_info`` (and prints them), and writes the HTML report under
pytest's tmp dir. Targets (issue 3): Balabit AUC >= 0.97, EER <= 7 %, <= 5 min; Aalto mean
per-user EER <= 5 %, <= 10 min — recorded, not asserted, since they measure model quality and
this machine's load, not correctness.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import dataset

from activesec.evaluate.api import Options, evaluate
from activesec.evaluate.report import write_report

JOBS = int(os.environ.get("ACTIVESEC_BENCH_JOBS", "2"))


def _run(benchmark: Any, name: str, path: Path, tmp_path: Path, **opts: Any) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def once() -> None:
        box["res"] = evaluate(name, path, options=Options(jobs=JOBS, **opts))

    benchmark.pedantic(once, rounds=1, iterations=1)
    res = box["res"]
    js = res.to_json()
    keep = ("dataset", "detector", "auc", "eer", "mean_user_eer", "sd_user_eer", "n_users",
            "runtime_s")
    benchmark.extra_info.update({k: js[k] for k in keep})
    report = write_report(res, tmp_path / name)
    print(f"\n{name}: " + ", ".join(f"{k}={js[k]}" for k in keep) + f"\nreport: {report}")
    return js


@pytest.mark.slow
def test_bench_balabit_full(benchmark: Any, tmp_path: Path) -> None:
    js = _run(benchmark, "balabit", dataset("balabit"), tmp_path)
    assert js["n_users"] == 10 and js["auc"] > 0.5


@pytest.mark.slow
def test_bench_aalto_full(benchmark: Any, tmp_path: Path) -> None:
    js = _run(benchmark, "aalto", dataset("aalto136m", "keystrokes.tsv.gz"), tmp_path)
    assert js["n_users"] > 1000 and js["auc"] > 0.5


@pytest.mark.slow
def test_bench_freihaut_full(benchmark: Any, tmp_path: Path) -> None:
    js = _run(benchmark, "freihaut", dataset("freihaut2022", "Long_Keyboard_Raw_Dataset.json.gz"),
              tmp_path)
    assert js["n_users"] > 40
