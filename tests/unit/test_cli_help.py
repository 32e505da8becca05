"""The CLI's help texts: every command documented, paragraphs that reflow to the terminal."""

from __future__ import annotations

import re
from typing import Any

import typer.main
from tests.conftest import ROOT

from activesec.cli.main import app


def _commands() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: str) -> None:  # a (Typer-bundled) click command or group
        found.append((path, cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "activesec")
    return found


def test_every_command_has_help_without_source_line_breaks() -> None:
    # Typer's rich help keeps single line breaks: a docstring wrapped at 100 columns would
    # wrap raggedly in an 80-column terminal. Paragraph breaks (blank lines) stay.
    commands = _commands()
    assert len(commands) > 15
    for path, cmd in commands:
        assert cmd.help, f"{path} has no help text"
        assert not re.search(r"(?<!\n)\n(?!\n)", cmd.help.strip()), (
            f"{path}: single line break in its help text"
        )


def test_flags_show_no_value_type_and_options_keep_theirs() -> None:
    """``--json`` takes no value, so its help must not read ``--json <bool>``."""
    from typer.testing import CliRunner

    runner = CliRunner()
    for args in (["--help"], ["status", "--help"], ["evaluate", "--help"]):
        r = runner.invoke(app, args, env={"COLUMNS": "100"})
        assert r.exit_code == 0 and "--help" in r.output
        assert "<bool>" not in r.output, args
    assert "<int" in runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "100"}).output


def test_console_prints_modality_names_not_emoji() -> None:
    """rich turns ``:mouse:`` into an emoji unless told not to: ``pointer:mouse: skipped``."""
    from activesec.cli._common import out

    with out.capture() as cap:
        out.print("pointer:mouse: skipped")
    assert cap.get().strip() == "pointer:mouse: skipped"


def test_help_names_only_extras_that_exist() -> None:
    """`export --help` once pointed to a "fsspec extra" that pyproject.toml does not define."""
    from activesec.core.config import tomllib  # tomli before Python 3.11

    pyproject = ROOT / "pyproject.toml"
    extras = set(tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"])
    named: list[tuple[str, str]] = []
    for path, cmd in _commands():
        texts = [cmd.help or "", *(getattr(p, "help", None) or "" for p in cmd.params)]
        for text in texts:
            named += [(path, x) for x in re.findall(r"activesec\[(\w+)\]", text)]
            named += [(path, x) for x in re.findall(r"(\w+) extra\b", text)]
    assert any(path == "activesec export" for path, _ in named)
    unknown = [(path, x) for path, x in named if x not in extras]
    assert not unknown, f"help names extras pyproject.toml does not define: {unknown}"


def test_the_engine_examples_the_help_and_readme_give_are_accepted() -> None:
    """`--engine policy.lock_below=30`, the help's own example, was refused: it did not also
    set trust.lock_level."""
    from activesec.cli.cmd_evaluate import _engine_overrides

    readme = (ROOT / "README.md").read_text()
    examples = set(re.findall(r"`((?:trust|policy|scoring)\.\w+=[-\w.]+)`", readme))
    assert "policy.lock_below=30" in examples
    for example in examples:
        cfg, _, given = _engine_overrides([example])
        key = example.split("=")[0]
        section, leaf = key.split(".")
        assert getattr(getattr(cfg, section), leaf) == given[key], example


def test_ctrl_c_while_the_cli_loads_is_one_line_not_a_traceback() -> None:
    """Ctrl-C in the first second of any command (its modules loading) printed a
    KeyboardInterrupt traceback: main() catches it only once they are loaded."""
    import subprocess
    import sys

    trip = (
        "import importlib.abc, os, runpy, signal, sys\n"
        "class Trip(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':  # the CLI's first heavy import\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Trip())\n"
        "sys.argv = ['activesec', '--version']\n"
        "runpy.run_module('activesec.cli.main', run_name='__main__')\n"
    )
    r = subprocess.run([sys.executable, "-c", trip], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    assert (r.returncode, r.stderr) == (130, "interrupted\n")
