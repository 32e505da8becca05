"""The X11 backend against a real X server (Xvfb) fed by real XTEST input.

What is injected must arrive: counts, coordinates, buttons, wheel steps, key classes with
press/release pairing, the injected flag and the source device, and server-time intervals
matching the injected sleeps. Nothing that names a key may reach the events.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from tests.helpers.xserver import xdisplay  # noqa: F401  (fixture)

from activesec.capture.x11 import X11Backend
from activesec.core.clock import monotonic_ns
from activesec.core.errors import CaptureError
from activesec.core.events import DeviceType, Flag, Kind
from activesec.core.keys import KeyClass

if TYPE_CHECKING:
    from tests.helpers.xinject import Stamp, XInjector

pytestmark = pytest.mark.x11

MS = 1_000_000
# Upper bounds on intervals come from the injector's own brackets around each XTEST request
# (Stamp.most_between), never from the sleeps it asked for: on a loaded machine a sleep runs
# long, and so does the bracket. The backend anchors server time once (ServerClock), so an
# interval is the difference of two server times; the slack covers the server's millisecond
# clock (a floor on each end).
SLACK_NS = 3 * MS
# X protocol event types of the injector's requests (Xlib.X; fixed by the protocol)
KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE = 2, 3, 4, 5


@contextmanager
def capturing(display: str, **kw: float) -> Iterator[list[np.ndarray]]:
    """Run the backend around the block; the list receives every batch (stop flushes)."""
    got: list[np.ndarray] = []
    backend = X11Backend(display, **kw)
    backend.start(got.append)
    try:
        yield got
    finally:
        backend.stop()
    assert backend.error is None, backend.error


def events_of(batches: list[np.ndarray]) -> np.ndarray:
    assert batches, "no batch was delivered"
    return np.concatenate(batches)


def injector(display: str) -> XInjector:
    from tests.helpers.xinject import XInjector

    return XInjector(display)


def kinds(ev: np.ndarray, *k: Kind) -> np.ndarray:
    return ev[np.isin(ev["kind"], [int(x) for x in k])]


# -- no display ---------------------------------------------------------------------------


def test_probe_without_display_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    p = X11Backend.probe()
    assert not p.available
    assert "DISPLAY" in p.reason and "evdev" in p.hint


def test_start_without_display_raises_capture_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(CaptureError) as err:
        X11Backend().start(lambda batch: None)
    assert "\n" not in str(err.value)


def test_unreachable_display_is_a_clear_probe_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    p = X11Backend.probe(":4999")
    assert not p.available and "cannot connect" in p.reason


def test_wayland_session_points_to_evdev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    p = X11Backend.probe()
    assert not p.available and "Wayland" in p.reason and "evdev" in p.hint


def test_module_imports_without_python_xlib() -> None:
    code = (
        "import sys; sys.modules['Xlib'] = None\n"
        "from activesec.capture.x11 import X11Backend\n"
        "p = X11Backend.probe(':0'); print(p.available, p.reason)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False python-xlib is not installed"


# -- real X server --------------------------------------------------------------------------


def test_probe_and_info_on_a_real_server(xdisplay: str) -> None:  # noqa: F811
    assert X11Backend.probe().available
    info = X11Backend(xdisplay).info()
    assert info.name == "x11" and info.screen == (1280, 1024)
    by_name = {d.name: d for d in info.devices}
    assert by_name["Virtual core XTEST pointer"].type == DeviceType.VIRTUAL
    assert by_name["Xvfb mouse"].type == DeviceType.MOUSE
    assert "Virtual core pointer" not in by_name  # masters never are an event's source


def test_pointer_path_arrives_with_positions_device_and_server_intervals(
    xdisplay: str,  # noqa: F811
) -> None:
    n, dt = 300, 0.004
    points = [(50 + i * 3, 100 + (i * 7) % 500) for i in range(n)]
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        before = monotonic_ns()  # the agent's clock (CLOCK_BOOTTIME on Linux)
        inj.path(points, dt)
        after = monotonic_ns()
        sent = inj.stamps
    moves = kinds(events_of(got), Kind.MOVE)
    assert 0.95 * n <= len(moves) <= n  # the server may merge a rare queued motion
    xy = list(zip(moves["x"].tolist(), moves["y"].tolist(), strict=True))
    it = iter(points)
    assert all(p in it for p in xy), "positions must be injected ones, in order"
    xtest = {d.name: d.index for d in X11Backend(xdisplay).info().devices}
    assert set(moves["device"].tolist()) == {xtest["Virtual core XTEST pointer"]}
    assert np.all(moves["flags"] & Flag.INJECTED)
    # Server time, anchored to the monotonic clock: inside the injection window, and paced.
    assert before - 2 * MS <= moves["t_ns"][0] and moves["t_ns"][-1] <= after + 2 * MS
    steps = np.diff(moves["t_ns"])
    assert np.all(steps >= 0)
    # each step is the server's time between the two requests: within their brackets
    idx = (moves["x"] - 50) // 3  # the injected point (and request) each move came from
    assert len(sent) == n and np.all(np.diff(idx) > 0)
    pairs = [(sent[i], sent[j]) for i, j in itertools.pairwise(idx.tolist())]
    least = np.asarray([a.least_between(b) for a, b in pairs])
    most = np.asarray([a.most_between(b) for a, b in pairs])
    assert np.all(least - SLACK_NS <= steps) and np.all(steps <= most + SLACK_NS)


def test_clicks_drags_and_holds(xdisplay: str) -> None:  # noqa: F811
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        inj.move(200, 300)
        inj.click(1, hold_s=0.08)
        inj.click(3, hold_s=0.15)
        inj.drag(1, [(400, 400), (420, 410), (440, 420), (460, 430)], dt=0.02)
    ev = events_of(got)
    buttons = kinds(ev, Kind.BUTTON_DOWN, Kind.BUTTON_UP)
    assert buttons["kind"].tolist() == [Kind.BUTTON_DOWN, Kind.BUTTON_UP] * 3
    assert buttons["code"].tolist() == [1, 1, 3, 3, 1, 1]
    assert buttons[["x", "y"]].tolist() == [(200, 300)] * 4 + [(400, 400), (460, 430)]
    holds = buttons["t_ns"][1::2] - buttons["t_ns"][0::2]
    sent = [st for st in inj.stamps if st.kind in (BUTTON_PRESS, BUTTON_RELEASE)]
    assert [st.detail for st in sent] == [1, 1, 3, 3, 1, 1]
    for hold, want in zip(holds, (80, 150), strict=False):
        assert want - 2 <= hold / MS  # the sleep between press and release
    for hold, press, release in zip(holds, sent[::2], sent[1::2], strict=True):
        assert hold <= press.most_between(release) + SLACK_NS
    down, up = np.flatnonzero(np.isin(ev["kind"], [Kind.BUTTON_DOWN, Kind.BUTTON_UP]))[4:6]
    dragged = ev[down + 1:up]  # in server order, between the press and the release
    assert np.all(dragged["kind"] == Kind.MOVE)
    assert dragged[["x", "y"]].tolist() == [(420, 410), (440, 420), (460, 430)]
    assert np.all(ev["flags"] & Flag.INJECTED)


def test_wheel_steps_are_scroll_events_never_clicks(xdisplay: str) -> None:  # noqa: F811
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        inj.move(640, 512)
        inj.scroll(dy=3)
        inj.scroll(dy=-2)
        inj.scroll(dx=1)
        inj.scroll(dx=-1)
    ev = events_of(got)
    assert len(kinds(ev, Kind.BUTTON_DOWN, Kind.BUTTON_UP)) == 0
    scroll = kinds(ev, Kind.SCROLL)
    assert scroll["code"].tolist() == [1, 1, 1, -1, -1, 1, -1]
    horizontal = (scroll["flags"] & Flag.HSCROLL) > 0
    assert horizontal.tolist() == [False] * 5 + [True] * 2
    assert set(scroll[["x", "y"]].tolist()) == {(640, 512)}


def _expected_classes(text: str) -> list[int]:
    """Key-down classes XTest typing produces: Shift before capitals and shifted symbols."""
    out = []
    for c in text:
        if c.isupper() or c in "!?:\"":
            out.append(KeyClass.MODIFIER)
        if c.isalpha():
            out.append(KeyClass.LETTER)
        elif c.isdigit():
            out.append(KeyClass.DIGIT)
        elif c == " ":
            out.append(KeyClass.SPACE)
        else:
            out.append(KeyClass.PUNCTUATION)
    return [int(k) for k in out]


def _strokes_paired(keys: np.ndarray) -> dict[int, tuple[int, int, int]]:
    """stroke id -> (class, down t_ns, up t_ns); asserts one down and one up per stroke."""
    out: dict[int, tuple[int, int, int]] = {}
    for sid in np.unique(keys["x"]):
        s = keys[keys["x"] == sid]
        assert s["kind"].tolist() == [Kind.KEY_DOWN, Kind.KEY_UP], f"stroke {sid}"
        assert s["code"][0] == s["code"][1]
        out[int(sid)] = (int(s["code"][0]), int(s["t_ns"][0]), int(s["t_ns"][1]))
    return out


def _requested_strokes(stamps: list[Stamp]) -> tuple[list[Stamp], list[Stamp]]:
    """The injected key presses in order, and the release of each (same keycode, next)."""
    presses = [st for st in stamps if st.kind == KEY_PRESS]
    releases = []
    for p in presses:
        after = stamps[stamps.index(p) + 1:]
        releases.append(next(st for st in after
                             if st.kind == KEY_RELEASE and st.detail == p.detail))
    return presses, releases


def test_typed_text_arrives_as_classes_with_paired_strokes(xdisplay: str) -> None:  # noqa: F811
    text = "Hello World, 42 is it?"
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        inj.type_text(text, hold_s=0.04, gap_s=0.03)
    keys = kinds(events_of(got), Kind.KEY_DOWN, Kind.KEY_UP)
    downs = keys[keys["kind"] == Kind.KEY_DOWN]
    assert downs["code"].tolist() == _expected_classes(text)
    strokes = _strokes_paired(keys)
    assert len(strokes) == len(downs)
    dwell = [(up - down) / MS for cls, down, up in strokes.values() if cls != KeyClass.MODIFIER]
    assert float(np.median(dwell)) >= 38
    # every stroke's hold (Shift's too) is no longer than its requests' brackets allow
    presses, releases = _requested_strokes(inj.stamps)
    assert len(presses) == len(strokes)
    for (_, down, up), press, release in zip(
            [strokes[k] for k in sorted(strokes)], presses, releases, strict=True):
        assert up - down <= press.most_between(release) + SLACK_NS
    assert np.all(keys["y"] == 0)
    assert np.all(keys["flags"] & Flag.INJECTED)


def test_overlapping_keystrokes_pair_by_key(xdisplay: str) -> None:  # noqa: F811
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        inj.key_down("a")
        time.sleep(0.03)
        inj.key_down("s")
        time.sleep(0.03)
        inj.key_up("a")
        time.sleep(0.03)
        inj.key_up("s")
    keys = kinds(events_of(got), Kind.KEY_DOWN, Kind.KEY_UP)
    assert keys["kind"].tolist() == [Kind.KEY_DOWN, Kind.KEY_DOWN, Kind.KEY_UP, Kind.KEY_UP]
    a, s = int(keys["x"][0]), int(keys["x"][1])
    assert a != s and keys["x"].tolist() == [a, s, a, s]
    dwell_a = keys["t_ns"][2] - keys["t_ns"][0]
    assert dwell_a / MS >= 58  # two sleeps between a's press and release
    down_a, _, up_a, _ = inj.stamps
    assert dwell_a <= down_a.most_between(up_a) + SLACK_NS


def test_held_key_is_one_stroke_despite_server_autorepeat(xdisplay: str) -> None:  # noqa: F811
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        inj.key("x", hold_s=0.9)  # past the X server's 660 ms auto-repeat delay
    keys = kinds(events_of(got), Kind.KEY_DOWN, Kind.KEY_UP)
    assert keys["kind"].tolist() == [Kind.KEY_DOWN, Kind.KEY_UP]
    hold = keys["t_ns"][1] - keys["t_ns"][0]
    assert hold / MS >= 895  # the whole hold: auto-repeat neither split nor restarted it
    down, up = inj.stamps
    assert hold <= down.most_between(up) + SLACK_NS


def test_no_key_identity_reaches_the_events(xdisplay: str) -> None:  # noqa: F811
    """Two different texts with the same class structure give identical events but time."""
    with injector(xdisplay) as inj:
        runs = []
        for text in ("abc de", "xyz qw"):
            with capturing(xdisplay) as got:
                inj.type_text(text, hold_s=0.02, gap_s=0.02)
            ev = events_of(got)
            runs.append(ev[["kind", "flags", "device", "x", "y", "code"]].tolist())
    assert runs[0] == runs[1]
    assert len(runs[0]) == 12


def test_letters_of_a_non_latin_layout_are_letters(xdisplay: str) -> None:  # noqa: F811
    """A Russian-only layout maps the letter keys to legacy Cyrillic keysyms (0x6c6 on the
    A key), which python-xlib cannot name: they were OTHER, so a Russian typist had no
    letters. Greek and Hebrew alike; Return keeps its class."""
    from Xlib import XK
    from Xlib.display import Display

    for group in ("cyrillic", "greek", "hebrew"):
        XK.load_keysym_group(group)
    d = Display(xdisplay)
    try:  # the A, S and D keys (keycodes 38-40 on Xvfb's evdev keymap) become ф, ы, в / α / א
        lower = [XK.string_to_keysym(n) for n in ("Cyrillic_ef", "Greek_alpha", "hebrew_aleph")]
        upper = [XK.string_to_keysym(n) for n in ("Cyrillic_EF", "Greek_ALPHA", "hebrew_aleph")]
        assert all(lower) and all(upper)
        d.change_keyboard_mapping(38, [(lo, up) for lo, up in zip(lower, upper, strict=True)])
        d.sync()
    finally:
        d.close()
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        for name in ("Cyrillic_ef", "Greek_alpha", "hebrew_aleph", "Return"):
            inj.key(name, hold_s=0.03)
            time.sleep(0.03)
    keys = kinds(events_of(got), Kind.KEY_DOWN)
    assert keys["code"].tolist() == [KeyClass.LETTER] * 3 + [KeyClass.ENTER]


def test_altgr_dead_keys_and_left_tab_of_european_layouts_have_their_class(
    xdisplay: str,  # noqa: F811
) -> None:
    """German QWERTZ and French AZERTY map Right Alt to ISO_Level3_Shift (AltGr) and have
    dead keys (dead_circumflex, dead_acute); Shift+Tab is ISO_Left_Tab. python-xlib names
    none of these keysyms unless its XKB group is loaded: they were OTHER, so a German
    typist's AltGr was no modifier. Keycodes 24-27 (Q W E R on Xvfb's keymap) take them."""
    from Xlib import XK
    from Xlib.display import Display

    XK.load_keysym_group("xkb")
    names = ("ISO_Level3_Shift", "dead_circumflex", "dead_acute", "ISO_Left_Tab")
    syms = [XK.string_to_keysym(n) for n in names]
    assert all(syms)
    d = Display(xdisplay)
    try:
        d.change_keyboard_mapping(24, [(s, s) for s in syms])
        d.sync()
    finally:
        d.close()
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        for name in names:
            inj.key(name, hold_s=0.03)
            time.sleep(0.03)
    keys = kinds(events_of(got), Kind.KEY_DOWN)
    want = [KeyClass.MODIFIER, KeyClass.PUNCTUATION, KeyClass.PUNCTUATION, KeyClass.NAVIGATION]
    assert keys["code"].tolist() == want


def test_a_second_layout_switched_to_mid_session_types_its_own_classes(
    xdisplay: str,  # noqa: F811
) -> None:
    """Two layouts, "us,ru", switched by a key (ISO_Next_Group): the core keymap holds the
    Russian group in each key's 3rd and 4th keysyms. The semicolon key types ж in the Russian
    group: a letter there, punctuation in the US one. Only group 1 was read, so a Russian
    typist's ж э х ъ б ю ё were punctuation."""
    from Xlib import XK
    from Xlib.display import Display

    for group in ("cyrillic", "xkb"):
        XK.load_keysym_group(group)
    names = ("semicolon", "colon", "Cyrillic_zhe", "Cyrillic_ZHE", "ISO_Next_Group")
    semi, colon, zhe, zhe_upper, next_group = (XK.string_to_keysym(n) for n in names)
    assert all((semi, colon, zhe, zhe_upper, next_group))
    d = Display(xdisplay)
    try:  # keycode 47: the semicolon key on Xvfb's keymap; 24 (Q) switches the layout
        d.change_keyboard_mapping(47, [(semi, colon, zhe, zhe_upper)])
        d.change_keyboard_mapping(24, [(next_group,) * 4])
        d.sync()
    finally:
        d.close()
    with injector(xdisplay) as inj, capturing(xdisplay) as got:
        for _ in range(2):  # semicolon in US, switch, ж in Russian, switch back
            inj.key("semicolon", hold_s=0.03)
            time.sleep(0.03)
            inj.key("ISO_Next_Group", hold_s=0.03)
            time.sleep(0.03)
    keys = kinds(events_of(got), Kind.KEY_DOWN)
    want = [KeyClass.PUNCTUATION, KeyClass.MODIFIER, KeyClass.LETTER, KeyClass.MODIFIER]
    assert keys["code"].tolist() == want


