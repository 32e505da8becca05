"""``activesec dashboard``: serve the local web dashboard (:mod:`activesec.dashboard`)."""

from __future__ import annotations

import json
import signal
import socket

import typer

from activesec.cli._common import settings, state_paths
from activesec.core import profile
from activesec.core.errors import ActiveSecError
from activesec.core.paths import make_private_dir, write_private_text


def register(app: typer.Typer) -> None:
    app.command()(dashboard)


def dashboard(
    port: int = typer.Option(
        0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."
    ),
    open_browser: bool = typer.Option(
        True, "--open/--no-open", help="Open the dashboard in your web browser."
    ),
) -> None:
    """Serve the dashboard on 127.0.0.1 until Ctrl-C: the agent's state and trust, enrolment,
    models and recent decisions with their evidence; pause/resume recording. The printed URL
    carries this run's secret: only who has it can read the page."""
    import webbrowser

    import uvicorn

    from activesec.core import config
    from activesec.dashboard.app import create_app, new_token

    p = state_paths()
    profile.require(p)
    settings(p)  # a broken config is reported now, not on every page refresh
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise ActiveSecError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                             "choose another --port, or 0 for any free one") from None
    sock.listen(16)
    token = new_token()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/#token={token}"  # a fragment: never sent
    typer.echo(f"dashboard: {url}  (Ctrl-C to stop)")  # not rich: a wrapped URL breaks
    app = create_app(p, lambda: config.load(p), token)
    opener = p.run_dir / "dashboard.html"
    if open_browser:
        # the browser gets a private file that forwards to the URL, not the URL itself: a
        # command line is visible to every account (ps), the file only to you
        make_private_dir(p.run_dir)
        write_private_text(opener, _forwarder(url))
        webbrowser.open(opener.as_uri())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    # uvicorn shuts down on SIGINT / SIGTERM, restores the handlers it found and re-raises the
    # signal; with these no-op handlers found, a stop is a clean exit 0 (as `run` and `capture`)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        opener.unlink(missing_ok=True)  # its secret dies with this server anyway


def _forwarder(url: str) -> str:
    return ("<!doctype html><meta charset=\"utf-8\">"
            f'<meta http-equiv="refresh" content="0; url={url}">'
            f"<script>location.replace({json.dumps(url)})</script>"
            f'<a href="{url}">ActiveSec dashboard</a>\n')
