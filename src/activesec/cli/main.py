"""The ``activesec`` command line (Typer): every command has ``--help``, machine output ``--json``.

Heavy modules (scikit-learn, X11, the store) are imported inside the commands that need them, so
``activesec --help`` and the always-on capture path stay light.
"""

from __future__ import annotations

import sys

import typer

from activesec import __version__
from activesec.cli import cmd_agent, cmd_capture, cmd_data, cmd_evaluate, cmd_train
from activesec.core.errors import ActiveSecError

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


def main(argv: list[str] | None = None) -> None:
    """Console entry point: expected failures become one line on stderr and exit code 2.

    Typer (standalone mode) handles usage errors and ``--help`` itself and exits; everything an
    ActiveSec module raises as :class:`ActiveSecError` is printed without a traceback.
    """
    try:
        app(args=argv)
    except ActiveSecError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
