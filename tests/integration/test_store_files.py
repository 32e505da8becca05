"""The store's file on disk: permissions, refusing foreign or damaged files without touching
them, scrubbing on wipe, read-only and full filesystems (real tmpfs mounts in a user namespace)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.unprivileged import NOBODY, run_unprivileged, shared_tmp_dir

from activesec.core.errors import StoreError
from activesec.core.events import Kind, make
from activesec.store import codec
from activesec.store.db import Store

WALL0 = 1_700_000_000 * 10**9


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _populated(path: Path, n: int = 20_000, seed: int = 0) -> tuple[Store, np.ndarray]:
    s = Store.open(path, create=True)
    sid = s.begin_session("owner", "test", wall_ns=WALL0, mono_ns=0)
    rng = np.random.default_rng(seed)
    ev = make(np.arange(n) * 8_000_000, Kind.MOVE, x=rng.integers(0, 4000, n),
              y=rng.integers(0, 3000, n))
    s.append(sid, ev)
    s.commit()
    return s, ev


def test_files_are_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        data = tmp_path / "a" / "data"
        s, _ = _populated(data / "activesec.db")
        names = sorted(p.name for p in data.iterdir())
        assert names == ["activesec.db", "activesec.db-shm", "activesec.db-wal"]
        for p in data.iterdir():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        s.close()
    finally:
        os.umask(old)


def _foreign_sqlite(p: Path, wal: bool = False, app_id: int = 0) -> None:
    conn = sqlite3.connect(p)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    if app_id:
        conn.execute(f"PRAGMA application_id={app_id}")
    conn.execute("CREATE TABLE notes(body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('someone else''s data')")
    conn.commit()
    conn.close()


def _damaged_store(p: Path) -> None:
    s, _ = _populated(p)
    s.close()
    raw = bytearray(p.read_bytes())
    page = 4096
    raw[page : 3 * page] = os.urandom(2 * page)  # the b-tree pages after the header
    p.write_bytes(bytes(raw))


CASES = {
    "text file": lambda p: p.write_text("hello, I am a shopping list\n" * 10),
    "random bytes": lambda p: p.write_bytes(os.urandom(9000)),
    "truncated header": lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20),
    "foreign sqlite": _foreign_sqlite,
    "foreign sqlite in WAL mode": lambda p: _foreign_sqlite(p, wal=True),
    "foreign sqlite with its own application_id": lambda p: _foreign_sqlite(p, app_id=0x1234),
    "damaged ActiveSec store": _damaged_store,
}


@pytest.mark.parametrize("case", list(CASES))
def test_foreign_or_damaged_files_are_refused_and_left_untouched(tmp_path: Path, case: str) -> None:
    p = tmp_path / "activesec.db"
    CASES[case](p)
    before = _sha(p)
    listing = sorted(x.name for x in tmp_path.iterdir())
    with pytest.raises(StoreError) as info:
        Store.open(p)
    with pytest.raises(StoreError):
        Store.open(p, create=True)  # "create" never means "overwrite"
    msg = str(info.value)
    assert str(p) in msg and "\n" not in msg
    assert _sha(p) == before
    assert sorted(x.name for x in tmp_path.iterdir()) == listing


def test_wipe_leaves_no_event_bytes_in_the_database_or_its_wal(tmp_path: Path) -> None:
    p = tmp_path / "activesec.db"
    s, ev = _populated(p, n=30_000, seed=7)
    sid = s.sessions()[0].id
    s.record_app(sid, 0, "zqxjkvbw-distinctive-app")
    s.end_session(sid, WALL0 + 10**9)
    s.commit()
    # The events are stored as compressed chunks: the chunks' bytes are the event bytes.
    needles = [codec.encode(ev[:65_536])[40:104], b"zqxjkvbw-distinctive-app"]
    other = Store.open(p)  # a second connection, as a running capture would hold

    def on_disk() -> bytes:
        return b"".join(Path(f"{p}{sfx}").read_bytes() for sfx in ("", "-wal")
                        if Path(f"{p}{sfx}").exists())

    assert all(n in on_disk() for n in needles)  # the test can fail: they were there
    s.wipe()
    assert not any(n in on_disk() for n in needles)
    assert other.counts()["events"] == 0
    other.close()
    s.close()
    assert not any(n in on_disk() for n in needles)
    with Store.open(p) as again:
        assert again.integrity_check() == "ok"


def _in_user_namespace(
    script: str, tmp_path: Path, size: str = "512k"
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (python) with a fresh tmpfs of ``size`` mounted at ``$MNT``."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) not available to mount a test filesystem")
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged user namespaces unavailable: {probe.stderr.decode().strip()}")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    code = tmp_path / "script.py"
    code.write_text(textwrap.dedent(script))
    shell = (f'mount -t tmpfs -o size={size},mode=0700 tmpfs "{mnt}" && '
             f'MNT="{mnt}" "{sys.executable}" "{code}"')
    return subprocess.run([unshare, "-rm", "sh", "-c", shell], capture_output=True, text=True,
                          timeout=120)


def test_full_disk_is_a_clear_error_and_capture_keeps_counting(tmp_path: Path) -> None:
    r = _in_user_namespace(
        """
        import os, numpy as np
        from pathlib import Path
        from activesec.core.clock import SystemClock
        from activesec.core.errors import StoreError
        from activesec.core.events import Kind, make
        from activesec.store.db import Store
        from activesec.store.writer import BatchWriter

        p = Path(os.environ["MNT"]) / "data" / "activesec.db"
        s = Store.open(p, create=True)
        sid = s.begin_session("owner", "t", wall_ns=0, mono_ns=0)
        w = BatchWriter(s, sid, clock=SystemClock(), flush_events=2000, queue_max_events=10**6)
        rng = np.random.default_rng(0)
        for i in range(200):   # incompressible events, far more than 512 KiB
            w.put(make(np.arange(2000) + i * 10**9, Kind.MOVE,
                       x=rng.integers(-2**31, 2**31 - 1, 2000)))
            w.flush()
        st = w.close()
        print("ERROR", st.error)
        print("COUNTS", st.stored, st.dropped, st.write_errors)
        s.close()
        with Store.open(p) as again:
            print("INTEGRITY", again.integrity_check(), again.counts()["events"])
        """,
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert "disk full" in out["ERROR"] and "activesec.db" in out["ERROR"]
    stored, dropped, errors = map(int, out["COUNTS"].split())
    assert stored > 0 and dropped > 0 and errors > 0 and stored + dropped == 400_000
    ok, n = out["INTEGRITY"].split()
    assert ok == "ok" and int(n) == stored


def test_read_only_data_directory(tmp_path: Path) -> None:
    r = _in_user_namespace(
        """
        import os, subprocess
        from pathlib import Path
        from activesec.core.errors import StoreError
        from activesec.store.db import Store

        mnt = Path(os.environ["MNT"])
        Store.open(mnt / "data" / "activesec.db", create=True).close()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        for path, create in [(mnt / "data" / "activesec.db", False),
                             (mnt / "data" / "new.db", True)]:
            try:
                Store.open(path, create=create)
                print("OPENED", path)
            except StoreError as e:
                print("ERROR", e)
        """,
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    errors = [line for line in r.stdout.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 2, r.stdout
    assert "read-only" in errors[0] and "/data" in errors[0] and "ACTIVESEC_HOME" in errors[0]
    assert "new.db" in errors[1] and "ACTIVESEC_HOME" in errors[1]


def test_unwritable_data_directory_by_permissions() -> None:
    # Root ignores directory permissions: the store is opened by an unprivileged child.
    with shared_tmp_dir() as tmp:
        d = tmp / "data"
        Store.open(d / "activesec.db", create=True).close()
        os.chown(tmp, NOBODY, NOBODY)
        for p in [d, *d.iterdir()]:
            os.chown(p, NOBODY, NOBODY)
        r = run_unprivileged(
            "from pathlib import Path\n"
            "from activesec.core.errors import StoreError\n"
            "from activesec.store.db import Store\n",
            f"""
            d = Path({str(d)!r})
            Store.open(d / "activesec.db").close()
            print("OPENED writable")
            d.chmod(0o500)
            try:
                Store.open(d / "activesec.db")
                print("OPENED read-only")
            except StoreError as e:
                print("ERROR", e)
            """,
        )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0] == "OPENED writable" and len(lines) == 2, r.stdout
    assert lines[1].startswith("ERROR") and "read-only" in lines[1] and str(d) in lines[1], r.stdout
