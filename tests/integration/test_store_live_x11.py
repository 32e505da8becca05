"""A real capture into a real store: Xvfb, the X11 backend, XTest input, the CaptureRunner, and
`pause`/`resume`/`wipe` issued from another connection (as the CLI does) while it runs.

Waiting here is on conditions (the runner's live stats), never on fixed sleeps asserted as
timings; the X server may merge a rare queued motion, so counts allow a small loss.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.xinject import XInjector
from tests.helpers.xserver import xdisplay  # noqa: F401  (fixture)

from activesec.capture.runner import CaptureRunner, LiveStats
from activesec.core.clock import SystemClock
from activesec.core.config import Settings
from activesec.core.events import Flag, Kind
from activesec.store.db import Store

pytestmark = pytest.mark.x11


def _until(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _live(r: CaptureRunner) -> LiveStats:
    st = r.stats
    assert st is not None
    return st


def test_pause_resume_and_wipe_reach_a_running_capture(
    xdisplay: str,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    from activesec.capture.x11 import X11Backend  # needs python-xlib: after the fixture's skip

    db = tmp_path / "data" / "activesec.db"
    r = CaptureRunner(X11Backend(), db, Settings.model_validate({"user": "alice"}), SystemClock(),
                      app_probe=lambda: "xterm")
    result: dict[str, object] = {}

    def drive() -> None:
        try:
            _until(lambda: r.stats is not None, "capture to start")
            with XInjector(xdisplay) as x, Store.open(db) as cli:
                def segment(y: int) -> None:
                    x.path([(100 + 5 * i, y) for i in range(100)], dt=0.004)

                def primed() -> bool:  # the backend listens once a move gets through
                    x.move(50, 50 + int(time.monotonic() * 100) % 100)
                    return _live(r).received > 0

                _until(primed, "the backend to deliver input")
                base = _live(r).received
                segment(200)  # stored
                # committed before pausing: a pause also discards what still waits in the
                # queue (it cannot tell input from just before the command from just after)
                _until(lambda: _live(r).stored >= base + 95, "the first segment to be stored")
                cli.set_paused(True)
                _until(lambda: _live(r).paused, "the pause to be seen")
                segment(400)  # discarded
                _until(lambda: _live(r).paused_discarded >= 95, "paused input to be counted")
                cli.set_paused(False)
                _until(lambda: not _live(r).paused, "the resume to be seen")
                segment(600)  # stored
                _until(lambda: _live(r).stored >= base + 190, "the third segment to be stored")
                result["before_wipe"] = _live(r).session_id
                cli.wipe()
                _until(lambda: _live(r).session_id not in (None, result["before_wipe"]),
                       "a new session after the wipe")
                segment(800)  # stored in the new session
                _until(lambda: _live(r).stored >= base + 285, "the last segment to be stored")
        except BaseException as exc:  # surfaced by the main thread
            result["error"] = exc
        finally:
            r.stop()

    t = threading.Thread(target=drive)
    t.start()
    final = r.run(duration_s=60)
    t.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    assert final.error is None and final.dropped == 0

    with Store.open(db) as s:
        (info,) = s.sessions()  # the wipe took the first session with it
        assert info.id != result["before_wipe"] and info.ended_wall_ns is not None
        ev = s.events(info.id)
        assert s.apps(info.id) == [(s.apps(info.id)[0][0], "xterm")]
        assert s.counts()["paused_discarded"] == 0  # counters were wiped too
    moves = ev[ev["kind"] == Kind.MOVE]
    assert set(np.unique(moves["y"]).tolist()) == {800}  # nothing from before the wipe
    assert len(moves) >= 95
    assert np.all(moves["flags"] & Flag.INJECTED)
