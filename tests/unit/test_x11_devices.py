"""X11 devices without an X server: the index each device's events carry (an X id the server
hands to the next device plugged in must not carry the first device's type), and the kind of
device the libinput X driver's properties tell when the name does not."""

from __future__ import annotations

import numpy as np
import pytest

from activesec.capture.base import Device
from activesec.capture.x11 import REUSED_ID_BASE, DeviceIndex
from activesec.core.events import DeviceType, classify_device

MOUSE = Device(10, "Logitech USB Optical Mouse", DeviceType.MOUSE)
PEN = Device(10, "Wacom HID 52C2 Pen", DeviceType.PEN)
KBD = Device(7, "AT Translated Set 2 keyboard", DeviceType.KEYBOARD)


def test_a_device_reusing_an_x_id_gets_its_own_index_and_keeps_its_type() -> None:
    ids = DeviceIndex()
    assert ids.assign([KBD, MOUSE]) == [KBD, MOUSE]  # first use of an id: the id itself
    assert ids.assign([KBD]) == [KBD]  # the mouse unplugged
    pen = ids.assign([KBD, PEN])[1]  # a pen plugged in: the X server reuses id 10
    assert pen.index >= REUSED_ID_BASE and pen.type == DeviceType.PEN
    assert ids.remap[np.array([10, 7])].tolist() == [pen.index, 7]  # its events follow
    # the mouse back (the same device: its index again), then the pen once more
    assert ids.assign([KBD, MOUSE]) == [KBD, MOUSE]
    assert ids.assign([KBD, PEN])[1] == pen
    other = ids.assign([Device(10, "ELAN Touchpad", DeviceType.TOUCHPAD)])[0]
    assert other.index not in (10, pen.index)


# The X device properties the libinput X driver (xf86-input-libinput) gives each kind of device,
# written down from its documentation and source (include/libinput-properties.h for the names;
# LibinputInitProperty in src/xf86libinput.c for which device gets which: tapping only where
# libinput reports tap fingers, i.e. touchpads; disable-while-typing and click methods where
# libinput offers them, touchpads; the calibration matrix for touch screens and tablets; the
# pressure curve and area ratio for a tablet's tools; no acceleration or left-handed setting
# for tablets). No Xvfb device has these (Xvfb has no libinput devices), so these lists stand
# in for real hardware; the X11 path that reads them is tested on Xvfb in
# tests/integration/test_x11_capture.py.
_COMMON = [
    "Device Enabled",
    "Coordinate Transformation Matrix",
    "Device Node",
    "Device Product ID",
    "libinput Send Events Modes Available",
    "libinput Send Events Mode Enabled",
    "libinput Send Events Mode Enabled Default",
]
_POINTER = [
    "libinput Natural Scrolling Enabled",
    "libinput Natural Scrolling Enabled Default",
    "libinput Scroll Methods Available",
    "libinput Scroll Method Enabled",
    "libinput Scroll Method Enabled Default",
    "libinput Middle Emulation Enabled",
    "libinput Middle Emulation Enabled Default",
    "libinput Accel Speed",
    "libinput Accel Speed Default",
    "libinput Accel Profiles Available",
    "libinput Accel Profile Enabled",
    "libinput Accel Profile Enabled Default",
    "libinput Left Handed Enabled",
    "libinput Left Handed Enabled Default",
    "libinput Drag Lock Buttons",
    "libinput Horizontal Scroll Enabled",
]
LIBINPUT_MOUSE = [
    *_COMMON,
    *_POINTER,
    "libinput Button Scrolling Button",
    "libinput Button Scrolling Button Default",
]
LIBINPUT_TOUCHPAD = [
    *_COMMON,
    *_POINTER,
    "libinput Tapping Enabled",
    "libinput Tapping Enabled Default",
    "libinput Tapping Drag Enabled",
    "libinput Tapping Drag Enabled Default",
    "libinput Tapping Drag Lock Enabled",
    "libinput Tapping Drag Lock Enabled Default",
    "libinput Tapping Button Mapping Enabled",
    "libinput Tapping Button Mapping Default",
    "libinput Disable While Typing Enabled",
    "libinput Disable While Typing Enabled Default",
    "libinput Click Methods Available",
    "libinput Click Method Enabled",
    "libinput Click Method Enabled Default",
]
LIBINPUT_TOUCHSCREEN = [
    *_COMMON,
    "libinput Calibration Matrix",
    "libinput Calibration Matrix Default",
]
LIBINPUT_PEN = [
    *_COMMON,
    "libinput Calibration Matrix",
    "libinput Calibration Matrix Default",
    "libinput Tablet Tool Pressurecurve",
    "libinput Tablet Tool Area Ratio",
]


@pytest.mark.parametrize(
    ("name", "props", "expected"),
    [
        # laptops' I2C touchpads named by their part only: mice until 2026-12-08
        ("GXTP7386:00 27C6:0113", LIBINPUT_TOUCHPAD, DeviceType.TOUCHPAD),  # Goodix
        ("SYNA30B7:00 06CB:CE67", LIBINPUT_TOUCHPAD, DeviceType.TOUCHPAD),  # Synaptics
        ("ELAN0501:00 04F3:3060", LIBINPUT_TOUCHPAD, DeviceType.TOUCHPAD),
        # the maker's name alone said touchpad or pen; the driver says what the device is
        ("ELAN2514:00 04F3:2AF1", LIBINPUT_TOUCHSCREEN, DeviceType.TOUCHSCREEN),
        ("Wacom HID 52C2 Finger", LIBINPUT_TOUCHSCREEN, DeviceType.TOUCHSCREEN),
        ("GXTP7386:00 27C6:0113", LIBINPUT_PEN, DeviceType.PEN),
        # a name that names the kind of device still wins
        ("GXTP7386:00 27C6:0113 Mouse", LIBINPUT_MOUSE, DeviceType.MOUSE),
        ("SYNA7DB5:01 06CB:CD41 Touchpad", LIBINPUT_TOUCHPAD, DeviceType.TOUCHPAD),
        ("Logitech USB Optical Mouse", LIBINPUT_MOUSE, DeviceType.MOUSE),
        # properties that tell nothing (a mouse's, another driver's, none): the name decides
        ("PixArt USB Optical", LIBINPUT_MOUSE, DeviceType.UNKNOWN),
        ("GXTP7386:00 27C6:0113", [], DeviceType.UNKNOWN),
        ("Synaptics TM3276-022", ["Device Enabled", "Synaptics Tap Time"], DeviceType.TOUCHPAD),
    ],
)
def test_libinput_properties_tell_the_kind_when_the_name_does_not(
    name: str, props: list[str], expected: DeviceType
) -> None:
    assert classify_device(name, props) == expected
