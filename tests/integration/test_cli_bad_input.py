"""Bad input to the real CLI (an audit's findings): each is refused with one line naming what is
wrong, never a traceback and never accepted silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers.cli import cli, env_for, initialised, one_line_error

from activesec.core.errors import EX_CONFIG


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return initialised(tmp_path / "home")


def _config(env: dict[str, str]) -> Path:
    return Path(env["ACTIVESEC_HOME"]) / "config.toml"


def _set(env: dict[str, str], section: str, line: str) -> None:
    """Add ``line`` under ``[section]`` of the config file ``init`` wrote."""
    cfg = _config(env)
    text = cfg.read_text()
    assert f"\n[{section}]\n" in text
    cfg.write_text(text.replace(f"\n[{section}]\n", f"\n[{section}]\n{line}\n", 1))


def _doctor_config(env: dict[str, str]) -> dict[str, str]:
    r = cli("doctor", "--json", env=env)
    assert "Traceback" not in r.stderr, r.stderr
    (check,) = [c for c in json.loads(r.stdout)["checks"] if c["name"] == "config"]
    return dict(check)


@pytest.mark.parametrize(("section", "line", "key"), [
    ("engine.trust", "neutral_z = nan", "engine.trust.neutral_z"),
    ("engine.trust", "extreme_z = nan", "engine.trust.extreme_z"),
    ("engine.trust", 'modality_weights = {"pointer:mouse" = nan}',
     "engine.trust.modality_weights.pointer:mouse"),
    ("engine.policy", "restore_after_s = inf", "engine.policy.restore_after_s"),
    ("engine.scoring", "flush_after_s = inf", "engine.scoring.flush_after_s"),
    ("engine", "idle_s = nan", "engine.idle_s"),
])
def test_non_finite_engine_settings_are_refused(env: dict[str, str], section: str, line: str,
                                                key: str) -> None:
    """A NaN passes every bound (all comparisons are false) and then disables the check it
    feeds: with neutral_z = nan trust never fell and a replay never locked."""
    _set(env, section, line)
    check = _doctor_config(env)
    assert check["status"] == "fail", check
    assert f"'{key}'" in check["detail"] and "finite" in check["detail"]
    assert f"'{key}'" in one_line_error(cli("replay", "/nonexistent", env=env))
    assert f"'{key}'" in one_line_error(cli("run", "--duration", "1", env=env), EX_CONFIG)


@pytest.mark.parametrize(("section", "line", "key"), [
    ("train", "target_far = nan", "train.target_far"),
    ("capture", "flush_interval_s = nan", "capture.flush_interval_s"),
    ("train", "retrain_days = nan", "train.retrain_days"),
    ("train", "retrain_days = inf", "train.retrain_days"),
])
def test_non_finite_settings_are_refused(env: dict[str, str], section: str, line: str,
                                         key: str) -> None:
    _set(env, section, line)
    assert f"'{key}'" in one_line_error(cli("status", env=env))
    check = _doctor_config(env)
    assert check["status"] == "fail" and f"'{key}'" in check["detail"], check


def test_config_files_that_are_not_utf8_are_refused_in_one_line(env: dict[str, str],
                                                               tmp_path: Path) -> None:
    """tomllib raises UnicodeDecodeError, not TOMLDecodeError, on bytes that are not UTF-8."""
    latin1 = 'user = "J\u00fcrgen"\n'.encode("latin-1")
    site = tmp_path / "policy.toml"
    site.write_bytes(b"[defaults]\n" + latin1)
    line = one_line_error(cli("status", env=dict(env, ACTIVESEC_SITE_CONFIG=str(site))))
    assert f"machine policy file {site} is not valid TOML: not UTF-8" in line
    _config(env).write_bytes(latin1)
    line = one_line_error(cli("status", env=env))
    assert f"config file {_config(env)} is not valid TOML: not UTF-8" in line
    check = _doctor_config(env)
    assert check["status"] == "fail" and "not UTF-8" in check["detail"], check


@pytest.mark.parametrize("value", ["[" * 1000 + "]" * 1000, "{a=" * 1000 + "1" + "}" * 1000])
def test_config_files_nested_too_deeply_are_refused_in_one_line(env: dict[str, str],
                                                                tmp_path: Path,
                                                                value: str) -> None:
    """tomllib recurses per nesting level and raised RecursionError: a traceback, from a
    config file or from a machine policy (every account's agent)."""
    site = tmp_path / "policy.toml"
    site.write_text(f"[defaults]\nx = {value}\n")
    line = one_line_error(cli("status", env=dict(env, ACTIVESEC_SITE_CONFIG=str(site))))
    assert f"machine policy file {site} is not valid TOML: " in line
    assert "nested too deeply" in line
    _config(env).write_text(f"x = {value}\n")
    line = one_line_error(cli("status", env=env))
    assert f"config file {_config(env)} is not valid TOML: " in line
    assert "nested too deeply" in line
    check = _doctor_config(env)
    assert check["status"] == "fail" and "nested too deeply" in check["detail"], check
    line = one_line_error(cli("run", "--duration", "1", env=env), EX_CONFIG)
    assert "nested too deeply" in line


def test_json_files_nested_too_deeply_are_refused_or_ignored_without_traceback(
        env: dict[str, str], tmp_path: Path) -> None:
    """json raises RecursionError (neither ValueError nor JSONDecodeError) on arrays nested a
    few thousand deep: an export's activesec-export.json (a foreign file `import` reads) or a
    damaged profile ended in a traceback, and so did `status` and `doctor` over the agent's
    own state files, which they otherwise ignore when unreadable."""
    deep = "[" * 100_000 + "]" * 100_000
    rec = tmp_path / "export"
    (rec / "mouse" / "u").mkdir(parents=True)
    (rec / "mouse" / "u" / "s.csv").write_text(
        "timestamp,button,state,x,y\n0.1,NoButton,Move,1,2\n")
    (rec / "activesec-export.json").write_text(deep)
    line = one_line_error(cli("import", str(rec), env=env))
    assert "activesec-export.json is not an export description" in line
    home = Path(env["ACTIVESEC_HOME"])
    for f in ("run/agent.json", "run/stopped.json"):
        (home / f).write_text(deep)
        for cmd in ("status", "doctor"):
            r = cli(cmd, env=env)
            assert "Traceback" not in r.stderr and r.returncode in (0, 1), (f, cmd, r.stderr)
        (home / f).unlink()
    (home / "profile.json").write_text(deep)
    line = one_line_error(cli("status", env=env))
    assert "profile.json is unreadable or damaged" in line


@pytest.mark.parametrize("content", [
    bytes(range(128, 256)),  # not UTF-8: a sector of another file after a crash
    b"[1, 2, 3]\n", b'"stopped"\n', b'{"running": false, "last_decision": [1]}\n'],
    ids=["not-utf8", "list", "string", "decision-not-object"])
def test_a_damaged_agent_status_file_is_ignored_by_status(env: dict[str, str],
                                                          content: bytes) -> None:
    """The stopped agent's status file (run/agent.json) as bytes that are not UTF-8, or JSON
    that is not its object: `status` and `status --json` ended in a traceback (UnicodeDecodeError
    is no JSONDecodeError; a list has no .get) where they ignore an unreadable file."""
    f = Path(env["ACTIVESEC_HOME"]) / "run" / "agent.json"
    f.write_bytes(content)
    for args in (("status",), ("status", "--json")):
        r = cli(*args, env=env)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
    assert json.loads(cli("status", "--json", env=env).stdout)["agent"]["last_decision"] is None
    assert f.read_bytes() == content  # not the command's to delete


def test_a_readme_snippet_appended_to_the_init_file_says_where_it_goes(
        env: dict[str, str]) -> None:
    """`init` writes every section, so the README's `[actions]` block pasted at the end declares
    `[actions]` twice: tomllib's "Cannot declare ('actions',) twice" now says what to do."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    snippet = readme.split("```toml\n[actions]\n", 1)[1].split("```", 1)[0]
    before = _config(env).read_text()
    _config(env).write_text(before + "\n[actions]\n" + snippet)
    line = one_line_error(cli("status", env=env))
    assert "Cannot declare ('actions',) twice" in line
    assert "the file already has a [actions] table — put these lines under that one" in line
    _config(env).write_text(before.replace("\n[store]\n", "\n[store]\nkeep_days = 3\n"
                                           "keep_days = 4\n"))
    assert "a setting given twice — keep one of them" in one_line_error(cli("status", env=env))
    # what the README asks: the lines under init's [actions], the params tables after it
    lines = snippet.split("\n\n", 1)
    _config(env).write_text(before.replace("\n[actions]\n", "\n[actions]\n" + lines[0] + "\n")
                            + "\n" + lines[1])
    assert cli("status", env=env).returncode == 0


def test_bench_seconds_must_be_finite(env: dict[str, str]) -> None:
    assert "--seconds must be at most 86400" in one_line_error(
        cli("bench", "--seconds", "1e300", env=env))


@pytest.mark.parametrize(("args", "instead"), [
    (("capture", "--duration"), "leave --duration out to capture until Ctrl-C or SIGTERM"),
    (("run", "--duration"), "leave --duration out to run until SIGTERM or Ctrl-C"),
    (("replay", "recordings", "--speed"), "or 0 to replay as fast as possible"),
    (("bench", "--seconds"), "give 5 to 86400 seconds"),
    (("evaluate", "balabit", "--tune-trust", "--target-anga"), "e.g. 2000 (the default)"),
])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_number_options_refuse_nan_and_inf(env: dict[str, str], args: tuple[str, ...],
                                           instead: str, value: str) -> None:
    """`capture --duration inf` captured forever (as no limit), `--duration nan` was refused as
    "not greater than or equal to 0", bench's --seconds nan as "at least 5, got nan": every
    number option refuses a non-finite value in one line that says what to pass instead."""
    line = one_line_error(cli(*args, value, env=env, timeout=60))
    assert line.startswith(f"error: {args[-1]} must be a finite number, got {value} — ")
    assert instead in line


def test_a_negative_duration_is_one_line_too(env: dict[str, str]) -> None:
    line = one_line_error(cli("capture", "--duration", "-1", env=env))
    assert "--duration must be at least 0, got -1" in line



@pytest.fixture(scope="module")
def balabit_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers.slices import labelled_balabit

    return labelled_balabit(tmp_path_factory.mktemp("balabit"))


@pytest.mark.parametrize(("args", "expect"), [
    (("--fusion", "nope"), "unknown --fusion 'nope' — use one of mean, trimmed, median"),
    (("--report", "/proc/activesec-report"), "cannot create the report directory"),
    (("--backend", "nope"), "unknown parallel backend 'nope'"),
    (("--enrol-sessions", "3"), "the balabit protocol's enrolment is fixed by the dataset"),
])
def test_bad_evaluate_options_fail_in_one_line(env: dict[str, str], balabit_slice: Path,
                                               args: tuple[str, ...], expect: str) -> None:
    line = one_line_error(cli("evaluate", "balabit", "--data", str(balabit_slice), *args,
                              env=env))
    assert expect in line


def test_a_negative_seed_is_a_usage_error(env: dict[str, str], balabit_slice: Path) -> None:
    r = cli("evaluate", "balabit", "--data", str(balabit_slice), "--seed", "-1", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "'--seed'" in r.stderr and "greater than or equal to 0" in r.stderr


def test_a_negative_background_seed_is_a_usage_error(env: dict[str, str],
                                                     balabit_slice: Path) -> None:
    """NumPy refuses a negative seed: it was a traceback after the dataset had been read."""
    r = cli("background", "build", "--balabit", str(balabit_slice), "--seed", "-1", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "'--seed'" in r.stderr and "greater than or equal to 0" in r.stderr
    assert not list((Path(env["ACTIVESEC_HOME"]) / "models").glob("background-*"))


def test_balabit_labels_that_are_not_utf8(env: dict[str, str], balabit_slice: Path,
                                          tmp_path: Path) -> None:
    import shutil

    root = shutil.copytree(balabit_slice, tmp_path / "latin1")
    labels = root / "public_labels.csv"
    labels.write_bytes(labels.read_bytes().replace(b"session_", b"s\xe9ssion_", 1))
    line = one_line_error(cli("evaluate", "balabit", "--data", str(root), env=env))
    assert f"{labels} is not UTF-8 text (byte 0xe9" in line


def test_balabit_labels_with_a_row_csv_cannot_split(env: dict[str, str], balabit_slice: Path,
                                                    tmp_path: Path) -> None:
    """A labels file with a field over csv's 128 KiB limit (another file saved under that
    name) ended `evaluate balabit` in a `_csv.Error` traceback; it is a malformed row."""
    import shutil

    root = shutil.copytree(balabit_slice, tmp_path / "long")
    labels = root / "public_labels.csv"
    with labels.open("a") as fh:
        fh.write("x" * 200_000 + ",1\n")
    line = one_line_error(cli("evaluate", "balabit", "--data", str(root), env=env))
    assert f"{labels}:" in line and "cannot be read as CSV" in line, line


def test_balabit_protocol_counts_the_sessions_it_tests(env: dict[str, str],
                                                       balabit_slice: Path) -> None:
    """The protocol line said "816 labelled test sessions" whatever the data held."""
    r = cli("evaluate", "balabit", "--data", str(balabit_slice), "--json", env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    n = sum(u["n_genuine"] + u["n_impostor"] for u in res["per_user"])
    assert n == 6  # the slice: 3 users x (1 genuine + 1 impostor) labelled test sessions
    assert "tests = 6 labelled test sessions" in res["protocol"]


def test_tune_trust_honours_max_users_and_backend_and_refuses_the_rest(
        env: dict[str, str], balabit_slice: Path) -> None:
    base = ("evaluate", "balabit", "--data", str(balabit_slice), "--tune-trust",
            "--grid", "window=1", "--grid", "neutral_z=-0.3", "--grid", "max_penalty=6")
    r = cli(*base, "--max-users", "2", "--backend", "threading", "--jobs", "2", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["users"] == ["user12", "user7"]  # the first two, folder order
    assert "unknown parallel backend 'nope'" in one_line_error(cli(*base, "--backend", "nope",
                                                                   env=env))
    for extra in (("--fusion", "median"), ("--enrol-sessions", "2")):
        line = one_line_error(cli(*base, *extra, env=env))
        assert "run it without --fusion and --enrol-sessions" in line, extra


@pytest.fixture(scope="module")
def typing_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers.slices import keys_layout

    return keys_layout(tmp_path_factory.mktemp("typing"), users=4, split=(12, 3))


@pytest.mark.parametrize(("detector", "param", "said"), [
    ("gmm", "scaler=bogus", "scaler='bogus' is not one of standard, robust, quantile, none"),
    ("mahalanobis", "scaler=bogus", "scaler='bogus' is not one of standard"),
    ("gmm", "n_components=-5", "n_components=-5 is not an integer >= 1"),
    ("lof", "n_neighbors=0", "n_neighbors=0 is not an integer >= 1"),
    ("extra_trees", "random_state=-1", "random_state=-1 is not null or an integer"),
    # it was "_Forest.__init__() got an unexpected keyword argument 'scaler'"
    ("extra_trees", "scaler=bogus", "it has no parameter 'scaler' (its parameters: "
                                    "n_estimators,"),
])
def test_every_bad_detector_parameter_is_one_line(typing_slice: Path, tmp_path: Path,
                                                  detector: str, param: str, said: str) -> None:
    """As `--param nu=5` already was: scaler=bogus ended in a 64-line traceback (exit 1, nothing
    on stdout with --json); n_components=-5 and n_neighbors=0 ran as 1, reported as given."""
    args = ("evaluate", "keys-csv", "--data", str(typing_slice), "--enrol-sessions", "1",
            "--detector", detector, "--param", param)
    env = env_for(tmp_path / "home")
    line = one_line_error(cli(*args, env=env))
    assert f"bad parameter for detector '{detector}': {said}" in line
    assert line.endswith(" — change that --param value")
    r = cli(*args, "--json", env=env)
    assert json.loads(r.stdout) == {"ok": False, "error": line[len("error: "):].split(" — ")[0],
                                    "hint": "change that --param value"}


def test_a_tuning_option_without_tune_trust_says_so_first(tmp_path: Path) -> None:
    """`mouse-csv --enrol-sessions 2 --grid window=3` was told to run "without --fusion and
    --enrol-sessions" (--grid alone counted as --tune-trust); dropping those then led to
    "--tune-trust is implemented for the balabit protocol"."""
    env = env_for(tmp_path / "home")
    mine = ("evaluate", "mouse-csv", "--data", str(tmp_path), "--enrol-sessions", "2")
    line = one_line_error(cli(*mine, "--grid", "window=3", env=env))
    assert "--grid only applies to --tune-trust" in line and "--enrol-sessions" not in line
    line = one_line_error(cli(*mine, "--grid", "window=3", "--tune-trust", env=env))
    assert "--tune-trust is implemented for the balabit protocol" in line
    line = one_line_error(cli("evaluate", "balabit", "--data", str(tmp_path), "--grid",
                              "window=3", env=env))  # no longer tunes unasked
    assert "--grid only applies to --tune-trust" in line


def test_an_unknown_engine_key_lists_every_key_engine_takes(tmp_path: Path) -> None:
    """The hint listed [engine]'s settings only, not `window`, the shorthand --help documents."""
    line = one_line_error(cli("evaluate", "mouse-csv", "--data", str(tmp_path), "--continuous",
                              "--engine", "bogus=1", env=env_for(tmp_path / "home")))
    assert line == ("error: bad --engine value for 'bogus': unknown setting — --engine takes "
                    "window, trust.KEY, policy.KEY, scoring.KEY, idle_s, trajectory")


