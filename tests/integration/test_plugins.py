"""A third-party plug-in's author's path through the real CLI: detectors and actions installed
as pip would (a module and its dist-info on ``PYTHONPATH``), working ones and broken ones. A
broken plug-in is said in one line naming it and what to do — never a traceback, never a
crash of the running agent, never ignored unsaid."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.cli import cli, env_for, one_line_error, popen
from tests.helpers.plugins import install
from tests.helpers.procs import wait_until
from tests.helpers.xserver import xdisplay  # noqa: F401  (fixture)

from activesec.recordings import synthetic as syn
from activesec.recordings.generic import to_text


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic people's pointer sessions in the generic mouse layout."""
    root = tmp_path_factory.mktemp("rec") / "mouse"
    for i, person in enumerate(("owner", "quick", "slow")):
        for s in range(3):
            lines = to_text(
                syn.pointer_person(40, seed=100 * i + s, t0=1000.0 * s, **syn.STYLES[person]),
                "mouse",
            )
            path = root / person / f"s{s + 1}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(lines)
    return root


def _env(tmp_path: Path, *sites: str) -> dict[str, str]:
    env = env_for(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join([*sites, env.get("PYTHONPATH", "")])
    return env


NOT_A_DETECTOR = "class Det:\n    pass\n"
NOT_A_CLASS = "def Det():\n    pass\n"
NO_METHODS = "from activesec.detectors.base import Detector\n\nclass Det(Detector):\n    pass\n"


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (NOT_A_DETECTOR, "bp.det:Det is not a subclass of activesec.detectors.base.Detector"),
        (NOT_A_CLASS, "bp.det:Det is not a subclass of activesec.detectors.base.Detector"),
        (NO_METHODS, "bp.det:Det does not define fit() and score()"),
    ],
)
def test_an_entry_point_that_names_no_usable_detector_is_said_in_one_line(
    tmp_path: Path, recordings: Path, source: str, why: str
) -> None:
    """`--detector NAME` on an entry point naming a plain class or a function ended in an
    AttributeError traceback; one naming a Detector without fit and score "failed in fit:
    NotImplementedError:  at base.py:269"."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": source},
        "[activesec.detectors]\nodd = bp.det:Det\n",
    )
    line = one_line_error(
        cli(
            "evaluate",
            "mouse-csv",
            "--data",
            str(recordings),
            "--detector",
            "odd",
            env=_env(tmp_path, site),
        )
    )
    assert f"unknown detector 'odd' (plug-in failed to load: {why})" in line
    assert "fix or reinstall the package that provides it" in line


def _owner_profile(tmp_path: Path, recordings: Path, *sites: str) -> dict[str, str]:
    """A profile whose owner's imported recordings are enough to train (enrolment lowered)."""
    env = _env(tmp_path, *sites)
    env["ACTIVESEC_ENROL__POINTER_EVENTS"] = "500"
    assert cli("init", "--user", "owner", env=env).returncode == 0
    r = cli("import", str(recordings.parent), env=env)
    assert r.returncode == 0, r.stderr
    return env


HOLDS_A_HELPER = """
import numpy as np
from activesec.detectors.base import Detector

class Centre:
    def __init__(self, mu):
        self.mu = mu

class Det(Detector):
    def fit(self, X, X_background=None, background_groups=None):
        self.centre_ = Centre(X.mean(axis=0))
        return self

    def score(self, X):
        return np.abs(X - self.centre_.mu).mean(axis=1)
"""


def test_a_plug_in_model_that_cannot_be_saved_without_pickle_is_refused_by_train(
    tmp_path: Path, recordings: Path
) -> None:
    """A fitted state holding the plug-in's own helper class was saved by `train`, and then
    every load refused it ("contains untrusted types … retrain with `activesec train`"): the
    agent retrained and refused it for ever, protecting nothing."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": HOLDS_A_HELPER},
        "[activesec.detectors]\nodd = bp.det:Det\n",
    )
    env = _owner_profile(tmp_path, recordings, site)
    env["ACTIVESEC_TRAIN__POINTER_DETECTOR"] = "odd"
    line = one_line_error(cli("train", env=env))
    assert (
        "detector 'odd' (bp.det:Det) cannot be saved without pickle: its fitted state holds "
        "bp.det.Centre — keep its fitted state in NumPy arrays" in line
    )
    assert not list((tmp_path / "home").rglob("model.skops"))
    assert not list((tmp_path / "home").rglob(".staging-*"))


NAN_SCORES = """
import numpy as np
from activesec.detectors.base import Detector

