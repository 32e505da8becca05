"""`activesec evaluate mouse-csv` on a researcher's own recordings, as an audit wrote them: valid
but unusual files are evaluated, and what is left out is said (which folder, which rows, why);
files whose every row is wrong fail in one line naming the file. The real CLI in a subprocess
on small synthetic people (:mod:`activesec.recordings.synthetic`), written to disk."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.helpers.cli import cli, env_for, one_line_error
from tests.helpers.plugins import recipe_source

from activesec.recordings import synthetic as syn
from activesec.recordings.generic import to_text

HEADER = "timestamp,button,state,x,y"


def _sessions(person: str, n: int = 3, t0: float = 0.0) -> list[list[str]]:
    """``n`` sessions of 40 point-and-click actions by one synthetic person, as CSV lines."""
    i = list(syn.STYLES).index(person)
    return [to_text(syn.pointer_person(40, seed=100 * i + s, t0=t0 + 1000.0 * s,
                                       **syn.STYLES[person]), "mouse").splitlines()
            for s in range(n)]


def _write(path: Path, lines: list[str], *, newline: str = "\n", bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode())


def _evaluate(root: Path, tmp_path: Path, *extra: str, **env: str) -> dict[str, Any]:
    r = cli("evaluate", "mouse-csv", "--data", str(root), "--json", "--detector",
            "scaled_manhattan", *extra, env=env_for(tmp_path / "home", **env))
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    for person in ("owner", "quick", "slow"):
        for s, lines in enumerate(_sessions(person), 1):
            _write(root / person / f"s{s}.csv", lines)
    return root


def test_unusual_but_valid_recordings_are_evaluated(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    # a UTF-8 BOM and Windows line endings, in a folder named in another script
    for s, lines in enumerate(_sessions("owner", t0=1.7e9), 1):
        _write(root / "José" / f"session{s}.csv", lines, newline="\r\n", bom=True)
    # columns reordered, capitalised and padded, plus one the layout does not have
    for s, lines in enumerate(_sessions("quick"), 1):
        fields = [ln.split(",") for ln in lines[1:]]
        _write(root / "李雷" / f"{s}.csv", [" Y,x ,Timestamp,STATE,Button,window"]
               + [f"{y},{x},{t},{st},{b},editor" for t, b, st, x, y in fields])
    # rows out of time order, some twice
    for s, lines in enumerate(_sessions("slow"), 1):
        data = lines[1:] + lines[1:30]
        _write(root / "ольга" / f"s{s}.csv", [lines[0], *data[1::2], *data[::2]])
    # one session only, and a folder of gzipped files (not read): both said, not dropped
    _write(root / "Zoë" / "s1.csv", _sessions("shaky", 1)[0])
    (root / "gz" / "s1.csv.gz").parent.mkdir()
    (root / "gz" / "s1.csv.gz").write_bytes(b"\x1f\x8b")
    js = _evaluate(root, tmp_path)
    rows = {r["user"]: r for r in js["per_user"]}
    assert set(rows) == {"José", "李雷", "ольга", "Zoë"} and js["n_users"] == 3
    assert all(rows[u]["n_genuine"] == 2 and rows[u]["n_impostor"] == 4
               for u in ("José", "李雷", "ольга"))
    assert all(rows[u]["n_enrol"] == 40 for u in ("José", "李雷", "ольга"))  # every action
    assert js["auc"] > 0.9  # three distinct styles
    assert "only 1 usable sessions" in rows["Zoë"]["skipped_reason"]
    assert {"what": "user", "id": "gz", "reason": "its folder holds no .csv or .parquet file "
            "(compressed files are not read)"} in js["skipped"]
    assert not [s for s in js["skipped"] if s["what"] == "rows"]  # every row was read


def test_the_report_folder_is_made_when_the_report_is_written(clean: Path,
                                                             tmp_path: Path) -> None:
    """--report checks its folder before the evaluation and makes it for the report (a failed
    evaluation leaves none behind: tests/integration/test_cli_bad_input.py)."""
    target = tmp_path / "out" / "run1"
    js = _evaluate(clean, tmp_path, "--report", str(target))
    assert js["report"] == str(target / "report.html")
    assert [p.name for p in target.iterdir()] == ["report.html"]
    assert "earlier_report" not in js
    first = (target / "report.html").read_bytes()
    os.utime(target / "report.html", (1_700_000_000, 1_700_000_000))
    # a second run into the same folder keeps the first report (it was silently replaced),
    # named by its time in UTC (not the machine's zone, here 5:45 east of UTC)
    again = _evaluate(clean, tmp_path, "--report", str(target), "--detector", "gmm",
                      TZ="XYZ-5:45")
    stamp = "20231114-221320Z"  # 1,700,000,000 s in UTC, as the report's "Generated" line
    assert again["earlier_report"] == str(target / f"report-{stamp}.html")
    assert (target / f"report-{stamp}.html").read_bytes() == first
    assert sorted(p.name for p in target.iterdir()) == ["report-" + stamp + ".html",
                                                        "report.html"]
    assert "gmm" in (target / "report.html").read_text()


def test_the_report_folders_it_makes_are_private(clean: Path, tmp_path: Path) -> None:
    """README: directories 0700, files 0600 — the folders --report made were 0755 (the umask's),
    beside a 0600 report.html. A folder that existed keeps its mode, as with `export`."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    old_umask = os.umask(0o022)  # the usual one: what the CLI would otherwise make folders with
    try:
        _evaluate(clean, tmp_path, "--report", str(shared / "out" / "run1"))
        _evaluate(clean, tmp_path, "--report", str(shared))
    finally:
        os.umask(old_umask)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(shared) == 0o1777
    assert mode(shared / "out") == mode(shared / "out" / "run1") == 0o700
    assert mode(shared / "out" / "run1" / "report.html") == mode(shared / "report.html") == 0o600


def test_unreadable_rows_are_left_out_and_said(clean: Path, tmp_path: Path) -> None:
    f = clean / "slow" / "s2.csv"
    lines = f.read_text().splitlines()
    rows = [("nan" + ln[ln.index(","):]) if i % 3 == 0 else ln for i, ln in enumerate(lines[1:])]
    rows[1] = "1.5,NoButton,Hover,3,4"
    f.write_text("\n".join([lines[0], *rows]) + "\n")
    (clean / "owner" / "s3.csv").write_text(HEADER + "\n")  # a header and nothing else
    js = _evaluate(clean, tmp_path)
    bad = (len(rows) + 2) // 3
    assert {"what": "rows", "id": "slow/s2",
            "reason": f"{bad + 1:,} of {len(rows):,} rows unreadable: 1 with a button/state "
                      f"outside the vocabulary, {bad:,} with a time that is not a number of "
                      "seconds"} in js["skipped"]
    assert {"what": "session", "id": "owner/s3",
            "reason": "no complete action (no data row)"} in js["skipped"]
    assert js["n_users"] == 3
    text = cli("evaluate", "mouse-csv", "--data", str(clean), "--detector", "scaled_manhattan",
               env=env_for(tmp_path / "home"))
    assert text.returncode == 0, text.stderr
    assert "skipped: 1 " in text.stdout and "unreadable rows left out of 1 session" in text.stdout


def test_a_file_with_no_readable_row_is_one_line_naming_it(clean: Path, tmp_path: Path) -> None:
    f = clean / "quick" / "s2.csv"
    lines = f.read_text().splitlines()
    # coordinates as words: the header is right, no row is
    f.write_text("\n".join([lines[0]] + [",".join([*ln.split(",")[:3], "left", "top"])
                                         for ln in lines[1:]]) + "\n")
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(clean),
                              env=env_for(tmp_path / "home")))
    assert f"{f}: none of its {len(lines) - 1:,} rows is readable" in line
    assert "x/y not numbers in range" in line and "README" in line


