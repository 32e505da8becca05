"""Save and load fitted detectors without pickle, with a model card beside them.

A model directory holds ``model.skops`` (skops.io: a zip of JSON + NumPy arrays that is
loaded against an explicit list of trusted types, never by executing pickled code) and
``model.json``, the model card::

    {"format": "activesec-model/1", "detector": "extra_trees", "params": {...},
     "feature_schema": {"names": [...], "sha256": "..."}, "n_features": 61,
     "versions": {"numpy": "2.4.6", "scikit-learn": "1.9.1", "skops": "0.16.0",
                  "activesec": "0.1.0"},
     "calibration": {"threshold": 0.61, "target_far": 0.01}, "created": "2026-...Z",
     "model_file": "model.skops", "model_sha256": "...", "extra": {...},
     "card_sha256": "..."}

:func:`load_model` verifies, in order: the card parses and its own SHA-256 (``card_sha256``,
over the canonical JSON of every other field) matches — the calibration that decides what
locks lives in the card, so an edited threshold is refused like an edited model; the model
file's SHA-256 matches (an altered file is refused); the library versions and, when given, the
caller's feature schema match (a mismatch means retrain — a model is never "repaired"); skops
finds no type outside the trusted list. Every failure is a
:class:`~activesec.core.errors.ModelError` with the fix. The hashes detect accidental or naive
tampering; an attacker who can rewrite both files can also replace the agent, which is outside
this check's reach.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import ModelError
from activesec.core.paths import sha256_file
from activesec.detectors import registry
from activesec.detectors.base import Detector

FORMAT = "activesec-model/1"
MODEL_FILE = "model.skops"
CARD_FILE = "model.json"
CARD_HASH = "card_sha256"
RETRAIN = "retrain with `activesec train`"

# scikit-learn internals our built-in detectors contain; skops asks for them explicitly.
TRUSTED_SKLEARN_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
})


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "unknown"


def library_versions() -> dict[str, str]:
    return {p: _version(p) for p in ("numpy", "scikit-learn", "skops", "activesec")}


def schema_hash(feature_names: list[str]) -> str:
    return hashlib.sha256("\n".join(feature_names).encode()).hexdigest()


def card_hash(card: dict[str, Any]) -> str:
    """SHA-256 of the card's canonical JSON without its own ``card_sha256`` field."""
    body = {k: v for k, v in card.items() if k != CARD_HASH}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def seal(card: dict[str, Any]) -> dict[str, Any]:
    """``card`` with its ``card_sha256`` set (what :func:`save_model` writes)."""
    return {**card, CARD_HASH: card_hash(card)}


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


@dataclass(frozen=True)
class LoadedModel:
    detector: Detector
    card: dict[str, Any]

    @property
    def threshold(self) -> float | None:
        cal = self.card.get("calibration") or {}
        t = cal.get("threshold")
        return None if t is None else float(t)


def save_model(
    detector: Detector,
    directory: str | os.PathLike[str],
    *,
    feature_names: list[str],
    calibration: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    created: str | None = None,
) -> Path:
    """Write ``model.skops`` and its card into ``directory`` (created 0700); returns the card
    path. ``calibration`` is e.g. ``{"threshold": t, "target_far": 0.01}``."""

    if not hasattr(detector, "n_features_in_"):
        raise ModelError("cannot save an unfitted detector", "fit it first")
    if len(feature_names) != detector.n_features_in_:
        raise ModelError(f"{len(feature_names)} feature names for a model of "
                         f"{detector.n_features_in_} features", "pass the extractor's names")
    data = _dumps(detector)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    model_path = d / MODEL_FILE
    _write_private(model_path, data)
    card = {
        "format": FORMAT,
        "detector": detector.name or type(detector).__name__,
        "class": f"{type(detector).__module__}.{type(detector).__qualname__}",
        "params": _jsonable(detector.get_params()),
        "feature_schema": {"names": list(feature_names), "sha256": schema_hash(feature_names)},
        "n_features": int(detector.n_features_in_),
        "versions": library_versions(),
        "calibration": _jsonable(calibration) if calibration is not None else None,
        "created": created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_file": MODEL_FILE,
        "model_sha256": sha256_file(model_path),
        "extra": _jsonable(extra or {}),
    }
    plugin = _plugin_origin(detector)
    if plugin is not None:
        card["plugin"] = plugin
    card_path = d / CARD_FILE
    _write_private(card_path, (json.dumps(seal(card), indent=2, sort_keys=True) + "\n").encode())
    return card_path


def _trusted(cls: type) -> frozenset[str]:
    """The types a saved model of detector class ``cls`` may hold."""
    return TRUSTED_SKLEARN_TYPES | {f"{cls.__module__}.{cls.__qualname__}"}


