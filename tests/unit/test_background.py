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


def test_an_account_without_a_background_uses_the_machines(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A background was each account's own: on a family machine or a fleet every account —
    and each one created later — trained with the one-class fallback (EER 28.6 % against
    5.8 % on Balabit) unless it built one itself from the public datasets."""
    import os

    machine = tmp_path / "machine" / "background"
    monkeypatch.setenv(bgm.SITE_ENV, str(machine))
    old = os.umask(0o077)  # an administrator's strict umask: the files must still be readable
    try:
        f = bgm.save(paths_mod.resolve(), _bg("pointer", 60), machine=bgm.machine_dir())
    finally:
        os.umask(old)
    assert f == machine / "background-pointer.npz"
    for d in (machine, machine.parent):  # made here, parent included: every account reads
        assert (d.stat().st_mode & 0o777) == 0o755
    for item in (f, f.with_suffix(".json")):
        assert (item.stat().st_mode & 0o777) == 0o644
    p = paths_mod.resolve()
    assert bgm.located(p, "pointer") == f and bgm.located(p, "keyboard") is None
    loaded = bgm.load_background(p, "pointer")
    assert loaded is not None and len(loaded[0]) == 60
    own = bgm.save(p, _bg("pointer", 30))  # an account's own one wins
    assert bgm.located(p, "pointer") == own
    assert len(bgm.load_background(p, "pointer")[0]) == 30  # type: ignore[index]


@pytest.mark.parametrize("change", ["writable", "other owner", "folder writable"])
def test_a_machine_background_another_account_could_change_is_refused(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """Every account's training would learn from whatever that account put there."""
    import os

    machine = tmp_path / "machine"
    monkeypatch.setenv(bgm.SITE_ENV, str(machine))
    f = bgm.save(paths_mod.resolve(), _bg("pointer"), machine=machine)
    if change == "writable":
        f.chmod(0o666)
    elif change == "folder writable":
        machine.chmod(0o777)
    else:
        if os.getuid() != 0:
            pytest.skip("only root can give a file to another account")
        os.chown(f.with_suffix(".json"), 65534, 65534)
    with pytest.raises(ModelError, match="machine's pointer background is refused") as exc:
        bgm.load_background(paths_mod.resolve(), "pointer")
    assert "chmod" in (exc.value.hint or "")


def test_a_machine_background_closed_to_the_account_is_one_clear_refusal() -> None:
    """A folder an administrator left 0700: Path.is_file raises on EACCES (it is not
    "absent"), and the agent's housekeeping, doctor and training met a PermissionError."""
    from tests.helpers.unprivileged import run_unprivileged, shared_tmp_dir

    with shared_tmp_dir() as shared:
        machine = shared / "machine"
        home = shared / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        bgm.save(paths_mod.resolve(home), _bg("pointer"), machine=machine)
        machine.chmod(0o700)
        r = run_unprivileged(
            "import os\nfrom activesec.core import paths\nfrom activesec.core.errors import "
            "ModelError\nfrom activesec.service import background as bgm",
            f"os.environ[bgm.SITE_ENV] = {str(machine)!r}\n"
            f"p = paths.resolve({str(home)!r})\n"
            "try:\n    bgm.load_background(p, 'pointer')\n    print('loaded')\n"
            "except ModelError as exc:\n    print('refused:', exc.message, '|', exc.hint)\n")
    assert r.returncode == 0, r.stderr
    assert "refused: the machine's pointer background in" in r.stdout, r.stdout
    assert "cannot be read" in r.stdout and "chmod 755" in r.stdout, r.stdout


def test_the_platforms_folder_wins_over_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As for the policy file: an account cannot displace the machine's folder by setting a
    variable, only name one where the platform's does not exist."""
    assert bgm.platform_dir("linux", {}) == Path("/var/lib/activesec/background")
    assert bgm.platform_dir("win32", {"PROGRAMDATA": "D:/PD"}) == Path("D:/PD/ActiveSec/background")
    fixed = tmp_path / "var-lib"
    monkeypatch.setattr(bgm, "platform_dir", lambda *a, **k: fixed)
    env = {bgm.SITE_ENV: str(tmp_path / "mine")}
    assert bgm.machine_dir(env=env) == tmp_path / "mine"
    fixed.mkdir()
    assert bgm.machine_dir(env=env) == fixed


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