class Det(Detector):
    def fit(self, X, X_background=None, background_groups=None):
        self.mu_ = X.mean(axis=0)
        return self

    def score(self, X):
        s = np.abs(X - self.mu_).mean(axis=1)
        s[::2] = np.nan
        return s
"""


def test_a_plug_in_scoring_nan_is_named_in_one_line(tmp_path: Path, recordings: Path) -> None:
    """NaN scores were taken for impostors unsaid; `evaluate` printed overflow warnings and
    "scores contain NaN or infinity — check the detector's output", naming no detector."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": NAN_SCORES},
        "[activesec.detectors]\nodd = bp.det:Det\n",
    )
    args = ("evaluate", "mouse-csv", "--data", str(recordings), "--detector", "odd")
    line = one_line_error(cli(*args, env=_env(tmp_path, site)))
    assert "detector 'odd' (bp.det:Det) returned " in line
    assert "NaN or infinite scores for " in line and "fix the plug-in's score" in line


TWO_SCORES_A_ROW = """
import numpy as np
from activesec.detectors.base import Detector

class Det(Detector):
    def fit(self, X, X_background=None, background_groups=None):
        return self

    def score(self, X):
        return np.zeros((len(X), 2))
"""


def test_train_says_a_plug_ins_scoring_bug_not_to_keep_enrolling(
    tmp_path: Path, recordings: Path
) -> None:
    """A plug-in giving two scores a row failed `train` with "nothing to train yet … keep
    `activesec run` going: it trains by itself once enrolment is complete" — enrolment was
    complete, and no amount of it fixes the plug-in."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": TWO_SCORES_A_ROW},
        "[activesec.detectors]\nodd = bp.det:Det\n",
    )
    env = _owner_profile(tmp_path, recordings, site)
    env["ACTIVESEC_TRAIN__POINTER_DETECTOR"] = "odd"
    line = one_line_error(cli("train", env=env))
    assert line.startswith("error: detector 'odd' returned ")
    assert "nothing to train" not in line and "keep `activesec run` going" not in line


CENTROID = """
import numpy as np
from activesec.detectors.base import Detector

class Centroid(Detector):
    def fit(self, X, X_background=None, background_groups=None):
        self.mu_ = X.mean(axis=0)
        return self

    def score(self, X):
        return np.abs(X - self.mu_).mean(axis=1)
"""

JOURNAL = """
from activesec.actions.base import Action, ActionResult

class Journal(Action):
    def _fire(self, decision):
        return ActionResult(True, "noted")

    def plan(self, op, decision):
        return "would note it"
"""


def test_doctor_lists_the_plug_ins_and_those_it_cannot_use(tmp_path: Path) -> None:
    """`doctor` said nothing of plug-ins: one that failed to import was found only by naming
    it, and an action named like a built-in was ignored with a line in the agent's log."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": CENTROID, "bp.act": JOURNAL},
        "[activesec.detectors]\ncentroid = bp.det:Centroid\ngone = bp.missing:X\n"
        "[activesec.actions]\njournal = bp.act:Journal\nlock = bp.act:Journal\n",
    )
    r = cli("doctor", "--json", env=_env(tmp_path, site))
    assert "Traceback" not in r.stderr, r.stderr
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    plugins = checks["plug-ins"]
    assert plugins["status"] == "warn"
    assert plugins["detail"].startswith("detector centroid (bp 0.1); action journal (bp 0.1); ")
    assert "not usable: detector plug-in 'gone' (bp 0.1): ModuleNotFoundError" in plugins["detail"]
    assert (
        "not usable: action plug-in 'lock' (bp 0.1): not used: named like the built-in"
        in plugins["detail"]
    )
    assert "fix or reinstall the package named" in plugins["hint"]


