"""Run a user command with the decision as JSON on stdin — the hook for everything ActiveSec
does not do itself (turn off notifications, mute a microphone, page an admin, ...).

* No shell by default: ``argv`` is a list (a string is split with :func:`shlex.split`, still
  without a shell); ``shell=True`` is an explicit opt-in for pipelines.
* The decision arrives as one JSON line on stdin, and as ``ACTIVESEC_OP`` (``fire``/``revert``),
  ``ACTIVESEC_LEVEL``, ``ACTIVESEC_STATE`` and ``ACTIVESEC_TRUST`` in the environment.
* ``timeout_s`` bounds it; on POSIX the command runs in its own process group, so a timeout
  kills whatever it started too. It is done when its own process exits: what it leaves running
  in the background (``i3lock`` forks its locker) runs on. Exit code, and the tail of its
  output, are in the result.
* ``revert_argv`` (optional) runs on ``revert``; without it revert is a no-op.
* ``locks`` (default true): in ``on_lock`` the command is taken for a session locker of your
  own (``i3lock``, ``swaylock``), so the agent waits for the unlock as after its ``lock``; set it
  false for a command that only reports (pages an admin), or trust is reset once input
  resumes, with the same person at the keyboard. Beside ``lock`` in ``on_lock``, only ``lock``
  counts.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, Literal

from activesec.actions.base import Action, ActionResult, Decision
from activesec.core.errors import ConfigError

OUTPUT_LIMIT = 4000


def _argv(value: Sequence[str] | str | None, key: str, shell: bool) -> list[str] | None:
    if value is None:
        return None
    if shell:  # one command line for /bin/sh -c
        argv = [value if isinstance(value, str) else shlex.join(value)]
    else:
        argv = shlex.split(value) if isinstance(value, str) else list(value)
    if not argv or not all(isinstance(a, str) and a for a in argv):
        raise ConfigError(
            f"command.{key} must be a non-empty list of strings, got {value!r}",
            'e.g. argv = ["/usr/local/bin/on-alert", "--quiet"]',
        )
    return argv


def _tail(f: IO[bytes]) -> str:
    """The last ``OUTPUT_LIMIT`` characters written to ``f`` (a temporary file)."""
    f.seek(0, os.SEEK_END)
    f.seek(max(f.tell() - 4 * OUTPUT_LIMIT, 0))
    return f.read().decode(errors="replace")[-OUTPUT_LIMIT:]


class CommandAction(Action):
    """Run ``argv`` with the decision on stdin; ``ok`` means exit status 0."""

    name = "command"

    def __init__(
        self,
        *,
        argv: Sequence[str] | str,
        revert_argv: Sequence[str] | str | None = None,
        timeout_s: float = 10.0,
        shell: bool = False,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        locks: bool = True,
        dry_run: bool = False,
    ) -> None:
        super().__init__(dry_run=dry_run)
        if not isinstance(locks, bool):
            raise ConfigError(f"command.locks must be true or false, got {locks!r}")
        self.locks_session = locks
        if not isinstance(shell, bool):
            raise ConfigError(f"command.shell must be true or false, got {shell!r}")
        if cwd is not None and not isinstance(cwd, str | os.PathLike):
            raise ConfigError(f"command.cwd must be a folder path, got {cwd!r}")
        if env is not None and not (isinstance(env, Mapping) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise ConfigError(f"command.env must be a table of strings, got {env!r}",
                              'e.g. env = { PAGER_TEAM = "secops", RETRIES = "3" }')
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
            raise ConfigError(f"command.timeout_s must be a positive number, got {timeout_s!r}")
        fire = _argv(argv, "argv", shell)
        assert fire is not None
        self.argv = fire
        self.revert_argv = _argv(revert_argv, "revert_argv", shell)
        self.timeout_s = float(timeout_s)
        self.shell = shell
        self.cwd = cwd
        self.env = dict(env or {})

    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        argv = self.argv if op == "fire" else self.revert_argv
        if argv is None:
            return "command: nothing to revert"
        shown = argv[0] if self.shell else shlex.join(argv)
        return f"would run {shown} with the {decision.level} decision on stdin"

    def _fire(self, decision: Decision) -> ActionResult:
        return self._run(self.argv, "fire", decision)

    def _revert(self, decision: Decision) -> ActionResult:
        if self.revert_argv is None:
            return ActionResult(True, "command: nothing to revert")
        return self._run(self.revert_argv, "revert", decision)

    def _run(self, argv: list[str], op: str, decision: Decision) -> ActionResult:
        env = {
            **os.environ,
            **self.env,
            "ACTIVESEC_OP": op,
            "ACTIVESEC_LEVEL": decision.level,
            "ACTIVESEC_STATE": decision.state,
            "ACTIVESEC_TRUST": f"{decision.trust:.6g}",
        }
        shown = argv[0] if self.shell else shlex.join(argv)
        # files, not pipes: a locker that forks into the background (i3lock, xsecurelock)
        # keeps the pipes open, and waiting for their end waited out the timeout — then
        # killed the locker. The command is done when its own process exits.
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, \
                tempfile.TemporaryFile() as stderr:
            stdin.write((decision.to_json() + "\n").encode())
            stdin.seek(0)
            try:
                proc = subprocess.Popen(
                    argv[0] if self.shell else argv,
                    shell=self.shell,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=self.cwd,
                    env=env,
                    start_new_session=os.name == "posix",
                )
            except FileNotFoundError:
                return ActionResult(False, f"command not found: {argv[0]}",
                                    {"returncode": None})
            except OSError as exc:
                return ActionResult(
                    False, f"cannot run {shown}: {exc.strerror or exc}", {"returncode": None}
                )
            try:
                proc.wait(timeout=self.timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                self._kill(proc)
                proc.wait()
                timed_out = True
            out, err = _tail(stdout), _tail(stderr)
        if timed_out:
            return ActionResult(
                False,
                f"{shown} timed out after {self.timeout_s:g} s and was killed",
                {"returncode": None, "stdout": out[-OUTPUT_LIMIT:], "stderr": err[-OUTPUT_LIMIT:]},
            )
        info = {
            "returncode": proc.returncode,
            "stdout": out[-OUTPUT_LIMIT:],
            "stderr": err[-OUTPUT_LIMIT:],
        }
        if proc.returncode == 0:
            return ActionResult(True, f"{shown} exited 0", info)
        tail = (err or out).strip().splitlines()
        detail = f"{shown} exited {proc.returncode}" + (f": {tail[-1][:200]}" if tail else "")
        return ActionResult(False, detail, info)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        if os.name == "posix":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
