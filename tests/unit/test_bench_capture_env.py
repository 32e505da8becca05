"""The capture benchmark measures this checkout's X11 backend, not an installed one's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.bench import capture_cpu


def test_the_capture_benchmark_child_imports_activesec_from_this_checkout() -> None:
    # Its child used PYTHONPATH=<repo root>, which holds tests/ but not the src-layout package:
    # with another checkout installed by `pip install -e` (a shared machine, a second worktree)
    # the benchmark timed that checkout's backend and printed it as this one's.
    root = Path(capture_cpu.__file__).resolve().parents[2]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import activesec, tests.bench.capture_cpu; print(activesec.__file__)",
        ],
        env=capture_cpu.child_env(":0"),
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()).resolve().is_relative_to(root / "src"), out.stdout