def test_evaluate_json_shows_why_no_user_could_be_evaluated(env: dict[str, str]) -> None:
    """The error's hint says "see the skip reasons with --json": with --json they are there,
    and the hint (stderr and stdout) says so instead of sending the user to --json again."""
    from tests.conftest import dataset

    head = dataset("cmu_keystroke", "DSL-StrongPasswordData.HEAD10.csv")
    plain = one_line_error(cli("evaluate", "cmu", "--data", str(head), env=env))
    assert plain.endswith("see the skip reasons with --json")
    r = cli("evaluate", "cmu", "--data", str(head), "--json", env=env)
    line = one_line_error(r)
    assert "no user of cmu could be evaluated" in line and "--json" not in line
    assert line.endswith("each user's skip reason is in per_user on stdout")
    res = json.loads(r.stdout)
    assert res["ok"] is False and res["error"] in line and "--json" not in res["hint"]
    assert res["per_user"] and all("repetitions" in u["skipped_reason"]
                                   for u in res["per_user"])
    assert res["skipped"][0]["reason"] == res["per_user"][0]["skipped_reason"]


def test_a_failed_json_command_prints_its_error_as_json_on_stdout(env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    """A script parsing stdout gets one line ``{"ok": false, "error": …, "hint": …}``, not an
    empty string, from evaluate and every other --json command (train: nothing to train on);
    the ``error:`` line still goes to stderr, exit 2. Without --json stdout stays empty."""
    for args, says in (
            (("evaluate", "keys-csv", "--data", str(tmp_path / "nowhere"), "--json"),
             "does not exist"),
            (("train", "--json"), "nothing to train yet")):
        r = cli(*args, env=env)
        line = one_line_error(r)
        assert len(r.stdout.splitlines()) == 1, r.stdout
        res = json.loads(r.stdout)
        assert set(res) == {"ok", "error", "hint"} and res["ok"] is False
        assert says in res["error"] and line == f"error: {res['error']} — {res['hint']}"
        assert cli(*args[:-1], env=env).stdout == ""


def test_a_failed_evaluation_removes_only_the_report_folders_it_made(env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    """--report DIR is checked before the evaluation; when the evaluation then fails, the
    folders made for the report are gone again — never one that existed before, even empty."""
    from tests.conftest import dataset

    head = dataset("cmu_keystroke", "DSL-StrongPasswordData.HEAD10.csv")
    mine = tmp_path / "reports"
    (mine / "old").mkdir(parents=True)
    for target in (tmp_path / "new" / "deeper", mine / "old", mine / "new" / "x"):
        line = one_line_error(cli("evaluate", "cmu", "--data", str(head), "--report",
                                  str(target), env=env))
        assert "no user of cmu could be evaluated" in line
    assert not (tmp_path / "new").exists()
    assert [p.name for p in mine.iterdir()] == ["old"] and not any((mine / "old").iterdir())


@pytest.mark.parametrize(("section", "line", "key", "hint"), [
    ("train", 'pointer_detector = "nosuch"', "train.pointer_detector", "extra_trees"),
    ("train", 'keys_detector = "nosuch"', "train.keys_detector", "plda"),
    ("actions.params.lokc", "command = 1", "actions.params.lokc", "alertlog, command, gate, lock"),
    ("actions", 'on_lock = ["lokc"]', "actions.on_lock", "alertlog, command, gate, lock"),
    ("engine.trust", "modality_weights = {typo = 2.0}", "engine.trust.modality_weights",
     "pointer:mouse"),
])
def test_config_names_doctor_used_to_pass(env: dict[str, str], section: str, line: str,
                                          key: str, hint: str) -> None:
    """Names only a later stage resolves (a detector at training, an action's parameters never)
    were reported valid by doctor."""
    if section == "actions.params.lokc":  # a table of its own, at the end of the file
        _config(env).write_text(_config(env).read_text() + f"\n[{section}]\n{line}\n")
    else:
        _set(env, section, line)
    check = _doctor_config(env)
    assert check["status"] == "fail" and f"'{key}'" in check["detail"], check
    assert hint in check["detail"] + check["hint"], check
    assert f"'{key}'" in one_line_error(cli("run", "--duration", "1", env=env), EX_CONFIG)


def test_an_alert_log_path_that_is_a_directory_is_refused(env: dict[str, str],
                                                           tmp_path: Path) -> None:
    """`[actions.params.alertlog] path` naming a folder passed doctor; the agent then failed to
    write every alert (the audit trail an admin set it up for) and nothing said so up front."""
    folder = tmp_path / "audit"
    folder.mkdir()
    _config(env).write_text(_config(env).read_text()
                            + f'\n[actions.params.alertlog]\npath = "{folder}"\n')
    check = _doctor_config(env)
    assert check["status"] == "fail", check
    assert f"alertlog.path {folder} is a directory" in check["detail"], check
    assert str(folder / "alerts.jsonl") in check["hint"], check
    assert "is a directory" in one_line_error(cli("status", env=env))
    assert "is a directory" in one_line_error(cli("run", "--duration", "1", env=env), EX_CONFIG)
    text = _config(env).read_text().replace(f'path = "{folder}"',
                                            f'path = "{folder / "alerts.jsonl"}"')
    _config(env).write_text(text)
    assert _doctor_config(env)["status"] == "ok"


def test_gate_apps_naming_no_gate_rule_is_refused(env: dict[str, str]) -> None:
    """`gate_apps` picks the gate rules to apply by name; a name no rule has gated nothing
    (and, before the gate action read it, every rule) and was accepted."""
    _set(env, "actions", 'on_gate = ["gate", "alertlog"]')
    _set(env, "engine.policy", 'gate_apps = ["steam"]')
    _config(env).write_text(_config(env).read_text() + '\n[actions.params.gate]\n'
                            'rules = [{ name = "games", match = "steam" }]\n')
    check = _doctor_config(env)
    assert check["status"] == "fail", check
    assert "'engine.policy.gate_apps': no gate rule is called 'steam'" in check["detail"]
    assert "(games)" in check["hint"], check
    line = one_line_error(cli("run", "--duration", "1", env=env), EX_CONFIG)
    assert "no gate rule is called 'steam'" in line
    text = _config(env).read_text()
    _config(env).write_text(text.replace('gate_apps = ["steam"]', 'gate_apps = ["games"]'))
    assert _doctor_config(env)["status"] == "ok"


@pytest.mark.parametrize("bad", ["../x", "a\nb", "x" * 300, "", ".hidden", "a b"])
def test_every_label_input_follows_one_rule(tmp_path: Path, bad: str) -> None:
    """`label` said "use letters, digits, '-' or '_'" but took a newline or 300 characters
    (export then failed, "File name too long"); capture, import and init took "../x"."""
    env = env_for(tmp_path / "fresh")
    line = one_line_error(cli("init", "--user", bad, env=env))
    assert f"invalid user {bad!r}" in line and "at most 64 characters" in line
    assert not (tmp_path / "fresh" / "profile.json").exists()
    assert cli("init", "--user", "alice", env=env).returncode == 0
    recordings = tmp_path / "rec"
    (recordings / "mouse" / "bob").mkdir(parents=True)
    for args in (("label", bad), ("capture", "--label", bad, "--duration", "1"),
                 ("import", str(recordings), "--label", bad)):
        if not bad and args[0] == "label":
            continue  # `label ''` asks for a label or --owner
        assert f"invalid label {bad!r}" in one_line_error(cli(*args, env=env)), args


@pytest.mark.parametrize(("bad", "why"), [
    ("\u115f", "shows nothing"),  # HANGUL CHOOSEONG FILLER: a letter (Lo) that renders blank
    ("\u3164\u3164", "shows nothing"),  # HANGUL FILLER
    ("\u200b\u200d", "shows nothing"),  # zero-width space and joiner (Cf)
    ("\ufeff", "shows nothing"),  # a byte-order mark
    ("\u3000 ", "shows nothing"),  # spaces only (the config's `user` took them)
    ("-x", "starts with '-'"),
])
def test_names_that_show_nothing_or_read_as_options_are_refused(tmp_path: Path, bad: str,
                                                                 why: str) -> None:
    """A name of Hangul fillers (letters, so the label rule took them) showed as nothing in
    `status` and exported to an invisible folder; "-x" exported to a folder shell tools read as
    an option. init, label, capture, import and the config's `user` all refuse them now."""
    env = env_for(tmp_path / "fresh")
    line = one_line_error(cli("init", f"--user={bad}", env=env))
    assert line.startswith(f"error: invalid user {bad!a}: it {why}"), line
    assert not (tmp_path / "fresh" / "profile.json").exists()
    assert cli("init", "--user", "alice", env=env).returncode == 0
    recordings = tmp_path / "rec"
    (recordings / "mouse" / "bob").mkdir(parents=True)
    for args in (("label", "--", bad), ("capture", f"--label={bad}", "--duration", "1"),
                 ("import", str(recordings), f"--label={bad}")):
        line = one_line_error(cli(*args, env=env))
        assert line.startswith(f"error: invalid label {bad!a}: it {why}"), (args, line)
    config = tmp_path / "fresh" / "config.toml"
    escaped = "".join(f"\\u{ord(c):04x}" for c in bad)  # TOML's escapes: the file stays ASCII
    config.write_text(config.read_text().replace('user = "alice"', f'user = "{escaped}"'))
    line = one_line_error(cli("status", env=env))
    assert f"'user': {bad!a} is no name: it {why}" in line, line


def test_a_login_name_starting_with_a_dash_becomes_a_label() -> None:
    from activesec.core.labels import as_label, is_label

    assert as_label("-jane") == "jane" and as_label("\u3164") == "owner"
    assert not is_label("-jane") and is_label("jane-doe") and is_label("\u3164a")


def test_label_accepts_any_script_and_refuses_a_name_with_owner(env: dict[str, str]) -> None:
    r = cli("label", "Jürgen.M@home", env=env)
    assert r.returncode == 0 and "Jürgen.M@home" in r.stdout, r.stderr
    assert json.loads(cli("status", "--json", env=env).stdout)["current_label"] == "Jürgen.M@home"
    line = one_line_error(cli("label", "bob", "--owner", env=env))
    assert "not both" in line
    assert json.loads(cli("status", "--json", env=env).stdout)["current_label"] == "Jürgen.M@home"
    assert cli("label", "--owner", env=env).returncode == 0
    assert json.loads(cli("status", "--json", env=env).stdout)["current_label"] == "alice"


def test_labels_stored_by_older_versions_still_work(tmp_path: Path) -> None:
    """A profile made from a login name with a space, and sessions under such a label, from
    before the rule: they load, `label --owner` uses the name, and export still writes them."""
    from activesec.core import events as ev
    from activesec.store.db import Store

    env = env_for(tmp_path / "home")
    assert cli("init", "--user", "alice", env=env).returncode == 0
    for f in ("profile.json", "config.toml"):  # an older `init` wrote the name in both
        made = tmp_path / "home" / f
        made.write_text(made.read_text().replace('"alice"', '"Jane Doe"', 1))
    with Store.open(tmp_path / "home" / "activesec.db") as s:
        sid = s.begin_session("old label", "x11", wall_ns=10**18, mono_ns=0)
        e = ev.empty(2)
        e["t_ns"] = [0, 10**6]
        e["kind"] = ev.Kind.MOVE
        s.append(sid, e)
        s.end_session(sid, 10**18 + 10**6)
        s.commit()
    assert cli("label", "--owner", env=env).returncode == 0
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["user"] == "Jane Doe" and status["current_label"] == "Jane Doe"
    assert "old label" in status["labels"]
    r = cli("export", "--out", str(tmp_path / "out"), env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "mouse" / "old label").is_dir()


@pytest.mark.parametrize(("enforced", "said"), [
    ('[enforced.actions.params.gate]\nrules = [{ name = "games", match = "steam", '
     'mode = "freeze" }]\n', "'mode' must be"),
    ("[enforced.engine.policy]\ngate_below = 400.0\n", "gate_below"),
])
def test_train_refuses_a_broken_machine_policy_as_status_does(env: dict[str, str],
                                                             tmp_path: Path, enforced: str,
                                                             said: str) -> None:
    """`train` went on to "nothing to train yet" under a policy `status` and `run` refuse, or
    blamed the account's own file for the policy's value."""
    site = tmp_path / "policy.toml"
    site.write_text(enforced)
    env = dict(env, ACTIVESEC_SITE_CONFIG=str(site))
    for cmd in ("status", "train"):
        line = one_line_error(cli(cmd, env=env))
        assert said in line and f"in the machine policy {site}" in line, (cmd, line)
        assert "ask whoever manages this machine" in line, (cmd, line)


def test_every_unknown_key_of_a_config_file_is_named_in_the_one_line(env: dict[str, str]) -> None:
    """A config.toml with several unknown or misspelt keys named only the first: fixed, the
    next run named the second, and so on. All are named now in the one line (the first 5 and
    how many more), each misspelling with the setting it is closest to; doctor says the same."""
    _set(env, "store", "keep_dayz = 3\nfoo = 1")
    _set(env, "train", "autoo = true\nb1 = 1\nb2 = 2\nb3 = 3")
    line = one_line_error(cli("status", env=env))
    assert "'store.keep_dayz': unknown setting (did you mean 'store.keep_days'?); also unknown: " \
        "'store.foo', 'train.autoo' (did you mean 'train.auto'?), 'train.b1', 'train.b2' and " \
        "1 more (from " in line, line
    detail = _doctor_config(env)["detail"]
    assert "also unknown: 'store.foo', 'train.autoo' (did you mean 'train.auto'?)" in detail
    cfg = _config(env)  # [engine] is checked on its own (run, status, doctor): the same there
    cfg.write_text(cfg.read_text().replace("keep_dayz = 3\nfoo = 1\n", "").replace(
        "autoo = true\nb1 = 1\nb2 = 2\nb3 = 3\n", ""))
    _set(env, "engine.policy", "notify_belw = 50\ngate_app = []")
    line = one_line_error(cli("status", env=env))
    assert "'engine.policy.notify_belw': unknown setting (did you mean " \
        "'engine.policy.notify_below'?); also unknown: 'engine.policy.gate_app' (did you mean " \
        "'engine.policy.gate_apps'?)" in line, line


def test_an_environment_variable_in_error_is_named(env: dict[str, str]) -> None:
    """The error blamed "config.toml, ACTIVESEC_* environment or flags", and the user went
    looking in a file that never had the key."""
    line = one_line_error(cli("status", env={**env, "ACTIVESEC_TRAIN__BOGUS": "1"}))
    assert "'train.bogus': unknown setting (from the environment variable " \
        "ACTIVESEC_TRAIN__BOGUS)" in line
    line = one_line_error(cli("status", env={**env, "ACTIVESEC_STORE__KEEP_DAYS": "-3"}))
    assert "(from the environment variable ACTIVESEC_STORE__KEEP_DAYS)" in line
    _set(env, "store", "keep_days = -3")  # the file's own error still names the file
    assert f"(from {_config(env)}, ACTIVESEC_* environment or flags)" in one_line_error(
        cli("status", env=env))
