"""The background population: subsampling, files with a card, verification, real dataset slices."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core import paths as paths_mod
from activesec.core.errors import DataError, ModelError
from activesec.features.keys import KEY_FEATURE_NAMES
from activesec.features.pointer import POINTER_FEATURE_NAMES
from activesec.service import background as bgm


def test_subsample_is_seeded_capped_and_spread_over_people() -> None:
    rng = np.random.default_rng(0)
    people = [rng.normal(size=(n, 3)) for n in (5, 400, 1000, 0)]
    X, g = bgm._subsample(people, 300, seed=1)
    assert len(X) <= 300 and len(X) >= 290
    counts = np.bincount(g)
    assert counts[0] == 5 and abs(int(counts[1]) - int(counts[2])) <= 1  # the small one gives all
    X2, _g2 = bgm._subsample(people, 300, seed=1)
    np.testing.assert_array_equal(X, X2)
    X3, _ = bgm._subsample(people, 300, seed=2)
    assert not np.array_equal(X, X3)


def _bg(modality: str, n: int = 60) -> bgm.Background:
    nf = len(POINTER_FEATURE_NAMES if modality == "pointer" else KEY_FEATURE_NAMES)
    X = np.random.default_rng(3).normal(size=(n, nf))
    return bgm.Background(modality, X, np.repeat(np.arange(6), n // 6), {"test": {}})


def test_save_load_round_trip_and_refusals(home: Path) -> None:
    p = paths_mod.resolve()
    assert bgm.load_background(p, "pointer") is None  # nothing installed: not an error
    bg = _bg("pointer")
    f = bgm.save(p, bg)
    assert f == p.models_dir / "background-pointer.npz"
    assert (f.stat().st_mode & 0o777) == 0o600
    card = json.loads(f.with_suffix(".json").read_text())
    assert card["rows"] == 60 and card["people"] == 6 and "non-commercial" in card["licence_note"]
    loaded = bgm.load_background(p, "pointer")
    assert loaded is not None
    np.testing.assert_array_equal(loaded[0], bg.X)
    np.testing.assert_array_equal(loaded[1], bg.groups)
    # another feature schema
    card["feature_schema"]["sha256"] = "0" * 64
    f.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="another feature schema"):
        bgm.load_background(p, "pointer")
    # an altered file
    bgm.save(p, bg)
    f.write_bytes(f.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="hash mismatch"):
        bgm.load_background(p, "pointer")


def test_build_needs_a_dataset_and_enough_people(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no dataset"):
        bgm.build()
    with pytest.raises(DataError):
        bgm.build(balabit=tmp_path / "missing")


def slice_balabit(dest: Path, users: tuple[str, ...], lines: int = 3000) -> Path:
    """A Balabit-layout copy holding the first lines of two sessions per user."""
    src = dataset("balabit", "training_files")
    for u in users:
        (dest / "training_files" / u).mkdir(parents=True)
        for f in sorted((src / u).iterdir())[:2]:
            with open(f) as fh:
                head = [next(fh, "") for _ in range(lines)]
            (dest / "training_files" / u / f.name).write_text("".join(head))
    return dest


def slice_aalto(dest: Path, lines: int = 6000) -> Path:
    src = dataset("aalto136m", "keystrokes.tsv.gz")
    with gzip.open(src, "rt", encoding="utf-8", errors="replace") as fh:
        head = [next(fh, "") for _ in range(lines)]
    dest.write_text("".join(head))
    return dest


def test_build_from_real_dataset_slices_keeps_features_only(tmp_path: Path) -> None:
    bal = slice_balabit(tmp_path / "bal", ("user7", "user9", "user12"))
    aalto = slice_aalto(tmp_path / "aalto.tsv")
    built = bgm.build(balabit=bal, aalto=aalto, max_rows=500, seed=0)
    ptr, keys = built["pointer"], built["keyboard"]
    assert ptr.X.shape[1] == len(POINTER_FEATURE_NAMES) and 0 < len(ptr.X) <= 500
    assert ptr.n_people == 3 and keys.n_people >= 3
    assert keys.X.shape[1] == len(KEY_FEATURE_NAMES)
    assert np.isfinite(ptr.X).all() and np.isfinite(keys.X).all()
    again = bgm.build(balabit=bal, max_rows=500, seed=0)["pointer"]
    np.testing.assert_array_equal(again.X, ptr.X)  # reproducible
    assert set(np.unique(ptr.groups)) == {0, 1, 2}  # anonymous person numbers, no names
