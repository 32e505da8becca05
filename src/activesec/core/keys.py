"""Key classes: the only thing about a key that ActiveSec ever persists.

Every source of key names (pynput, X keysyms, evdev codes, Windows virtual keys, browser
``KeyboardEvent.key``/``keyCode`` as in the Aalto and Freihaut datasets, the generic CSV layout)
is mapped here, once, so live capture and offline evaluation agree on what a class means.
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache


class KeyClass(IntEnum):
    OTHER = 0
    LETTER = 1
    DIGIT = 2
    SPACE = 3
    ENTER = 4
    BACKSPACE = 5  # correction keys: BackSpace and Delete
    MODIFIER = 6
    NAVIGATION = 7  # arrows, Home/End, Page Up/Down, Tab
    PUNCTUATION = 8


N_KEY_CLASSES = len(KeyClass)
_CLASS_NAMES = {k.name.lower(): k for k in KeyClass}


def class_name(k: int) -> str:
    """Lower-case name of a class (``'letter'``), as written to exports."""
    return KeyClass(int(k)).name.lower()


_MODIFIERS = {
    "shift",
    "shift_l",
    "shift_r",
    "lshift",
    "rshift",
    "leftshift",
    "rightshift",
    "ctrl",
    "ctrl_l",
    "ctrl_r",
    "control",
    "control_l",
    "control_r",
    "lctrl",
    "rctrl",
    "leftctrl",
    "rightctrl",
    "lcontrol",
    "rcontrol",
    "alt",
    "alt_l",
    "alt_r",
    "alt_gr",
    "altgr",
    "lalt",
    "ralt",
    "leftalt",
    "rightalt",
    "menu",
    "lmenu",
    "rmenu",
    "iso_level3_shift",
    "mode_switch",
    "cmd",
    "cmd_l",
    "cmd_r",
    "command",
    "super",
    "super_l",
    "super_r",
    "meta",
    "meta_l",
    "meta_r",
    "leftmeta",
    "rightmeta",
    "win",
    "lwin",
    "rwin",
    "os",
    "hyper_l",
    "hyper_r",
    "fn",
    "caps_lock",
    "capslock",
    "capital",
    "num_lock",
    "numlock",
    "scroll_lock",
    "scrolllock",
    # a browser's KeyboardEvent.code and .key (web recordings): ShiftLeft, AltGraph, ...
    "shiftleft",
    "shiftright",
    "controlleft",
    "controlright",
    "altleft",
    "altright",
    "altgraph",
    "metaleft",
    "metaright",
    "osleft",
    "osright",
}
_NAVIGATION = {
    "left",
    "right",
    "up",
    "down",
    "home",
    "end",
    "page_up",
    "page_down",
    "pageup",
    "pagedown",
    "prior",
    "next",
    "pgup",
    "pgdn",
    "tab",
    "iso_left_tab",
    "arrowleft",
    "arrowright",
    "arrowup",
    "arrowdown",
    "kp_left",
    "kp_right",
    "kp_up",
    "kp_down",
    "kp_home",
    "kp_end",
    "kp_prior",
    "kp_next",
    "kp_page_up",
    "kp_page_down",
    "insert",
    "kp_insert",
}
_ENTER = {"enter", "return", "kp_enter", "kpenter", "numpadenter", "linefeed", "\n", "\r"}
_SPACE = {"space", " ", "spacebar", "kp_space"}
_BACKSPACE = {"backspace", "back_space", "back", "delete", "del", "kp_delete", "kp_decimal_del"}
_PUNCT_NAMES = {
    "comma",
    "period",
    "minus",
    "equal",
    "slash",
    "backslash",
    "semicolon",
    "apostrophe",
    "grave",
    "bracketleft",
    "bracketright",
    "quote",
    "quotedbl",
    "exclam",
    "question",
    "colon",
    "less",
    "greater",
    "parenleft",
    "parenright",
    "underscore",
    "plus",
    "asterisk",
    "at",
    "numbersign",
    "dollar",
    "percent",
    "ampersand",
    "asciicircum",
    "asciitilde",
    "bar",
    "braceleft",
    "braceright",
    "leftbrace",
    "rightbrace",
    "dot",
    "kp_add",
    "kp_subtract",
    "kp_multiply",
    "kp_divide",
    "kp_decimal",
    "kp_separator",
    "kp_equal",
    "oem_1",
    "oem_2",
    "oem_3",
    "oem_4",
    "oem_5",
    "oem_6",
    "oem_7",
    "oem_102",
    "oem_plus",
    "oem_comma",
    "oem_minus",
    "oem_period",
    "dead_acute",
    "dead_grave",
    # a browser's KeyboardEvent.code and evdev's KEY_* for the rest of the punctuation
    "backquote",
    "intlbackslash",
    "numpadadd",
    "numpadsubtract",
    "numpadmultiply",
    "numpaddivide",
    "numpaddecimal",
    "numpadcomma",
    "numpadequal",
    "kpplus",
    "kpminus",
    "kpasterisk",
    "kpslash",
    "kpdot",
    "kpcomma",
    "kpequal",
}

# Browser keyCode values (Aalto 136M's KEYCODE column) for non-printing keys.
_JS_KEYCODES = {
    8: KeyClass.BACKSPACE,
    46: KeyClass.BACKSPACE,
    9: KeyClass.NAVIGATION,
    13: KeyClass.ENTER,
    16: KeyClass.MODIFIER,
    17: KeyClass.MODIFIER,
    18: KeyClass.MODIFIER,
    20: KeyClass.MODIFIER,
    91: KeyClass.MODIFIER,
    92: KeyClass.MODIFIER,
    93: KeyClass.MODIFIER,
    224: KeyClass.MODIFIER,
    225: KeyClass.MODIFIER,
    32: KeyClass.SPACE,
    33: KeyClass.NAVIGATION,
    34: KeyClass.NAVIGATION,
    35: KeyClass.NAVIGATION,
    36: KeyClass.NAVIGATION,
    37: KeyClass.NAVIGATION,
    38: KeyClass.NAVIGATION,
    39: KeyClass.NAVIGATION,
    40: KeyClass.NAVIGATION,
    45: KeyClass.NAVIGATION,
}


def _norm(name: str) -> str:
    n = name.strip() if len(name) > 1 else name
    for prefix in ("key.", "key_", "vk_", "xk_", "kc_"):
        if n.lower().startswith(prefix) and len(n) > len(prefix):
            n = n[len(prefix) :]
            break
    return n


@lru_cache(maxsize=4096)
def key_class(name: str) -> KeyClass:
    """Class of a key given by any common name: ``'a'``, ``'A'``, ``'Key.shift_r'``,
    ``'BackSpace'``, ``'KEY_LEFTSHIFT'``, ``'KP_1'``, ``'Return'``, ``' '``, ``'ArrowLeft'``…"""
    if not name:
        return KeyClass.OTHER
    n = _norm(name)
    if len(n) == 1:
        c = n
        if c == " ":
            return KeyClass.SPACE
        if c in "\n\r":
            return KeyClass.ENTER
        if c == "\t":
            return KeyClass.NAVIGATION
        if c == "\b" or c == "\x7f":
            return KeyClass.BACKSPACE
        if c.isdigit():
            return KeyClass.DIGIT
        if c.isalpha():
            return KeyClass.LETTER
        if c.isprintable():
            return KeyClass.PUNCTUATION
        return KeyClass.OTHER
    low = n.lower()
    if low in _CLASS_NAMES:  # exports write classes by name; reading them back is the identity
        return _CLASS_NAMES[low]
    if low in _SPACE:
        return KeyClass.SPACE
    if low in _ENTER:
        return KeyClass.ENTER
    if low in _BACKSPACE:
        return KeyClass.BACKSPACE
    if low in _MODIFIERS:
        return KeyClass.MODIFIER
    if low in _NAVIGATION:
        return KeyClass.NAVIGATION
    if low in _PUNCT_NAMES:
        return KeyClass.PUNCTUATION
    if low.startswith("dead_") or low == "dead":
        # a dead key types an accent (German ^ and ´, French ^ and ¨): on US QWERTY the same
        # key is punctuation (` ' ^), so a QWERTZ or AZERTY typist's accents are punctuation
        return KeyClass.PUNCTUATION
    if low.startswith("iso_") and any(w in low for w in ("shift", "latch", "lock", "group")):
        return KeyClass.MODIFIER  # AltGr (ISO_Level3_Shift), Level5, the layout-switch keys
    if low.startswith("kp") and low[-1].isdigit() and len(low.lstrip("kp_")) == 1:
        return KeyClass.DIGIT
    if low.startswith("digit") and len(low) == 6 and low[5].isdigit():
        return KeyClass.DIGIT
    if low.startswith("numpad") and low[6:].isdigit():
        return KeyClass.DIGIT
    if low.startswith("key") and len(low) == 4 and low[3].isalpha():  # browser code "KeyA"
        return KeyClass.LETTER
    if len(low) == 2 and low[0] == "n" and low[1].isdigit():  # Windows "N1"-style
        return KeyClass.DIGIT
    # Latin-1 / Unicode letters named by keysym (adiaeresis, eacute, ...)
    if low in {
        "adiaeresis",
        "odiaeresis",
        "udiaeresis",
        "ssharp",
        "eacute",
        "egrave",
        "agrave",
        "ccedilla",
        "ntilde",
        "aring",
        "oslash",
        "ae",
    }:
        return KeyClass.LETTER
    return KeyClass.OTHER


def key_class_from_js_keycode(code: int, letter: str = "") -> KeyClass:
    """Class from a browser ``keyCode`` (Aalto's KEYCODE), using the produced character when
    the code is ambiguous (punctuation codes differ across layouts)."""
    if code in _JS_KEYCODES:
        return _JS_KEYCODES[code]
    if 65 <= code <= 90:
        return KeyClass.LETTER
    if 48 <= code <= 57 or 96 <= code <= 105:
        if letter and len(letter) == 1 and not letter.isdigit():
            return KeyClass.PUNCTUATION  # shifted digit row: ! @ # ...
        return KeyClass.DIGIT
    if letter:
        return key_class(letter)
    if 186 <= code <= 222 or 106 <= code <= 111:
        return KeyClass.PUNCTUATION
    return KeyClass.OTHER
