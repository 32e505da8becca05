"""The ``activesec`` command line (Typer): every command has ``--help``, machine output ``--json``.

An expected failure (:class:`ActiveSecError`) is one ``error: … — what to do`` line on stderr and
exit code 2; under ``--json`` stdout also gets it as one JSON line, ``{"ok": false, "error": …,
"hint": …}``, so a script parsing stdout never reads an empty string.

Heavy modules (scikit-learn, X11, the store) are imported inside the commands that need them, so
``activesec --help`` and the always-on capture path stay light.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def _interrupted_while_loading(signum: int, frame: object) -> None:
    """Ctrl-C while the modules below load (a second or more): a KeyboardInterrupt there is
    raised before :func:`main` can catch it, a traceback instead of `interrupted`, exit 130."""
    sys.stderr.write("interrupted\n")
    os._exit(130)  # nothing has been opened or written yet


_LOADING = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
if _LOADING:
    signal.signal(signal.SIGINT, _interrupted_while_loading)

import inspect  # noqa: E402
import logging  # noqa: E402
from typing import Any  # noqa: E402

import typer  # noqa: E402

from activesec import __version__  # noqa: E402
from activesec.cli import (  # noqa: E402
    cmd_agent,
    cmd_bench,
    cmd_capture,
    cmd_dashboard,
    cmd_data,
    cmd_evaluate,
    cmd_train,
)
from activesec.cli._common import json_error  # noqa: E402
from activesec.core.errors import ActiveSecError, permission_denied  # noqa: E402

if _LOADING:  # loaded: main() turns Ctrl-C into `interrupted` from here on
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _flags_take_no_value() -> None:
    """Typer 0.29 shows a flag's type in help (``--json <bool>``) as if it took a value, and
    ``--json true`` is then an error. Flags take none: show no type for them. Guarded, since it
    reaches into Typer's option class; tests/unit/test_cli_help.py fails if it stops working."""
    import typer.core

    option = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if option is None or shown is None:
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_bool_flag", False) else shown(self, ctx)

    option.display_type_rich = display_type_rich


_flags_take_no_value()

app = typer.Typer(
    name="activesec",
    help=(
        "ActiveSec: local, privacy-first continuous authentication from pointer and keystroke "
        "timing. Nothing leaves this machine unless you run `export`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"activesec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """ActiveSec command line."""


cmd_capture.register(app)
cmd_data.register(app)
cmd_evaluate.register(app)
cmd_agent.register(app)
cmd_train.register(app)
cmd_dashboard.register(app)
cmd_bench.register(app)


def _reflow(doc: str) -> str:
    """A docstring as help text: paragraphs kept, the source's line breaks inside them joined."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split("\n")) for p in paragraphs)


def _reflow_help(group: typer.Typer) -> None:
    """Typer's rich help keeps a docstring's single line breaks, so text wrapped at 100 columns
    in the source wraps raggedly in an 80-column terminal: give every command its docstring
    with those breaks joined (an explicit ``help=`` is left alone)."""
    for info in group.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = _reflow(info.callback.__doc__)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _reflow_help(sub.typer_instance)


_reflow_help(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: expected failures become one line on stderr and exit code 2.

    Typer (standalone mode) handles usage errors and ``--help`` itself and exits; everything an
    ActiveSec module raises as :class:`ActiveSecError` is printed without a traceback — and,
    under ``--json``, also as one JSON line on stdout (:func:`~activesec.cli._common.json_error`).
    """
    # a log handler that fails (a full disk) must never print tracebacks over the real error;
    # ActiveSec's own file handler reports its failure once itself
    logging.raiseExceptions = False
    args = sys.argv[1:] if argv is None else argv
    try:
        try:
            app(args=argv, prog_name="activesec")  # also as `python -m activesec`
        except PermissionError as denied:  # a file of another account's, wherever it is met
            raise permission_denied(denied) from None
    except ActiveSecError as exc:
        if "--json" in (args[:args.index("--")] if "--" in args else args):
            json_error(exc)
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
