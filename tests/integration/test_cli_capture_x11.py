"""End to end under a real X server: `activesec capture` records injected input, stops cleanly
on SIGTERM, and keeps keys as classes only — proven on the database, its WAL, the logs and an
export."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.cli import cli, env_for, popen
from tests.helpers.xinject import XInjector
from tests.helpers.xserver import xdisplay  # noqa: F401  (fixture)

from activesec.core.events import Flag, Kind
from activesec.core.keys import KeyClass
from activesec.store.db import Store

SENTENCE = "the quick brown fox jumps over the lazy dog"
SECRET_WORDS = ("quick", "brown", "jumps", "lazy")


def _wait_capturing(env: dict[str, str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = cli("status", "--json", env=env)
        if r.returncode == 0 and json.loads(r.stdout)["capturing"]:
            time.sleep(1.0)  # the backend enables RECORD/XI2 right after taking the lock
            return
        time.sleep(0.2)
    raise AssertionError("capture did not start")


def _all_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


@pytest.mark.x11
def test_capture_sigterm_counts_and_privacy(xdisplay: str, tmp_path: Path) -> None:  # noqa: F811
    env = env_for(tmp_path / "home", DISPLAY=xdisplay, XDG_SESSION_TYPE="x11")
    assert cli("init", "--user", "alice", env=env).returncode == 0
    proc = popen("capture", "--quiet", env=env)
    try:
        _wait_capturing(env)
        with XInjector(xdisplay) as x:
            x.path([(100 + 7 * i, 200 + 3 * i) for i in range(60)], dt=0.01)
            x.click(1, hold_s=0.1)
            x.drag(1, [(500 + 10 * i, 500 + 3 * i) for i in range(20)], dt=0.01)
            x.scroll(dy=-2)
            x.type_text(SENTENCE)
        time.sleep(1.5)  # > flush interval: everything reported is on disk
        # a second capture is refused while this one runs
        r = cli("capture", "--duration", "1", env=env)
        assert r.returncode == 2 and "already running" in r.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, errtext = proc.communicate(timeout=30)
    assert proc.returncode == 0, errtext
    assert "Traceback" not in errtext

    home = Path(env["ACTIVESEC_HOME"])
    s = json.loads(cli("status", "--json", env=env).stdout)
    assert not s["capturing"]
    n_keys = sum(1 for c in SENTENCE)
    assert s["events"]["key_down"] == n_keys and s["events"]["key_up"] == n_keys
    assert s["events"]["button_down"] == 2 and s["events"]["button_up"] == 2  # click + drag
    assert s["events"]["scroll"] == 2
    assert s["events"]["move"] >= 50  # the server may merge a rare queued motion
    assert s["injected"] == s["events_total"]  # XTEST input is flagged as injected

    with Store.open(home / "activesec.db") as store:
        (sess,) = store.sessions()
        e = store.events(sess.id)
        devices = store.devices(sess.id)
    assert sess.screen is not None and sess.screen[0] > 0
    assert any("XTEST" in d.name for d in devices)
    assert np.all(e["flags"] & int(Flag.INJECTED))
    keys = e[np.isin(e["kind"], [Kind.KEY_DOWN, Kind.KEY_UP])]
    downs = keys[keys["kind"] == Kind.KEY_DOWN]
    expected = [KeyClass.SPACE if c == " " else KeyClass.LETTER for c in SENTENCE]
    assert downs["code"].tolist() == [int(k) for k in expected]
    # each press pairs with exactly one release (stroke ids)
    ups = keys[keys["kind"] == Kind.KEY_UP]
    assert sorted(downs["x"].tolist()) == sorted(ups["x"].tolist())

    # privacy: neither the database, its WAL, the logs nor an export holds the text
    exp = tmp_path / "export"
    assert cli("export", "--out", str(exp), env=env).returncode == 0
    # ... also with the injected input kept (all of it here: XTEST), flagged, as key classes
    flagged = tmp_path / "flagged"
    assert cli("export", "--out", str(flagged), "--with-injected", env=env).returncode == 0
    (keys_file,) = (flagged / "keys").rglob("*.csv")
    rows = keys_file.read_text().splitlines()
    assert rows[0] == "key,press,release,injected" and len(rows) == 1 + n_keys
    assert {r.split(",")[0] for r in rows[1:]} == {"letter", "space"}
    assert all(r.endswith(",1") for r in rows[1:])
    blobs = _all_bytes(home) + _all_bytes(exp) + _all_bytes(flagged)
    for needle in (SENTENCE, *SECRET_WORDS):
        assert needle.encode() not in blobs
        assert needle.encode("utf-16-le") not in blobs
    # and no text column anywhere in the schema can hold it
    con = sqlite3.connect(home / "activesec.db")
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in con.execute(f"SELECT * FROM {table}"):
                for v in row:
                    if isinstance(v, str):
                        assert not any(w in v for w in SECRET_WORDS), (table, v)
    finally:
        con.close()
    log = home / "logs" / "activesec.log"
    assert log.exists()  # the capture logged its session, without content
    text = log.read_text()
    assert not any(w in text for w in SECRET_WORDS)


@pytest.mark.x11
def test_identical_class_sequences_store_identical_codes(xdisplay: str, tmp_path: Path) -> None:  # noqa: F811
    """Two different texts with the same class pattern leave the same key codes: nothing on
    disk can tell them apart, so nothing can reconstruct them."""
    env = env_for(tmp_path / "home", DISPLAY=xdisplay, XDG_SESSION_TYPE="x11")
    assert cli("init", "--user", "alice", env=env).returncode == 0
    codes = []
    for text in ("pass word", "hunt ergo"):
        proc = popen("capture", "--quiet", env=env)
        try:
            _wait_capturing(env)
            with XInjector(xdisplay) as x:
                x.type_text(text)
            time.sleep(1.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
        with Store.open(Path(env["ACTIVESEC_HOME"]) / "activesec.db") as store:
            last = store.sessions()[-1]
            e = store.events(last.id)
        k = e[np.isin(e["kind"], [Kind.KEY_DOWN, Kind.KEY_UP])]
        codes.append((k["kind"].tolist(), k["code"].tolist()))
    assert codes[0] == codes[1]


@pytest.mark.x11
def test_pynput_keeps_the_timing_of_input_queued_while_frozen(
        xdisplay: str, tmp_path: Path) -> None:  # noqa: F811
    """A laptop's agent frozen (``kill -STOP``, swapped out, busy) while the X server queues
    input reads it all at once when it runs again: each event keeps the X server's own
    interval. Until 2026-12-07 the pynput backend re-anchored its clock on the first late
    event and stamped the whole backlog with its receive time — two seconds of movement as
    one instant."""
    env = env_for(tmp_path / "home", DISPLAY=xdisplay, XDG_SESSION_TYPE="x11")
    assert cli("init", "--user", "alice", env=env).returncode == 0
    proc = popen("capture", "--quiet", "--backend", "pynput", env=env)
    try:
        _wait_capturing(env)
        with XInjector(xdisplay) as x:
            for i in range(20):
                x.move(100 + 5 * i, 100)
                time.sleep(0.02)
            proc.send_signal(signal.SIGSTOP)
            try:
                for i in range(60):  # sent while the capture is frozen, at least 20 ms apart
                    x.move(400 + 3 * i, 300 + i)
                    time.sleep(0.02)
                time.sleep(1.5)
            finally:
                proc.send_signal(signal.SIGCONT)
            time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with Store.open(Path(env["ACTIVESEC_HOME"]) / "activesec.db") as store:
        ev = store.events(store.sessions()[-1].id)
    frozen = ev[(ev["kind"] == Kind.MOVE) & (ev["y"] >= 300) & (ev["y"] < 360)]
    assert len(frozen) == 60
    steps_ms = np.diff(frozen["t_ns"].astype(np.int64)) / 1e6
    assert steps_ms.min() >= 15, f"queued events collapsed: {steps_ms[:10]}"


def _add_master(display: str, name: str) -> None:
    """``xinput create-master NAME``: the X server adds the master pair and, like a device
    plugged in, slave devices ("NAME XTEST pointer", …) with ids of their own."""
    import struct

    from Xlib.display import Display
    from Xlib.protocol import rq

    class XIChangeHierarchy(rq.Request):  # python-xlib has no wrapper for it
        _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(),
                             rq.Card8("num_changes"), rq.Pad(3), rq.String8("changes"))

    d = Display(display)
    try:
        raw = name.encode()
        pad = (-len(raw)) % 4
        add = struct.pack("=HHHBB", 1, (8 + len(raw) + pad) // 4, len(raw), 1, 1)  # AddMaster
        XIChangeHierarchy(display=d.display,
                          opcode=d.display.get_extension_major("XInputExtension"),
                          num_changes=1, changes=add + raw + b"\0" * pad)
        d.sync()
    finally:
        d.close()


@pytest.mark.x11
def test_a_device_plugged_in_during_the_session_is_recorded_with_it(
        xdisplay: str, tmp_path: Path) -> None:  # noqa: F811
    """Docking a laptop, or a Bluetooth pen back after a resume, adds input devices hours into
    a session. The session recorded its devices only when it began, so training read the new
    device's events as an unknown device's — a mouse's, whatever it was."""
    env = env_for(tmp_path / "home", DISPLAY=xdisplay, XDG_SESSION_TYPE="x11")
    assert cli("init", "--user", "alice", env=env).returncode == 0
    proc = popen("capture", "--quiet", env=env)
    try:
        _wait_capturing(env)
        _add_master(xdisplay, "Dock")
        home = Path(env["ACTIVESEC_HOME"])
        deadline = time.monotonic() + 20
        names: list[str] = []
        while time.monotonic() < deadline and "Dock XTEST pointer" not in names:
            time.sleep(0.5)
            with Store.open(home / "activesec.db") as store:
                names = [d.name for d in store.devices(store.sessions()[-1].id)]
        assert "Dock XTEST pointer" in names, names
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
