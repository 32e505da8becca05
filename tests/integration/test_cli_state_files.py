"""State files that are not what ActiveSec wrote (a directory in a file's place, a file in a
directory's place, a damaged enrolment file, a full disk): the hint given must work, nothing
is half-written and nothing of the user's is deleted."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.cli import cli, initialised, one_line_error
from tests.integration.test_store_files import _in_user_namespace


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return initialised(tmp_path / "home")


def _home(env: dict[str, str]) -> Path:
    return Path(env["ACTIVESEC_HOME"])


def _listing(home: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(home)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(home.rglob("*")) if "logs" not in p.parts}


@pytest.mark.parametrize("name", ["config.toml", "profile.json"])
def test_init_force_names_a_directory_in_a_files_place(env: dict[str, str], name: str) -> None:
    home = _home(env)
    (home / name).unlink()
    (home / name).mkdir()
    (home / name / "mine.txt").write_text("the user's")
    assert str(home / name) in one_line_error(cli("status", env=env))
    before = _listing(home)
    line = one_line_error(cli("init", "--force", "--user", "bob", env=env))
    assert str(home / name) in line and "directory" in line and "move" in line
    assert _listing(home) == before  # nothing half-written, no temp file, the directory kept


def test_a_file_in_place_of_the_models_directory(env: dict[str, str]) -> None:
    home = _home(env)
    (home / "models").rmdir()
    (home / "models").write_text("not a directory")
    for args in (("status",), ("train", "--reset"), ("train",), ("init",)):
        line = one_line_error(cli(*args, env=env))
        assert f"{home / 'models'} is not a directory" in line, args
    assert (home / "models").read_text() == "not a directory"


def test_a_directory_in_place_of_the_capture_lock(env: dict[str, str], xdisplay: str) -> None:
    lock = _home(env) / "run" / "capture.lock"
    lock.mkdir()
    line = one_line_error(cli("capture", "-d", "1", "-q", env=env | {"DISPLAY": xdisplay}))
    assert f"lock file {lock} is a directory" in line
    assert lock.is_dir()


def test_a_damaged_enrolment_file_is_named_and_deleting_it_is_the_repair(
    env: dict[str, str],
) -> None:
    home = _home(env)
    f = home / "models" / "enrolment.json"
    f.write_text("{not json")
    card = home / "models" / "pointer-mouse" / "card.json"  # a working model must survive
    card.parent.mkdir()
    card.write_text("{}")
    line = one_line_error(cli("status", env=env))
    assert str(f) in line and f"delete {f}" in line and "--reset" not in line
    f.unlink()
    assert cli("status", "--json", env=env).returncode == 0
    assert card.exists()


def test_init_force_on_a_full_disk(tmp_path: Path) -> None:
    r = _in_user_namespace(
        """
        import os, subprocess, sys
        from pathlib import Path

        home = Path(os.environ["MNT"]) / "home"
        env = dict(os.environ, ACTIVESEC_HOME=str(home))
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init", "--user", "alice").returncode == 0
        fd = os.open(Path(os.environ["MNT"]) / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # fill the disk
            while True:
                os.write(fd, b"x" * 4096)
        except OSError:
            os.close(fd)
        before = sorted(p.name for p in home.iterdir())
        r = run("init", "--force", "--user", "bob")
        print("RC", r.returncode)
        print("ERR", repr(r.stderr))
        print("SAME", sorted(p.name for p in home.iterdir()) == before)
        print("PROFILE", (home / "profile.json").read_text().count("alice"))
        """,
        tmp_path,
        size="2m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    err = ast.literal_eval(out["ERR"])
    assert out["RC"] == "2" and "Traceback" not in err and err.count("\n") == 1, err
    assert "disk is full" in err and "profile.json" in err
    assert out["SAME"] == "True" and out["PROFILE"] == "1"


def test_write_private_text_leaves_no_temp_file(tmp_path: Path) -> None:
    from activesec.core.paths import write_private_text

    (tmp_path / "target").mkdir()
    with pytest.raises(IsADirectoryError):
        write_private_text(tmp_path / "target", "x")
    assert sorted(os.listdir(tmp_path)) == ["target"]


def _as_user(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI as root without the capabilities that pass every permission check: files of
    uid 65534 are then another account's, as for a user."""
    caps = "-dac_override,-dac_read_search,-fowner,-chown"
    return subprocess.run(["setpriv", "--bounding-set", caps, "--inh-caps", caps, sys.executable,
                           "-m", "activesec.cli.main", *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("owned", ["models", "models/pointer", "run"])
def test_a_folder_of_another_account_is_one_line_for_every_command(
        env: dict[str, str], owned: str, xdisplay: str) -> None:
    """A folder of the data directory that another account owns — `sudo activesec train`
    or `sudo activesec run` with the user's HOME makes root's 0700 `models/<name>` or `run/`
    — ended `status`, `doctor`, `run`, `wipe` and `init --force` in a PermissionError
    traceback (`wipe` after deleting the events, without saying so)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to give a folder to another account) and setpriv")
    home = _home(env)
    (home / "models" / "pointer").mkdir(parents=True, exist_ok=True)
    (home / "models" / "pointer" / "model.json").write_text("{}")
    for p in [home / owned, *(home / owned).rglob("*")]:
        os.chown(p, 65534, 65534)
        p.chmod(0o700 if p.is_dir() else 0o600)  # as ActiveSec makes them
    before = (home / owned).stat().st_mode
    for args in (("status",), ("status", "--json"), ("doctor",), ("init", "--force", "--user",
                 "alice"), ("wipe", "--yes"), ("run", "--duration", "1")):
        r = _as_user(*args, env={**env, "DISPLAY": xdisplay})
        assert "Traceback" not in r.stderr, (args, r.stderr)
        if r.returncode == 0 or (r.returncode == 1 and args[0] == "doctor"):
            continue  # done without that folder, or reported among doctor's checks
        line = one_line_error(r, 78 if r.returncode == 78 else 2)
        assert str(home / owned) in line or "Permission denied" in line, (args, line)
        if args[0] == "wipe":
            assert "wipe deleted every event and session, but not" in line, line
    assert (home / owned).stat().st_mode == before and (home / owned).stat().st_uid == 65534


@pytest.mark.parametrize("command", ["run", "capture"])
def test_a_profile_whose_copy_lost_its_modes_is_made_private_again(
        env: dict[str, str], xdisplay: str, command: str) -> None:
    """A profile brought from another machine by a tool that does not keep modes (unzip, a sync
    client) has 0755 folders: `init` made them 0700 again, but `run` and `capture` recorded into
    them as they were, readable by every account."""
    home = _home(env)
    folders = [home, home / "models", home / "run", home / "logs"]
    for d in folders:
        d.chmod(0o755)
    r = cli(command, "--duration", "1", "--quiet", env=env | {"DISPLAY": xdisplay})
    assert r.returncode == 0, r.stderr
    assert {str(d): oct(d.stat().st_mode & 0o777) for d in folders} == {
        str(d): "0o700" for d in folders}


@pytest.mark.parametrize("store", ["newer", "not sqlite"])
def test_init_force_on_a_store_it_cannot_open_changes_nothing(env: dict[str, str],
                                                              store: str) -> None:
    """`init --force` on a store a newer version migrated (or not a store at all) said so, but
    only after it had rewritten the profile (a new owner, a new creation date) and replaced the
    config file with the defaults — for a store it then refused to touch."""
    import sqlite3

    from activesec.store.schema import SCHEMA_VERSION

    home = _home(env)
    db = home / "activesec.db"
    if store == "newer":
        conn = sqlite3.connect(db, isolation_level=None)  # as one more migration leaves it
        conn.execute("CREATE TABLE from_the_future (x INTEGER)")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    else:
        db.write_bytes(b"my notes, not a database\n" * 10)
    with open(home / "config.toml", "a") as fh:
        fh.write("\n[store]\nkeep_days = 30\n")  # the user's own setting
    before = _listing(home)
    line = one_line_error(cli("init", "--force", "--user", "bob", env=env))
    assert ("newer ActiveSec" if store == "newer" else "not an ActiveSec event store") in line
    assert _listing(home) == before
