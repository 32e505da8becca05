"""Run the real ``activesec`` CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVESEC_")}
    env["ACTIVESEC_HOME"] = str(home)
    env.pop("DISPLAY", None) if "DISPLAY" not in extra else None
    env.update(extra)
    return env


def initialised(home: Path, user: str = "alice") -> dict[str, str]:
    """The environment of a fresh profile at ``home``, made by the real ``activesec init``."""
    env = env_for(home)
    r = cli("init", "--user", user, env=env)
    assert r.returncode == 0, r.stderr
    return env


def cli(
    *args: str, env: Mapping[str, str], timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "activesec.cli.main", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def popen(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "activesec.cli.main", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def one_line_error(r: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """Assert a clean expected failure: exit ``code`` (2; the agent's permanent failures 78),
    one ``error:`` line, no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]
