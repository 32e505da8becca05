"""The alert log: every decision as one JSON line, optionally forwarded to syslog (a SIEM).

* File: ``alerts.jsonl`` in the log dir (:func:`activesec.core.paths.resolve`), created 0600
  in a 0700 directory, rotated by size (``max_bytes``, ``backups`` old files kept:
  ``alerts.jsonl.1`` ...; with 0 the file starts afresh when it is full). Each line is the
  decision's JSON plus ``"op"`` (``fire``/``revert``).
* Syslog (``syslog = ...``): ``"local"`` (``/dev/log``), ``"unix:///path/to/socket"``,
  ``"udp://host:port"``, ``"tcp://host:port"`` or plain ``"host:port"`` (UDP), through
  :class:`logging.handlers.SysLogHandler`, facility ``auth`` by default; lock and gate are sent
  as ``crit``, notify as ``warning``, restore as ``info``. The message is
  ``activesec[PID]: JSON`` (RFC 3164's tag; the receiver stamps time and sender), the JSON being
  the file's line plus ``host`` (this machine's name) and ``user`` (the account's login name);
  over TCP each message ends with LF (RFC 6587 non-transparent framing), never with NUL.
* Privacy: what is written is :meth:`Decision.to_json`, and a :class:`Decision` cannot hold key
  identities, text or window titles — nothing here can leak content.

* Agent events (``heartbeat_s`` set; off by default): the agent's own start, stop, pause and
  resume, and every ``heartbeat_s`` an ``alive`` line, as ``{"op": "agent", "event": …}`` with
  its state, trust and counts (syslog ``info``; ``warning`` for a stop or a pause). Decisions
  alone cannot tell a SIEM an agent that judged nothing worth reporting from one that was
  killed, uninstalled or paused by the person it watches.

A syslog target that is down does not stop the file log: the result is ``ok=False`` naming the
failed sink, and the next decision tries to reconnect.
"""

from __future__ import annotations

import getpass
import io
import json
import logging
import logging.handlers
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from activesec.actions.base import Action, ActionResult, Decision
from activesec.core import paths as core_paths
from activesec.core.errors import ConfigError

FILE_NAME = "alerts.jsonl"
_LEVELS = {
    "lock": logging.CRITICAL,
    "gate": logging.CRITICAL,
    "notify": logging.WARNING,
    "restore": logging.INFO,
}
#: The agent events :meth:`AlertLogAction.agent_event` writes, with their syslog severity.
AGENT_EVENTS = {
    "start": logging.INFO,
    "alive": logging.INFO,
    "resumed": logging.INFO,
    "paused": logging.WARNING,
    "stop": logging.WARNING,
}
MIN_HEARTBEAT_S = 60.0


@dataclass(frozen=True)
class SyslogTarget:
    """Where syslog messages go: a unix socket path, or a host and port over UDP/TCP."""

    transport: Literal["unix", "udp", "tcp"]
    address: str
    port: int = 0

    def describe(self) -> str:
        if self.transport == "unix":
            return f"unix:{self.address}"
        return f"{self.transport}://{self.address}:{self.port}"


def parse_syslog(spec: str) -> SyslogTarget:
    """Parse the ``syslog`` setting; a bad value is a ConfigError saying what is accepted."""
    hint = 'use "local", "unix:///dev/log", "udp://host:514" or "tcp://host:601"'
    s = spec.strip()
    if s in ("local", "/dev/log"):
        return SyslogTarget("unix", "/dev/log")
    if "://" not in s:
        s = "udp://" + s
    u = urlsplit(s)
    if u.scheme == "unix":
        if not u.path:
            raise ConfigError(f"syslog target {spec!r} has no socket path", hint)
        return SyslogTarget("unix", u.path)
    if u.scheme not in ("udp", "tcp"):
        raise ConfigError(f"syslog target {spec!r}: unknown transport {u.scheme!r}", hint)
    try:
        port = u.port
    except ValueError:
        port = None
    if not u.hostname or port is None:
        raise ConfigError(f"syslog target {spec!r} needs a host and a port", hint)
    return SyslogTarget("udp" if u.scheme == "udp" else "tcp", u.hostname, port)


