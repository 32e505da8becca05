"""The real CLI in subprocesses: import recordings, build a background, train, reset — and the
agent's model loading and scoring without scikit-learn."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import dataset
from tests.helpers.cli import env_for, one_line_error
from tests.integration.test_cli_disk import FILL
from tests.integration.test_store_files import _in_user_namespace
from tests.unit.test_background import slice_aalto, slice_balabit
from tests.unit.test_train import owner_keys

from activesec.recordings import iter_balabit, read_mouse_csv, write_keys_csv, write_mouse_csv

# `activesec train` / `background` as the console script runs them; registers the commands
# itself only while cli/main.py does not yet (the module is added there by its owner).
_MAIN = (
    "import sys\n"
    "from activesec.cli import cmd_train, main\n"
    "names = {c.name or getattr(c.callback, '__name__', '')\n"
    "         for c in main.app.registered_commands}\n"
    "if 'train' not in names:\n"
    "    cmd_train.register(main.app)\n"
    "main.main(sys.argv[1:])\n"
)

# What the agent does to score: load the models, stream a recording through the engine.
_AGENT = (
    "import json, sys\n"
    "from activesec.core import paths\n"
    "from activesec.engine.scoring import StreamScorer\n"
    "import numpy as np\n"
    "from activesec.service.models import load_models\n"
    "models = load_models(paths.resolve())\n"
    "ev = np.load(sys.argv[1])  # events as capture delivers them (no CSV reader, no pyarrow)\n"
    "sc = StreamScorer(models)\n"
    "out = []\n"
    "for i in range(0, len(ev), 64):\n"
    "    out += sc.feed(ev[i:i + 64])\n"
    "out += sc.flush()\n"
    "heavy = sorted(m for m in sys.modules\n"
    "               if m.split('.')[0] in ('sklearn', 'scipy', 'skops', 'pyarrow'))\n"
    "# VmHWM: this program's peak RSS (ru_maxrss would include the forking pytest's pages)\n"
    "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
    "rss = int(hwm[0].split()[1]) / 1024 if hwm else -1.0\n"
    "print(json.dumps({'models': sorted(models), 'n': len(out), 'heavy': heavy,\n"
    "                  'max_rss_mb': rss, 'scores': [s.score for s in out]}))\n"
)


def run(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _MAIN, *args], env=dict(env),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """Generic layouts: Balabit user7's first three sessions (sliced) and one Aalto typist."""
    root = tmp_path / "rec"
    (root / "mouse" / "owner").mkdir(parents=True)
    (root / "keys" / "owner").mkdir(parents=True)
    for i, rec in enumerate(iter_balabit(dataset("balabit"), "training", users=[7])):
        write_mouse_csv(root / "mouse" / "owner" / f"s{i}.csv", rec.events[:6000])
        if i == 2:
            break
    keys = owner_keys(slice_aalto(tmp_path / "aalto-owner.tsv", lines=3000))
    write_keys_csv(root / "keys" / "owner" / "s0.csv", keys)
    return root


def _env(home: Path) -> dict[str, str]:
    return env_for(home, ACTIVESEC_ENROL__POINTER_EVENTS="3000",
                   ACTIVESEC_ENROL__KEYSTROKES="300", ACTIVESEC_TRAIN__TARGET_FAR="0.05")


