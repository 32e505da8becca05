"""One rule for labels (core.labels): what it accepts, what it refuses, login names made labels."""

from __future__ import annotations

import pytest

from activesec.core.errors import ActiveSecError
from activesec.core.labels import MAX_LENGTH, as_label, check_label, is_label


@pytest.mark.parametrize("name", ["alice", "guest-1", "bob_2", "jürgen", "Ζωή", "李雷",
                                  "jane.doe", "jane@example", "x" * MAX_LENGTH, "1",
                                  "राम", "नमस्ते", "தமிழ்"])
def test_accepted(name: str) -> None:
    assert check_label(name) == name


@pytest.mark.parametrize("name", ["", "a\nb", "a b", " bob", "../x", "../../x", "a/b", "a\\b",
                                  ".", "..", ".hidden", "x" * (MAX_LENGTH + 1), "a\0b",
                                  "tab\t", "semi;colon", "star*",
                                  "\u093e"])  # a vowel sign alone (a mark first)
def test_refused_with_the_rule_as_hint(name: str) -> None:
    with pytest.raises(ActiveSecError) as exc:
        check_label(name, "user")
    assert exc.value.message == f"invalid user {name!r}"
    assert "letters, digits, '-', '_', '.' or '@'" in exc.value.hint and "64" in exc.value.hint


def test_a_decomposed_letter_is_one_letter() -> None:
    decomposed = "ju\u0308rgen"  # u + combining diaeresis
    assert check_label(decomposed) == "jürgen"


@pytest.mark.parametrize(("login", "label"), [
    ("jane", "jane"), ("DOMAIN\\Jane Doe", "DOMAIN_Jane_Doe"), (".x", "x"), ("", "owner"),
    ("...", "owner"), ("y" * 100, "y" * MAX_LENGTH), ("राम", "राम"),
])
def test_login_names_become_labels(login: str, label: str) -> None:
    assert as_label(login) == label and is_label(label)
