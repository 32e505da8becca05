"""Which capture backend fits this session, and why (``capture.backend = "auto"``).

=======================================  =========  ==========================================
session                                  backend    why
=======================================  =========  ==========================================
Windows                                  pynput     low-level hooks (WH_MOUSE_LL/WH_KEYBOARD_LL)
macOS                                    pynput     Quartz event taps
Linux, Wayland (WAYLAND_DISPLAY or       evdev      X11 capture would only see the input sent
XDG_SESSION_TYPE=wayland)                           to XWayland clients; the compositor shows
                                                    nothing else to other clients
Linux, X11 (DISPLAY)                     x11        RECORD + XInput2: server times, injected flag
Linux, no display, readable devices      evdev      a console or a headless seat
Linux, no display, no devices            —          :class:`CaptureError` saying what to do
=======================================  =========  ==========================================

Backends are imported lazily by module path, so choosing never imports pynput or Xlib.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Mapping
from typing import Any

from activesec.capture.base import CaptureBackend
from activesec.core.errors import CaptureError

__all__ = ["BACKENDS", "LIVE_BACKENDS", "choose_backend", "create_backend", "is_wayland"]

BACKENDS: dict[str, str] = {
    "x11": "activesec.capture.x11:X11Backend",
    "pynput": "activesec.capture.pynput_backend:PynputBackend",
    "evdev": "activesec.capture.evdev_backend:EvdevBackend",
    "replay": "activesec.capture.replay:ReplayBackend",  # never chosen automatically
}
LIVE_BACKENDS = ("x11", "pynput", "evdev")  # what capture.backend may name
_LINUX_ONLY = ("x11", "evdev")

_WAYLAND_WHY = (
    "Wayland session: an X11 listener would only see input sent to XWayland windows, "
    "so input is read from /dev/input"
)


def is_wayland(env: Mapping[str, str]) -> bool:
    return bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE", "").lower() == "wayland"


def choose_backend(
    settings_backend: str = "auto",
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    dev_dir: str = "/dev/input",
) -> tuple[str, str]:
    """``(backend name, one-line reason)`` for this session; raises :class:`CaptureError` when
    nothing can capture here."""
    name = (settings_backend or "auto").strip().lower()
    if name != "auto":
        if name not in LIVE_BACKENDS:
            raise CaptureError(
                f"unknown capture backend '{settings_backend}'",
                f"set capture.backend to one of: auto, {', '.join(LIVE_BACKENDS)}",
                permanent=True,  # a config value: no retry changes it
            )
        if name in _LINUX_ONLY and not platform.startswith("linux"):
            raise CaptureError(
                f"the {name} backend runs on Linux only (this is {platform})",
                "set capture.backend = \"auto\" (pynput on Windows and macOS)",
                permanent=True,
            )
        return name, "chosen in the configuration (capture.backend)"
    if platform == "win32":
        return "pynput", "Windows: low-level mouse and keyboard hooks through pynput"
    if platform == "darwin":
        return "pynput", "macOS: Quartz event taps through pynput"
    if is_wayland(env):
        return "evdev", _WAYLAND_WHY
    display = env.get("DISPLAY")
    if display:
        return "x11", f"X11 session (DISPLAY={display}): RECORD and XInput2"
    from activesec.capture.evdev_backend import readable_devices

    readable, unreadable = readable_devices(dev_dir)
    if readable:
        return "evdev", f"no display: reading {len(readable)} devices under {dev_dir}"
    why = f"{len(unreadable)} exist but are not readable" if unreadable else "none exist"
    raise CaptureError(
        f"no display (DISPLAY and WAYLAND_DISPLAY are unset) and no readable "
        f"{dev_dir}/event* devices ({why})",
        "run inside the desktop session, or add your user to the 'input' group "
        "(sudo usermod -aG input $USER) and log in again" if unreadable else
        "run inside the desktop session (in a container or VM without one, pass the input "
        "devices through)",
    )


def create_backend(name: str, settings: Any = None, **kw: Any) -> CaptureBackend:
    """Instantiate backend ``name``; keyword arguments go to its constructor.

    With ``settings``, ``capture.pointer`` / ``capture.keyboard`` / ``capture.left_handed`` are
    passed to backends whose constructor takes them (explicit keywords win).
    """
    try:
        target = BACKENDS[name]
    except KeyError:
        raise CaptureError(
            f"unknown capture backend '{name}'", f"use one of: {', '.join(BACKENDS)}"
        ) from None
    module_name, _, cls_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise CaptureError(
            f"the {name} backend cannot be loaded: {exc}",
            "reinstall activesec with its dependencies (pip install activesec)",
        ) from None
    if settings is not None:
        params = inspect.signature(cls).parameters
        for opt in ("pointer", "keyboard", "left_handed"):
            if opt in params and opt not in kw:
                kw[opt] = bool(getattr(settings.capture, opt))
        if "keyboard_layout" in params and "keyboard_layout" not in kw:
            kw["keyboard_layout"] = str(settings.capture.keyboard_layout)
    backend = cls(**kw)
    if not isinstance(backend, CaptureBackend):  # pragma: no cover - a broken registry entry
        raise CaptureError(f"{target} is not a capture backend")
    return backend
