"""Key classes: every naming scheme we meet maps to the same small set of classes."""

from __future__ import annotations

import pytest

from activesec.core.keys import KeyClass, class_name, key_class, key_class_from_js_keycode


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("a", KeyClass.LETTER),
        ("Z", KeyClass.LETTER),
        ("é", KeyClass.LETTER),
        ("7", KeyClass.DIGIT),
        ("KP_5", KeyClass.DIGIT),
        ("Digit3", KeyClass.DIGIT),
        (" ", KeyClass.SPACE),
        ("space", KeyClass.SPACE),
        ("Key.space", KeyClass.SPACE),
        ("Return", KeyClass.ENTER),
        ("Key.enter", KeyClass.ENTER),
        ("KP_Enter", KeyClass.ENTER),
        ("BackSpace", KeyClass.BACKSPACE),
        ("Key.backspace", KeyClass.BACKSPACE),
        ("Delete", KeyClass.BACKSPACE),
        ("Shift_L", KeyClass.MODIFIER),
        ("Key.shift_r", KeyClass.MODIFIER),
        ("KEY_LEFTSHIFT", KeyClass.MODIFIER),
        ("Control_R", KeyClass.MODIFIER),
        ("Key.cmd", KeyClass.MODIFIER),
        ("Caps_Lock", KeyClass.MODIFIER),
        ("Left", KeyClass.NAVIGATION),
        ("ArrowUp", KeyClass.NAVIGATION),
        ("Tab", KeyClass.NAVIGATION),
        ("Page_Down", KeyClass.NAVIGATION),
        (",", KeyClass.PUNCTUATION),
        ("period", KeyClass.PUNCTUATION),
        ("?", KeyClass.PUNCTUATION),
        ("F5", KeyClass.OTHER),
        ("Escape", KeyClass.OTHER),
        ("", KeyClass.OTHER),
        ("KEY_A", KeyClass.LETTER),
        # QWERTZ / AZERTY: AltGr is a modifier, dead keys are punctuation (as on US QWERTY)
        ("ISO_Level3_Shift", KeyClass.MODIFIER),
        ("ISO_Level5_Shift", KeyClass.MODIFIER),
        ("ISO_Next_Group", KeyClass.MODIFIER),
        ("dead_circumflex", KeyClass.PUNCTUATION),
        ("dead_diaeresis", KeyClass.PUNCTUATION),
        ("Dead", KeyClass.PUNCTUATION),  # a browser's KeyboardEvent.key
    ],
)
def test_key_class(name: str, cls: KeyClass) -> None:
    assert key_class(name) == cls


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        *[(n, KeyClass.MODIFIER) for n in ("ShiftLeft", "ShiftRight", "ControlLeft",
                                           "ControlRight", "AltLeft", "AltRight", "AltGraph",
                                           "MetaLeft", "MetaRight", "OSLeft")],
        ("NumpadEnter", KeyClass.ENTER),
        ("KEY_KPENTER", KeyClass.ENTER),
        ("Backquote", KeyClass.PUNCTUATION),
        ("IntlBackslash", KeyClass.PUNCTUATION),
        ("NumpadAdd", KeyClass.PUNCTUATION),
        ("NumpadDecimal", KeyClass.PUNCTUATION),
        ("KEY_KPMINUS", KeyClass.PUNCTUATION),
        ("KEY_KPDOT", KeyClass.PUNCTUATION),
        ("KeyA", KeyClass.LETTER),  # as before: the browser names already understood
        ("Digit1", KeyClass.DIGIT),
        ("Numpad1", KeyClass.DIGIT),
        ("Escape", KeyClass.OTHER),
    ],
)
def test_browser_and_evdev_names_of_modifiers_and_keypad_keys(name: str, cls: KeyClass) -> None:
    """A web recording's keys as KeyboardEvent.code: KeyA and Digit1 were understood, but
    ShiftLeft, ControlLeft, AltLeft and MetaLeft were read as "other", NumpadEnter and evdev's
    KEY_KPENTER as "other" rather than enter — features and detectors saw another keyboard."""
    assert key_class(name) == cls


def test_class_names_round_trip() -> None:
    for k in KeyClass:
        assert key_class(class_name(k)) == k


@pytest.mark.parametrize(
    ("code", "letter", "cls"),
    [
        (16, "SHIFT", KeyClass.MODIFIER),
        (84, "T", KeyClass.LETTER),
        (32, " ", KeyClass.SPACE),
        (8, "BKSP", KeyClass.BACKSPACE),
        (13, "", KeyClass.ENTER),
        (49, "1", KeyClass.DIGIT),
        (49, "!", KeyClass.PUNCTUATION),
        (190, ".", KeyClass.PUNCTUATION),
        (188, "", KeyClass.PUNCTUATION),
    ],
)
def test_js_keycodes(code: int, letter: str, cls: KeyClass) -> None:
    assert key_class_from_js_keycode(code, letter) == cls
