"""A laptop owner's second kind of pointing device, end to end: the real ``activesec run``
(pynput backend, whose X11 input is not told apart by device: an unknown pointer, scored and
trained as a mouse) on Xvfb, with a profile enrolled on a touchpad only.

The README says the running agent trains a new kind of pointing device by itself
(``train --new``); until 2026-12-07 any pointer model counted as "the pointer's", so the
mouse stayed unscored for good, and ``status`` did not say so.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import dataset
from tests.helpers.cli import cli, env_for, popen
from tests.helpers.xserver import xdisplay  # noqa: F401  (fixture)
from tests.integration.test_e2e_agent import OWNER, _excerpt, _inject, _labelled_tests

from activesec.capture.base import Device
from activesec.core.events import DeviceType
from activesec.recordings import iter_balabit
from activesec.store.db import Store

TOUCHPAD = Device(0, "SynPS/2 Synaptics TouchPad", DeviceType.TOUCHPAD)


def _touchpad_profile(home: Path) -> dict[str, str]:
    """A profile whose owner's recordings all come from a touchpad, trained by the real
    ``activesec train``."""
    env = env_for(home)
    assert cli("init", "--user", "owner", env=env).returncode == 0
    (home / "config.toml").write_text("""
user = "owner"
[capture]
backend = "pynput"
[enrol]
pointer_events = 1400
[train]
auto = true
[actions]
on_notify = []
on_lock = []
on_gate = []
""")
    with Store.open(home / "activesec.db") as store:
        wall = time.time_ns() - 3600 * 10**9
        for rec in list(iter_balabit(dataset("balabit"), "training", [OWNER]))[:2]:
            ev = rec.events[:20_000].copy()
            ev["device"] = 0
            t0 = int(ev["t_ns"][0])
            sid = store.begin_session("owner", "x11", devices=[TOUCHPAD], wall_ns=wall,
                                      mono_ns=t0)
            store.append(sid, ev)
            store.end_session(sid, wall + int(ev["t_ns"][-1]) - t0)
            store.commit()
            wall += int(ev["t_ns"][-1]) - t0 + 60 * 10**9
    r = cli("train", "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [m.name for m in (home / "models").iterdir() if m.is_dir()] == ["pointer-touchpad"]
    return env


def _status(env: dict[str, str]) -> dict[str, Any]:
    r = cli("status", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def _models(st: dict[str, Any]) -> list[str]:
    return sorted(m["name"] for m in st["models"])


def _wait(env: dict[str, str], pred: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    st = _status(env)
    while not pred(st):
        if time.monotonic() > deadline:
            raise AssertionError(f"status never matched: {st['agent']}, models {_models(st)}")
        time.sleep(0.5)
        st = _status(env)
    return st


@pytest.mark.x11
def test_a_mouse_after_enrolling_on_the_touchpad_is_said_and_enrolled_by_itself(
        xdisplay: str, tmp_path: Path) -> None:  # noqa: F811
    env = _touchpad_profile(tmp_path / "home")
    proc = popen("run", env={**env, "DISPLAY": xdisplay, "XDG_SESSION_TYPE": "x11"})
    try:
        _wait(env, lambda st: st["agent"]["running"] and st["agent"]["state"] == "trained", 30)
        owner = _labelled_tests(dataset("balabit"), OWNER, True)[1].events
        assert _inject(xdisplay, _excerpt(owner, 60.0)) > 1400
        # said while it waits for its next round (every 10 s) to train the mouse
        st = _wait(env, lambda st: (st["agent"]["unscored_pointer"] or {}).get(
            "pointer:mouse", 0) >= 1400 or "pointer-mouse" in _models(st), 20)
        if "pointer-mouse" not in _models(st):
            text = " ".join(cli("status", env=env).stdout.split())
            assert "unscored mouse:" in text, text
        # the agent trains the mouse by itself (`train --new`); the touchpad's model stays
        st = _wait(env, lambda st: "pointer-mouse" in _models(st), 120)
        assert _models(st) == ["pointer-mouse", "pointer-touchpad"]
        assert st["agent"]["last_decision"] is None  # the touchpad's model judged no mouse
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except Exception:
            proc.kill()
            proc.communicate()
