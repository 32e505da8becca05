"""Alert log on a real file (0600, rotation) and syslog forwarding to sockets bound here
(UDP on 127.0.0.1, a unix datagram socket) — never another address."""

from __future__ import annotations

import getpass
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from activesec.actions.alertlog import AlertLogAction, parse_syslog
from activesec.actions.base import FORBIDDEN_EVIDENCE_KEYS, Decision, check_private
from activesec.core.errors import ConfigError

EVIDENCE = {
    "pointer_score": 0.93,
    "keyboard_score": 0.71,
    "threshold": 0.8,
    "top_features": ["curvature_mean", "hold_time_letter_p50"],
    "key_classes": {"letter": 40, "space": 8},
}


def decision(level: str = "lock", trust: float = 0.1) -> Decision:
    return Decision(level, "suspicious", trust, 1_700_000_000 * 10**9, "unlike owner", EVIDENCE)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_default_location_is_the_log_dir_and_file_is_private(home: Path) -> None:
    action = AlertLogAction()
    action.start()
    r1 = action.fire(decision("notify"))
    r2 = action.revert(decision("restore", 0.9))
    action.stop()
    path = home / "logs" / "alerts.jsonl"
    assert r1.ok and r2.ok, (r1, r2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    rows = lines(path)
    assert [r["op"] for r in rows] == ["fire", "revert"]
    assert rows[0]["level"] == "notify" and rows[0]["evidence"] == EVIDENCE
    assert Decision.from_json(json.dumps({k: v for k, v in rows[0].items() if k != "op"})) == (
        decision("notify")
    )


def test_lines_carry_no_key_identity_text_or_title(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    action = AlertLogAction(path=path)
    for level in ("notify", "lock", "gate", "restore"):
        assert action.fire(decision(level)).ok
    rows = lines(path)
    assert [(r["op"], r["level"]) for r in rows] == [
        ("fire", "notify"), ("fire", "lock"), ("fire", "gate"), ("fire", "restore")]
    for row in rows:
        check_private(row)  # raises on any forbidden key, at any depth
        assert not FORBIDDEN_EVIDENCE_KEYS & set(row)
    with pytest.raises(ValueError, match="privacy rule"):
        decision_with = {"top_features": [{"window_title": "Inbox - Mail"}]}
        Decision("lock", "suspicious", 0.1, 0, "x", decision_with)


def test_rotation_by_size_keeps_private_backups(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "alerts.jsonl"
    action = AlertLogAction(path=path, max_bytes=2048, backups=2)
    for _ in range(40):
        assert action.fire(decision()).ok
    action.stop()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["alerts.jsonl", "alerts.jsonl.1", "alerts.jsonl.2"]
    for name in files:
        p = path.parent / name
        assert p.stat().st_size <= 2048
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert all(row["op"] == "fire" for row in lines(p))  # whole lines, never split


def test_no_backups_keeps_the_file_under_max_bytes(tmp_path: Path) -> None:
    """`backups = 0` ("keep no old file"): Python's handler then never rolls over, and the
    alert log grew past max_bytes without end. It starts afresh instead."""
    path = tmp_path / "logs" / "alerts.jsonl"
    action = AlertLogAction(path=path, max_bytes=1024, backups=0)
    for _ in range(40):
        assert action.fire(decision()).ok
    action.stop()
    assert [p.name for p in path.parent.iterdir()] == ["alerts.jsonl"]
    assert 0 < path.stat().st_size <= 1024
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(row["op"] == "fire" for row in lines(path))  # whole lines, never split


@pytest.fixture
def udp_server() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    yield s
    s.close()


def test_syslog_over_udp_reaches_a_local_socket(tmp_path: Path, udp_server: socket.socket) -> None:
    port = udp_server.getsockname()[1]
    action = AlertLogAction(path=tmp_path / "a.jsonl", syslog=f"udp://127.0.0.1:{port}")
    result = action.fire(decision("lock"))
    assert result.ok, result.detail
    payload = udp_server.recv(65536).decode()
    # <PRI> = facility auth (4) * 8 + severity crit (2) = 34
    assert payload.startswith("<34>activesec[")
    # no trailing NUL: RFC 3164 parsers (go-syslog, Alloy) drop a datagram that ends in one
    assert not payload.endswith("\x00"), repr(payload[-5:])
    body = json.loads(payload.split("]: ", 1)[1])
    assert body["level"] == "lock" and body["evidence"] == EVIDENCE
    # a SIEM collects from many machines and accounts: each message names both
    assert body["host"] == socket.gethostname() and body["user"] == getpass.getuser()
    assert "host" not in lines(tmp_path / "a.jsonl")[0]  # the account's own file is unchanged
    action.fire(decision("restore", 0.9))
    assert udp_server.recv(65536).decode().startswith("<38>")  # auth.info
    action.stop()


def test_syslog_names_the_account_by_its_uid_not_its_environment(
        tmp_path: Path, udp_server: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    """`user` came from getpass.getuser(), which reads $LOGNAME and $USER first: an account
    running its agent with USER=bob (or `systemctl --user set-environment USER=bob`) sent every
    decision to the SIEM under bob's name."""
    import pwd

    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(var, "bob-not-me")
    port = udp_server.getsockname()[1]
    action = AlertLogAction(path=tmp_path / "a.jsonl", syslog=f"udp://127.0.0.1:{port}")
    assert action.fire(decision("lock")).ok
    body = json.loads(udp_server.recv(65536).decode().split("]: ", 1)[1])
    assert body["user"] == pwd.getpwuid(os.getuid()).pw_name != "bob-not-me"
    action.stop()


def test_syslog_over_tcp_is_one_lf_ended_message_per_decision(tmp_path: Path) -> None:
    """rsyslog, syslog-ng, Graylog and fluentd split a TCP stream on LF: CPython's handler ends
    each message with NUL instead, and every decision after the first ran into it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(10)
    port = server.getsockname()[1]
    try:
        action = AlertLogAction(path=tmp_path / "a.jsonl", syslog=f"tcp://127.0.0.1:{port}")
        action.start()
        assert action.fire(decision("notify", 0.6)).ok
        conn, _ = server.accept()
        conn.settimeout(10)
        assert action.fire(decision("lock")).ok
        assert action.revert(decision("lock")).ok
        action.stop()  # closes the connection: the stream ends
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.close()
    finally:
        server.close()
    assert b"\x00" not in data
    messages = data.decode().split("\n")
    assert messages[-1] == "" and len(messages) == 4, messages  # three, each ended by LF
    bodies = [json.loads(m.split("]: ", 1)[1]) for m in messages[:3]]
    assert [(b["op"], b["level"]) for b in bodies] == [
        ("fire", "notify"), ("fire", "lock"), ("revert", "lock")
    ]
    assert messages[0].startswith("<36>") and messages[1].startswith("<34>")  # warning, crit


def test_syslog_over_tcp_cannot_stall_the_agent(tmp_path: Path) -> None:
    """Actions run in the agent's loop: a SIEM that drops packets must not hold it for the
    system's TCP timeout (minutes). The socket carries the handler's own timeout."""
    from activesec.actions.alertlog import SEND_TIMEOUT_S

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        port = server.getsockname()[1]
        action = AlertLogAction(path=tmp_path / "a.jsonl", syslog=f"tcp://127.0.0.1:{port}")
        action.start()
        assert action.fire(decision()).ok
        assert action._sys is not None and action._sys.socket is not None
        assert action._sys.socket.gettimeout() == SEND_TIMEOUT_S
        action.stop()
    finally:
        server.close()
    refused = AlertLogAction(path=tmp_path / "b.jsonl", syslog=f"tcp://127.0.0.1:{port}")
    result = refused.fire(decision())  # nobody listens any more: the file still gets it
    assert not result.ok and "unavailable" in result.detail
    assert len(lines(tmp_path / "b.jsonl")) == 1


def test_syslog_over_a_unix_socket(tmp_path: Path) -> None:
    sock_path = tmp_path / "log.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(10)
    try:
        action = AlertLogAction(
            path=tmp_path / "a.jsonl", syslog=f"unix://{sock_path}", facility="local3"
        )
        assert action.fire(decision("notify")).ok
        payload = server.recv(65536).decode()
        assert payload.startswith(f"<{19 * 8 + 4}>activesec[")  # local3.warning
        assert json.loads(payload.split("]: ", 1)[1])["level"] == "notify"  # no NUL, no LF
    finally:
        server.close()


def test_missing_syslog_socket_still_writes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    action = AlertLogAction(path=path, syslog=f"unix://{tmp_path / 'nobody-listens'}")
    result = action.fire(decision())
    assert not result.ok
    assert "syslog unix:" in result.detail and "unavailable" in result.detail
    assert result.info["written"] == [str(path)]
    assert len(lines(path)) == 1


def test_syslog_specs() -> None:
    assert parse_syslog("local").describe() == "unix:/dev/log"
    assert parse_syslog("127.0.0.1:514").describe() == "udp://127.0.0.1:514"
    assert parse_syslog("tcp://siem.example:601").transport == "tcp"
    for bad in ("ftp://x:1", "udp://host", "unix://", "udp://:514"):
        with pytest.raises(ConfigError):
            parse_syslog(bad)
    with pytest.raises(ConfigError, match="facility"):
        AlertLogAction(facility="nope")


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    action = AlertLogAction(path=tmp_path / "a.jsonl", dry_run=True)
    action.start()
    result = action.fire(decision())
    assert result.ok and result.detail.startswith("dry-run: would append")
    assert not (tmp_path / "a.jsonl").exists()
    assert len(action.recorded) == 1


def test_a_shared_alert_log_path_is_refused_for_an_account_that_cannot_write_there() -> None:
    """`path = "/var/log/activesec/alerts.jsonl"` in a machine policy: root's folder, which an
    ordinary account cannot write — opening it crashed that account's agent at start. As that
    account (uid 65534), the setting is refused with what to do; root may write there."""
    from tests.helpers.unprivileged import run_unprivileged, shared_tmp_dir

    with shared_tmp_dir() as d:  # root's 0755 folder, as /var/log is
        target = d / "activesec" / "alerts.jsonl"
        assert AlertLogAction(path=target).path == target  # root: fine
        r = run_unprivileged(
            "from activesec.actions.alertlog import AlertLogAction\n"
            "from activesec.core.errors import ConfigError\n",
            "try:\n"
            f"    AlertLogAction(path={str(target)!r})\n"
            "    print('accepted')\n"
            "except ConfigError as exc:\n"
            "    print(exc)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(
        f"alertlog.path {target}: this account cannot create files in {d} — name a file each "
        'account can write, e.g. path = "~/.local/state/activesec/alerts.jsonl"'), r.stdout


def test_agent_events_reach_the_file_and_syslog_with_their_severity(
        tmp_path: Path, udp_server: socket.socket) -> None:
    """A SIEM that sees only decisions cannot tell a quiet agent from a killed or paused one."""
    port = udp_server.getsockname()[1]
    action = AlertLogAction(path=tmp_path / "a.jsonl", syslog=f"udp://127.0.0.1:{port}",
                            heartbeat_s=3600)
    assert action.agent_event("alive", {"state": "confident", "trust": 91.5}).ok
    payload = udp_server.recv(65536).decode()
    assert payload.startswith("<38>activesec[")  # auth.info
    body = json.loads(payload.split("]: ", 1)[1])
    assert body == {"op": "agent", "event": "alive", "state": "confident", "trust": 91.5,
                    "host": socket.gethostname(), "user": getpass.getuser()}
    result = action.agent_event("stop", {"reason": "stopped"})
    assert result.ok and result.detail.startswith("agent stop logged to "), result.detail
    assert udp_server.recv(65536).decode().startswith("<36>")  # auth.warning
    assert [(r["op"], r["event"]) for r in lines(tmp_path / "a.jsonl")] == [
        ("agent", "alive"), ("agent", "stop")]
    with pytest.raises(ValueError, match="unknown agent event"):
        action.agent_event("reboot", {})
    action.stop()


def test_agent_events_in_dry_run_write_nothing(tmp_path: Path) -> None:
    action = AlertLogAction(path=tmp_path / "a.jsonl", heartbeat_s=60, dry_run=True)
    assert action.agent_event("start", {}).detail == "dry-run: would log the agent's start"
    assert not (tmp_path / "a.jsonl").exists()


@pytest.mark.parametrize("bad", [0, 59.9, -1, True, "3600", 86_400 * 8])
def test_a_heartbeat_that_is_no_sensible_period_is_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigError, match=r"alertlog.heartbeat_s must be a number of seconds"):
        AlertLogAction(path=tmp_path / "a.jsonl", heartbeat_s=bad)  # type: ignore[arg-type]
