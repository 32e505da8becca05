"""Saving without pickle, the model card, and refusing altered or mismatched models."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from activesec.core.errors import ModelError
from activesec.detectors import registry
from activesec.detectors.persist import (
    CARD_FILE,
    MODEL_FILE,
    load_model,
    read_card,
    save_model,
    schema_hash,
    seal,
)

FEATS = ["a", "b", "c", "d"]


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, object, np.ndarray]:
    rng = np.random.default_rng(0)
    X, B = rng.normal(size=(60, 4)), rng.normal(1, 1, size=(90, 4))
    det = registry.create("random_forest", n_estimators=20).fit(X, B)
    save_model(det, tmp_path / "m", feature_names=FEATS,
               calibration={"threshold": 0.7, "target_far": 0.01}, extra={"device": "mouse"},
               created="2026-01-01T00:00:00Z")
    return tmp_path / "m", det, X


def test_card_contents(saved) -> None:
    d, det, _ = saved
    card = read_card(d)
    assert card["detector"] == "random_forest"
    assert card["params"] == det.get_params()
    assert card["feature_schema"] == {"names": FEATS, "sha256": schema_hash(FEATS)}
    assert set(card["versions"]) >= {"numpy", "scikit-learn", "activesec"}
    assert card["calibration"] == {"threshold": 0.7, "target_far": 0.01}
    assert card["created"] == "2026-01-01T00:00:00Z" and card["extra"] == {"device": "mouse"}
    assert card["model_sha256"] == hashlib.sha256((d / MODEL_FILE).read_bytes()).hexdigest()
    for f in (MODEL_FILE, CARD_FILE):
        assert stat.S_IMODE(os.stat(d / f).st_mode) == 0o600
    assert b"pickle" not in (d / CARD_FILE).read_bytes()


def test_roundtrip(saved) -> None:
    d, det, X = saved
    m = load_model(d, feature_names=FEATS)
    np.testing.assert_array_equal(m.detector.score(X), det.score(X))
    assert m.threshold == 0.7


def test_altered_model_file_is_refused(saved) -> None:
    d, _, _ = saved
    p = d / MODEL_FILE
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF
    p.write_bytes(bytes(b))
    with pytest.raises(ModelError, match=r"was modified \(hash mismatch\)") as ei:
        load_model(d)
    assert "activesec train" in ei.value.hint


def test_schema_and_version_mismatch_say_retrain(saved) -> None:
    d, _, _ = saved
    with pytest.raises(ModelError, match="different feature schema"):
        load_model(d, feature_names=["a", "b", "c", "e"])
    card = json.loads((d / CARD_FILE).read_text())
    card["versions"]["scikit-learn"] = "0.1.0"
    (d / CARD_FILE).write_text(json.dumps(seal(card)))  # as an old scikit-learn wrote it
    with pytest.raises(ModelError, match=r"scikit-learn 0\.1\.0") as ei:
        load_model(d)
    assert "retrain" in ei.value.hint


def test_edited_card_is_refused(saved) -> None:
    """The calibration decides what locks, so the card is hashed like the model: a raised
    threshold, a card stripped of its hash, or a reformatted-but-equal card."""
    d, _, _ = saved
    original = (d / CARD_FILE).read_text()
    card = json.loads(original)
    (d / CARD_FILE).write_text(json.dumps(card))  # same content, other layout: still valid
    assert load_model(d).threshold == 0.7
    card["calibration"]["threshold"] = 1e9
    (d / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"model card .* was modified \(hash mismatch\)") as ei:
        load_model(d)
    assert "activesec train" in ei.value.hint
    del card["card_sha256"]
    (d / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"no card_sha256 .*older ActiveSec"):
        read_card(d)
    assert json.loads((d / CARD_FILE).read_text())["calibration"]["threshold"] == 1e9  # kept
    (d / CARD_FILE).write_text(original)
    assert load_model(d).threshold == 0.7


def test_missing_or_broken_card(tmp_path: Path, saved) -> None:
    with pytest.raises(ModelError, match=r"model\.json is missing"):
        load_model(tmp_path / "nothing")
    d, _, _ = saved
    (d / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(d)


def test_untrusted_type_is_refused(saved) -> None:
    d, _, _ = saved
    # a card that claims another detector: the saved class is then not in the trusted list
    card = json.loads((d / CARD_FILE).read_text())
    card["detector"] = "scaled_manhattan"
    (d / CARD_FILE).write_text(json.dumps(seal(card)))
    with pytest.raises(ModelError, match="untrusted types"):
        load_model(d)


def test_unfitted_or_misnamed_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        save_model(registry.create("scaled_manhattan"), tmp_path, feature_names=FEATS)
    det = registry.create("scaled_manhattan").fit(np.random.default_rng(0).normal(size=(9, 4)))
    with pytest.raises(ModelError):
        save_model(det, tmp_path, feature_names=FEATS[:2])
