"""Configuration precedence and errors that name the offending key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from activesec.core import config, paths
from activesec.core.errors import ConfigError


@pytest.fixture
def p(home: Path) -> paths.Paths:
    return paths.resolve().ensure()


def test_defaults_without_file(p: paths.Paths) -> None:
    s = config.load(p)
    assert s.capture.backend == "auto"
    assert s.store.keep_days == 90


def test_precedence_file_env_flags(p: paths.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_default(p, "alice")
    text = p.config_file.read_text().replace("keep_days = 90", "keep_days = 30")
    p.config_file.write_text(text)
    assert config.load(p).store.keep_days == 30
    assert config.load(p).user == "alice"
    monkeypatch.setenv("ACTIVESEC_STORE__KEEP_DAYS", "10")
    assert config.load(p).store.keep_days == 10
    assert config.load(p, {"store": {"keep_days": 5}}).store.keep_days == 5
    # a nested env var does not wipe the rest of the file's section
    monkeypatch.setenv("ACTIVESEC_CAPTURE__FLUSH_INTERVAL_S", "0.5")
    s = config.load(p)
    assert s.capture.flush_interval_s == 0.5
    assert s.capture.flush_events == 8192


def test_default_file_is_private_and_valid(p: paths.Paths) -> None:
    f = config.write_default(p, 'bob "the owner"')
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert config.load(p).user == 'bob "the owner"'
    assert "# commit to disk at least this often" in f.read_text()


@pytest.mark.parametrize(
    ("snippet", "key"),
    [
        ("[capture]\nflush_interval_s = -1\n", "capture.flush_interval_s"),
        ("[capture]\nbackend = 'wayland'\n", "capture.backend"),
        ("[store]\nkeepdays = 3\n", "store.keepdays"),
        ("[enrol]\nkeystrokes = 'many'\n", "enrol.keystrokes"),
    ],
)
def test_invalid_values_name_the_key(p: paths.Paths, snippet: str, key: str) -> None:
    p.config_file.write_text(snippet)
    with pytest.raises(ConfigError) as exc:
        config.load(p)
    assert key in exc.value.message
    assert "\n" not in str(exc.value)


def test_invalid_env_names_the_key(p: paths.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVESEC_STORE__KEEP_DAYS", "-3")
    with pytest.raises(ConfigError, match=r"store\.keep_days"):
        config.load(p)


def test_broken_toml(p: paths.Paths) -> None:
    p.config_file.write_text("[capture\nbackend=")
    before = p.config_file.read_bytes()
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        config.load(p)
    assert p.config_file.read_bytes() == before


def test_home_relocates_everything(home: Path) -> None:
    p = paths.resolve()
    for f in (p.config_file, p.database, p.models_dir, p.log_file, p.profile_file):
        assert home in f.parents
    p.ensure()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