def test_milliseconds_instead_of_seconds_are_named(clean: Path, tmp_path: Path) -> None:
    env = env_for(tmp_path / "home")
    for f in clean.rglob("*.csv"):
        lines = f.read_text().splitlines()
        f.write_text("\n".join([lines[0]] + [f"{round(float(ln.split(',')[0]) * 1000)},"
                                             + ln.split(",", 1)[1] for ln in lines[1:]]) + "\n")
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(clean), env=env))
    # refused by the reader, as import and replay refuse it
    assert "its times look like milliseconds (the layout's times are seconds)" in line
    # epoch milliseconds: named as such, with the divisor (every row was "not seconds")
    f = clean / "owner" / "s1.csv"
    lines = f.read_text().splitlines()
    f.write_text("\n".join([lines[0]] + [f"{1_700_000_000_000 + int(ln.split(',')[0])},"
                                         + ln.split(",", 1)[1] for ln in lines[1:]]) + "\n")
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(clean), env=env))
    assert f"{f}: its times look like Unix-epoch milliseconds" in line
    assert "divide the time columns by 1000" in line


def test_folders_without_session_files_are_named_when_too_few_users(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    _write(root / "owner" / "s1.csv", _sessions("owner", 1)[0])
    for name in ("quick", "slow"):
        (root / name).mkdir()
        (root / name / "s1.csv.gz").write_bytes(b"\x1f\x8b")
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(root),
                              env=env_for(tmp_path / "home")))
    assert "holds 1 user folder(s) with sessions; 2 folder(s) hold no .csv or .parquet " \
           "file (quick, slow)" in line