def _dumps(detector: Detector) -> bytes:
    """``detector`` as skops bytes that :func:`load_model` will accept: a plug-in whose fitted
    state held its own helper class or a function was saved, and every load then refused it
    ("untrusted types … retrain"), so the agent retrained it for ever."""
    import skops.io as sio

    cls = type(detector)
    who = detector.who()
    fix = ("keep its fitted state in NumPy arrays, numbers, strings, lists and dicts "
           "(README, 'To compare your own detector'), or choose another detector")
    try:
        data = sio.dumps(detector)
        untrusted = set(sio.get_untrusted_types(data=data)) - _trusted(cls)
    except Exception as exc:
        raise ModelError(f"{who} cannot be saved without pickle: {type(exc).__name__}: {exc}",
                         fix) from None
    if untrusted:
        raise ModelError(f"{who} cannot be saved without pickle: its fitted state holds "
                         f"{', '.join(sorted(untrusted))}", fix)
    return data


def load_json_card(p: Path, fmt: str, what: str, hint: str) -> dict[str, Any]:
    """The JSON object at ``p`` whose ``format`` is ``fmt``, or a ModelError naming ``what``
    (e.g. "model card") with ``hint`` — shared by model and background cards."""
    try:
        card = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{what} {p} is unreadable ({exc})", hint) from exc
    if not isinstance(card, dict) or card.get("format") != fmt:
        raise ModelError(f"{what} {p} is not an {fmt} card", hint)
    return card


def read_card(directory: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(directory) / CARD_FILE
    if not p.is_file():
        raise ModelError(f"model card {p} is missing", RETRAIN)
    card = load_json_card(p, FORMAT, "model card", RETRAIN)
    if card.get(CARD_HASH) != card_hash(card):
        why = ("carries no card_sha256 (written by an older ActiveSec)"
               if CARD_HASH not in card else "was modified (hash mismatch)")
        raise ModelError(f"model card {p} {why}", RETRAIN)
    return card


def _major_minor(v: str) -> str:
    return ".".join(v.split(".")[:2])


def _plugin_origin(detector: Detector) -> dict[str, str] | None:
    """The package and version of a plug-in detector (None for a built-in), for its card."""
    found = registry.origin(detector.name) if detector._is_plugin() else None
    return None if found is None else {"package": found[0], "version": found[1]}


def check_versions(card: dict[str, Any], where: Path) -> None:
    """A ModelError (retrain) unless the card was written by this ActiveSec and scikit-learn
    and a NumPy of the same minor version — and, for a plug-in detector, by the plug-in's
    installed version: another's class may differ, and its model failed only while scoring."""
    saved, now = card.get("versions") or {}, library_versions()
    for pkg, strict in (("activesec", True), ("scikit-learn", True), ("numpy", False)):
        a, b = str(saved.get(pkg)), now[pkg]
        if (a != b) if strict else (_major_minor(a) != _major_minor(b)):
            raise ModelError(f"model at {where} was built with {pkg} {a}, this is {b}", RETRAIN)
    plugin = card.get("plugin")
    if isinstance(plugin, dict):
        found = registry.origin(str(card.get("detector")))
        installed = "not installed" if found is None else f"{found[0]} {found[1]}"
        if found is None or found[1] != plugin.get("version"):
            raise ModelError(f"model at {where} was built with plug-in {plugin.get('package')} "
                             f"{plugin.get('version')}, this is {installed}", RETRAIN)


def load_model(
    directory: str | os.PathLike[str], *, feature_names: list[str] | None = None
) -> LoadedModel:
    """Load and verify a saved model (checks in the module docstring)."""
    import skops.io as sio

    d = Path(directory)
    card = read_card(d)
    model_path = d / str(card.get("model_file", MODEL_FILE))
    if not model_path.is_file():
        raise ModelError(f"model file {model_path} is missing", RETRAIN)
    if sha256_file(model_path) != card.get("model_sha256"):
        raise ModelError(f"model file {model_path} was modified (hash mismatch)", RETRAIN)
    check_versions(card, d)
    schema = card.get("feature_schema", {})
    if feature_names is not None and schema.get("sha256") != schema_hash(feature_names):
        raise ModelError(f"model at {d} was trained on a different feature schema", RETRAIN)
    cls = registry.get(str(card.get("detector")))
    trusted = _trusted(cls)
    data = model_path.read_bytes()
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
        if not untrusted <= trusted:
            bad = ", ".join(sorted(untrusted - trusted))
            raise ModelError(f"model file {model_path} contains untrusted types: {bad}", RETRAIN)
        det = sio.loads(data, trusted=sorted(untrusted))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"model file {model_path} cannot be loaded ({exc})", RETRAIN) from exc
    if not isinstance(det, cls) or getattr(det, "n_features_in_", None) != card.get("n_features"):
        raise ModelError(f"model file {model_path} does not match its card", RETRAIN)
    assert isinstance(det, Detector)
    return LoadedModel(det, card)
