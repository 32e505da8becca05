"""Backend selection for every kind of session, with injected environment and platform."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from activesec.capture.base import CaptureBackend
from activesec.capture.select import BACKENDS, choose_backend, create_backend
from activesec.core.errors import CaptureError


@pytest.fixture
def devices(tmp_path: Path) -> str:
    d = tmp_path / "input"
    d.mkdir()
    (d / "event0").touch()
    return str(d)


@pytest.fixture
def no_devices(tmp_path: Path) -> str:
    d = tmp_path / "empty"
    d.mkdir()
    return str(d)


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_use_pynput(platform: str, no_devices: str) -> None:
    name, why = choose_backend("auto", {}, platform, no_devices)
    assert name == "pynput" and why


def test_x11_session_uses_x11(no_devices: str) -> None:
    name, why = choose_backend("auto", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "linux",
                               no_devices)
    assert name == "x11" and "DISPLAY=:0" in why


@pytest.mark.parametrize(
    "env",
    [
        {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"},  # XWayland's DISPLAY is set too
        {"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"},
        {"XDG_SESSION_TYPE": "Wayland"},
    ],
)
def test_wayland_session_uses_evdev_and_says_why(env: dict[str, str], no_devices: str) -> None:
    name, why = choose_backend("auto", env, "linux", no_devices)
    assert name == "evdev"
    assert "XWayland" in why and "/dev/input" in why


def test_no_display_uses_readable_devices(devices: str) -> None:
    name, why = choose_backend("auto", {}, "linux", devices)
    assert name == "evdev" and "no display" in why


def test_no_display_and_no_devices_says_what_to_do(no_devices: str) -> None:
    with pytest.raises(CaptureError) as err:
        choose_backend("auto", {}, "linux", no_devices)
    assert "no display" in err.value.message and "none exist" in err.value.message
    assert "pass the input devices through" in err.value.hint
    assert "usermod" not in err.value.hint  # no device to be allowed to read


def test_no_display_and_unreadable_devices_names_the_input_group(tmp_path: Path) -> None:
    (tmp_path / "event0").symlink_to(tmp_path / "gone")  # unreadable, even for root
    with pytest.raises(CaptureError) as err:
        choose_backend("auto", {}, "linux", str(tmp_path))
    assert "1 exist but are not readable" in err.value.message
    assert "sudo usermod -aG input $USER" in err.value.hint


def test_explicit_choice_is_kept_and_validated(no_devices: str) -> None:
    assert choose_backend("pynput", {}, "linux", no_devices)[0] == "pynput"
    assert choose_backend("evdev", {"DISPLAY": ":0"}, "linux", no_devices)[0] == "evdev"
    with pytest.raises(CaptureError, match="Linux only"):
        choose_backend("x11", {}, "win32", no_devices)
    with pytest.raises(CaptureError, match="unknown capture backend 'uinput'"):
        choose_backend("uinput", {}, "linux", no_devices)
    with pytest.raises(CaptureError, match="unknown"):
        choose_backend("replay", {}, "linux", no_devices)  # needs recordings: never from config


def test_choosing_imports_no_backend_library() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from activesec.capture.select import choose_backend\n"
        "choose_backend('auto', {'DISPLAY': ':0'}, 'linux')\n"
        "bad = [m for m in ('pynput', 'Xlib', 'evdev') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", ["pynput", "evdev", "x11"])
def test_create_backend_by_name(name: str) -> None:
    backend = create_backend(name)
    assert isinstance(backend, CaptureBackend) and backend.name == name
    backend.stop()  # never started: a no-op


def test_create_backend_passes_options_and_rejects_unknown_names() -> None:
    b = create_backend("pynput", keyboard=False, platform="win32")
    assert b.keyboard is False  # type: ignore[attr-defined]
    with pytest.raises(CaptureError, match="unknown capture backend"):
        create_backend("nope")
    assert set(BACKENDS) >= {"x11", "pynput", "evdev", "replay"}


def test_create_backend_applies_capture_settings_where_supported(
        monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    from activesec.core import config, paths

    monkeypatch.setenv("ACTIVESEC_CAPTURE__KEYBOARD", "false")
    s = config.load(paths.resolve())
    b = create_backend("evdev", settings=s)
    assert (b.pointer, b.keyboard) == (True, False)  # type: ignore[attr-defined]
    assert create_backend("pynput", settings=s, keyboard=True).keyboard  # type: ignore[attr-defined]
    assert create_backend("x11", settings=s).name == "x11"  # takes neither option
    assert create_backend("evdev", settings=s).left_handed is False  # type: ignore[attr-defined]
    monkeypatch.setenv("ACTIVESEC_CAPTURE__LEFT_HANDED", "true")
    s = config.load(paths.resolve())
    assert create_backend("evdev", settings=s).left_handed is True  # type: ignore[attr-defined]
    monkeypatch.setenv("ACTIVESEC_CAPTURE__KEYBOARD_LAYOUT", "de")
    s = config.load(paths.resolve())
    b = create_backend("evdev", settings=s)
    assert b.keyboard_layout == "de"  # type: ignore[attr-defined]


def test_create_backend_reports_a_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "activesec.capture.x11", None)  # import fails
    with pytest.raises(CaptureError, match="x11 backend cannot be loaded"):
        create_backend("x11")
