"""The action registry: built-ins, a plug-in found through a real entry point, bad names."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from activesec.actions import registry
from activesec.actions.lock import LockAction
from activesec.core.errors import ConfigError

PLUGIN = """
from activesec.actions.base import Action, ActionResult

class PagerAction(Action):
    name = "pager"

    def __init__(self, *, number: str = "", dry_run: bool = False):
        super().__init__(dry_run=dry_run)
        self.number = number

    def _fire(self, decision):
        return ActionResult(True, f"paged {self.number}")

    def plan(self, op, decision):
        return f"would page {self.number}"

class NotAnAction:
    pass
"""


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution (dist-info on sys.path) declaring activesec.actions entries."""
    (tmp_path / "as_pager_plugin.py").write_text(PLUGIN)
    info = tmp_path / "as_pager_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: as-pager-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[activesec.actions]\n"
        "pager = as_pager_plugin:PagerAction\n"
        "broken = as_pager_plugin:NotAnAction\n"
        "missing = as_pager_plugin_gone:X\n"
        "lock = as_pager_plugin:PagerAction\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("as_pager_plugin", None)


def test_builtins_are_listed_and_created() -> None:
    assert {"alertlog", "command", "gate", "lock", "notify"} <= set(registry.names())
    lock = registry.create("lock", dry_run=True, methods=["xdg-screensaver"])
    assert isinstance(lock, LockAction) and lock.dry_run


def test_plugin_from_an_entry_point(plugin_dist: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert {"pager", "broken", "missing"} <= set(registry.names())
    pager = registry.create("pager", number="555")
    from activesec.actions.base import Decision

    d = Decision("notify", "suspicious", 0.2, 0, "r", {})
    assert pager.fire(d).detail == "paged 555"
    assert registry.create("pager", dry_run=True).fire(d).detail == "dry-run: would page "
    # A plug-in may not replace a built-in.
    assert isinstance(registry.create("lock", dry_run=True), LockAction)
    assert "would replace a built-in" in caplog.text


def test_bad_plugins_and_names_are_config_errors(plugin_dist: Path) -> None:
    with pytest.raises(ConfigError, match="not a subclass"):
        registry.create("broken")
    with pytest.raises(ConfigError, match="failed to load"):
        registry.create("missing")
    with pytest.raises(ConfigError, match="unknown action 'nope'"):
        registry.create("nope")
    with pytest.raises(ConfigError, match="invalid parameters for action 'lock'"):
        registry.create("lock", colour="red")


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("alertlog", {"syslog": 514}, "alertlog.syslog must be a string, got 514"),
        ("alertlog", {"syslog": True}, "alertlog.syslog must be a string"),
        ("gate", {"state_file": 5}, "gate.state_file must be a file path, got 5"),
        ("gate", {"state_file": ""}, "gate.state_file must be a file path"),
        ("lock", {"methods": "loginctl"}, "lock.methods must be a list of methods, got "
                                          "'loginctl'"),
        ("lock", {"timeout_s": "5"}, r"lock.timeout_s must be seconds in \(0, 600\], got '5'"),
        ("lock", {"timeout_s": 1e12}, "lock.timeout_s must be seconds"),
        ("lock", {"path": ["/usr/bin"]}, "lock.path must be a string"),
        ("command", {"argv": ["logger"], "env": {"A": 1}}, "command.env must be a table of "
                                                           "strings"),
        ("command", {"argv": ["logger"], "env": ["A=1"]}, "command.env must be a table"),
        ("command", {"argv": ["logger"], "cwd": 5}, "command.cwd must be a folder path"),
        ("command", {"argv": ["logger"], "shell": "yes"}, "command.shell must be true or false"),
    ],
)
def test_parameters_of_the_wrong_type_are_config_errors(name: str, params: dict[str, object],
                                                        message: str) -> None:
    """What `doctor`, `status` and `run` check before the agent starts. These passed the check
    and then failed when the action ran (every lock of a policy with timeout_s = "5"; the
    gate's state file at the agent's start, a traceback), or ended the check in a traceback
    (`syslog = 514`, `env = ["A=1"]`), or spoke of letters (`methods = "loginctl"`)."""
    with pytest.raises(ConfigError, match=message):
        registry.create(name, **params, dry_run=True)


def test_a_plug_in_action_lacking_a_method_is_named_not_called_a_bad_parameter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in without ``plan`` was "invalid parameters for action 'quiet': Can't
    instantiate abstract class …", pointing at its settings."""
    from tests.helpers.plugins import install

    source = ("from activesec.actions.base import Action, ActionResult\n\n"
              "class Quiet(Action):\n"
              "    def _fire(self, decision):\n"
              "        return ActionResult(True, 'ok')\n")
    monkeypatch.syspath_prepend(install(tmp_path, "quiet_plugin", {"quiet_action": source},
                                        "[activesec.actions]\nquiet = quiet_action:Quiet\n"))
    with pytest.raises(ConfigError) as err:
        registry.create("quiet")
    assert err.value.message == ("action plug-in 'quiet' (quiet_action:Quiet) does not define "
                                 "plan()")
    assert "Writing an action" in err.value.hint
    sys.modules.pop("quiet_action", None)


def test_the_readmes_action_recipe_works_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's 'Writing an action' recipe and its configuration, as a newcomer copies them:
    created by name with the settings of its [actions.params.journal] table, it appends the
    decision's JSON; its dry-run twin describes that and writes nothing."""
    import re

    import tomllib
    from tests.helpers.plugins import README, install

    from activesec.actions.base import Decision

    text = README.read_text()
    (source,) = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                 if "class Journal(Action)" in b]
    (conf,) = [b for b in re.findall(r"```toml\n(.*?)```", text, flags=re.S)
               if "[actions.params.journal]" in b]
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.syspath_prepend(install(tmp_path / "site", "mypkg",
                                        {"mypkg.__init__": "", "mypkg.actions": source},
                                        "[activesec.actions]\njournal = mypkg.actions:Journal\n"))
    settings = tomllib.loads(conf)["actions"]["params"]["journal"]
    d = Decision("lock", "suspicious", 31.0, 1, "trust 31.0 < 40 (lock level)",
                 {"deviating_features": [["a_mean", -4.2]]})
    twin = registry.create("journal", **settings, dry_run=True)
    assert twin.fire(d).detail.startswith("dry-run: would append the lock decision to ")
    journal = registry.create("journal", **settings)
    assert journal.fire(d).ok
    (written,) = (tmp_path / "decisions.jsonl").read_text().splitlines()
    assert Decision.from_json(written) == d
    for mod in ("mypkg", "mypkg.actions"):
        sys.modules.pop(mod, None)
