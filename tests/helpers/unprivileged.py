"""Run code as an unprivileged user, so file permissions are really enforced.

The suite runs as root (here and in CI), and root passes every permission check: a test of
"not writable"/"not readable" must run in a child process that is not root. ``setpriv`` cannot
start that child here: the interpreter and its site-packages may live under ``/root`` (pyenv),
which uid 65534 cannot read. So the child starts as root, imports what it needs, then drops to
uid/gid 65534 with no supplementary groups (``drop_privileges``; the kernel clears all
capabilities on that setuid) before doing the checked operation. Run as a normal user, the
child keeps that user: permissions apply to it already.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = 65534


def drop_privileges() -> None:
    """In the child: become uid/gid 65534 (no groups, no capabilities) if running as root."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    assert os.geteuid() == NOBODY and os.getegid() == NOBODY
    cap_eff = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("CapEff:"))
    assert int(cap_eff, 16) == 0, cap_eff


def _reachable_by_others(d: Path) -> bool:
    """Every directory from / down to ``d`` is searchable by other users."""
    try:
        return all(p.stat().st_mode & 0o001 for p in [d, *d.parents])
    except OSError:
        return False


@contextmanager
def shared_tmp_dir() -> Iterator[Path]:
    """A fresh 0755 root-owned directory the unprivileged child can reach. pytest's tmp_path
    sits below a root-only 0700 directory, and /tmp itself may have been made 0700 (it is on
    this shared machine), so the first temp location every ancestor of which is searchable by
    others is used."""
    candidates = [Path(tempfile.gettempdir()), Path("/var/tmp"), Path("/dev/shm")]
    base = next((c for c in candidates if _reachable_by_others(c)), None)
    if base is None:
        pytest.skip(f"a temp directory an unprivileged user can reach is unavailable: {candidates}")
    d = Path(tempfile.mkdtemp(prefix="activesec-unpriv-", dir=base))
    try:
        d.chmod(0o755)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_unprivileged(
    setup: str, body: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run python ``setup`` (imports; as the current user), drop privileges, then run ``body``.

    The child prints what the test checks; a non-zero exit means the child itself broke.
    """
    code = "\n".join([
        textwrap.dedent(setup),
        "from tests.helpers.unprivileged import drop_privileges",
        "drop_privileges()",
        textwrap.dedent(body),
    ])
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [root, str(Path(root) / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd="/")