BREAKS_AT_START = """
from activesec.actions.base import Action, ActionResult

class Pager(Action):
    def __init__(self, *, dry_run: bool = False) -> None:
        super().__init__(dry_run=dry_run)

    def _start(self):
        raise ConnectionRefusedError("no pager daemon")

    def _fire(self, decision):
        return ActionResult(True, "paged")

    def plan(self, op, decision):
        return "would page"

class Broken(Pager):
    def __init__(self, *, dry_run: bool = False) -> None:
        super().__init__(dry_run=dry_run)
        raise KeyError("PAGER_URL")
"""


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("pager", "action 'pager' (bp.act:Pager) failed to start: ConnectionRefusedError: "),
        ("broken", "action 'broken' (bp.act:Broken) failed to start: KeyError: 'PAGER_URL'"),
    ],
)
def test_a_plug_in_action_that_cannot_start_stops_run_in_one_line(
    tmp_path: Path,
    xdisplay: str,  # noqa: F811
    name: str,
    why: str,
) -> None:
    """A plug-in action whose constructor or ``_start`` raised ended `activesec run` in a
    traceback."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.act": BREAKS_AT_START},
        "[activesec.actions]\npager = bp.act:Pager\nbroken = bp.act:Broken\n",
    )
    env = _env(tmp_path, site)
    assert cli("init", "--user", "owner", env=env).returncode == 0
    env.update(DISPLAY=xdisplay, ACTIVESEC_ACTIONS__ON_NOTIFY=f'["{name}"]')
    line = one_line_error(cli("run", "--duration", "1", env=env), code=78)
    assert why in line and line.endswith("fix the plug-in, or remove it from [actions]")


def test_a_plug_in_model_is_carded_with_its_package_and_refused_by_another_version(
    tmp_path: Path, recordings: Path
) -> None:
    """A plug-in detector's model card named no plug-in version: after the plug-in was
    upgraded, the old model loaded as if nothing had changed (its class may have), unlike a
    model built with another scikit-learn, which is refused with "retrain"."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": CENTROID},
        "[activesec.detectors]\ncentroid = bp.det:Centroid\n",
    )
    env = _owner_profile(tmp_path, recordings, site)
    env["ACTIVESEC_TRAIN__POINTER_DETECTOR"] = "centroid"
    r = cli("train", env=env)
    assert r.returncode == 0, r.stderr
    (card,) = (tmp_path / "home").rglob("model.json")
    body = json.loads(card.read_text())
    assert body["class"] == "bp.det.Centroid" and body["plugin"] == {
        "package": "bp",
        "version": "0.1",
    }
    assert body["model_sha256"] and body["card_sha256"]
    assert (card.parent / "model.skops").read_bytes()[:2] == b"PK"  # skops' zip, not a pickle
    models = json.loads(cli("status", "--json", env=env).stdout)["models"]
    assert [(m["detector"], m["ok"]) for m in models] == [("centroid", True)]
    metadata = Path(site) / "bp-0.1.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 0.1", "Version: 0.2"))
    (model,) = json.loads(cli("status", "--json", env=env).stdout)["models"]
    assert not model["ok"]
    assert "was built with plug-in bp 0.1, this is bp 0.2" in model["problem"]


REFUSES_IN_INIT = """
import numpy as np
from activesec.detectors.base import Detector

class Det(Detector):
    def __init__(self, spread: int = 3) -> None:
        if spread < 1:
            raise ValueError("spread must be positive")
        self.spread = spread

    def fit(self, X, X_background=None, background_groups=None):
        return self

    def score(self, X):
        return np.zeros(len(X))
"""

REFUSES_IN_CHECK = """
import numpy as np
from activesec.detectors.base import Detector

class Det(Detector):
    def __init__(self, spread: int = 3) -> None:
        self.spread = spread

    def check_params(self):
        if self.spread < 1:
            raise ValueError("spread must be positive")

    def fit(self, X, X_background=None, background_groups=None):
        return self

    def score(self, X):
        return np.zeros(len(X))
"""


