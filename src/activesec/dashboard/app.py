"""The dashboard's HTTP application (FastAPI), served by ``activesec dashboard`` on loopback.

Who may read it: the page and the API show the owner's state and decisions, and another local
account can reach any 127.0.0.1 port, so every request needs the secret that
``activesec dashboard`` prints in its URL (a fresh one per run). The first visit trades the
``?token=`` in the URL for an HttpOnly, SameSite=Strict cookie and redirects to the bare URL
(the secret leaves the address bar and history); state-changing requests (pause, resume) must
also carry the secret in an ``X-ActiveSec-Token`` header, which a page of another origin cannot
set (no CSRF). Requests whose ``Host`` is not ``127.0.0.1`` / ``localhost`` are refused (DNS
rebinding). Nothing is fetched from the network: the page is one file with its script inline.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from activesec.core.config import Settings
from activesec.core.errors import ActiveSecError
from activesec.core.paths import Paths

COOKIE = "activesec_token"
HEADER = "x-activesec-token"
DECISIONS_SHOWN = 20


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _page(token: str) -> str:
    html = resources.files("activesec.dashboard").joinpath("page.html").read_text("utf-8")
    return html.replace("{{TOKEN}}", token)  # the token is URL-safe base64: no escaping needed


def create_app(paths: Paths, settings: Callable[[], Settings], token: str) -> FastAPI:
    """The application for one profile; ``settings`` is called per request (config edits show
    without a restart)."""
    from activesec.service.agent import engine_config
    from activesec.service.decisions import DecisionLog, decisions_path
    from activesec.service.report import status_data
    from activesec.store.db import Store

    app = FastAPI(title="ActiveSec", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])

    def ok(secret: str | None) -> bool:
        return secret is not None and secrets.compare_digest(secret.encode(), token.encode())

    def denied() -> JSONResponse:
        return JSONResponse({"error": "missing or wrong dashboard secret",
                             "hint": "open the URL `activesec dashboard` printed"}, 403)

    def failed(exc: ActiveSecError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "hint": exc.hint}, 503)

    @app.get("/", response_model=None)
    def index(request: Request) -> Response:
        q = request.query_params.get("token")
        if q is not None:
            if not ok(q):
                return HTMLResponse("<p>Wrong secret: open the URL <code>activesec dashboard"
                                    "</code> printed.</p>", 403)
            r = RedirectResponse("/", status_code=303)
            r.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
            return r
        if not ok(request.cookies.get(COOKIE)):
            return HTMLResponse("<p>Open the URL <code>activesec dashboard</code> printed "
                                "(it carries this run's secret).</p>", 403)
        return HTMLResponse(_page(token), headers={"Cache-Control": "no-store"})

    @app.get("/api/status", response_model=None)
    def status(request: Request) -> Response:
        if not (ok(request.cookies.get(COOKIE)) or ok(request.headers.get(HEADER))):
            return denied()
        try:
            s = settings()
            data: dict[str, Any] = status_data(paths, s)
            policy = engine_config(s).policy
        except ActiveSecError as exc:
            return failed(exc)
        data["levels"] = {"notify_below": policy.notify_below, "lock_below": policy.lock_below}
        data["decisions"] = DecisionLog(decisions_path(paths)).last(DECISIONS_SHOWN)
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    def set_paused(request: Request, paused: bool) -> Response:
        if not ok(request.headers.get(HEADER)):  # a header: no other origin can send it
            return denied()
        try:
            with Store.open(paths.database, check=False) as store:
                store.set_paused(paused)
        except ActiveSecError as exc:
            return failed(exc)
        return JSONResponse({"paused": paused})

    @app.post("/api/pause", response_model=None)
    def pause(request: Request) -> Response:
        return set_paused(request, True)

    @app.post("/api/resume", response_model=None)
    def resume(request: Request) -> Response:
        return set_paused(request, False)

    return app
