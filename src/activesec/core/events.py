"""The one event record every layer speaks.

Batches travel as NumPy structured arrays of :data:`EVENT_DTYPE`, never as lists of objects.

Field meaning by ``kind``:

============  ==========================  ==============================================
kind          x, y                        code
============  ==========================  ==============================================
MOVE          pointer position (pixels)   0
BUTTON_DOWN   pointer position            button (1 left, 2 middle, 3 right, 8/9 side)
BUTTON_UP     pointer position            button
SCROLL        pointer position            signed steps (+ = up / right); ``HSCROLL`` flag
KEY_DOWN      x = stroke id, y = 0        key class (:class:`activesec.core.keys.KeyClass`)
KEY_UP        x = stroke id, y = 0        key class
============  ==========================  ==============================================

Keys carry a *stroke id* rather than a key identity: a press and its release share it, so dwell
times survive overlapping keystrokes (rollover) without anything on disk naming the key.
``t_ns`` is a monotonic timestamp in nanoseconds (the OS event time where the platform gives
one); wall-clock time is derived per session, so clock jumps never bend intervals.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from enum import IntEnum, IntFlag

import numpy as np

EVENT_DTYPE = np.dtype(
    [
        ("t_ns", "<i8"),
        ("kind", "u1"),
        ("flags", "u1"),
        ("device", "<u2"),
        ("x", "<i4"),
        ("y", "<i4"),
        ("code", "<i2"),
    ]
)


class Kind(IntEnum):
    MOVE = 1
    BUTTON_DOWN = 2
    BUTTON_UP = 3
    SCROLL = 4
    KEY_DOWN = 5
    KEY_UP = 6


POINTER_KINDS = (Kind.MOVE, Kind.BUTTON_DOWN, Kind.BUTTON_UP, Kind.SCROLL)
KEY_KINDS = (Kind.KEY_DOWN, Kind.KEY_UP)


class Flag(IntFlag):
    NONE = 0
    INJECTED = 1  # produced by software (XTEST, SendInput, CGEventPost), not by a device
    HSCROLL = 2  # SCROLL event on the horizontal axis
    #: with INJECTED: the pointer was *warped* — moved by software with no input at all
    #: (X11 XWarpPointer: a game's mouse look, a browser's pointer lock, Blender's continuous
    #: grab re-centring the cursor, or `xdotool mousemove`). Never the owner's movement, so
    #: never scored or trained on; and no input either, so not charged as injected input.
    WARPED = 4


class Button(IntEnum):
    LEFT = 1
    MIDDLE = 2
    RIGHT = 3
    BACK = 8
    FORWARD = 9


def empty(n: int = 0) -> np.ndarray:
    """A zeroed event array of length ``n``."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def make(
    t_ns: object,
    kind: object,
    x: object = 0,
    y: object = 0,
    code: object = 0,
    flags: object = 0,
    device: object = 0,
) -> np.ndarray:
    """Build an event array from columns (scalars broadcast)."""
    t = np.atleast_1d(np.asarray(t_ns, dtype=np.int64))
    out = empty(len(t))
    out["t_ns"] = t
    out["kind"] = kind
    out["x"] = x
    out["y"] = y
    out["code"] = code
    out["flags"] = flags
    out["device"] = device
    return out


def pointer_only(events: np.ndarray) -> np.ndarray:
    return events[np.isin(events["kind"], [int(k) for k in POINTER_KINDS])]


def keys_only(events: np.ndarray) -> np.ndarray:
    return events[np.isin(events["kind"], [int(k) for k in KEY_KINDS])]


def injected_counts(events: np.ndarray) -> tuple[int, int]:
    """(injected events, of them key events): the store's per-chunk counters, so enrolment can
    leave injected input out of either modality without decoding the events."""
    injected = (events["flags"] & int(Flag.INJECTED)) != 0
    keys = np.isin(events["kind"], [int(k) for k in KEY_KINDS])
    return int(injected.sum()), int((injected & keys).sum())


class DeviceType(IntEnum):
    """What produced pointer input: separate profiles are learnt per type."""

    UNKNOWN = 0
    MOUSE = 1
    TOUCHPAD = 2
    PEN = 3
    TOUCHSCREEN = 4
    KEYBOARD = 5
    VIRTUAL = 6  # software injection device (XTEST, uinput without a physical device)


#: Words in the names of the input hardware a hypervisor emulates for its guest — the guest
#: owner's own mouse and keyboard, although some of the names say "virtual" ("VirtualPS/2
#: VMware VMMouse", "VirtualBox mouse integration", "VMware Virtual USB Mouse").
HYPERVISOR_INPUT = ("vmware", "virtualbox", "vbox", "qemu", "hyper-v", "vmbus", "parallels",
                    "virtio", "spice", "vmmouse")


def is_hypervisor_input(name: str) -> bool:
    """Does ``name`` name input hardware a hypervisor emulates (:data:`HYPERVISOR_INPUT`)?"""
    n = name.lower()
    return any(w in n for w in HYPERVISOR_INPUT)