def test_pointer_warp_without_a_device_is_flagged_a_warp(xdisplay: str) -> None:  # noqa: F811
    """`xdotool mousemove` warps the pointer (XWarpPointer, as a game re-centring the cursor
    does): no input device produced that motion — injected, and a warp."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool not installed (apt-get install xdotool)")
    with capturing(xdisplay) as got:
        subprocess.run(["xdotool", "mousemove", "321", "123"], check=True, timeout=30,
                       env={**os.environ, "DISPLAY": xdisplay})
    moves = kinds(events_of(got), Kind.MOVE)
    assert moves[["x", "y"]].tolist()[-1] == (321, 123)
    assert moves["device"][-1] == 0
    assert moves["flags"][-1] == Flag.INJECTED | Flag.WARPED


def test_a_failing_sink_does_not_end_capture(xdisplay: str) -> None:  # noqa: F811
    delivered: list[np.ndarray] = []

    def sink(batch: np.ndarray) -> None:
        if not delivered:
            delivered.append(batch[:0])
            raise RuntimeError("disk full")
        delivered.append(batch)

    backend = X11Backend(xdisplay)
    backend.start(sink)
    with injector(xdisplay) as inj:
        inj.move(10, 10)
        time.sleep(0.1)  # first batch (fails)
        inj.path([(20 + i, 20) for i in range(20)], 0.005)
    backend.stop()
    assert isinstance(backend.error, RuntimeError) and backend.stats.sink_errors == 1
    later = np.concatenate(delivered)
    assert later[["x", "y"]].tolist()[-1] == (39, 20)
    assert not backend.running


def test_start_twice_is_refused_and_stop_is_idempotent(xdisplay: str) -> None:  # noqa: F811
    backend = X11Backend(xdisplay)
    backend.start(lambda b: None)
    try:
        with pytest.raises(CaptureError):
            backend.start(lambda b: None)
    finally:
        backend.stop()
    backend.stop()
    assert not backend.running and backend.error is None


def test_capture_survives_restart_on_the_same_server(xdisplay: str) -> None:  # noqa: F811
    counts = []
    with injector(xdisplay) as inj:
        for i in range(2):
            with capturing(xdisplay) as got:
                inj.move(100 + i, 100)
            counts.append(kinds(events_of(got), Kind.MOVE)[["x", "y"]].tolist())
    assert counts == [[(100, 100)], [(101, 100)]]


def test_losing_the_x_server_is_reported_not_silent(xdisplay: str) -> None:  # noqa: F811
    from tests.helpers.xserver import SERVER_PIDS

    backend = X11Backend(xdisplay)
    backend.start(lambda b: None)
    os.kill(SERVER_PIDS[xdisplay], 9)
    deadline = time.monotonic() + 10
    while backend.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not backend.running
    assert isinstance(backend.error, CaptureError) and "X11 capture stopped" in str(backend.error)
    backend.stop()


def _add_master_device(display: str, name: str) -> None:
    """XIChangeHierarchy(AddMaster): the server creates ``name`` pointer/keyboard masters and
    their own "<name> XTEST pointer/keyboard" slaves — a device plugged in during capture."""
    from Xlib.display import Display
    from Xlib.protocol import rq

    class AddMaster(rq.Request):
        _request = rq.Struct(
            rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(), rq.Card8("num_changes"),
            rq.Pad(3), rq.Card16("type"), rq.Card16("length"), rq.Card16("name_len"),
            rq.Card8("send_core"), rq.Card8("enable"), rq.String8("name", 4),
        )

    d = Display(display)
    encoded = name.encode()
    AddMaster(display=d.display, opcode=d.display.get_extension_major("XInputExtension"),
              num_changes=1, type=1, length=2 + (len(encoded) + 3) // 4,
              name_len=len(encoded), send_core=1, enable=1, name=encoded)
    d.sync()
    d.close()


def test_devices_appearing_during_capture_are_listed(xdisplay: str) -> None:  # noqa: F811
    backend = X11Backend(xdisplay)
    backend.start(lambda b: None)
    try:
        assert "Second XTEST pointer" not in {d.name for d in backend.info().devices}
        _add_master_device(xdisplay, "Second")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            names = {d.name: d.type for d in backend.info().devices}
            if "Second XTEST pointer" in names:
                break
            time.sleep(0.05)
        assert names.get("Second XTEST pointer") == DeviceType.VIRTUAL
    finally:
        backend.stop()
    assert backend.error is None



def _master_id(d: Any, name: str) -> int:
    from Xlib.ext import xinput

    for info in d.xinput_query_device(xinput.AllDevices).devices:
        n = info.name.decode() if isinstance(info.name, bytes) else str(info.name)
        if n == f"{name} pointer" and info.use == xinput.MasterPointer:
            return int(info.deviceid)
    raise AssertionError(f"no master pointer {name!r}")


def _remove_master_device(display: str, name: str) -> None:
    """XIChangeHierarchy(RemoveMaster): ``name``'s masters and XTEST slaves go — a device
    unplugged; the X server hands their ids to the next devices added."""
    from Xlib.display import Display
    from Xlib.protocol import rq

    class RemoveMaster(rq.Request):
        _request = rq.Struct(
            rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(), rq.Card8("num_changes"),
            rq.Pad(3), rq.Card16("type"), rq.Card16("length"), rq.Card16("deviceid"),
            rq.Card8("return_mode"), rq.Pad(1), rq.Card16("return_pointer"),
            rq.Card16("return_keyboard"),
        )

    d = Display(display)
    RemoveMaster(display=d.display, opcode=d.display.get_extension_major("XInputExtension"),
                 num_changes=1, type=2, length=3, deviceid=_master_id(d, name),
                 return_mode=2, return_pointer=0, return_keyboard=0)  # 2: Floating
    d.sync()
    d.close()


def _move_through(display: str, master: str, xs: range) -> None:
    """Pointer motion injected through ``master``'s own "<master> XTEST pointer" (XTEST input
    comes from the XTEST device of the injecting client's pointer: XISetClientPointer)."""
    from Xlib import X
    from Xlib.display import Display
    from Xlib.ext import xtest
    from Xlib.protocol import rq

    class SetClientPointer(rq.Request):
        _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(44), rq.RequestLength(),
                             rq.Card32("window"), rq.Card16("deviceid"), rq.Pad(2))

    d = Display(display)
    SetClientPointer(display=d.display, opcode=d.display.get_extension_major("XInputExtension"),
                     window=0, deviceid=_master_id(d, master))
    for x in xs:
        xtest.fake_input(d, X.MotionNotify, x=x, y=300)
        d.sync()
        time.sleep(0.01)
    d.close()


