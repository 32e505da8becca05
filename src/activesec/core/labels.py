"""Labels: the names sessions are recorded under (the owner's user name, another person's
label). They become folder names on export, so one rule holds wherever a label comes in (``init
--user``, ``label``, ``capture --label``, ``import --label``): letters (any script), digits,
``-``, ``_``, ``.`` and ``@``, not starting with ``.``, at most :data:`MAX_LENGTH` characters.

Labels already stored are never re-checked: data recorded by an older version stays readable.
"""

from __future__ import annotations

import unicodedata

from activesec.core.errors import ActiveSecError

MAX_LENGTH = 64
PUNCTUATION = "-_.@"
HINT = (f"use letters, digits, '-', '_', '.' or '@' (not starting with '.'), at most "
        f"{MAX_LENGTH} characters")


def _ok(c: str) -> bool:
    return c in PUNCTUATION or unicodedata.category(c)[0] in "LN"


def is_label(name: str) -> bool:
    """Whether ``name`` (NFC-normalised) follows the module docstring's rule."""
    name = unicodedata.normalize("NFC", name)
    return (0 < len(name) <= MAX_LENGTH and not name.startswith(".")
            and all(_ok(c) for c in name))


def check_label(name: str, what: str = "label") -> str:
    """``name`` NFC-normalised (a decomposed "é" is one letter), or an ActiveSecError naming
    it; ``what``: how the message calls it ("label", "user")."""
    if not is_label(name):
        raise ActiveSecError(f"invalid {what} {name!r}", HINT)
    return unicodedata.normalize("NFC", name)


def as_label(name: str, fallback: str = "owner") -> str:
    """``name`` made a label (a login name such as ``DOMAIN\\\\Jane Doe`` or ``.x``): characters
    outside the rule become ``_``, a leading ``.`` is dropped, the length is cut."""
    name = unicodedata.normalize("NFC", name)
    cleaned = "".join(c if _ok(c) else "_" for c in name).lstrip(".")[:MAX_LENGTH]
    return cleaned if is_label(cleaned) else fallback