def _with_readme_plugin(tmp_path: Path) -> dict[str, str]:
    """An environment with README's plug-in recipe installed as pip would (a module and its
    dist-info's entry points on the path) as ``centroid``, and a ``broken`` one."""
    site = tmp_path / "site"
    (site / "mypkg").mkdir(parents=True)
    (site / "mypkg" / "__init__.py").write_text("")
    (site / "mypkg" / "detectors.py").write_text(recipe_source())
    (site / "mypkg" / "broken.py").write_text("raise ImportError('no numpy here')\n")
    info = site / "mypkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[activesec.detectors]\n"
                                           "centroid = mypkg.detectors:Centroid\n"
                                           "broken = mypkg.broken:Nothing\n")
    env = env_for(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def test_a_plug_in_parameter_is_reported_as_run_and_a_non_finite_one_refused(
        clean: Path, tmp_path: Path) -> None:
    """The recipe has no check_params: `--param eps=Infinity` ran (AUC 0.5) and the JSON said
    `"eps": null`; `eps=NaN` ended in "scores contain NaN or infinity — check the detector's
    output", blaming the detector; `eps=.5` ran with 0.5 but was reported as the text ".5"."""
    env = _with_readme_plugin(tmp_path)
    for value in ("NaN", "Infinity", "-Infinity"):
        line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(clean), "--detector",
                                  "centroid", "--param", f"eps={value}", env=env))
        assert "bad parameter for detector 'centroid': eps=" in line
        assert "is not a finite number — change that --param value" in line
    r = cli("evaluate", "mouse-csv", "--data", str(clean), "--json", "--detector", "centroid",
            "--param", "eps=.5", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["params"]["detector_params"] == {"eps": 0.5}


def test_a_detector_written_from_the_readme_is_compared(clean: Path, tmp_path: Path) -> None:
    """README's plug-in recipe, installed as pip would (a module and its dist-info's entry
    points on the path), is evaluated by name and within `--detector all`."""
    env = _with_readme_plugin(tmp_path)
    r = cli("evaluate", "mouse-csv", "--data", str(clean), "--json", "--detector", "centroid",
            "--param", "eps=0.01", env=env)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert js["detector"] == "centroid" and js["auc"] > 0.9
    assert js["params"]["detector_params"] == {"eps": 0.01}
    r = cli("evaluate", "mouse-csv", "--data", str(clean), "--json", "--detector", "all",
            env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "centroid" in [d["detector"] for d in json.loads(r.stdout)["detectors"]]
    # the broken one is not silently missing from the comparison
    assert json.loads(r.stdout)["detectors_not_loaded"] == {"broken": "ImportError: no numpy here"}
    assert ("warning: plug-in detector 'broken' failed to load (ImportError: no numpy here): "
            "left out of --detector all") in " ".join(r.stderr.split())
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(clean), "--detector",
                              "broken", env=env))
    assert "plug-in failed to load: ImportError: no numpy here" in line


def _three_typists(root: Path) -> Path:
    """Three synthetic typists, three keys-layout sessions each, under ``root``."""
    for i, (person, rhythm) in enumerate(list(syn.TYPISTS.items())[:3]):
        for s in range(3):
            _write(root / person / f"s{s + 1}.csv",
                   to_text(syn.typing(600, seed=10 * i + s, **rhythm), "keys").splitlines())
    return root


