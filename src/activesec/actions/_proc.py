"""Running helper programs (notify-send, loginctl, osascript, ...): one injectable seam.

A runner is anything called like ``subprocess.run(argv, input=..., timeout=..., env=...)`` that
returns a :class:`subprocess.CompletedProcess` with text output; tests pass a recording fake
where the real program cannot exist (osascript, PowerShell).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from typing import Protocol


class Runner(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` without a shell, capturing text output; stdin closed unless ``input``."""
    return subprocess.run(
        list(argv),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        check=False,
    )


def outcome(proc: subprocess.CompletedProcess[str]) -> str:
    """``exit N: <last line of stderr or stdout>`` for a failed program."""
    text = (proc.stderr or proc.stdout or "").strip().splitlines()
    return f"exit {proc.returncode}" + (f": {text[-1][:200]}" if text else "")


def try_run(runner: Runner, argv: Sequence[str], timeout: float) -> tuple[bool, str]:
    """Run ``argv``; ``(True, "")`` on exit 0, else ``(False, why)`` — never raises."""
    try:
        proc = runner(argv, timeout=timeout)
    except FileNotFoundError:
        return False, "not installed"
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:g} s"
    except OSError as exc:
        return False, f"cannot run: {exc.strerror or exc}"
    if proc.returncode != 0:
        return False, outcome(proc)
    return True, ""
