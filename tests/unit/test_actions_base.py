"""Decision validation (levels, JSON, privacy) and the Action template (dry-run, no raising)."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pytest

from activesec.actions.base import Action, ActionResult, Decision, DryRun, check_private


def make(**kw: object) -> Decision:
    base: dict[str, object] = dict(
        level="notify", state="suspicious", trust=0.4, t_wall_ns=1, reason="r", evidence={}
    )
    base.update(kw)
    return Decision(**base)  # type: ignore[arg-type]


def test_json_round_trip_is_compact_and_sorted() -> None:
    d = make(evidence={"b": 1, "a": [0.5, 0.25], "nested": {"z": None}})
    text = d.to_json()
    assert "\n" not in text and " " not in text
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert Decision.from_json(text) == d


def test_numpy_values_in_evidence_become_plain_json() -> None:
    d = make(trust=np.float64(0.3), evidence={"scores": np.array([0.1, 0.9]), "n": np.int64(7)})
    assert json.loads(d.to_json())["evidence"] == {"scores": [0.1, 0.9], "n": 7}


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"level": "panic"}, "level must be one of"),
        ({"trust": float("nan")}, "finite"),
        ({"evidence": {"x": object()}}, "JSON-serialisable"),
        ({"evidence": {"score": float("inf")}}, "JSON-serialisable"),
    ],
)
def test_invalid_decisions_are_refused(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(**kw)


@pytest.mark.parametrize(
    "evidence",
    [
        {"key": "a"},
        {"Text": "hello"},
        {"window_title": "Bank - login"},
        {"deviations": [{"feature": "dwell", "keysym": "q"}]},
        {"ok": {"deeper": {"chars": "pw"}}},
    ],
)
def test_privacy_rule_refuses_content_at_any_depth(evidence: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="privacy rule"):
        make(evidence=evidence)


def test_key_classes_and_feature_names_are_allowed() -> None:
    check_private({"key_class_counts": {"letter": 3}, "top_features": ["dwell_letter_p50"]})


class Boom(Action):
    name = "boom"

    def __init__(self, *, dry_run: bool = False) -> None:
        super().__init__(dry_run=dry_run)
        self.fired = 0

    def _fire(self, decision: Decision) -> ActionResult:
        self.fired += 1
        raise RuntimeError("kaput")

    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        return f"would {op} boom"


def test_an_exception_inside_an_action_becomes_a_failed_result() -> None:
    a = Boom()
    result = a.fire(make())
    assert not result.ok
    assert result.detail == "boom fire failed unexpectedly: RuntimeError: kaput"
    assert a.revert(make()) == ActionResult(True, "boom: nothing to revert")


def test_dry_run_flag_and_wrapper_record_without_acting() -> None:
    d = make(level="lock")
    flagged = Boom(dry_run=True)
    inner = Boom()
    wrapped = DryRun(inner)
    for a in (flagged, wrapped):
        a.start()
        assert a.fire(d) == ActionResult(True, "dry-run: would fire boom", {"dry_run": True})
        assert a.revert(d).detail == "dry-run: would revert boom"
        a.stop()
        assert [(r.op, r.decision) for r in a.recorded] == [("fire", d), ("revert", d)]
    assert flagged.fired == 0 and inner.fired == 0
    assert wrapped.name == "boom"