def test_background_train_and_agent_scoring_without_sklearn(tmp_path: Path,
                                                            recordings: Path) -> None:
    env = _env(tmp_path / "home")
    assert run("init", "--user", "owner", env=env).returncode == 0
    holdout = recordings / "mouse" / "owner" / "s2.csv"
    held = tmp_path / "held.csv"
    holdout.rename(held)  # the agent scores a session training never saw
    r = run("import", str(recordings), env=env)
    assert r.returncode == 0, r.stderr
    bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=2500)
    aalto = slice_aalto(tmp_path / "aalto.tsv", lines=8000)
    r = run("background", "build", "--balabit", str(bal), "--aalto", str(aalto),
            "--max-rows", "800", "--json", env=env)
    assert r.returncode == 0, r.stderr
    bgs = json.loads(r.stdout)["backgrounds"]
    assert bgs["pointer"]["people"] == 3 and bgs["keyboard"]["people"] >= 3
    r = run("train", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # quiet under --json
    out = json.loads(r.stdout)
    by = {m["modality"]: m for m in out["trained"]}
    assert set(by) == {"pointer:mouse", "keyboard"} and out["skipped"] == []
    assert by["pointer:mouse"]["detector"] == "extra_trees"
    assert by["keyboard"]["detector"] == "plda"
    for m in by.values():
        assert m["rows_train"] > 0 and m["rows_holdout"] >= 10 and m["threshold"] is not None
        assert m["holdout_scores"]["p50"] <= m["holdout_scores"]["p99"]
    models = tmp_path / "home" / "models"
    for f in (models / "pointer-mouse").iterdir():
        assert (f.stat().st_mode & 0o777) == 0o600
    # the agent: compact models only, scikit-learn never imported
    np.save(tmp_path / "held.npy", read_mouse_csv(held))
    a = subprocess.run([sys.executable, "-c", _AGENT, str(tmp_path / "held.npy")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert a.returncode == 0, a.stderr
    res = json.loads(a.stdout)
    assert res["heavy"] == [] and res["models"] == ["keyboard", "pointer:mouse"]
    assert res["n"] > 50
    scores = np.asarray(res["scores"])
    # population scores are in owner-σ units (the detector's cross-fitted owner normalisation):
    # the owner's own held-out actions centre near 0, not at a probability in [0, 1]
    assert np.isfinite(scores).all() and abs(float(np.median(scores))) < 2.0
    print(f"agent max RSS {res['max_rss_mb']:.1f} MB scoring {res['n']} actions")


def test_nothing_to_train_is_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    assert run("init", "--user", "owner", env=env).returncode == 0
    line = one_line_error(run("train", env=env))
    assert "nothing to train yet" in line and "need 3,000 more mouse pointer events" in line


def test_reset_deletes_models_and_restarts_enrolment(tmp_path: Path, recordings: Path) -> None:
    env = {**_env(tmp_path / "home"), "ACTIVESEC_TRAIN__POINTER_DETECTOR": "scaled_manhattan",
           "ACTIVESEC_TRAIN__KEYS_DETECTOR": "scaled_manhattan"}
    assert run("init", "--user", "owner", env=env).returncode == 0
    assert run("import", str(recordings), env=env).returncode == 0
    r = run("train", env=env)
    assert r.returncode == 0, r.stderr
    assert "pointer:mouse" in r.stdout and "threshold" in r.stdout
    assert (tmp_path / "home" / "models" / "keyboard" / "model.json").exists()
    r = run("train", "--update", "--json", env=env)  # drift update: nothing new to learn from
    assert r.returncode == 0, r.stderr
    reasons = [s["reason"] for s in json.loads(r.stdout)["skipped"]]
    assert len(reasons) == 2 and all("0 new rows" in x for x in reasons)
    assert "exclude each other" in one_line_error(run("train", "--reset", "--update", env=env))
    enrolled = json.loads(run("status", "--json", env=env).stdout)["enrolment"]
    assert enrolled["pointer_events"] > 0 and enrolled["keystrokes"] > 0
    r = run("train", "--reset", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reset"] is True
    enrolling = json.loads(run("status", "--json", env=env).stdout)["enrolment"]
    assert (enrolling["pointer_events"], enrolling["keystrokes"]) == (0, 0)  # starts over
    assert not (tmp_path / "home" / "models" / "keyboard").exists()
    line = one_line_error(run("train", env=env))  # the old data no longer enrols
    assert "nothing to train yet" in line


def _unprivileged(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI without root's power to ignore file permissions (these tests run as root)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not available")
    caps = "-dac_override,-dac_read_search"
    return subprocess.run(["setpriv", "--bounding-set", caps, "--inh-caps", caps, sys.executable,
                           "-c", _MAIN, *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_model_that_cannot_be_saved_is_one_line_and_leaves_no_staging(
        tmp_path: Path, recordings: Path) -> None:
    """A read-only models folder, or a disk that fills while the model is written, ended
    `train` in a traceback; the full disk also kept its half-written staging folder (megabytes),
    so that even `status` then failed for want of space."""
    env = {**_env(tmp_path / "home"), "ACTIVESEC_TRAIN__POINTER_DETECTOR": "scaled_manhattan"}
    assert run("init", "--user", "owner", env=env).returncode == 0
    assert run("import", str(recordings), env=env).returncode == 0
    models = tmp_path / "home" / "models"
    models.chmod(0o500)
    try:  # root ignores permissions: drop the capabilities that let it
        r = _unprivileged(env, "train")
    finally:
        models.chmod(0o700)
    line = one_line_error(r)
    assert "cannot save the " in line and f" model in {models}: Permission denied" in line
    assert f"make {models} writable" in line and "`activesec train` again" in line

    (tmp_path / "ns").mkdir()
    r = _in_user_namespace(
        "import os\n" + FILL + f"""
        import subprocess, sys
        from pathlib import Path

        mnt = Path(os.environ["MNT"])
        env = dict({dict(env)!r}, ACTIVESEC_HOME=str(mnt / "home"))
        run = lambda *a: subprocess.run([sys.executable, "-c", {_MAIN!r}, *a], env=env,
                                        capture_output=True, text=True)
        assert run("init", "--user", "owner").returncode == 0
        assert run("import", {str(recordings)!r}).returncode == 0
        fill(mnt)
        os.truncate(mnt / "filler", (mnt / "filler").stat().st_size - 96 * 1024)  # room
        r = run("train")  # for the store, not for the model
        print("RESULT", r.returncode, repr(r.stderr))
        print("LEFT", sorted(p.name for p in (mnt / "home" / "models").iterdir()))
        """.replace("\n        ", "\n"),
        tmp_path / "ns",
        size="4m",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = dict(ln.split(" ", 1) for ln in r.stdout.splitlines())
    code, err = out["RESULT"].split(" ", 1)
    err = ast.literal_eval(err)
    assert code == "2" and "Traceback" not in err and err.count("\n") == 1, err
    assert "model in" in err and "the disk is full" in err and "free disk space" in err, err
    left = ast.literal_eval(out["LEFT"])  # the keyboard model fitted, the pointer one not
    assert not [f for f in left if f.startswith(".")], left  # no staging folder holds space


def test_reset_that_cannot_delete_a_model_is_one_line(tmp_path: Path) -> None:
    """`train --reset` with a models folder it may not change ended in a traceback."""
    env = _env(tmp_path / "home")
    assert run("init", "--user", "owner", env=env).returncode == 0
    models = tmp_path / "home" / "models"
    (models / "pointer-mouse").mkdir(parents=True)
    (models / "pointer-mouse" / "model.json").write_text("{}")
    models.chmod(0o500)
    try:  # root ignores permissions: drop the capabilities that let it
        r = _unprivileged(env, "train", "--reset")
    finally:
        models.chmod(0o700)
    line = one_line_error(r)
    assert f"cannot reset enrolment: {models / 'pointer-mouse'}: Permission denied" in line
    assert "`activesec train --reset` again" in line
    assert run("train", "--reset", env=env).returncode == 0  # permissions fixed: it resets


def test_a_background_that_cannot_be_saved_is_one_line(tmp_path: Path) -> None:
    """`background build` into a models folder it may not write ended in a traceback."""
    env = _env(tmp_path / "home")
    assert run("init", "--user", "owner", env=env).returncode == 0
    bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=2500)
    models = tmp_path / "home" / "models"
    models.chmod(0o500)
    try:  # root ignores permissions: drop the capabilities that let it
        r = _unprivileged(env, "background", "build", "--balabit", str(bal), "--max-rows", "100")
    finally:
        models.chmod(0o700)
    line = one_line_error(r)
    assert f"cannot save the pointer background in {models}: Permission denied" in line
    assert "`activesec background build` again" in line
    assert list(models.iterdir()) == []


def _handles_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a SIGTERM handler (bit 15 of SigCgt), i.e. `train` is past
    its start-up and into the command."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:"))
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def _handling_sigterm(proc: subprocess.Popen[str]) -> bool:
    """The command handles SIGTERM now, or it has ended."""
    return _handles_sigterm(proc.pid) or proc.poll() is not None


def _in_command(proc: subprocess.Popen[str]) -> bool:
    """`train` handles SIGTERM, or (a version that does not) reads the event store, or ended."""
    if _handles_sigterm(proc.pid) or proc.poll() is not None:
        return True
    try:
        fds = list(Path(f"/proc/{proc.pid}/fd").iterdir())
        return any(os.readlink(fd).endswith("activesec.db") for fd in fds)
    except OSError:
        return False


def test_sigterm_during_training_says_so_and_keeps_the_previous_model(tmp_path: Path) -> None:
    """SIGTERM (a log-out, `kill`) ended `train` with status 143 and no word. Now it says, in
    one line, that training stopped and the previous model is unchanged — which it is, byte for
    byte and the same directory — exits 143 and leaves no staging folder or temporary file."""
    from tests.helpers.cli import popen
    from tests.helpers.procs import wait_until

    from activesec.recordings import synthetic as syn
    from activesec.recordings.generic import to_text

    keys = tmp_path / "rec" / "keys" / "owner"
    keys.mkdir(parents=True)
    for s in range(3):  # a small synthetic profile: keys only (pointer is skipped)
        (keys / f"s{s}.csv").write_text(
            to_text(syn.typing(2000, seed=s, **syn.TYPISTS["owner"]), "keys"))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**_env(tmp_path / "home"), "ACTIVESEC_TRAIN__KEYS_DETECTOR": "scaled_manhattan",
           "TMPDIR": str(temp)}
    assert run("init", "--user", "owner", env=env).returncode == 0
    assert run("import", str(tmp_path / "rec"), env=env).returncode == 0
    assert run("train", env=env).returncode == 0
    models = tmp_path / "home" / "models"
    stopped = 0
    for delay in (0.0, 0.3, 0.8):  # into training by that much; a late one may finish first
        model = models / "keyboard"
        before = ({f.name: f.read_bytes() for f in model.iterdir()}, model.stat().st_ino)
        proc = popen("train", env=env)
        wait_until(partial(_in_command, proc), "train to start", 120)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert not [p.name for p in models.iterdir() if p.name.startswith(".")]
        assert not list(temp.iterdir())
        if proc.returncode in (0, -signal.SIGTERM):
            # it had finished (a signal on its way out, once the handler is gone, kills it
            # with nothing left to keep): the model is the new one
            assert model.stat().st_ino != before[1]
            continue
        line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, "", err),
                              143)
        after = ({f.name: f.read_bytes() for f in model.iterdir()}, model.stat().st_ino)
        if "had been saved" in line:  # stopped after the swap (while printing): it says so
            assert line.startswith("error: training stopped by SIGTERM: the new keyboard "
                                   "model had been saved — "), line
            assert after[1] != before[1]
            continue
        assert line == ("error: training stopped by SIGTERM: the previous models are "
                        "unchanged — run `activesec train` again to train (or let the agent "
                        "train by itself)"), (delay, line)
        assert after == before
        stopped += 1
    assert stopped, "SIGTERM never stopped a training"
    assert run("status", env=env).returncode == 0  # the kept model loads


def test_sigterm_during_background_build_says_so_and_keeps_data_and_card_together(
        tmp_path: Path) -> None:
    """SIGTERM during `background build` ended it silently (143), and one between writing the
    data and its card left a background whose card's hash no longer matched: every later
    training refused it as altered. Now it says in one line what was kept, the data and card
    are saved as one step, and no temporary file is left."""
    from tests.helpers.cli import popen
    from tests.helpers.procs import wait_until

    from activesec.core import paths as paths_mod
    from activesec.service import background as bgm

    env = _env(tmp_path / "home")
    assert run("init", "--user", "owner", env=env).returncode == 0
    bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=2500)
    assert run("background", "build", "--balabit", str(bal), "--max-rows", "300",
               env=env).returncode == 0
    p = paths_mod.resolve(str(tmp_path / "home"))
    models = tmp_path / "home" / "models"
    stopped = 0
    # at once (several times: on a loaded machine the build may be done before the signal
    # lands), then later, when the data may be saved already
    for seed, delay in enumerate((0.0, 0.0, 0.0, 0.2, 0.5, 1.0), start=1):
        before = bgm.file_for(p, "pointer").read_bytes()
        proc = popen("background", "build", "--balabit", str(bal), "--max-rows", "300",
                     "--seed", str(seed), env=env)
        wait_until(partial(_handling_sigterm, proc), "background build to start", 120)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert not [f.name for f in models.iterdir() if f.name.startswith(".")]
        assert bgm.load_background(p, "pointer") is not None  # data and card agree
        if proc.returncode in (0, -signal.SIGTERM):
            # it had finished (a signal on its way out, once the handler is gone, kills it
            # with nothing left to keep): the new background is in place
            assert bgm.file_for(p, "pointer").read_bytes() != before
            continue
        line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, "", err),
                              143)
        if "was saved" in line:
            assert line.startswith("error: background build stopped by SIGTERM: the new "
                                   "pointer background was saved, nothing else changed"), line
            continue
        assert line == ("error: background build stopped by SIGTERM: the installed background "
                        "is unchanged — run `activesec background build` again"), line
        assert bgm.file_for(p, "pointer").read_bytes() == before
        stopped += 1
    assert stopped, "SIGTERM never stopped a build"


