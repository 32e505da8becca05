"""Device types from OS names: software injection is VIRTUAL, a hypervisor's emulated mouse and
keyboard are the guest owner's own input (names as X11/XInput2 and evdev report them)."""

from __future__ import annotations

import pytest

from activesec.capture.evdev_backend import is_virtual
from activesec.core.events import DeviceType, classify_device, stored_device_type

V, M, K = DeviceType.VIRTUAL, DeviceType.MOUSE, DeviceType.KEYBOARD


@pytest.mark.parametrize(("name", "expected"), [
    ("Virtual core XTEST pointer", V),  # xdotool, Barrier, VNC servers on X11
    ("Virtual core XTEST keyboard", V),
    ("ydotoold virtual device", V),
    ("py-evdev-uinput", V),
    ("VirtualPS/2 VMware VMMouse", M),  # VMware guests: the host's mouse
    ("VMware VMware Virtual USB Mouse", M),
    ("VirtualBox mouse integration", M),
    ("VirtualBox USB Tablet", M),  # absolute, follows the host mouse: no pen
    ("QEMU USB Tablet", M),
    ("QEMU Virtio Keyboard", K),
    ("Microsoft Vmbus HID-compliant Mouse", M),  # Hyper-V
    ("Logitech USB Optical Mouse", M),
    ("SynPS/2 Synaptics TouchPad", DeviceType.TOUCHPAD),
    ("Wacom Intuos S Pen", DeviceType.PEN),
    ("AT Translated Set 2 keyboard", K),
])
def test_names_tell_injection_from_a_virtual_machines_hardware(name: str,
                                                                expected: DeviceType) -> None:
    assert classify_device(name) == expected


T, P, S = DeviceType.TOUCHPAD, DeviceType.PEN, DeviceType.TOUCHSCREEN


@pytest.mark.parametrize(("name", "expected"), [
    # a laptop's touch parts often share the touchpad's maker: the kind of device decides
    ("ELAN9008:00 04F3:2C82 Stylus", P),  # a 2-in-1's pen
    ("ELAN9008:00 04F3:2C82 Stylus Pen (0)", P),
    ("ELAN9008:00 04F3:2C82 Stylus Eraser (0)", P),
    ("ELAN2514:00 04F3:2AF1 Touchscreen", S),
    ("ELAN Touchscreen", S),
    ("TPPS/2 Elan TrackPoint", M),  # ThinkPad pointing sticks
    ("TPPS/2 IBM TrackPoint", M),
    ("PenMount USB Touchscreen", S),  # a maker named Pen... is no pen
    ("ELAN0501:00 04F3:3060 Touchpad", T),
    ("SYNA2393:00 06CB:19AC Touchpad", T),
    ("Synaptics TM3276-022", T),  # the maker alone: its touchpad
    ("Apple Inc. Magic Trackpad 2", T),
    ("bcm5974", T),  # a MacBook's touchpad under Linux
    ("Wacom HID 52C2 Pen stylus", P),
    ("Wacom Intuos Pro M Pen", P),
])
def test_the_kind_of_device_wins_over_its_makers_name(name: str, expected: DeviceType) -> None:
    assert classify_device(name) == expected


def test_evdev_flags_uinput_tools_but_not_a_vms_mouse() -> None:
    """evdev marks virtual devices' events INJECTED, which the agent distrusts by default: a
    VMware guest's mouse has a physical path and an i8042 sysfs path, and is not one."""
    assert not is_virtual("VirtualPS/2 VMware VMMouse", "isa0060/serio1/input0",
                          "/sys/devices/platform/i8042/serio1/input/input4")
    assert is_virtual("ydotoold virtual device", "", "/sys/devices/virtual/input/input20")
    # VirtualBox's mouse integration has no physical path but sits on the PCI bus
    assert not is_virtual("VirtualBox mouse integration", "",
                          "/sys/devices/pci0000:00/0000:00:04.0/input/input7")
    assert is_virtual("VirtualBox mouse integration", "", "")  # where it sits unknown
    # a uinput device cannot pass for VM hardware by its name: sysfs says where it lives
    assert is_virtual("VirtualBox mouse integration", "x", "/sys/devices/virtual/input/input21")


def test_stored_types_recorded_as_virtual_are_judged_again_by_name() -> None:
    """Recordings made before 2026-12-06 hold a VM owner's mouse as VIRTUAL; training reads
    them as what they are. Other stored types stand; unknown values are UNKNOWN."""
    assert stored_device_type(int(V), "VirtualPS/2 VMware VMMouse") == M
    assert stored_device_type(int(V), "Virtual core XTEST pointer") == V
    assert stored_device_type(int(DeviceType.TOUCHPAD), "VMware thing") == DeviceType.TOUCHPAD
    assert stored_device_type(99, "Logitech USB Optical Mouse") == DeviceType.UNKNOWN
