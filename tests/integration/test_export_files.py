"""Export to real directories: existing folders keep their mode, earlier exports are never
overwritten, files are private from their creation and a full disk leaves no partial file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.cli import cli, initialised, one_line_error
from tests.integration.test_store_files import _in_user_namespace

from activesec.core import events as ev
from activesec.recordings import generic
from activesec.store import exchange
from activesec.store.db import Store

WALL0 = 1_700_000_000 * 10**9


def _pythonpath() -> str:
    """The import path of this checkout, absolute (the CLI runs in another directory)."""
    return os.pathsep.join(str(Path(p).resolve()) for p in sys.path if p and Path(p).is_dir())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = initialised(tmp_path / "home")
    src = tmp_path / "rec" / "mouse" / "alice"
    src.mkdir(parents=True)
    generic.write_mouse_csv(src / "s1.csv", ev.make(np.arange(50) * 10**7, ev.Kind.MOVE,
                                                     x=np.arange(50), y=7))
    assert cli("import", str(tmp_path / "rec"), env=env).returncode == 0
    return env


@pytest.mark.parametrize("mode", [0o755, 0o1777])
def test_export_into_an_existing_directory_keeps_its_mode(
    env: dict[str, str], tmp_path: Path, mode: int
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    r = cli("export", "--out", str(shared), env=env)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == mode
    # what the export made is private
    made = list(shared.rglob("*"))
    assert made
    for p in made:
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_export_never_overwrites_an_earlier_export(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("export", "--out", str(out), env=env).returncode == 0
    (f,) = out.rglob("*.csv")
    f.write_text("my edited copy\n")
    line = one_line_error(cli("export", "--out", str(out), env=env))
    assert str(f) in line and "already exists" in line and "new or empty directory" in line
    assert f.read_text() == "my edited copy\n"


def test_export_destination_must_be_given_and_supported(
    env: dict[str, str], tmp_path: Path
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for empty in ("", "  "):
        r = subprocess.run([sys.executable, "-m", "activesec.cli.main", "export", "--out", empty],
                           env=env | {"PYTHONPATH": _pythonpath()}, cwd=cwd,
                           capture_output=True, text=True, timeout=120)
        assert "empty" in one_line_error(r)
    assert not list(cwd.iterdir())  # nothing written into the current directory
    line = one_line_error(cli("export", "--out", "ftp://x.invalid/y", env=env))
    assert "unsupported URL scheme ftp://" in line and "s3://" in line
    line = one_line_error(cli("import", "ftp://x.invalid/y", env=env))
    assert "unsupported URL scheme ftp://" in line


@pytest.mark.parametrize("since", ["99999999d", "9999-12-31", "1000000000000w"])
def test_export_since_out_of_range(env: dict[str, str], tmp_path: Path, since: str) -> None:
    line = one_line_error(cli("export", "--out", str(tmp_path / "o"), "--since", since, env=env))
    assert since in line
    assert not (tmp_path / "o").exists()


def _store_with_sessions(path: Path, n_sessions: int, n_events: int) -> Store:
    s = Store.open(path, create=True)
    rng = np.random.default_rng(3)
    for i in range(n_sessions):
        sid = s.begin_session("alice", "test", wall_ns=WALL0 + i, mono_ns=0)
        s.append(sid, ev.make(np.arange(n_events) * 7_919_111, ev.Kind.MOVE,
                              x=rng.integers(-10**6, 10**6, n_events),
                              y=rng.integers(-10**6, 10**6, n_events)))
        s.end_session(sid, WALL0 + i + 10**9)
    s.commit()
    return s


def test_export_files_are_private_from_their_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = generic.write_mouse_csv

    def spy(path: Path, events: np.ndarray, *, injected: bool = False) -> int:
        n = real(path, events, injected=injected)
        seen.append(stat.S_IMODE(os.stat(path).st_mode))  # before any chmod after writing
        return n

    monkeypatch.setattr(generic, "write_mouse_csv", spy)
    old = os.umask(0o022)
    try:
        with _store_with_sessions(tmp_path / "s.db", 2, 100) as s:
            exchange.export(s, tmp_path / "out")
    finally:
        os.umask(old)
    assert seen == [0o600, 0o600]


def test_full_disk_during_export_leaves_no_partial_file(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with _store_with_sessions(db, 4, 6000) as s:  # ~0.2 MB of CSV per session
        exchange.export(s, tmp_path / "ref")
    r = _in_user_namespace(
        f"""
        import os
        from pathlib import Path
        from activesec.core.errors import ActiveSecError
        from activesec.store import exchange
        from activesec.store.db import Store

        with Store.open({str(db)!r}) as s:
            try:
                exchange.export(s, Path(os.environ["MNT"]) / "out")
                print("EXPORTED")
            except ActiveSecError as e:
                print("ERROR", e)
        for f in sorted((Path(os.environ["MNT"]) / "out").rglob("*.csv")):
            print("FILE", f.relative_to(Path(os.environ["MNT"]) / "out"),
                  oct(f.stat().st_mode & 0o777), f.read_bytes() == (Path({str(tmp_path)!r})
                  / "ref" / f.relative_to(Path(os.environ["MNT"]) / "out")).read_bytes())
        """,
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    (err,) = [ln for ln in lines if ln.startswith("ERROR")]
    assert "disk full" in err and "partial file was removed" in err and "\n" not in err
    files = [ln.split() for ln in lines if ln.startswith("FILE")]
    assert 0 < len(files) < 4, lines
    assert all(mode == "0o600" and same == "True" for _, _, mode, same in files), files
    assert f"the {len(files)} complete file(s) written before it are kept" in err


def test_export_counts_what_it_wrote(env: dict[str, str], tmp_path: Path) -> None:
    """A session that held only injected input writes no file: not counted as exported, but
    said, with why; one session is "1 session"."""
    bot = tmp_path / "bot" / "mouse" / "alice" / "s2.csv"
    bot.parent.mkdir(parents=True)
    bot.write_text("timestamp,button,state,x,y,injected\n0.1,NoButton,Move,1,2,1\n"
                   "0.2,NoButton,Move,3,4,1\n")
    assert cli("import", str(tmp_path / "bot"), env=env).returncode == 0
    r = cli("export", "--out", str(tmp_path / "out"), env=env)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert f"exported 1 session, 1 file to {tmp_path / 'out'}" in text
    assert "left out 2 injected events" in text
    assert "not exported: 1 session that held only injected input" in text
    assert len(list((tmp_path / "out").rglob("*.csv"))) == 1
    r = cli("export", "--out", str(tmp_path / "json"), "--json", env=env)
    summary = json.loads(r.stdout)
    assert (summary["sessions"], summary["files"], summary["injected_left_out"],
            summary["injected_only_sessions"]) == (1, 1, 2, 1)
    r = cli("export", "--out", str(tmp_path / "all"), "--with-injected", env=env)
    assert "exported 2 sessions, 2 files" in " ".join(r.stdout.split())


def test_reimporting_an_export_into_its_profile_adds_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert cli("export", "--out", str(out), env=env).returncode == 0
    r = cli("import", str(out), env=env)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "imported 0 sessions (0 events); 1 already present" in text
    assert json.loads(cli("status", "--json", env=env).stdout)["sessions"] == 1
    (out / exchange.MANIFEST).write_text("{truncated")
    line = one_line_error(cli("import", str(out), "--label", "guest", env=env))
    assert "is not an export description" in line and "nothing was imported" in line
    assert json.loads(cli("status", "--json", env=env).stdout)["sessions"] == 1


def test_an_export_that_wrote_nothing_leaves_no_folder_it_made(tmp_path: Path) -> None:
    """A disk full before the first file: the error said "nothing else was written", but the
    folders the export had made (`out/`, `out/mouse/<label>/`) stayed behind, empty. Folders
    that were there before are kept, even empty."""
    db = tmp_path / "s.db"
    with _store_with_sessions(db, 1, 20000) as s:  # ~0.7 MB of CSV: more than the disk has
        s.close()
    r = _in_user_namespace(
        f"""
        import os
        from pathlib import Path
        from activesec.core.errors import ActiveSecError
        from activesec.store import exchange
        from activesec.store.db import Store

        mnt = Path(os.environ["MNT"])
        (mnt / "mine").mkdir()
        with Store.open({str(db)!r}) as s:
            try:
                exchange.export(s, mnt / "mine" / "new" / "out")
                print("EXPORTED")
            except ActiveSecError as e:
                print("ERROR", e)
        print("LEFT", sorted(str(p.relative_to(mnt)) for p in mnt.rglob("*")))
        """,
        tmp_path,
        size="256k",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    (err,) = [ln for ln in lines if ln.startswith("ERROR")]
    assert "disk full" in err and "nothing else was written" in err, err
    (left,) = [ln for ln in lines if ln.startswith("LEFT")]
    assert left == "LEFT ['mine']", left