def test_three_typists_are_evaluated_without_plda(tmp_path: Path) -> None:
    """PLDA, the keys default, needs 3 people besides the owner: with 3 typists the default
    falls back to a one-class detector, `--detector all` runs the others, and naming plda says
    why it cannot run (all three used to end in 'no user could be evaluated')."""
    root = _three_typists(tmp_path / "typing")
    env = env_for(tmp_path / "home")
    r = cli("evaluate", "keys-csv", "--data", str(root), "--json", env=env)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert js["detector"] == "scaled_manhattan" and js["n_users"] == 3 and js["auc"] > 0.6
    r = cli("evaluate", "keys-csv", "--data", str(root), "--json", "--detector", "all",
            "--report", str(tmp_path / "report"), env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    names = [d["detector"] for d in js["detectors"]]
    assert "plda" not in names and {"scaled_manhattan", "extra_trees"} <= set(names)
    assert "a user's background holds 2" in js["detectors_not_evaluated"]["plda"]
    # the report says so too: it read "Nothing skipped." while leaving plda out unsaid
    html = (tmp_path / "report" / "report.html").read_text()
    skipped = html[html.index('<section id="skipped">'):]
    skipped = skipped[:skipped.index("</section>")]
    assert "Nothing skipped" not in skipped
    assert "<td>detector</td><td>plda</td>" in skipped
    assert "a user&#x27;s background holds 2" in skipped
    # as a person reads it: the protocol once, then one row per detector, best first
    r = cli("evaluate", "keys-csv", "--data", str(root), "--detector", "all", env=env,
            timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert r.stdout.count("impostors =") == 1  # it was repeated for every detector
    assert "user EER" in r.stdout
    rows = [ln.split("│")[0].strip() for ln in lines if "│" in ln]
    assert sorted(rows) == sorted(names)
    eers = {d["detector"]: d["mean_user_eer"] for d in js["detectors"]}
    assert [eers[n] for n in rows] == sorted(eers.values())
    assert "warning: plda left out of --detector all" in " ".join(r.stderr.split())
    assert "reading and features took" in r.stdout  # once: "s" is each detector's own time
    line = one_line_error(cli("evaluate", "keys-csv", "--data", str(root), "--detector", "plda",
                              env=env))
    assert "holds only 2 (the other users)" in line and "at least 4 users" in line


def test_detector_all_gives_each_param_to_the_detectors_that_take_it(tmp_path: Path) -> None:
    """`--detector all --param n_estimators=20`: the forests get it, the others run without it
    (every comparison with a --param used to end at the first detector that lacks it, gmm); a
    parameter no detector takes is refused in one line before the data is read."""
    root = _three_typists(tmp_path / "typing")
    env = env_for(tmp_path / "home")
    r = cli("evaluate", "keys-csv", "--data", str(root), "--json", "--detector", "all",
            "--param", "n_estimators=20", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    given = {d["detector"]: d["params"]["detector_params"] for d in js["detectors"]}
    assert given["extra_trees"] == {"n_estimators": 20}
    assert given["scaled_manhattan"] == {} and given["gmm"] == {}
    line = one_line_error(cli("evaluate", "keys-csv", "--data", str(tmp_path / "nowhere"),
                              "--detector", "all", "--param", "n_estimatrs=20", env=env))
    assert "no detector in the comparison takes --param n_estimatrs" in line


def test_injected_rows_are_not_evaluated_as_the_person(clean: Path, tmp_path: Path) -> None:
    """A file with the `injected` column (an `export --with-injected`): its flagged rows are a
    bot's, which training never learns from — evaluation leaves them out the same way."""
    from activesec.core.events import Flag
    from activesec.recordings import read_mouse_csv, write_mouse_csv

    before = _evaluate(clean, tmp_path)
    f = clean / "owner" / "s1.csv"
    own = read_mouse_csv(f)
    bot = syn.pointer_person(40, seed=99, t0=float(own["t_ns"][-1]) / 1e9 + 5.0)
    bot["flags"] |= int(Flag.INJECTED)
    write_mouse_csv(f, np.concatenate([own, bot]), injected=True)
    after = _evaluate(clean, tmp_path / "2")
    strip = ("runtime_s", "params")
    assert {k: v for k, v in after.items() if k not in strip} == {
        k: v for k, v in before.items() if k not in strip}


def test_keys_of_an_export_without_keys_say_so(clean: Path, tmp_path: Path) -> None:
    """`evaluate keys-csv` on an export holding only mouse/ took mouse/ for a user folder:
    "holds 0 user folder(s) with sessions; 1 folder(s) hold no .csv or .parquet file (mouse)"."""
    export = tmp_path / "export"
    export.mkdir()
    clean.rename(export / "mouse")
    line = one_line_error(cli("evaluate", "keys-csv", "--data", str(export),
                              env=env_for(tmp_path / "home")))
    assert "is an export without keys recordings (no keys/ folder)" in line


def test_a_plug_in_named_like_a_built_in_is_not_silently_replaced(
        clean: Path, tmp_path: Path) -> None:
    """`--detector mahalanobis` with a plug-in of that name ran the built-in unsaid."""
    env = _with_readme_plugin(tmp_path)
    points = tmp_path / "site" / "mypkg-0.1.dist-info" / "entry_points.txt"
    points.write_text(points.read_text() + "mahalanobis = mypkg.detectors:Centroid\n")
    r = cli("evaluate", "mouse-csv", "--data", str(clean), "--detector", "mahalanobis",
            "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["detector"] == "mahalanobis"
    said = " ".join(r.stderr.split())
    assert ("warning: plug-in detector 'mahalanobis' not used: its entry point "
            "mypkg.detectors:Centroid is named like") in said
    assert "the built-in mahalanobis ran" in said


def test_seed_seeds_the_detectors_that_take_one(clean: Path, tmp_path: Path) -> None:
    """`--seed` ("seed for sampling and detectors") left every forest at random_state 0: a
    researcher's runs over seeds 0-4 gave one result, read as no variance at all."""
    env = env_for(tmp_path / "home")

    def run(*extra: str) -> dict[str, Any]:
        r = cli("evaluate", "mouse-csv", "--data", str(clean), "--json", "--detector",
                "extra_trees", "--param", "n_estimators=5", *extra, env=env)
        assert r.returncode == 0, r.stderr
        return dict(json.loads(r.stdout))

    seed0, seed7, state7 = run(), run("--seed", "7"), run("--param", "random_state=7")
    assert seed7["params"]["detector_params"] == {"n_estimators": 5, "random_state": 7}
    assert seed0["params"]["detector_params"] == {"n_estimators": 5}  # the detector's default
    # the same forest as --param random_state=7, which --seed does not override
    assert [u["auc"] for u in seed7["per_user"]] == [u["auc"] for u in state7["per_user"]]
    assert seed7["eer_threshold"] == state7["eer_threshold"] != seed0["eer_threshold"]
    given = run("--seed", "7", "--param", "random_state=3")["params"]["detector_params"]
    assert given["random_state"] == 3
    r = cli("evaluate", "mouse-csv", "--data", str(clean), "--json", "--detector",
            "scaled_manhattan", "--seed", "7", env=env)  # takes no seed: runs as before
    assert r.returncode == 0 and json.loads(r.stdout)["params"]["detector_params"] == {}


def test_macos_metadata_files_do_not_stop_an_evaluation(clean: Path, tmp_path: Path) -> None:
    """A `._s2.csv` beside `s2.csv` (a recording copied from a Mac) ended the evaluation: "is
    not a text CSV file (its first line holds binary data)"."""
    (clean / "owner" / "._s2.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X  ")
    r = cli("evaluate", "mouse-csv", "--data", str(clean), "--json",
            env=env_for(tmp_path / "home"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n_users"] == 3


def test_a_plug_in_that_raises_is_one_line_and_left_out_of_a_comparison(
        clean: Path, tmp_path: Path) -> None:
    """A plug-in's bug ended the evaluation in a traceback — with `--detector all`, losing
    every built-in's figures to one broken plug-in installed beside them."""
    env = _with_readme_plugin(tmp_path)
    site = tmp_path / "site"
    (site / "mypkg" / "buggy.py").write_text(
        recipe_source().replace("class Centroid", "class Buggy")
        .replace("self.mu_, self.sd_ =", "self.mu_, self.sdd_ ="))
    points = site / "mypkg-0.1.dist-info" / "entry_points.txt"
    points.write_text(points.read_text() + "buggy = mypkg.buggy:Buggy\n")
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(clean), "--detector",
                              "buggy", env=env))
    assert "detector 'buggy' (mypkg.buggy:Buggy) failed in score: AttributeError:" in line
    assert "at buggy.py:" in line and "fix the plug-in" in line
    r = cli("evaluate", "mouse-csv", "--data", str(clean), "--detector", "all", "--json",
            "--param", "n_estimators=5", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert "failed in score: AttributeError" in js["detectors_not_evaluated"]["buggy"]
    assert {"centroid", "extra_trees", "scaled_manhattan"} <= {d["detector"]
                                                               for d in js["detectors"]}