#: X device properties the libinput X driver (xf86-input-libinput, ``libinput-properties.h``)
#: creates only for one kind of device, and the kind: tapping, disable-while-typing and click
#: methods exist for touchpads only (libinput offers them for no other device); the tablet
#: tool's pressure curve and area ratio for a tablet's pens, the pad's mode groups for its pad;
#: a calibration matrix for absolute devices, i.e. touch screens and tablets (tablets are
#: matched first). In the order they are checked.
LIBINPUT_KIND_PROPERTIES: tuple[tuple[str, DeviceType], ...] = (
    ("libinput Tablet Tool Pressurecurve", DeviceType.PEN),
    ("libinput Tablet Tool Area Ratio", DeviceType.PEN),
    ("libinput Pad Mode Groups Modes Available", DeviceType.PEN),
    ("libinput Tapping Enabled", DeviceType.TOUCHPAD),
    ("libinput Disable While Typing Enabled", DeviceType.TOUCHPAD),
    ("libinput Click Methods Available", DeviceType.TOUCHPAD),
    ("libinput Calibration Matrix", DeviceType.TOUCHSCREEN),
)


def libinput_device_type(properties: Collection[str]) -> DeviceType | None:
    """The kind of device the libinput X driver's ``properties`` (names) show, or None
    (:data:`LIBINPUT_KIND_PROPERTIES`; another driver's devices have none of them)."""
    props = set(properties)
    for prop, kind in LIBINPUT_KIND_PROPERTIES:
        if prop in props:
            return kind
    return None


def classify_device(name: str, properties: Collection[str] = ()) -> DeviceType:
    """Guess a device type from its OS name (X11/XInput2, evdev, Windows, macOS names) and, on
    X11, its device ``properties`` (names).

    ``VIRTUAL`` (software injection: XTEST, uinput tools such as ydotool) by name, except for a
    hypervisor's emulated hardware (:data:`HYPERVISOR_INPUT`): in a virtual machine that *is*
    the owner's input, and taking it for injection distrusted every movement (evdev flags
    virtual devices as injected) or left the pointer out of training. Its pointers are mice
    — a VM's "USB Tablet" follows the host's mouse, it is no pen.

    A word naming the kind of device wins over the maker's name: laptops' ELAN and Synaptics
    parts are touchpads, but also touch screens ("ELAN2514:00 04F3:2AF1 Touchscreen"), their
    pens ("ELAN9008:00 04F3:2C82 Stylus") and ThinkPads' pointing sticks ("TPPS/2 Elan
    TrackPoint"), which until 2026-12-07 were all taken for the touchpad, so one model learnt
    a pen, a finger on the screen and a pointing stick as the touchpad. ``pen`` counts as a
    whole word ("PenMount" makes touch screens). When no such word is there, the libinput X
    driver's properties decide (:func:`libinput_device_type`): laptops' I2C touchpads are
    often named by their part number only ("GXTP7386:00 27C6:0113", "SYNA30B7:00 06CB:CE67"),
    and until 2026-12-08 were taken for mice on X11; then the maker alone ("Synaptics
    TM3276-022": a touchpad; "Wacom HID 52C2 Pen": a pen)."""
    n = name.lower()
    if is_hypervisor_input(n):
        return DeviceType.KEYBOARD if "keyboard" in n else DeviceType.MOUSE
    if "xtest" in n or "virtual" in n or "uinput" in n:
        return DeviceType.VIRTUAL
    words = set(re.findall(r"[a-z]+", n))
    if any(w in n for w in ("touchpad", "trackpad", "clickpad", "glidepoint")):
        return DeviceType.TOUCHPAD
    if any(w in n for w in ("trackpoint", "trackball", "pointing stick")):
        return DeviceType.MOUSE
    if any(w in n for w in ("stylus", "eraser")) or "pen" in words:
        return DeviceType.PEN
    if "touchscreen" in n or "touch screen" in n:
        return DeviceType.TOUCHSCREEN
    if "keyboard" in n or n.endswith(" kbd"):
        return DeviceType.KEYBOARD
    if any(w in n for w in ("mouse", "pointer")):
        return DeviceType.MOUSE
    by_driver = libinput_device_type(properties)
    if by_driver is not None:
        return by_driver
    if any(w in n for w in ("synaptics", "elan", "bcm5974", "appletouch")):
        return DeviceType.TOUCHPAD
    if any(w in n for w in ("wacom", "tablet")):
        return DeviceType.PEN
    return DeviceType.UNKNOWN


def stored_device_type(type_value: int, name: str) -> DeviceType:
    """The type of a device as recorded in the store, judged again by its name when it was
    recorded as ``VIRTUAL``: recordings made before hypervisor hardware was told apart from
    injection (2026-12-06) hold a VM owner's own mouse that way. Unknown values are UNKNOWN."""
    if type_value not in DeviceType._value2member_map_:
        return DeviceType.UNKNOWN
    t = DeviceType(type_value)
    return classify_device(name) if t == DeviceType.VIRTUAL else t


def own_input(events: np.ndarray, device_types: Mapping[int, DeviceType]) -> np.ndarray:
    """The events a person made with a device: without those flagged :attr:`Flag.INJECTED`
    (warps included) and those of ``VIRTUAL`` devices (``device_types``: index -> type, e.g.
    from :func:`stored_device_type`). What training learns from and what an evaluation of
    one's own recordings should test, as the live agent never takes the rest for the owner."""
    keep = (events["flags"] & int(Flag.INJECTED)) == 0
    virtual = [i for i, t in device_types.items() if t == DeviceType.VIRTUAL]
    if virtual:
        keep &= ~np.isin(events["device"], virtual)
    return events if keep.all() else events[keep]
