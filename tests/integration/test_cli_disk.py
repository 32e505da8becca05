"""The store and the log on a full disk (a real tmpfs in a user namespace), a read-only store
file (the CLI run without root's permission override) and a store missing a table: clear
one-line errors naming the cause, and `doctor` says what is wrong."""

from __future__ import annotations

import ast
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.cli import cli, env_for, one_line_error
from tests.integration.test_store_files import _in_user_namespace

FILL = """
def fill(mnt):
    fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        os.close(fd)
"""


def _doctor(env: dict[str, str]) -> dict[str, dict[str, str]]:
    r = cli("doctor", "--json", env=env)
    return {c["name"]: c for c in json.loads(r.stdout)["checks"]}


def test_a_log_file_on_a_full_disk_fails_once_without_tracebacks(tmp_path: Path) -> None:
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import logging
        from pathlib import Path
        from activesec.core import logs, paths

        mnt = Path(os.environ["MNT"])
        p = paths.resolve(mnt / "home")
        logs.setup(p)
        fill(mnt)
        log = logging.getLogger("activesec.capture.runner")
        for i in range(200):
            log.warning("write error %d: disk full", i)
        print("DONE")
        """.replace("\n        ", "\n"),
        tmp_path,
    )
    assert r.returncode == 0 and "DONE" in r.stdout, r.stderr[-3000:]
    assert "Logging error" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "activesec.log" in lines[0] and "disk is full" in lines[0], lines


def test_a_log_file_is_written_again_once_the_disk_has_space(tmp_path: Path) -> None:
    """It stayed off "until the next start": weeks, for the agent started at log-in, whose
    later errors then went nowhere. It is tried again (LOG_RETRY_S, 0 here), quietly, and the
    gap is noted in the file."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import logging
        from pathlib import Path
        from activesec.core import logs, paths

        mnt = Path(os.environ["MNT"])
        p = paths.resolve(mnt / "home")
        logs.setup(p)
        log = logging.getLogger("activesec.capture.runner")
        log.warning("before the disk filled")
        fill(mnt)
        logs.LOG_RETRY_S = 0.0
        for i in range(50):
            log.warning("write error %d: disk full", i)
        os.unlink(mnt / "filler")
        log.warning("space again")
        print(p.log_file.read_text())
        """.replace("\n        ", "\n"),
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stderr.splitlines()  # said once, not at every retry
    assert len(lines) == 1 and "disk is full" in lines[0], lines
    written = r.stdout
    assert "before the disk filled" in written and "space again" in written, written
    assert "could not be written from" in written.split("space again")[1], written


def test_a_full_disk_is_named_by_store_errors_and_by_doctor(tmp_path: Path) -> None:
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import json, subprocess, sys
        from pathlib import Path

        mnt = Path(os.environ["MNT"])
        env = dict(os.environ, ACTIVESEC_HOME=str(mnt / "home"))
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init", "--user", "alice").returncode == 0
        (mnt / "home" / "run" / "reserve").unlink()  # `pause` commits in it: the test below
        fill(mnt)
        for cmd in (["pause"],):  # `status` reads the file as it is: the test below
            r = run(*cmd)
            print("ERR", repr(r.stderr))
        r = run("doctor", "--json")
        print("DOCTOR", json.dumps({c["name"]: c for c in json.loads(r.stdout)["checks"]}))
        """.replace("\n        ", "\n"),
        tmp_path,
        size="2m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    errs = [ast.literal_eval(ln.split(" ", 1)[1]) for ln in r.stdout.splitlines()
            if ln.startswith("ERR ")]
    assert len(errs) == 1
    for e in errs:
        assert e.count("\n") == 1 and "Traceback" not in e, e
        assert "full disk" in e and "free" in e and "activesec.db" in e, e
    doctor = json.loads(next(ln for ln in r.stdout.splitlines()
                             if ln.startswith("DOCTOR ")).split(" ", 1)[1])
    assert doctor["free space"]["status"] == "fail", doctor
    assert "free for" in doctor["free space"]["detail"]


