"""Capture: OS input backends (X11, pynput, evdev, replay) and the capture runner."""