@pytest.mark.parametrize("source", [REFUSES_IN_INIT, REFUSES_IN_CHECK])
@pytest.mark.parametrize("detector", ["odd", "all"])
def test_a_plug_in_refusing_a_parameter_with_its_own_error_is_one_line(
    tmp_path: Path, recordings: Path, source: str, detector: str
) -> None:
    """A plug-in checking `--param spread=0` in its constructor or check_params with a ValueError
    (not the ConfigError the README asks for) ended `evaluate` in a traceback."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": source},
        "[activesec.detectors]\nodd = bp.det:Det\n",
    )
    args = ("evaluate", "mouse-csv", "--data", str(recordings), "--detector", detector)
    line = one_line_error(cli(*args, "--param", "spread=0", env=_env(tmp_path, site)))
    assert line == (
        "error: detector 'odd' (bp.det:Det) refused its parameters: ValueError: spread must be "
        "positive — change that --param value (or fix the plug-in)"
    )


def test_bench_does_not_tell_a_plug_in_model_to_retrain(tmp_path: Path, recordings: Path) -> None:
    """A plug-in detector has no NumPy-only twin, so the agent scores it with scikit-learn
    loaded; `bench` refused such a model ("has no compact form — retrain", which gives it
    none), benched a synthetic owner instead and called scikit-learn a fault to retrain."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": CENTROID},
        "[activesec.detectors]\ncentroid = bp.det:Centroid\n",
    )
    env = _owner_profile(tmp_path, recordings, site)
    env["ACTIVESEC_TRAIN__POINTER_DETECTOR"] = "centroid"
    assert cli("train", env=env).returncode == 0
    r = cli("bench", "--seconds", "5", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert (
        "pointer-mouse (a plug-in detector, or a built-in with non-default parameters) has "
        "no NumPy-only twin" in text
    )
    assert "retrain" not in text
    assert "scoring with your profile's models: pointer:mouse" in text


TAKES_K = """
import numpy as np
from activesec.detectors.base import Detector

class Det(Detector):
    def __init__(self, k: int = 3) -> None:
        self.k = k

    def check_params(self):
        if self.k < 1:
            raise ValueError("k must be positive")

    def fit(self, X, X_background=None, background_groups=None):
        self.mu_ = X.mean(axis=0)
        return self

    def score(self, X):
        return np.abs(X - self.mu_).mean(axis=1) * self.k
"""


def _card(home: Path) -> dict[str, Any]:
    (card,) = home.rglob("model.json")
    body: dict[str, Any] = json.loads(card.read_text())
    return body


def _dated_owner_sessions(root: Path, seeds: range, days_ago: int) -> Path:
    """The owner's pointer sessions dated ``days_ago`` (a drift update learns only from rows
    after the model's, and an undated import would end at the import)."""
    t0 = time.time() - days_ago * 86400
    for s in seeds:
        events = syn.pointer_person(40, seed=s, t0=t0 + 1000.0 * s, **syn.STYLES["owner"])
        path = root / "mouse" / "owner" / f"s{s}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_text(events, "mouse"))
    return root


def test_train_takes_a_plug_ins_param_and_every_later_training_keeps_it(tmp_path: Path) -> None:
    """`evaluate --param k=7` had no `train` counterpart: a plug-in detector was trained, and
    retrained by the agent, only at its defaults (the README called it a limit)."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": TAKES_K},
        "[activesec.detectors]\nmydet = bp.det:Det\n",
    )
    env = _env(tmp_path, site)
    env.update(ACTIVESEC_ENROL__POINTER_EVENTS="500", ACTIVESEC_TRAIN__POINTER_DETECTOR="mydet")
    assert cli("init", "--user", "owner", env=env).returncode == 0
    earlier = _dated_owner_sessions(tmp_path / "earlier", range(3), days_ago=3)
    assert cli("import", str(earlier), env=env).returncode == 0
    home = tmp_path / "home"
    # checked before anything is fitted, in one line, as `evaluate --param` is
    assert one_line_error(cli("train", "--param", "k=0", env=env)) == (
        "error: detector 'mydet' (bp.det:Det) refused its parameters: ValueError: k must be "
        "positive — change that --param value (or fix the plug-in)"
    )
    line = one_line_error(cli("train", "--param", "spread=2", env=env))
    assert "no detector this training fits takes --param spread" in line
    assert "mydet (pointer): k;" in line
    assert not list(home.rglob("model.json"))
    r = cli("train", "--param", "k=7", env=env)
    assert r.returncode == 0, r.stderr
    assert "pointer:mouse: mydet (k=7) on" in " ".join(r.stdout.split())
    card = _card(home)
    assert card["params"] == {"k": 7} and card["extra"]["requested_params"] == {"k": 7}
    line = one_line_error(cli("train", "--update", "--param", "k=1", env=env))
    assert "--param does not go with --update" in line
    # the drift update (the agent runs the same `train --update`) refits with k=7 ...
    later = _dated_owner_sessions(tmp_path / "later", range(3, 6), days_ago=1)
    assert cli("import", str(later), env=env).returncode == 0
    r = cli("train", "--update", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["trained"], r.stdout
    (done,) = json.loads(r.stdout)["trained"]
    assert done["drift"]["replaced_rows"] > 0 and done["params"] == {"k": 7}
    card = _card(home)
    assert card["params"] == {"k": 7} and card["extra"]["trained_by"] == "retrain"
    # ... and so does a training without --param (the agent's own, a new kind of device)
    assert cli("train", env=env).returncode == 0
    card = _card(home)
    assert card["params"] == {"k": 7} and card["extra"]["trained_by"] == "train"
    assert card["extra"]["requested_params"] == {"k": 7}


HANGS = """
import time
from pathlib import Path
from activesec.actions.base import Action, ActionResult

class Hangs(Action):
    max_wait_s = 1.0  # the README's class attribute: the test need not wait 10 s

    def __init__(self, *, at: str = "stop", dry_run: bool = False) -> None:
        super().__init__(dry_run=dry_run)
        self.at = at

    def _start(self):
        if self.at == "start":
            time.sleep(3600)

    def _stop(self):
        if self.at == "stop":
            time.sleep(3600)

    def _fire(self, decision):
        return ActionResult(True, "noted")

    def plan(self, op, decision):
        return "would note it"

class Marks(Hangs):
    def __init__(self, *, path: str, dry_run: bool = False) -> None:
        super().__init__(at="", dry_run=dry_run)
        self.path = path

    def _stop(self):
        Path(self.path).write_text("stopped")
"""


def _hanging_actions(tmp_path: Path, display: str, at: str) -> dict[str, str]:
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.act": HANGS},
        "[activesec.actions]\nhangs = bp.act:Hangs\nmarks = bp.act:Marks\n",
    )
    env = _env(tmp_path, site)
    assert cli("init", "--user", "owner", env=env).returncode == 0
    params = {"hangs": {"at": at}, "marks": {"path": str(tmp_path / "marks-stopped")}}
    env.update(
        DISPLAY=display,
        ACTIVESEC_ACTIONS__ON_NOTIFY='["hangs", "marks"]',
        ACTIVESEC_ACTIONS__PARAMS=json.dumps(params),
    )
    return env


def test_a_plug_in_action_whose_start_hangs_stops_run_in_one_line(
    tmp_path: Path,
    xdisplay: str,  # noqa: F811
) -> None:
    """A plug-in action whose ``_start`` never returned kept `activesec run` from starting, for
    ever, with nothing said (the agent protected nothing and systemd saw it running)."""
    env = _hanging_actions(tmp_path, xdisplay, at="start")
    line = one_line_error(cli("run", "--duration", "1", env=env, timeout=60), code=78)
    assert line == (
        "error: action 'hangs' (bp.act:Hangs) failed to start: its _start has not returned "
        "after 1 s — fix the plug-in, or remove it from [actions]"
    )


def test_sigterm_ends_the_agent_when_a_plug_in_actions_stop_hangs(
    tmp_path: Path,
    xdisplay: str,  # noqa: F811
) -> None:
    """A plug-in action whose ``_stop`` never returned kept SIGTERM from ending the agent: a
    systemd stop waited for SIGKILL, and the actions after it (the gate resuming suspended
    apps) never stopped, nor was the final status written. Now it is left running, named in
    the agent's log, and the rest of the shutdown happens."""
    env = _hanging_actions(tmp_path, xdisplay, at="stop")
    agent = popen("run", "--quiet", env=env)
    status = tmp_path / "home" / "run" / "agent.json"
    try:

        def running() -> bool:
            try:
                return bool(json.loads(status.read_text())["running"])
            except (OSError, ValueError, KeyError):
                return False

        wait_until(running, "the agent to run", limit_s=60)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, agent.communicate()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(60)
    assert (tmp_path / "marks-stopped").read_text() == "stopped"  # the next action's stop ran
    assert json.loads(status.read_text())["running"] is False  # the final status was written
    log = (tmp_path / "home" / "logs" / "activesec.log").read_text()
    assert (
        "action hangs (bp.act:Hangs): _stop has not returned after 1 s; left running, the agent "
        "goes on stopping without it" in log
    )


WITH_TWIN = """
import numpy as np
from activesec.detectors.base import Detector

class Centroid(Detector):
    def __init__(self, off: float = 1.0) -> None:
        self.off = off  # 1.0: the twin it offers is its model; else it is not

    def fit(self, X, X_background=None, background_groups=None):
        self.mu_, self.sd_ = X.mean(axis=0), X.std(axis=0) + 1e-6
        return self

    def score(self, X):
        return np.abs((X - self.mu_) / self.sd_).mean(axis=1)

    def compact(self):
        return "scaled_manhattan", {"mean": self.mu_, "mad": self.sd_ * self.off}
"""


def test_a_plug_in_offering_a_numpy_twin_is_scored_without_scikit_learn(
    tmp_path: Path, recordings: Path
) -> None:
    """A plug-in detector's model was always scored through skops, which loads scikit-learn
    into the agent (bench: 165 MB against the 120 MB target). One whose model fits a form the
    project scores with NumPy says so in ``compact()``; the agent then scores with that twin."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": WITH_TWIN},
        "[activesec.detectors]\ncentroid = bp.det:Centroid\n",
    )
    env = _owner_profile(tmp_path, recordings, site)
    env["ACTIVESEC_TRAIN__POINTER_DETECTOR"] = "centroid"
    home = tmp_path / "home"
    # a twin that does not score as the model does is not used: the card says why
    r = cli("train", "--param", "off=2", env=env)
    assert r.returncode == 0, r.stderr
    assert (
        "note: detector 'centroid' (bp.det:Centroid): the NumPy-only twin its compact() "
        "describes scores its training rows differently (by up to "
    ) in " ".join(r.stdout.split())
    (model,) = home.rglob("model.json")
    assert not (model.parent / "compact.npz").exists()
    why = _card(home)["extra"]["compact_refused"]
    assert (
        "detector 'centroid' (bp.det:Centroid): the NumPy-only twin its compact() describes "
        "scores its training rows differently" in why
    )
    assert cli("train", "--param", "off=1", env=env).returncode == 0
    assert (model.parent / "compact.npz").is_file()
    assert "compact_refused" not in _card(home)["extra"]
    r = cli("bench", "--seconds", "5", "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    bench = json.loads(r.stdout)
    assert bench["models"]["modalities"] == ["pointer:mouse"]
    assert bench["models"]["without_twin"] == []
    assert bench["scoring"]["scores"] > 0 and not bench["scoring"]["sklearn_imported"]


def test_parameters_a_new_version_of_the_plug_in_refuses_are_dropped_and_said(
    tmp_path: Path,
) -> None:
    """The parameters a card keeps are reused by every later training — the agent's too: had a
    new version of the plug-in dropped one, each of its trainings would fail and leave the
    owner without a model. It trains at the detector's defaults and says so."""
    site = install(
        tmp_path / "site",
        "bp",
        {"bp.__init__": "", "bp.det": TAKES_K},
        "[activesec.detectors]\nmydet = bp.det:Det\n",
    )
    env = _env(tmp_path, site)
    env.update(ACTIVESEC_ENROL__POINTER_EVENTS="500", ACTIVESEC_TRAIN__POINTER_DETECTOR="mydet")
    assert cli("init", "--user", "owner", env=env).returncode == 0
    earlier = _dated_owner_sessions(tmp_path / "earlier", range(3), days_ago=3)
    assert cli("import", str(earlier), env=env).returncode == 0
    assert cli("train", "--param", "k=7", env=env).returncode == 0
    module = Path(site) / "bp" / "det.py"
    # its parameter k is called n now
    module.write_text(
        TAKES_K.replace("k: int", "n: int").replace("= k", "= n").replace("self.k", "self.n")
    )
    metadata = Path(site) / "bp-0.1.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 0.1", "Version: 0.2"))
    r = cli("train", env=env)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert (
        "note: the parameters mydet was last given (k=7) are refused now (bad parameter for "
        "detector 'mydet': it has no parameter 'k' (its parameters: n)): trained at its "
        "defaults — `activesec train --param` gives others" in text
    )
    card = _card(tmp_path / "home")
    assert card["params"] == {"n": 3} and card["extra"]["requested_params"] == {}
    assert card["plugin"] == {"package": "bp", "version": "0.2"}
    assert "are refused now" in card["extra"]["params_refused"]
