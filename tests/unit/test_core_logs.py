"""The private rotating log file: rotation, modes, and a rotation another process refuses."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from activesec.core import logs


def handler(path: Path) -> logs._PrivateRotatingHandler:
    h = logs._PrivateRotatingHandler(str(path), maxBytes=200, backupCount=2)
    h.setFormatter(logging.Formatter("%(message)s"))
    return h


def record(i: int) -> logging.LogRecord:
    text = f"line {i:04d} " + "x" * 40
    return logging.LogRecord("activesec.test", logging.INFO, __file__, 1, text, None, None)


def test_rotation_keeps_the_backups_private(tmp_path: Path) -> None:
    log = tmp_path / "activesec.log"
    h = handler(log)
    try:
        for i in range(20):
            h.handle(record(i))
    finally:
        h.close()
    for f in (log, tmp_path / "activesec.log.1", tmp_path / "activesec.log.2"):
        assert f.exists() and stat.S_IMODE(f.stat().st_mode) == 0o600


def test_a_rotation_another_process_refuses_keeps_logging(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows refuses to rename a file another process has open (the training child logs to
    the same file): the handler took that for an unwritable log and logged nothing more until
    the next start. Stand-in for Windows: the rename raises what it raises there."""
    log = tmp_path / "activesec.log"
    h = handler(log)
    now = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    real_rotate = h.rotate
    refuse = [True]

    def rotate(source: str, dest: str) -> None:
        if refuse[0]:
            raise PermissionError(13, "The process cannot access the file because it is being "
                                      "used by another process", source)
        real_rotate(source, dest)

    monkeypatch.setattr(h, "rotate", rotate)
    try:
        for i in range(20):
            h.handle(record(i))
        assert not h.failed
        assert "line 0019" in log.read_text()  # still written, past the size limit
        refuse[0] = False
        h.handle(record(20))
        assert not (tmp_path / "activesec.log.1").exists()  # not retried at every record
        now[0] += logs.ROLLOVER_RETRY_S
        h.handle(record(21))
        h.handle(record(22))
    finally:
        h.close()
    assert (tmp_path / "activesec.log.1").exists()
    text = "".join(p.read_text() for p in tmp_path.glob("activesec.log*"))
    assert all(f"line {i:04d}" in text for i in range(23))  # nothing lost
    assert os.stat(log).st_size < 200
