"""X11 devices without an X server: the index each device's events carry (an X id the server
hands to the next device plugged in must not carry the first device's type)."""

from __future__ import annotations

import numpy as np

from activesec.capture.base import Device
from activesec.capture.x11 import REUSED_ID_BASE, DeviceIndex
from activesec.core.events import DeviceType

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