def test_doctor_warns_when_free_space_is_low(tmp_path: Path) -> None:
    r = _in_user_namespace(
        """
        import json, os, subprocess, sys
        from pathlib import Path

        env = dict(os.environ, ACTIVESEC_HOME=str(Path(os.environ["MNT"]) / "home"))
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init").returncode == 0
        r = run("doctor", "--json")
        print(json.dumps({c["name"]: c for c in json.loads(r.stdout)["checks"]}))
        """,
        tmp_path,
        size="64m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    free = json.loads(r.stdout)["free space"]
    assert free["status"] == "warn" and "MiB free for" in free["detail"], free
    # and on this machine's own disk (the tests need far more than the threshold anyway)
    env = env_for(tmp_path / "home")
    assert cli("init", env=env).returncode == 0
    if shutil.disk_usage(tmp_path).free > 2**30:
        assert _doctor(env)["free space"]["status"] == "ok"


def test_a_read_only_store_file_is_named(tmp_path: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not available")
    home = tmp_path / "home"
    env = env_for(home)
    assert cli("init", env=env).returncode == 0
    db = home / "activesec.db"
    db.chmod(0o444)
    # root ignores permissions: drop the capabilities that let it
    r = subprocess.run(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
         "-dac_override,-dac_read_search", sys.executable, "-m", "activesec.cli.main",
         "status"], env=env, capture_output=True, text=True, timeout=120)
    line = one_line_error(r)
    assert f"event store {db} is read-only" in line and "directory is writable" in line
    assert f"chmod u+w {db}" in line


def test_a_store_missing_a_table_is_refused_and_doctor_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_for(home)
    assert cli("init", "--user", "alice", env=env).returncode == 0
    assert _doctor(env)["store"]["status"] == "ok"
    conn = sqlite3.connect(home / "activesec.db")
    conn.execute("DROP TABLE sessions")
    conn.commit()
    conn.close()
    store = _doctor(env)["store"]
    assert store["status"] == "fail" and "lacks table sessions" in store["detail"], store
    assert "activesec init" in store["hint"]
    for args in (("label", "bob"), ("init",), ("status",)):
        assert "lacks table sessions" in one_line_error(cli(*args, env=env)), args


def test_the_capture_lock_holds_on_a_full_disk(tmp_path: Path) -> None:
    r = _in_user_namespace(
        "import os\n" + FILL + """
        from pathlib import Path
        from activesec.core.instance import InstanceLock, is_locked

        mnt = Path(os.environ["MNT"])
        fill(mnt)
        with InstanceLock(mnt / "capture.lock") as lock:  # its pid cannot be written
            print("LOCKED", is_locked(lock.path))
        """.replace("\n        ", "\n"),
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["LOCKED", "True"]


def test_run_and_capture_on_a_read_only_data_directory_say_so(tmp_path: Path) -> None:
    """Both started by setting up the log, whose OSError reached the user as a traceback."""
    r = _in_user_namespace(
        """
        import os, subprocess, sys
        from pathlib import Path

        mnt = Path(os.environ["MNT"])
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env["ACTIVESEC_HOME"] = str(mnt / "home")
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init", "--user", "alice").returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        for cmd in (["run", "--dry-run", "--duration", "1"], ["capture", "--duration", "1"]):
            r = run(*cmd)
            print("RESULT", r.returncode, repr(r.stderr))
        """,
        tmp_path,
        size="4m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    results = [ln.split(" ", 2) for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert [code for _, code, _ in results] == ["78", "2"], results  # the agent: permanent
    for _, _, err in results:
        *before, e = ast.literal_eval(err).splitlines()
        assert "Traceback" not in err, err
        assert "cannot write the log" in e and "Read-only file system" in e, e
        assert "ACTIVESEC_HOME" in e, e
        # the agent also says it could not leave that reason for `status` (same cause)
        assert all("stopped.json: Read-only file system" in b for b in before), before


def test_a_report_on_a_full_disk_says_to_free_space(tmp_path: Path) -> None:
    """The hint was "pass a directory you can write to --report" — any other folder on that
    disk fails alike."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        from pathlib import Path
        import numpy as np
        from activesec.core.errors import DataError
        from activesec.evaluate import report
        from activesec.evaluate.result import ALL, UserScores, build_result

        rng = np.random.default_rng(1)
        users = [UserScores(user=f"u{i}", genuine={ALL: rng.normal(0, 1, 30)},
                            impostor={ALL: rng.normal(2, 1, 30)}, n_enrol=50) for i in range(3)]
        result = build_result(dataset="d", protocol="p", detector="x", modality="pointer",
                              users=users, skipped=[], runtime_s=1.0)
        mnt = Path(os.environ["MNT"])
        (mnt / "out").mkdir()
        fill(mnt)
        try:
            report.write_report(result, mnt / "out")
        except DataError as exc:
            print("HINT", exc.hint)
        """.replace("\n        ", "\n"),
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "HINT free disk space" in r.stdout, r.stdout


def test_the_agent_says_when_input_cannot_be_stored_and_when_it_is_again(
        tmp_path: Path) -> None:
    """The real agent on a disk that fills while it runs, then gets space back. It said only
    that its log file was off (the writer's warnings go to that file, on the same disk), and
    its status file (a temporary copy, then a rename) stayed as it was when the disk filled:
    `status` showed no drop while every event was being dropped."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import threading, time
        import numpy as np
        from pathlib import Path
        from activesec.capture.replay import ReplayBackend
        from activesec.core import config, logs, paths
        from activesec.core.clock import SystemClock
        from activesec.core.events import Kind, make
        from activesec.recordings.base import Recording
        from activesec.service.agent import Agent, ScreenWatch, read_status
        from activesec.store.db import Store

        mnt = Path(os.environ["MNT"])
        p = paths.resolve(mnt / "home").ensure()
        logs.setup(p)  # as `run`: the writer's warnings go to the log file, on that disk
        Store.open(p.database, create=True).close()
        s = config.Settings.model_validate({"user": "alice", "train": {"auto": False},
                                            "actions": {"on_notify": [], "on_lock": [],
                                                        "on_gate": []}})
        rng = np.random.default_rng(0)
        n = 100 * 600  # ten minutes of pointer motion at 100 Hz; the test stops it sooner
        ev = make(np.arange(n) * 10**7, Kind.MOVE, x=rng.integers(0, 1900, n),
                  y=rng.integers(0, 1000, n))
        clock = SystemClock()
        be = ReplayBackend([Recording("alice", "s", ev, "test")], speed=1.0, clock=clock)
        agent = Agent(p, s, be, clock, screen=ScreenWatch(clock, query=lambda: None))
        stop = threading.Event()

        def until(pred):
            end = time.monotonic() + 60  # bounds a hang only
            while time.monotonic() < end:
                st = read_status(p)
                if st is not None and pred(st):
                    return st
                time.sleep(0.1)
            raise SystemExit(f"timed out; last status {read_status(p)}")

        def scenario():
            try:
                until(lambda st: st["stored"] > 0)
                fill(mnt)
                full = until(lambda st: st.get("store_error"))
                print("FULL", "disk full" in full["store_error"], full["dropped"] > 0)
                os.unlink(mnt / "filler")
                until(lambda st: st["running"] and not st.get("store_error"))
                print("AGAIN")
            finally:
                stop.set()

        t = threading.Thread(target=scenario)
        t.start()
        agent.run(stop_event=stop)
        t.join()
        """.replace("\n        ", "\n"),
        tmp_path,
        size="2m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["FULL", "True", "True", "AGAIN"], (r.stdout, r.stderr[-3000:])
    said = [ln for ln in r.stderr.splitlines() if "log file" not in ln]
    assert len(said) == 2 and "Traceback" not in r.stderr, r.stderr
    assert said[0].startswith("warning: cannot store input: disk full"), said
    assert "goes on scoring" in said[0] and "free disk space" in said[0], said
    assert said[1].startswith("input is stored again (") and "events dropped" in said[1], said
    assert not said[1].startswith("input is stored again (0 "), said


def test_pause_resume_and_label_work_on_a_full_disk(tmp_path: Path) -> None:
    """On a full disk SQLite could commit nothing: `pause` failed ("free disk space") while a
    running agent went on judging. `init` (and the agent) hold a small reserve that such a
    command frees to commit in."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import subprocess, sys
        from pathlib import Path

        mnt = Path(os.environ["MNT"])
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env["ACTIVESEC_HOME"] = str(mnt / "home")
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init", "--user", "alice").returncode == 0
        fill(mnt)
        for cmd in (["pause"], ["label", "guest"], ["status", "--json"]):
            r = run(*cmd)
            print("RESULT", r.returncode, repr(r.stderr), r.stdout.replace("\\n", " ")[:2000])
        """.replace("\n        ", "\n"),
        tmp_path,
        size="4m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    results = [ln.split(" ", 3) for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert [code for _, code, _, _ in results] == ["0", "0", "0"], results
    status = json.loads(results[2][3])
    assert status["paused"] is True and status["current_label"] == "guest", status


def test_the_dashboards_pause_works_on_a_full_disk(tmp_path: Path) -> None:
    """The dashboard's Pause committed to the store as `activesec pause` did, and failed alike
    on a full disk; it commits in the reserve too."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import subprocess, sys
        from pathlib import Path
        from fastapi.testclient import TestClient
        from activesec.core import config, paths
        from activesec.dashboard.app import create_app
        from activesec.store.db import Store

        mnt = Path(os.environ["MNT"])
        os.environ["ACTIVESEC_HOME"] = str(mnt / "home")
        r = subprocess.run([sys.executable, "-m", "activesec.cli.main", "init", "--user",
                            "alice"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        p = paths.resolve()
        client = TestClient(create_app(p, lambda: config.load(p), "t0ken"),
                            base_url="http://127.0.0.1")
        fill(mnt)
        r = client.post("/api/pause", headers={"X-ActiveSec-Token": "t0ken"})
        print("PAUSE", r.status_code, r.text)
        os.unlink(mnt / "filler")
        with Store.open(p.database) as store:
            print("PAUSED", store.is_paused())
        """.replace("\n        ", "\n"),
        tmp_path,
        size="4m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "PAUSE 200" in r.stdout and "PAUSED True" in r.stdout, r.stdout


def test_status_export_and_doctor_read_the_store_on_a_full_disk(tmp_path: Path) -> None:
    """With no agent running, SQLite could not make the store's -wal/-shm files on a full disk
    and `status` failed ("disk I/O error"), as did `export` (to another disk) and doctor's
    store check: commands that only read. They read the file itself, and say the disk is full."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import json, subprocess, sys
        import numpy as np
        from pathlib import Path
        from activesec.core.events import Kind, make
        from activesec.store.db import Store

        mnt = Path(os.environ["MNT"])
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env["ACTIVESEC_HOME"] = str(mnt / "home")
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init", "--user", "alice").returncode == 0
        with Store.open(mnt / "home" / "activesec.db") as s:
            sid = s.begin_session("alice", "test", wall_ns=1_700_000_000 * 10**9, mono_ns=0)
            s.append(sid, make(np.arange(500) * 10**7, Kind.MOVE, x=np.arange(500)))
            s.end_session(sid, wall_ns=1_700_000_010 * 10**9)
        fill(mnt)
        out = mnt.parent / "export"  # another disk
        for cmd in (["status"], ["status", "--json"], ["export", "--out", str(out)],
                    ["doctor", "--json"]):
            r = run(*cmd)
            print("RESULT", json.dumps([r.returncode, r.stdout, r.stderr]))
        print("FILES", json.dumps(sorted(os.listdir(mnt / "home"))))
        """.replace("\n        ", "\n"),
        tmp_path,
        size="2m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    results = [json.loads(ln.split(" ", 1)[1]) for ln in r.stdout.splitlines()
               if ln.startswith("RESULT ")]
    (code, text, err), (jcode, js, _), (ecode, _, eerr), (_, doctor, _) = results
    assert code == 0 and err == "", err
    full = [ln for ln in text.splitlines() if "disk full" in ln]
    assert len(full) == 1 and "0 B free" in full[0] and "free disk space" in full[0], text
    assert "sessions     1 (labels: alice" in text and "move 500" in text, text
    assert jcode == 0, js
    status = json.loads(js)
    assert status["disk_full"]["free_bytes"] == 0 and status["events"]["move"] == 500, status
    assert ecode == 0 and eerr == "", eerr
    assert (tmp_path / "export" / "activesec-export.json").exists()
    checks = {c["name"]: c for c in json.loads(doctor)["checks"]}
    assert checks["store"]["status"] == "warn", checks["store"]
    assert "1 sessions" in checks["store"]["detail"] and "disk is full" in checks["store"]["detail"]
    assert checks["free space"]["status"] == "fail", checks["free space"]
    files = json.loads(r.stdout.split("FILES ", 1)[1])
    assert not [f for f in files if f.endswith(("-wal", "-shm"))], files  # nothing left behind


def test_wipe_works_on_a_full_disk_in_one_step(tmp_path: Path) -> None:
    """`wipe` on a full disk failed ("free disk space, then retry"): SQLite writes every page
    it deletes to its write-ahead log first (about the store's size), and could not even make
    its -wal/-shm files to open the store. With no agent running it now needs no free space:
    an empty store (pause and label kept) replaces the old one in one rename. While an agent
    holds the store it refuses in one line, destroying nothing, and says to stop it."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import hashlib, json, sqlite3, subprocess, sys
        import numpy as np
        from pathlib import Path
        from activesec.core.events import Kind, make
        from activesec.core.instance import InstanceLock
        from activesec.store.db import Store

        mnt = Path(os.environ["MNT"])
        home = mnt / "home"
        db = home / "activesec.db"
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env["ACTIVESEC_HOME"] = str(home)
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init", "--user", "alice").returncode == 0
        rng = np.random.default_rng(0)
        with Store.open(db) as s:  # incompressible: the store is several times the reserve
            for k in range(3):
                sid = s.begin_session("alice", "t", wall_ns=1_700_000_000 * 10**9 + k,
                                      mono_ns=0)
                s.append(sid, make(np.arange(20_000) * 10**7, Kind.MOVE,
                                   x=rng.integers(-2**31, 2**31 - 1, 20_000)))
            gen = s.wipe_generation()
        assert run("pause").returncode == 0 and run("label", "bob").returncode == 0
        fill(mnt)
        sha = hashlib.sha256(db.read_bytes()).hexdigest()
        with InstanceLock(home / "run" / "capture.lock", "agent"):  # an agent runs
            r = run("wipe", "--yes")
        print("HELD", json.dumps([r.returncode, r.stderr,
                                  hashlib.sha256(db.read_bytes()).hexdigest() == sha]))
        (home / "run" / "reserve").rename(mnt / "aside")  # no reserve: the space stays taken
        r = run("wipe", "--yes")
        print("NORESERVE", json.dumps([r.returncode, r.stderr,
                                       hashlib.sha256(db.read_bytes()).hexdigest() == sha]))
        (mnt / "aside").rename(home / "run" / "reserve")
        r = run("wipe", "--yes")
        print("WIPE", json.dumps([r.returncode, r.stdout, r.stderr]))
        print("FILES", json.dumps(sorted(os.listdir(home))))
        r = run("status", "--json")
        print("STATUS", r.stdout.replace("\\n", " "))
        os.unlink(mnt / "filler")
        c = sqlite3.connect(db)
        print("GEN", gen, c.execute("SELECT value FROM control WHERE key = 'wipe_generation'"
                                    ).fetchone()[0], c.execute("PRAGMA journal_mode").fetchone()[0],
              oct(db.stat().st_mode & 0o777))
        """.replace("\n        ", "\n"),
        tmp_path,
        size="4m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = dict(ln.split(" ", 1) for ln in r.stdout.splitlines() if " " in ln)
    code, err, unchanged = json.loads(lines["HELD"])
    assert code == 2 and unchanged and err.count("\n") == 1 and "Traceback" not in err, err
    assert "while an agent or a capture runs" in err and "systemctl --user stop" in err, err
    code, err, unchanged = json.loads(lines["NORESERVE"])
    assert code == 2 and unchanged and err.count("\n") == 1 and "Traceback" not in err, err
    assert "free 256.0 KiB on" in err and "-wal/-shm files yourself" in err, err
    code, text, err = json.loads(lines["WIPE"])
    assert code == 0 and err == "" and text.startswith("wiped:"), (text, err)
    files = json.loads(lines["FILES"])
    assert not [f for f in files if ".wipe" in f or f.endswith(("-wal", "-shm"))], files
    status = json.loads(lines["STATUS"])
    assert status["sessions"] == 0 and status["events_total"] == 0, status
    assert status["paused"] is True and status["current_label"] == "bob", status
    gen, after, mode, perm = lines["GEN"].split()
    assert int(after) == int(gen) + 1 and mode == "wal" and perm == "0o600", lines["GEN"]


def test_wipe_on_a_full_disk_names_the_space_a_pending_log_needs(tmp_path: Path) -> None:
    """An agent killed on a full disk leaves commits in the -wal, which nothing can read
    without making the -shm: wipe cannot take the store's pause and label from the file, and
    says how much to free (what deleting in place needs), changing nothing."""
    r = _in_user_namespace(
        "import os\n" + FILL + """
        import hashlib, json, subprocess, sys
        from pathlib import Path

        mnt = Path(os.environ["MNT"])
        home = mnt / "home"
        db = home / "activesec.db"
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env["ACTIVESEC_HOME"] = str(home)
        run = lambda *a: subprocess.run([sys.executable, "-m", "activesec.cli.main", *a],
                                        env=env, capture_output=True, text=True)
        assert run("init", "--user", "alice").returncode == 0
        killed = (
            "import os, numpy as np\\n"
            "from activesec.core.events import Kind, make\\n"
            "from activesec.store.db import Store\\n"
            f"s = Store.open({str(db)!r})\\n"
            "s._conn.execute('PRAGMA wal_autocheckpoint=0')\\n"
            "sid = s.begin_session('alice', 't', wall_ns=1, mono_ns=0)\\n"
            "s.append(sid, make(np.arange(5000) * 10**7, Kind.MOVE, x=np.arange(5000)))\\n"
            "s.commit()\\n"
            "os._exit(9)\\n")
        subprocess.run([sys.executable, "-c", killed])
        Path(f"{db}-shm").unlink()  # as after a reboot: the -wal alone
        fill(mnt)
        before = {f: hashlib.sha256((home / f).read_bytes()).hexdigest()
                  for f in os.listdir(home) if f.startswith("activesec.db")}
        r = run("wipe", "--yes")
        after = {f: hashlib.sha256((home / f).read_bytes()).hexdigest()
                 for f in os.listdir(home) if f.startswith("activesec.db")}
        print("WIPE", json.dumps([r.returncode, r.stderr, before == after, sorted(before)]))
        """.replace("\n        ", "\n"),
        tmp_path,
        size="2m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    code, err, unchanged, files = json.loads(r.stdout.split("WIPE ", 1)[1])
    assert "activesec.db-wal" in files and code == 2 and unchanged, (files, code, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "on a full disk" in err and "activesec.db-wal holds commits" in err, err
    assert " MiB on " in err and "what deleting in place needs" in err, err
