"""The dashboard's HTTP application over a real profile (store, decision log) through HTTP:
who may read it, what it shows, pause/resume, errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from activesec.actions.base import Decision
from activesec.core import config, profile
from activesec.core import paths as paths_mod
from activesec.dashboard.app import create_app
from activesec.service import history
from activesec.service.decisions import ActionOutcome, DecisionLog, decisions_path
from activesec.store.db import Store

TOKEN = "s3cret-token_value"
WALL = 1_764_000_000 * 10**9


@pytest.fixture
def p(home: Path) -> paths_mod.Paths:
    p = paths_mod.resolve().ensure()
    profile.create(p, "alice")
    config.write_default(p, "alice")
    Store.open(p.database, create=True).close()
    return p


def client(p: paths_mod.Paths) -> TestClient:
    return TestClient(create_app(p, lambda: config.load(p), TOKEN), base_url="http://127.0.0.1")


def test_no_data_without_the_secret_in_the_header(p: paths_mod.Paths) -> None:
    c = client(p)
    page = c.get("/")  # the page is a shell without data or secret: it may be served to anyone
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "alice" not in page.text and TOKEN not in page.text
    assert "http://" not in page.text.replace('"http://www.w3.org/2000/svg"', "")  # all local
    assert c.get("/api/status").status_code == 403
    assert c.get(f"/api/status?token={TOKEN}").status_code == 403  # only the header counts
    assert c.get("/api/status", headers={"X-ActiveSec-Token": "wrong"}).status_code == 403
    c.cookies.set("activesec_token", TOKEN)
    assert c.get("/api/status").status_code == 403  # cookies are shared by every port: unused
    assert c.post("/api/pause").status_code == 403
    assert c.get("/api/history").status_code == 403
    assert c.get("/api/status", headers={"X-ActiveSec-Token": TOKEN}).json()["user"] == "alice"
    # another host name (DNS rebinding) is refused even with the secret
    evil = TestClient(create_app(p, lambda: config.load(p), TOKEN), base_url="http://evil.test")
    assert evil.get("/api/status", headers={"X-ActiveSec-Token": TOKEN}).status_code == 400


def test_status_carries_the_snapshot_and_the_decisions(p: paths_mod.Paths) -> None:
    log = DecisionLog(decisions_path(p))
    d = Decision("lock", "suspicious", 31.5, WALL, "trust 31.5 < 40 after 12 odd actions",
                 {"deviating_features": [["curvature_mean", 4.2], ["speed_max", 3.1]]})
    log.append(d, [ActionOutcome("lock", "fire", False, "no locker")])
    s = client(p).get("/api/status", headers={"X-ActiveSec-Token": TOKEN}).json()
    assert s["enrolment"]["pointer_needed"] == 15000 and s["agent"]["running"] is False
    assert s["levels"] == {"notify_below": 70.0, "lock_below": 40.0}
    (got,) = s["decisions"]
    assert got["reason"] == d.reason and got["actions"][0]["ok"] is False
    assert got["evidence"]["deviating_features"][0] == ["curvature_mean", 4.2]


def test_pause_and_resume_need_the_header(p: paths_mod.Paths) -> None:
    c = client(p)
    assert c.post("/api/pause").status_code == 403
    with Store.open(p.database) as store:
        assert not store.is_paused()
    assert c.post("/api/pause", headers={"X-ActiveSec-Token": TOKEN}).json() == {"paused": True}
    with Store.open(p.database) as store:
        assert store.is_paused()
    assert c.post("/api/resume", headers={"X-ActiveSec-Token": TOKEN}).json() == {"paused": False}
    with Store.open(p.database) as store:
        assert not store.is_paused()


def test_a_missing_store_is_an_error_the_page_can_show(p: paths_mod.Paths) -> None:
    p.database.unlink()
    r = client(p).get("/api/status", headers={"X-ActiveSec-Token": TOKEN})
    assert r.status_code == 503
    assert r.json() == {"error": f"no event store at {p.database}",
                        "hint": "run `activesec init` first"}
    assert not p.database.exists()  # reading never creates it


def test_history_is_the_last_day_of_the_agents_trust(p: paths_mod.Paths) -> None:
    now = int(time.time()) // 60 * 60
    h = history.TrustHistory(history.history_path(p))
    for t, trust in ((now - 2 * 86_400, 10.0), (now - 7200, 45.0), (now - 120, 80.0)):
        h.observe(t, trust)
    h.close()
    r = client(p).get("/api/history", headers={"X-ActiveSec-Token": TOKEN})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    got = r.json()
    assert got["hours"] == 24 and [m["t"] for m in got["minutes"]] == [now - 7200, now - 120]
    assert got["summary"]["lowest"] == 45.0 and got["summary"]["lowest_at_s"] == now - 7200


def test_an_unreadable_history_is_an_error_the_page_can_show(p: paths_mod.Paths) -> None:
    history.history_path(p).mkdir(parents=True)
    r = client(p).get("/api/history", headers={"X-ActiveSec-Token": TOKEN})
    assert r.status_code == 503 and "cannot read the trust history" in r.json()["error"]