def test_a_second_training_at_once_is_refused_in_one_line(tmp_path: Path) -> None:
    """`activesec train` while another runs (the agent's automatic training, drift update or
    upgrade is such a `train` child): both staged the model in the same folder, and one of them
    failed with "cannot save ...: No such file or directory — make ... writable" (or left a
    model mixed from both). The second is refused at once, naming the first."""
    from tests.helpers.cli import cli, initialised

    from activesec.core import paths
    from activesec.core.instance import InstanceLock

    env = initialised(tmp_path / "home")
    p = paths.resolve(tmp_path / "home")
    with InstanceLock(p.run_dir / "train.lock", "training"):
        for args in (("train",), ("train", "--update"), ("train", "--upgrade"),
                     ("train", "--reset")):
            line = one_line_error(cli(*args, env=env))
            assert line.startswith(f"error: another ActiveSec training is already running "
                                   f"(pid {os.getpid()}) — wait until it has finished"), line
    assert "nothing to train yet" in one_line_error(cli("train", env=env))  # released


def test_an_administrators_background_serves_every_account(tmp_path: Path,
                                                           recordings: Path) -> None:
    """`background build --all-users`: built once by the administrator (who has no profile
    of their own), used by an account that never built one — before, each account trained
    with the much weaker one-class fallback unless it built its own."""
    machine = tmp_path / "var" / "background"
    admin = _env(tmp_path / "admin")
    admin["ACTIVESEC_SITE_BACKGROUND"] = str(machine)
    bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=2500)
    aalto = slice_aalto(tmp_path / "aalto.tsv", lines=8000)
    r = run("background", "build", "--all-users", "--balabit", str(bal), "--aalto", str(aalto),
            "--max-rows", "800", env=admin)
    assert r.returncode == 0, r.stderr
    assert "for every account" in r.stdout
    for f in machine.iterdir():
        assert (f.stat().st_mode & 0o777) == 0o644, f
    assert not (tmp_path / "admin" / "models").exists()  # nothing of the administrator's
    child = _env(tmp_path / "child")
    child["ACTIVESEC_SITE_BACKGROUND"] = str(machine)
    assert run("init", "--user", "owner", env=child).returncode == 0  # the recordings' label
    r = run("doctor", "--json", env=child)
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["background"]["status"] == "ok", checks["background"]
    assert f"the machine's, {machine}" in checks["background"]["detail"]
    assert run("import", str(recordings), env=child).returncode == 0
    r = run("train", "--json", env=child)
    assert r.returncode == 0, r.stderr
    by = {m["modality"]: m for m in json.loads(r.stdout)["trained"]}
    assert by["pointer:mouse"]["detector"] == "extra_trees"  # not the one-class gmm
    assert by["keyboard"]["detector"] == "plda"