def _wait_listed(backend: X11Backend, name: str) -> dict[str, int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        index = {d.name: d.index for d in backend.info().devices}
        if name in index:
            return index
        time.sleep(0.05)
    raise AssertionError(f"{name!r} never listed: {index}")


def test_a_device_reusing_an_unplugged_devices_id_gets_an_index_of_its_own(
        xdisplay: str) -> None:  # noqa: F811
    """Unplug a mouse, plug a pen: the X server gives the pen the mouse's freed id. The events
    carried that id and the session kept the first device's type for it (the store keeps a
    session's first entry per index), so training read the pen's strokes as the mouse's."""
    got: list[np.ndarray] = []
    backend = X11Backend(xdisplay)
    backend.start(got.append)
    try:
        _add_master_device(xdisplay, "Mouse")
        first = _wait_listed(backend, "Mouse XTEST pointer")["Mouse XTEST pointer"]
        _move_through(xdisplay, "Mouse", range(100, 150, 5))
        _remove_master_device(xdisplay, "Mouse")
        _add_master_device(xdisplay, "Pen")
        listed = _wait_listed(backend, "Pen XTEST pointer")
        _move_through(xdisplay, "Pen", range(400, 450, 5))
        time.sleep(0.5)
    finally:
        backend.stop()
    assert backend.error is None
    second = listed["Pen XTEST pointer"]
    assert second != first, "the new device took the unplugged one's index"
    ev = events_of(got)
    moves = kinds(ev, Kind.MOVE)
    assert set(moves["device"][moves["x"] < 300].tolist()) == {first}
    assert set(moves["device"][moves["x"] >= 400].tolist()) == {second}


def test_the_libinput_drivers_properties_are_read_from_the_server(
        xdisplay: str) -> None:  # noqa: F811
    """Touchpads named by their part only ("GXTP7386:00 27C6:0113") are told by the libinput X
    driver's properties. Xvfb has no libinput device and none whose name says nothing: here a
    client gives the Xvfb mouse a touchpad's property, which the backend must read from the
    server — and the mouse's name still wins (the classification itself, on the properties
    the driver gives each kind of device: tests/unit/test_x11_devices.py)."""
    from Xlib import Xatom
    from Xlib.display import Display

    from activesec.capture.x11 import _devices, _kind_atoms, _kind_properties

    d = Display(xdisplay)
    try:
        mouse = next(dev for dev in _devices(d) if dev.name == "Xvfb mouse")
        assert _kind_properties(d, mouse.index, _kind_atoms(d)) == []
        tap = d.intern_atom("libinput Tapping Enabled")
        d.xinput_change_device_property(mouse.index, tap, Xatom.INTEGER, 0, (8, b"\x01"))
        d.sync()
        assert _kind_properties(d, mouse.index, _kind_atoms(d)) == ["libinput Tapping Enabled"]
        assert _kind_properties(d, 999, _kind_atoms(d)) == []  # a device gone meanwhile
    finally:
        d.close()
    backend = X11Backend(xdisplay)
    assert {dev.name: dev.type for dev in backend.info().devices}["Xvfb mouse"] == (
        DeviceType.MOUSE)
