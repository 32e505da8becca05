"""Gate rule validation: every mistake in the configuration is one clear ConfigError."""

from __future__ import annotations

from typing import Any

import pytest

from activesec.actions.gate import GateAction, GateRule, normalise, parse_rules
from activesec.core.errors import ConfigError


def test_valid_rules_with_defaults() -> None:
    rules = parse_rules(
        [{"name": "game", "match": "supertux2"}, {"match": "Firefox.exe", "mode": "close"}]
    )
    assert rules == (
        GateRule("game", "supertux2", "suspend", 3.0),
        GateRule("Firefox.exe", "Firefox.exe", "close", 3.0),
    )
    assert normalise("Firefox.EXE") == "firefox"


@pytest.mark.parametrize(
    "rule, match",
    [
        ({"name": "x", "match": ""}, "'match' must be a process name"),
        ({"name": "x", "match": "/usr/bin/firefox"}, "without a path|process name"),
        ({"name": "x", "match": "f", "mode": "kill"}, "'mode' must be 'suspend' or 'close'"),
        ({"name": "x", "match": "f", "grace_s": -1}, "grace_s"),
        ({"name": "x", "match": "f", "grace_s": "5"}, "grace_s"),
        ({"name": "x", "match": "f", "colour": "red"}, "unknown key"),
        ({"name": "", "match": "f"}, "'name' must be a non-empty"),
        ({"name": "x", "match": "Xorg"}, "system-critical"),
        ({"name": "x", "match": "gnome-shell"}, "system-critical"),
        ({"name": "x", "match": "winlogon.exe"}, "system-critical"),
        ({"name": "x", "match": "Dock"}, "system-critical"),  # macOS's shell
        ("firefox", "must be a table"),
    ],
)
def test_invalid_rules(rule: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        GateAction(rules=[rule])


def test_error_names_the_rule_index() -> None:
    with pytest.raises(ConfigError, match=r"gate.rules\[1\]"):
        parse_rules([{"match": "ok"}, {"match": "ok", "mode": "nope"}])


def test_no_rules_is_nothing_to_do() -> None:
    from activesec.actions.base import Decision

    result = GateAction().fire(Decision("gate", "suspicious", 0.1, 0, "r", {}))
    assert result.ok and result.detail == "no gate rules configured: nothing to do"


@pytest.mark.parametrize(
    "rules, kind",
    [
        ({"name": "games", "match": "steam"}, "got one table"),  # rules = { ... }, no brackets
        ("steam", "got a string"),
    ],
)
def test_rules_that_are_not_a_list_are_refused_as_such(rules: Any, kind: str) -> None:
    """`rules = { name = "games", match = "steam" }` was iterated key by key: the error said
    the rule "must be a table like {name, match, mode}, got 'name'" — of a table."""
    with pytest.raises(ConfigError, match=f"gate.rules must be a list of tables, {kind}") as e:
        GateAction(rules=rules)
    assert "rules = [{" in e.value.hint


def test_two_rules_with_one_name_or_one_app_are_refused() -> None:
    """Two rules called "games" (steam, minecraft) acted on and listed every process twice;
    two rules matching "steam" (suspend and close) left the first one silently unused — it
    said "not running" while the other closed the app."""
    with pytest.raises(ConfigError, match=r"gate.rules\[1\]: another rule is already called "
                                          "'games'"):
        parse_rules([{"name": "games", "match": "steam"},
                     {"name": "games", "match": "minecraft"}])
    with pytest.raises(ConfigError, match=r"gate.rules\[1\]: rule 'games' already matches "
                                          "'Steam.exe'"):
        parse_rules([{"name": "games", "match": "steam"},
                     {"name": "quit-steam", "match": "Steam.exe", "mode": "close"}])


def test_args_narrow_a_rule_and_tell_two_rules_for_one_program_apart() -> None:
    rules = parse_rules([{"name": "minecraft", "match": "java", "args": " minecraft "},
                         {"name": "java", "match": "java"}])
    assert rules[0].args == "minecraft" and rules[1].args is None
    assert rules[0].shown() == "'java' with 'minecraft'" and rules[1].shown() == "'java'"
    with pytest.raises(ConfigError, match=r"gate.rules\[1\]: rule 'a' already matches 'Java' "
                                          "with 'MineCraft'"):
        parse_rules([{"name": "a", "match": "java", "args": "minecraft"},
                     {"name": "b", "match": "Java", "args": "MineCraft"}])
    for bad in ("", "  ", 3, ["minecraft"]):
        with pytest.raises(ConfigError, match=r"'args' must be a text its command line holds"):
            parse_rules([{"name": "a", "match": "java", "args": bad}])
