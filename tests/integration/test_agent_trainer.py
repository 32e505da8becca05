"""The agent's automatic training: ``subprocess_trainer`` starts the real ``activesec train
--json`` (``--update``) child on the agent's home, with synthetic recordings imported through
the real CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tests.helpers.cli import cli, env_for, one_line_error

from activesec.core import config
from activesec.core import paths as paths_mod
from activesec.core.errors import ModelError
from activesec.recordings import write_keys_csv, write_mouse_csv
from activesec.recordings.synthetic import STYLES, TYPISTS, pointer_person, typing
from activesec.service.agent import subprocess_trainer
from activesec.service.models import load_models

# small enrolment and fast detectors: the child trains in seconds
SETTINGS_ENV = {
    "ACTIVESEC_ENROL__POINTER_EVENTS": "3000",
    "ACTIVESEC_ENROL__KEYSTROKES": "300",
    "ACTIVESEC_TRAIN__POINTER_DETECTOR": "scaled_manhattan",
    "ACTIVESEC_TRAIN__KEYS_DETECTOR": "scaled_manhattan",
}


@pytest.fixture
def agent_env(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CLI environment for ``home``; the agent's own process environment names another
    (decoy) ACTIVESEC_HOME, so the child trains on ``home`` only if the trainer relocates it."""
    for k, v in SETTINGS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ACTIVESEC_HOME", str(tmp_path / "decoy"))
    env = env_for(home, **SETTINGS_ENV)
    r = cli("init", "--user", "owner", env=env)
    assert r.returncode == 0, r.stderr
    return env


def _import_owner(tmp_path: Path, env: dict[str, str]) -> None:
    root = tmp_path / "rec"
    (root / "mouse" / "owner").mkdir(parents=True)
    (root / "keys" / "owner").mkdir(parents=True)
    for i in range(2):  # two sessions: ~27,000 pointer events
        write_mouse_csv(root / "mouse" / "owner" / f"s{i}.csv",
                        pointer_person(150, 10 + i, **STYLES["owner"]))
    write_keys_csv(root / "keys" / "owner" / "s0.csv", typing(600, 3, **TYPISTS["owner"]))
    r = cli("import", str(root), env=env)
    assert r.returncode == 0, r.stderr


def _digests(models_dir: Path) -> dict[str, str]:
    return {str(f.relative_to(models_dir)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(models_dir.rglob("*")) if f.is_file()}


def test_trainer_trains_then_updates_in_a_real_child_on_the_agents_home(
    home: Path, tmp_path: Path, agent_env: dict[str, str]
) -> None:
    _import_owner(tmp_path, agent_env)
    p = paths_mod.resolve(home)
    settings = config.load(p)
    # --update before any training: the child's own one-line error, carried by ModelError
    with pytest.raises(ModelError) as info:
        subprocess_trainer(p, settings, update=True)
    line = one_line_error(cli("train", "--update", "--json", env=agent_env))
    assert "no trained model to update" in line
    assert info.value.message == f"automatic training failed: {line.removeprefix('error: ')}"

    subprocess_trainer(p, settings)
    assert sorted(load_models(p)) == ["keyboard", "pointer:mouse"]
    assert not (tmp_path / "decoy").exists()  # the child used the agent's home, not the env's
    before = _digests(p.models_dir)
    assert {"keyboard/model.json", "pointer-mouse/model.json"} <= set(before)

    subprocess_trainer(p, settings, update=True)  # nothing new since: the models are kept
    assert _digests(p.models_dir) == before
    assert sorted(load_models(p)) == ["keyboard", "pointer:mouse"]


def test_trainer_failure_carries_the_clis_one_line_error(
    home: Path, agent_env: dict[str, str]
) -> None:
    p = paths_mod.resolve(home)
    with pytest.raises(ModelError) as info:
        subprocess_trainer(p, config.load(p))
    line = one_line_error(cli("train", "--json", env=agent_env))
    assert "nothing to train yet" in line
    assert info.value.message == f"automatic training failed: {line.removeprefix('error: ')}"
    assert info.value.hint == "run `activesec train` to see why"
    assert not p.models_dir.exists() or not any(p.models_dir.iterdir())


def test_train_new_adds_the_model_of_a_modality_enrolled_later(
    home: Path, tmp_path: Path, agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pointer model trained while the keyboard's enrolment was incomplete; once it is,
    `train --new` (what the agent runs then) adds the keyboard model and leaves the pointer
    model as it was — a full training would have refitted it on everything, undoing the
    bounded drift update's care."""
    _import_owner(tmp_path, agent_env)
    p = paths_mod.resolve(home)
    monkeypatch.setenv("ACTIVESEC_ENROL__KEYSTROKES", "100000")  # typing not enrolled yet
    subprocess_trainer(p, config.load(p))
    assert sorted(load_models(p)) == ["pointer:mouse"]
    before = _digests(p.models_dir)
    monkeypatch.setenv("ACTIVESEC_ENROL__KEYSTROKES", "300")  # now it is
    subprocess_trainer(p, config.load(p), new=True)
    assert sorted(load_models(p)) == ["keyboard", "pointer:mouse"]
    after = _digests(p.models_dir)
    assert {k: v for k, v in after.items() if k.startswith("pointer-mouse/")} == before
    # nothing new to train: the one-line error the agent carries, the models untouched
    line = one_line_error(cli("train", "--new", "--json", env={
        **agent_env, "ACTIVESEC_ENROL__KEYSTROKES": "300"}))
    assert "nothing new to train" in line or "nothing to train yet" in line, line
    assert _digests(p.models_dir) == after