def clear(path: Path) -> list[Path]:
    """Empty the alert log at ``path`` and delete its rotated files (``path.1`` …): what
    ``activesec wipe`` does, as the decisions it copies are the owner's data. The current file
    is truncated, not deleted, so a running agent's handler (appending) keeps writing to the
    file everyone reads. The files that held lines."""
    cleared = []
    for f in (path, *path.parent.glob(f"{path.name}.[0-9]*")):
        try:
            if not f.is_file() or f.stat().st_size == 0:
                continue
            if f == path:
                os.truncate(f, 0)
            else:
                f.unlink()
        except FileNotFoundError:
            continue
        cleared.append(f)
    return cleared


def _login_name() -> str:
    """The account the agent runs as (what an administrator knows it by), or its uid. On POSIX
    from the uid, not ``getpass.getuser``, which takes ``$LOGNAME``/``$USER`` first: an
    account's environment (``USER=bob activesec run``, ``systemctl --user set-environment``)
    named another account in every message the SIEM got."""
    if hasattr(os, "getuid"):
        try:
            import pwd

            return pwd.getpwuid(os.getuid()).pw_name
        except (KeyError, ImportError):  # no name for this uid (a container's user)
            return str(os.getuid())
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no name for this uid (a container's user)
        return str(os.getuid()) if hasattr(os, "getuid") else ""


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are created 0600."""

    def _open(self) -> io.TextIOWrapper:
        def opener(path: str, flags: int) -> int:
            return os.open(path, flags, core_paths.PRIVATE_FILE_MODE)

        fh = open(  # noqa: SIM115 - the handler owns and closes it
            self.baseFilename, self.mode, encoding=self.encoding, opener=opener
        )
        os.chmod(self.baseFilename, core_paths.PRIVATE_FILE_MODE)
        assert isinstance(fh, io.TextIOWrapper)
        return fh

    def doRollover(self) -> None:
        """With ``backups = 0`` no old file is kept: the log starts afresh. The standard
        handler then never rolled over and the file grew past ``max_bytes`` without end."""
        if self.backupCount > 0:
            super().doRollover()
            return
        if self.stream:
            self.stream.close()
            self.stream = None
        os.truncate(self.baseFilename, 0)
        self.stream = self._open()


SEND_TIMEOUT_S = 5.0


class _Syslog(logging.handlers.SysLogHandler):
    """SysLogHandler that keeps the last send error instead of printing it to stderr, frames
    messages as syslog receivers expect and never blocks the agent for long.

    * No trailing NUL (CPython appends one by default): rsyslog, syslog-ng, Graylog and fluentd
      split a TCP stream on LF only (RFC 6587 non-transparent framing), so NUL-ended messages
      ran together into one; several RFC 3164 parsers drop a datagram that ends in NUL.
    * A stream (TCP, or a unix stream socket) ends each message with LF; the JSON has none.
    * Connecting and sending over the network time out after ``SEND_TIMEOUT_S``: actions run in
      the agent's loop, and a SIEM that drops packets would otherwise stall it for the system's
      TCP connect timeout (about two minutes on Linux) at every decision.
    """

    last_error: BaseException | None = None
    append_nul = False

    def handleError(self, record: logging.LogRecord) -> None:
        self.last_error = sys.exc_info()[1]

    def format(self, record: logging.LogRecord) -> str:
        msg = super().format(record)
        return msg + "\n" if self.socktype == socket.SOCK_STREAM else msg

    def createSocket(self) -> None:
        if isinstance(self.address, str):  # a local socket: the standard handling
            super().createSocket()
            return
        self.unixsocket = False
        host, port = self.address
        kind = self.socktype or socket.SOCK_DGRAM
        err: OSError | None = None
        for af, socktype, proto, _, sa in socket.getaddrinfo(host, port, 0, kind):
            sock = socket.socket(af, socktype, proto)
            sock.settimeout(SEND_TIMEOUT_S)
            try:
                if socktype == socket.SOCK_STREAM:
                    sock.connect(sa)
            except OSError as exc:
                err = exc
                sock.close()
                continue
            self.socket, self.socktype = sock, socktype
            return
        raise err or OSError(f"no address for {host}:{port}")


def configured_path(path: str | os.PathLike[str] | None) -> Path:
    """The alert log ``path`` a configuration gives (``~`` is the home folder), or the default
    place; a relative path would follow the agent's working folder (its service's, not
    yours), so `wipe` and you would look elsewhere: a ConfigError."""
    if not path:
        return core_paths.resolve().log_dir / FILE_NAME
    out = Path(path).expanduser()
    if not out.is_absolute():
        raise ConfigError(f"alertlog.path must be an absolute path, got {str(path)!r}",
                          f"e.g. path = \"~/{FILE_NAME}\" or \"/var/log/activesec/{FILE_NAME}\"")
    return out


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # unreadable parent: writing says why when it fails
        return False


def _unwritable(path: Path) -> str | None:
    """Why this account cannot create or append to ``path``, or None. A path every account
    shares (``/var/log/activesec/alerts.jsonl`` in a machine policy) is root's alone: opening it
    crashed ``activesec run`` with a traceback — the log-in service retried until its start
    limit — while ``status`` and ``doctor`` called the configuration valid."""
    try:
        if path.exists():
            if os.access(path, os.W_OK) or _read_only_fs(path):
                return None
            return "this account may not write it"
        at = next((d for d in path.parents if d.exists()), None)
    except OSError as exc:  # an unreadable folder on the way
        return f"this account cannot reach it ({exc.strerror or exc})"
    if at is None:
        return None
    if not at.is_dir():
        return f"{at} is not a folder"
    if not os.access(at, os.W_OK | os.X_OK) and not _read_only_fs(at):
        return f"this account cannot create files in {at}"
    return None


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # Windows: no statvfs
        return False


class AlertLogAction(Action):
    """Append each decision to the JSON-lines alert log; forward it to syslog if configured.

    Parameters: ``path`` (default ``<log dir>/alerts.jsonl``), ``max_bytes`` and ``backups``
    (rotation), ``syslog`` (target, see module doc; ``None`` = off), ``facility``,
    ``heartbeat_s`` (agent events, see module doc; ``None`` = off, else at least 60 s).
    """

    name = "alertlog"

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        max_bytes: int = 5_000_000,
        backups: int = 5,
        syslog: str | None = None,
        facility: str = "auth",
        heartbeat_s: float | None = None,
        dry_run: bool = False,
    ) -> None:
        super().__init__(dry_run=dry_run)
        if heartbeat_s is not None and (isinstance(heartbeat_s, bool)
                                        or not isinstance(heartbeat_s, int | float)
                                        or not MIN_HEARTBEAT_S <= heartbeat_s <= 86_400 * 7):
            raise ConfigError(f"alertlog.heartbeat_s must be a number of seconds in "
                              f"[{MIN_HEARTBEAT_S:.0f}, 604800], got {heartbeat_s!r}",
                              "e.g. heartbeat_s = 3600 (hourly), or leave it out for none")
        self.heartbeat_s = None if heartbeat_s is None else float(heartbeat_s)
        if not isinstance(max_bytes, int) or max_bytes < 1024:
            raise ConfigError(f"alertlog.max_bytes must be an integer >= 1024, got {max_bytes!r}")
        if not isinstance(backups, int) or not 0 <= backups <= 100:
            raise ConfigError(f"alertlog.backups must be an integer in [0, 100], got {backups!r}")
        if facility not in logging.handlers.SysLogHandler.facility_names:
            raise ConfigError(
                f"unknown syslog facility {facility!r}",
                "use auth, authpriv, daemon, user or local0..local7",
            )
        self.path = configured_path(path)
        if _is_dir(self.path):  # every alert would fail to be written, and none would say so
            raise ConfigError(f"alertlog.path {self.path} is a directory",
                              f"name a file in it, e.g. {self.path / FILE_NAME}")
        # a path set in a config or policy that this account cannot write: a setting to fix.
        # Not the default place (in the data folder, which `run` checks and reports itself),
        # nor a read-only file system (a disk problem, said as such when the log is opened)
        problem = None if path is None else _unwritable(self.path)
        if problem is not None:
            raise ConfigError(f"alertlog.path {self.path}: {problem}",
                              "name a file each account can write, e.g. path = "
                              '"~/.local/state/activesec/alerts.jsonl" (each one\'s own home), '
                              "or leave path out")
        self.max_bytes = max_bytes
        self.backups = backups
        if syslog is not None and not isinstance(syslog, str):  # 514, true: no target
            raise ConfigError(f"alertlog.syslog must be a string, got {syslog!r}",
                              'e.g. syslog = "udp://siem.example.org:514" or "local"')
        self.syslog = parse_syslog(syslog) if syslog else None
        self.facility = facility
        self._file: _PrivateRotatingFile | None = None
        self._sys: _Syslog | None = None
        self._host = socket.gethostname()
        self._user = _login_name()

    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        where = str(self.path) + (f" and syslog {self.syslog.describe()}" if self.syslog else "")
        return f"would append the {op} of a {decision.level} decision to {where}"

    # -- sinks --------------------------------------------------------------------------------
    def _start(self) -> None:
        self._open_file()

    def _stop(self) -> None:
        for h in (self._file, self._sys):
            if h is not None:
                h.close()
        self._file = self._sys = None

    def _open_file(self) -> _PrivateRotatingFile:
        if self._file is None:
            core_paths.make_private_dir(self.path.parent)
            self._file = _PrivateRotatingFile(
                self.path, maxBytes=self.max_bytes, backupCount=self.backups, encoding="utf-8"
            )
            self._file.setFormatter(logging.Formatter("%(message)s"))
        return self._file

    def _open_syslog(self) -> _Syslog:
        assert self.syslog is not None
        if self._sys is None:
            t = self.syslog
            address: Any = t.address if t.transport == "unix" else (t.address, t.port)
            # a local socket: datagram, else stream (syslog-ng's unix-stream("/dev/log"))
            kind = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}.get(t.transport)
            self._sys = _Syslog(address=address, facility=self.facility, socktype=kind)
            self._sys.setFormatter(logging.Formatter("activesec[%(process)d]: %(message)s"))
        return self._sys

    def _forwarded(self, row: dict[str, Any], level: int) -> logging.LogRecord:
        """The syslog record: the file's line plus which machine and account it is about (a
        SIEM collects from many machines, each with several accounts; relays and NAT hide the
        sender's address, and the account is only known here)."""
        line = json.dumps({**row, "host": self._host, "user": self._user}, sort_keys=True,
                          separators=(",", ":"))
        return logging.LogRecord("activesec.alerts", level, "", 0, line, None, None)

    # -- ban / unban --------------------------------------------------------------------------
    def _fire(self, decision: Decision) -> ActionResult:
        return self._write("fire", decision)

    def _revert(self, decision: Decision) -> ActionResult:
        return self._write("revert", decision)

    def _write(self, op: str, decision: Decision) -> ActionResult:
        row = {"op": op, **json.loads(decision.to_json())}
        return self._emit(op, row, _LEVELS.get(decision.level, logging.WARNING))

    def agent_event(self, event: str, facts: dict[str, Any]) -> ActionResult:
        """Write one agent event (module docstring): ``facts`` are the agent's state, trust
        and counts — never input. Nothing in dry-run, as for decisions."""
        if event not in AGENT_EVENTS:
            raise ValueError(f"unknown agent event {event!r}")
        if self.dry_run:
            return ActionResult(True, f"dry-run: would log the agent's {event}",
                                {"dry_run": True})
        return self._emit(f"agent {event}", {"op": "agent", "event": event, **facts},
                          AGENT_EVENTS[event])

    def _emit(self, op: str, row: dict[str, Any], level: int) -> ActionResult:
        line = json.dumps(row, sort_keys=True, separators=(",", ":"))
        record = logging.LogRecord("activesec.alerts", level, "", 0, line, None, None)
        done, failed = [], []
        try:
            handler = self._open_file()
            handler.handle(record)
            handler.flush()
            done.append(str(self.path))
        except OSError as exc:
            self._file = None
            failed.append(f"alert log {self.path}: {exc.strerror or exc}")
        if self.syslog is not None:
            target = self.syslog.describe()
            try:
                sys_handler = self._open_syslog()
                sys_handler.last_error = None
                sys_handler.handle(self._forwarded(row, level))
                if sys_handler.last_error is not None:
                    raise sys_handler.last_error
                done.append(f"syslog {target}")
            except OSError as exc:
                if self._sys is not None:
                    self._sys.close()
                self._sys = None  # reconnect next time
                failed.append(f"syslog {target} unavailable: {exc.strerror or exc}")
        detail = f"{op} logged to " + " and ".join(done) if done else "nothing logged"
        if failed:
            detail += "; " + "; ".join(failed)
        return ActionResult(not failed, detail, {"written": done, "failed": failed})
