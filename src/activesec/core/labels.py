"""Labels: the names sessions are recorded under (the owner's user name, another person's
label). They become folder names on export, so one rule holds wherever a label comes in (``init
--user``, ``label``, ``capture --label``, ``import --label``): letters (any script), digits,
``-``, ``_``, ``.`` and ``@`` (and the combining marks of scripts such as Devanagari), not
starting with ``.``, ``-`` or a mark, not only invisible letters
(:func:`name_problem`), at most :data:`MAX_LENGTH` characters.

Labels already stored are never re-checked: data recorded by an older version stays readable.
"""

from __future__ import annotations

import unicodedata

from activesec.core.errors import ActiveSecError

MAX_LENGTH = 64
PUNCTUATION = "-_.@"
HINT = (f"use letters, digits, '-', '_', '.' or '@' (not starting with '.' or '-'), at most "
        f"{MAX_LENGTH} characters")


#: letters (category Lo) that render as nothing: the Hangul fillers
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def name_problem(name: str) -> str | None:
    """What makes ``name`` no name whatever characters it may hold, or None: it starts with
    ``-`` (a command line reads it as an option) or nothing of it shows — only format and
    control characters (a zero-width space or joiner), spaces and Hangul fillers. The one check
    every user-chosen name gets: labels here, the config's ``user``."""
    if name.startswith("-"):
        return "it starts with '-'"
    if name and all(c in BLANK_LETTERS or unicodedata.category(c) in ("Cf", "Cc", "Zs")
                    for c in name):
        return "it shows nothing (only invisible characters)"
    return None


def _ok(c: str) -> bool:
    return c in PUNCTUATION or unicodedata.category(c)[0] in "LNM"


def is_label(name: str) -> bool:
    """Whether ``name`` (NFC-normalised) follows the module docstring's rule. Combining marks
    (the vowel signs of Devanagari or Tamil, which NFC does not fold into their letter) belong
    to the letter before them, so they may not begin a name."""
    name = unicodedata.normalize("NFC", name)
    return (0 < len(name) <= MAX_LENGTH and not name.startswith(".")
            and unicodedata.category(name[0])[0] != "M"
            and name_problem(name) is None and all(_ok(c) for c in name))


def check_label(name: str, what: str = "label") -> str:
    """``name`` NFC-normalised (a decomposed "é" is one letter), or an ActiveSecError naming
    it; ``what``: how the message calls it ("label", "user")."""
    problem = name_problem(name)
    if problem is not None:  # !a: an invisible name is shown as its code points
        raise ActiveSecError(f"invalid {what} {name!a}: {problem}", HINT)
    if not is_label(name):
        raise ActiveSecError(f"invalid {what} {name!r}", HINT)
    return unicodedata.normalize("NFC", name)


def as_label(name: str, fallback: str = "owner") -> str:
    """``name`` made a label (a login name such as ``DOMAIN\\\\Jane Doe`` or ``.x``): characters
    outside the rule become ``_``, a leading ``.`` or ``-`` is dropped, the length is cut."""
    name = unicodedata.normalize("NFC", name)
    cleaned = "".join(c if _ok(c) else "_" for c in name).lstrip(".-")[:MAX_LENGTH]
    return cleaned if is_label(cleaned) else fallback
