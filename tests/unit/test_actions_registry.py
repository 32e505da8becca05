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
