"""The dashboard's HTTP application (FastAPI), served by ``activesec dashboard`` on loopback.

Who may read it: the API shows the owner's state and decisions, and another local account can
reach any 127.0.0.1 port, so every API request must carry the secret that ``activesec
dashboard`` prints in its URL (a fresh one per run) in an ``X-ActiveSec-Token`` header. The
secret travels in the URL's *fragment* (``/#token=…``), which browsers never send to a server;
the page's script moves it to ``sessionStorage`` (scoped to this exact origin, port included)
and clears the address bar. No cookie: cookies are shared by every port of 127.0.0.1, so another
local server could receive one; and a header cannot be set by a page of another origin (no
CSRF). The page itself is a data-free shell. Requests whose ``Host`` is not ``127.0.0.1`` /
``localhost`` are refused (DNS rebinding). Nothing is fetched from the network: the page is one
file with its script inline.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from activesec.core.config import Settings
from activesec.core.errors import ActiveSecError
from activesec.core.paths import Paths
from activesec.features.describe import in_words

HEADER = "x-activesec-token"
DECISIONS_SHOWN = 20


def new_token() -> str:
    return secrets.token_urlsafe(24)


PAGE = resources.files("activesec.dashboard").joinpath("page.html").read_text("utf-8")


def create_app(paths: Paths, settings: Callable[[], Settings], token: str) -> FastAPI:
    """The application for one profile; ``settings`` is called per request (config edits show
    without a restart)."""
    from activesec.service import history
    from activesec.service.agent import engine_config
    from activesec.service.decisions import DecisionLog, decisions_path
    from activesec.service.report import HISTORY_HOURS, recent_history, status_data
    from activesec.store.db import control_write

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
    def index() -> Response:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})

    @app.get("/api/status", response_model=None)
    def status(request: Request) -> Response:
        if not ok(request.headers.get(HEADER)):
            return denied()
        try:
            s = settings()
            data: dict[str, Any] = status_data(paths, s)
            policy = engine_config(s).policy
        except ActiveSecError as exc:
            return failed(exc)
        data["levels"] = {"notify_below": policy.notify_below, "lock_below": policy.lock_below}
        data["decisions"] = DecisionLog(decisions_path(paths)).last(DECISIONS_SHOWN)
        # plain words for the features the decisions name (the page shows them, the name on hover)
        data["feature_words"] = {
            str(n): in_words(str(n)) for d in data["decisions"]
            for n, _v in ((d.get("evidence") or {}).get("deviating_features") or [])}
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    @app.get("/api/history", response_model=None)
    def trust_history(request: Request) -> Response:
        """The agent's trust per minute over the last ``HISTORY_HOURS`` (:mod:`.history`)."""
        if not ok(request.headers.get(HEADER)):
            return denied()
        try:
            rows = recent_history(paths)
        except ActiveSecError as exc:
            return failed(exc)
        return JSONResponse({"hours": HISTORY_HOURS, "minutes": rows,
                             "summary": history.summary(rows)},
                            headers={"Cache-Control": "no-store"})

    def set_paused(request: Request, paused: bool) -> Response:
        if not ok(request.headers.get(HEADER)):
            return denied()
        try:
            control_write(paths, lambda store: store.set_paused(paused), check=False)
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
