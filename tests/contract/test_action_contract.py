"""One contract, every registered action (built-ins and installed plug-ins):

* it is an :class:`Action` whose ``name`` is its registry name;
* its dry-run twin (flag and wrapper) answers every level with ``ok`` and records, acting on
  nothing;
* start/stop are idempotent;
* fired for real in a harmless sandbox, it returns an :class:`ActionResult` — a failure is a
  result, never an exception.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from activesec.actions import registry
from activesec.actions.base import LEVELS, Action, ActionResult, Decision, DryRun

NAMES = registry.names()


def sandbox(name: str, tmp: Path) -> dict[str, Any]:
    """Parameters under which the real action can run here without touching the machine."""
    params: dict[str, dict[str, Any]] = {
        "alertlog": {"path": tmp / "alerts.jsonl"},
        "command": {"argv": [sys.executable, "-c", "import sys; sys.stdin.read()"]},
        "gate": {"rules": [{"name": "absent", "match": "activesec-no-such-app"}]},
        "lock": {
            "methods": ["org.freedesktop.ScreenSaver", "xdg-screensaver"],
            "path": str(tmp / "empty-bin"),
            "bus_address": f"unix:path={tmp / 'no-bus'}",
        },
        "notify": {"bus_address": f"unix:path={tmp / 'no-bus'}", "platform": "linux"},
    }
    return params.get(name, {})


def decisions() -> list[Decision]:
    return [
        Decision(level, "suspicious", 0.2, 1_700_000_000 * 10**9, f"{level} test", {"s": 0.9})
        for level in LEVELS
    ]


@pytest.mark.parametrize("name", NAMES)
def test_is_an_action_named_as_registered(name: str) -> None:
    cls = registry.load(name)
    assert issubclass(cls, Action)
    assert cls.name == name


@pytest.mark.parametrize("name", NAMES)
def test_dry_run_twins_record_every_level_and_act_on_nothing(name: str, tmp_path: Path) -> None:
    params = sandbox(name, tmp_path)
    flagged = registry.create(name, dry_run=True, **params)
    wrapped = DryRun(registry.create(name, **params))
    for action in (flagged, wrapped):
        action.start()
        action.start()
        for d in decisions():
            for op in (action.fire, action.revert):
                result = op(d)
                assert isinstance(result, ActionResult)
                assert result.ok and result.detail.startswith("dry-run: ")
        action.stop()
        action.stop()
        assert len(action.recorded) == 2 * len(LEVELS)
        assert [r.op for r in action.recorded[:2]] == ["fire", "revert"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, nothing made


@pytest.mark.parametrize("name", NAMES)
def test_real_fire_and_revert_return_results_never_raise(name: str, tmp_path: Path) -> None:
    (tmp_path / "empty-bin").mkdir()
    action = registry.create(name, **sandbox(name, tmp_path))
    action.start()
    try:
        for d in decisions():
            assert isinstance(action.fire(d), ActionResult)
            assert isinstance(action.revert(d), ActionResult)
    finally:
        action.stop()
