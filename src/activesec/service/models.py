"""Trained models on disk, and loading them for the agent and ``replay``.

Each modality has a directory under ``<data_dir>/models/`` (``pointer-mouse``, ``keyboard``, …)::

    model.json    the model card (detectors.persist): schema, versions, calibration, hashes
    model.skops   the fitted detector (scikit-learn; used by training and as a fallback)
    compact.npz   its NumPy-only twin (detectors.compact) — what the agent scores with
    rows.npz      the owner feature rows it was fitted on (for bounded drift re-training)
    agent.json    format, SHA-256 of compact.npz and rows.npz, and the card's model hash

:func:`load_models` verifies everything before returning engine
:class:`~activesec.engine.scoring.ModalityModel` objects: the card parses, the SHA-256 of each
file matches, activesec / scikit-learn / NumPy versions and the feature schema are those of
this install. Any failure is a :class:`ModelError` naming the model and the fix — the agent then
keeps enrolling and says why. With a compact twin present scikit-learn is never imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import ModelError
from activesec.core.paths import Paths, sha256_file, write_private_text
from activesec.detectors import persist
from activesec.detectors.compact import CompactScorer
from activesec.engine.scoring import KEYBOARD, ModalityModel
from activesec.engine.trust import Calibration
from activesec.features.keys import KEY_FEATURE_NAMES, KEY_STEP, KEY_WINDOW
from activesec.features.pointer import POINTER_FEATURE_NAMES

COMPACT_FILE = "compact.npz"
ROWS_FILE = "rows.npz"
AGENT_CARD = "agent.json"
AGENT_FORMAT = "activesec-agent-model/1"
RETRAIN = "retrain with `activesec train` (the agent keeps enrolling meanwhile)"


def dir_name(modality: str) -> str:
    """``pointer:mouse`` -> ``pointer-mouse`` (a file-system-safe directory name)."""
    return modality.replace(":", "-")


def modality_of(directory: Path) -> str:
    """``pointer-mouse`` (or ``.old-pointer-mouse``) -> ``pointer:mouse``: :func:`dir_name`
    undone."""
    return directory.name.removeprefix(OLD_PREFIX).replace("-", ":", 1)


def model_dir(paths: Paths, modality: str) -> Path:
    return paths.models_dir / dir_name(modality)


OLD_PREFIX = ".old-"  # a model set aside during the swap (service.train._save)


def model_dirs(paths: Paths) -> list[Path]:
    """Directories that hold a model (staging directories start with a dot): any non-empty
    one — a model whose card was deleted is refused with that reason, not taken for none.
    ``.old-<name>`` without ``<name>``: a swap stopped between its two renames (power loss,
    SIGKILL) set the model aside and put none in — it is still the model, until a new one
    replaces it (the next swap deletes it)."""
    d = paths.models_dir
    if not d.is_dir():
        return []
    found: dict[str, Path] = {}
    for p in d.iterdir():
        name = p.name.removeprefix(OLD_PREFIX)
        if (p.name == name or p.name.startswith(OLD_PREFIX)) and not name.startswith(".") \
                and p.is_dir() and any(p.iterdir()) and (p.name == name or name not in found):
            found[name] = p
    return [found[k] for k in sorted(found)]


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, allow_pickle=False, **arrays)
    os.replace(tmp, path)


def write_twin_files(directory: Path, scorer: CompactScorer | None, rows: np.ndarray,
                     rows_t_end_ns: np.ndarray) -> dict[str, Any]:
    """Write compact.npz (if any) and rows.npz; returns what agent.json says of them (their
    SHA-256, the twin's ``meta``) — the model card carries it too (``extra.agent_files``), so
    the sealed card binds the files the agent scores with and updates learn from."""
    info: dict[str, Any] = {}
    if scorer is not None:
        arrays, meta = scorer.to_arrays()
        _write_npz(directory / COMPACT_FILE, arrays)
        info["compact"] = {"sha256": sha256_file(directory / COMPACT_FILE), "meta": meta}
    _write_npz(directory / ROWS_FILE, {"X": np.asarray(rows, np.float64),
                                       "t_end_ns": np.asarray(rows_t_end_ns, np.int64)})
    info["rows_sha256"] = sha256_file(directory / ROWS_FILE)
    return info


def write_agent_files(directory: Path, scorer: CompactScorer | None, rows: np.ndarray,
                      rows_t_end_ns: np.ndarray, twin: dict[str, Any] | None = None) -> None:
    """Write compact.npz (if any), rows.npz and agent.json beside an existing model card
    (``twin``: what :func:`write_twin_files` returned when they are written already)."""
    card = persist.read_card(directory)
    if twin is None:
        twin = write_twin_files(directory, scorer, rows, rows_t_end_ns)
    info: dict[str, Any] = {"format": AGENT_FORMAT, "model_sha256": card.get("model_sha256"),
                            **twin}
    write_private_text(directory / AGENT_CARD, json.dumps(info, indent=2) + "\n")


def _agent_info(directory: Path, card: dict[str, Any]) -> dict[str, Any]:
    p = directory / AGENT_CARD
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"model at {directory} has no readable {AGENT_CARD} ({exc})",
                         RETRAIN) from exc
    if not isinstance(info, dict) or info.get("format") != AGENT_FORMAT or info.get(
            "model_sha256") != card.get("model_sha256"):
        raise ModelError(f"{p} does not belong to the model card beside it", RETRAIN)
    # the twin's hash and meta (how it scores) and the rows' hash, as the sealed card has them
    # (cards written before it carry none: their agent.json is taken as it is)
    bound = (card.get("extra") or {}).get("agent_files")
    if bound is not None and any(info.get(k) != bound.get(k) for k in ("compact", "rows_sha256")):
        raise ModelError(f"{p} was modified: it does not match the model card", RETRAIN)
    return dict(info)


def expected_schema(card: dict[str, Any]) -> list[str]:
    modality = str((card.get("extra") or {}).get("modality", ""))
    return list(KEY_FEATURE_NAMES if modality == KEYBOARD else POINTER_FEATURE_NAMES)


def verify_card(directory: Path) -> dict[str, Any]:
    """The card of the model in ``directory`` after every check that needs no scikit-learn."""
    card = persist.read_card(directory)
    model_file = directory / str(card.get("model_file", persist.MODEL_FILE))
    if not model_file.is_file():
        raise ModelError(f"model file {model_file} is missing", RETRAIN)
    if sha256_file(model_file) != card.get("model_sha256"):
        raise ModelError(f"model file {model_file} was modified (hash mismatch)", RETRAIN)
    persist.check_versions(card, directory)
    if (card.get("feature_schema") or {}).get("sha256") != persist.schema_hash(
            expected_schema(card)):
        raise ModelError(f"model at {directory} was trained on a different feature schema",
                         RETRAIN)
    if not (card.get("extra") or {}).get("modality"):
        raise ModelError(f"model card in {directory} names no modality", RETRAIN)
    return card


def _verified(directory: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(card, compact section of agent.json or None) after every check loading makes without
    loading: card and model hash, versions, schema, the agent files, the compact twin's hash."""
    card = verify_card(directory)
    comp = _agent_info(directory, card).get("compact")
    if comp:
        f = directory / COMPACT_FILE
        if not f.is_file() or sha256_file(f) != comp.get("sha256"):
            raise ModelError(f"compact model {f} is missing or was modified (hash mismatch)",
                             RETRAIN)
    return card, comp


def load_scorer(directory: Path, *, allow_sklearn: bool = True) -> tuple[dict[str, Any], Any]:
    """(card, scorer): the compact twin when there is one, else the full detector."""
    card, comp = _verified(directory)
    if comp:
        f = directory / COMPACT_FILE
        with np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        scorer = CompactScorer.from_arrays(arrays, dict(comp.get("meta") or {}))
        if scorer.n_features_in_ != card.get("n_features"):
            raise ModelError(f"compact model {f} does not match its card", RETRAIN)
        return card, scorer
    if not allow_sklearn:
        raise ModelError(f"model at {directory} has no compact form", RETRAIN)
    return card, persist.load_model(directory, feature_names=expected_schema(card)).detector


def load_rows(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """The owner rows a model was fitted on (verified against agent.json)."""
    card = verify_card(directory)
    info = _agent_info(directory, card)
    f = directory / ROWS_FILE
    if not f.is_file() or sha256_file(f) != info.get("rows_sha256"):
        raise ModelError(f"training rows {f} are missing or were modified", RETRAIN)
    with np.load(f, allow_pickle=False) as z:
        return np.asarray(z["X"], np.float64), np.asarray(z["t_end_ns"], np.int64)


def calibration_dict(cal: Calibration) -> dict[str, Any]:
    """The model card's ``calibration`` section (read back by :func:`calibration_of`)."""
    out: dict[str, Any] = {"threshold": cal.threshold, "scale": cal.scale, "center": cal.center,
                           "target_far": cal.target_far, "window": cal.window}
    if cal.fused is not None:
        out["fused"] = list(cal.fused)
    return out


def calibration_of(card: dict[str, Any]) -> Calibration:
    """The card's calibration. Cards written before fusion windows existed have neither
    ``window`` nor ``fused``: they were calibrated on single scores, and load as window 1."""
    cal = card.get("calibration") or {}
    try:
        fused = cal.get("fused")
        return Calibration(threshold=float(cal["threshold"]), scale=float(cal["scale"]),
                           center=float(cal["center"]),
                           target_far=float(cal.get("target_far", 0.05)),
                           window=int(cal.get("window", 1)),
                           fused=None if fused is None else (float(fused[0]), float(fused[1]),
                                                             float(fused[2])))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"model card calibration is incomplete ({exc})", RETRAIN) from exc


def modality_model(card: dict[str, Any], scorer: Any) -> ModalityModel:
    extra = card.get("extra") or {}
    cal = calibration_of(card)
    center = extra.get("feature_center")
    scale = extra.get("feature_scale")
    kw: dict[str, Any] = {}
    if center is not None and scale is not None:
        kw = {"feature_center": np.asarray(center, np.float64),
              "feature_scale": np.asarray(scale, np.float64)}
    if extra.get("modality") == KEYBOARD:
        return ModalityModel.keyboard(scorer, cal, window=int(extra.get("window", KEY_WINDOW)),
                                      step=int(extra.get("step", KEY_STEP)), **kw)
    return ModalityModel.pointer(scorer, cal, **kw)


class LoadedModels(dict[str, ModalityModel]):
    """The models that loaded, keyed by modality; ``refused``: ``(directory name, why)`` for
    each one that did not."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[tuple[str, ModelError]] = []


def load_each(paths: Paths, *, allow_sklearn: bool = True) -> LoadedModels:
    """Every trained modality that passes its checks; the others in ``refused``. The agent
    scores with what it has: one damaged or tampered model must not switch off the others."""
    out = LoadedModels()
    for d in model_dirs(paths):
        try:
            card, scorer = load_scorer(d, allow_sklearn=allow_sklearn)
            out[str(card["extra"]["modality"])] = modality_model(card, scorer)
        except ModelError as exc:
            out.refused.append((d.name, exc))
    return out


def load_models(paths: Paths, *, allow_sklearn: bool = True) -> dict[str, ModalityModel]:
    """Every trained modality as an engine model, keyed ``pointer:<type>`` / ``keyboard``.

    A missing, stale or tampered model raises ModelError (nothing is half-loaded: ``replay``
    and ``bench`` ask for exactly what is trained; the agent uses :func:`load_each`). Models
    with a compact twin (every default and fallback detector) score with NumPy only; one
    without (a detector configured by name that has no compact form) loads through skops and
    imports scikit-learn, unless ``allow_sklearn=False``, which refuses it instead."""
    if not model_dirs(paths):
        raise ModelError(f"no trained model in {paths.models_dir}",
                         "keep capturing until enrolment completes, or run `activesec train`")
    out = load_each(paths, allow_sklearn=allow_sklearn)
    if out.refused:
        raise out.refused[0][1]
    return dict(out)


def verify_model(directory: Path) -> dict[str, Any]:
    """The card after every check loading would make, without loading (``activesec status``)."""
    card, _ = _verified(directory)
    calibration_of(card)
    return card
