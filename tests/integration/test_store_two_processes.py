"""A process that keeps the store open and opens it again meanwhile (the agent's housekeeping
does, every few seconds) must keep SQLite's locks on it.

Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
included. A header read with a plain ``open()`` while the agent's writer held its connection
let the next CLI command's close checkpoint and delete the WAL under the agent: ``resume``
never reached it, and everything it wrote afterwards went into a deleted file. Found by a
walk-through (pause, resume, click: the click was discarded, nothing stored until restart).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tests.helpers.cli import cli, env_for

from activesec.core.events import Kind, make
from activesec.store.db import Store


def test_another_process_reaches_a_store_this_one_reopened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_for(home)
    assert cli("init", "--user", "alice", env=env).returncode == 0
    db = home / "activesec.db"
    live = Store.open(db)  # the agent's writer: open for the whole run
    try:
        sid = live.begin_session("alice", "test", wall_ns=time.time_ns(), mono_ns=0)
        for _ in range(2):  # the agent's housekeeping: open, read, close
            with Store.open(db, check=False) as other:
                other.wipe_generation()
        assert cli("pause", env=env).returncode == 0  # another process: opens, writes, closes
        assert live.control_state() == (True, 0)
        assert cli("resume", env=env).returncode == 0
        assert live.control_state() == (False, 0)  # was (True, 0): a stale, deleted WAL
        t = np.arange(1, 51, dtype=np.int64) * 10_000_000
        live.append(sid, make(t, Kind.MOVE, x=t // 10**6, y=5))
        live.commit()
        assert Path(f"{db}-wal").exists()
    finally:
        live.close()
    with Store.open(db) as fresh:  # what it wrote after the other's close is in the file
        assert len(fresh.events(sid)) == 50
        assert fresh.integrity_check() == "ok"
