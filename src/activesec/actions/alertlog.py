"""The alert log: every decision as one JSON line, optionally forwarded to syslog (a SIEM).

* File: ``alerts.jsonl`` in the log dir (:func:`activesec.core.paths.resolve`), created 0600
  in a 0700 directory, rotated by size (``max_bytes``, ``backups`` old files kept:
  ``alerts.jsonl.1`` ...). Each line is the decision's JSON plus ``"op"`` (``fire``/``revert``).
* Syslog (``syslog = ...``): ``"local"`` (``/dev/log``), ``"unix:///path/to/socket"``,
  ``"udp://host:port"``, ``"tcp://host:port"`` or plain ``"host:port"`` (UDP), through
  :class:`logging.handlers.SysLogHandler`, facility ``auth`` by default; lock and gate are sent
  as ``crit``, notify as ``warning``, restore as ``info``.
* Privacy: what is written is :meth:`Decision.to_json`, and a :class:`Decision` cannot hold key
  identities, text or window titles — nothing here can leak content.

A syslog target that is down does not stop the file log: the result is ``ok=False`` naming the
failed sink, and the next decision tries to reconnect.
"""

from __future__ import annotations

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


class _Syslog(logging.handlers.SysLogHandler):
    """SysLogHandler that keeps the last send error instead of printing it to stderr."""

    last_error: BaseException | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        self.last_error = sys.exc_info()[1]


class AlertLogAction(Action):
    """Append each decision to the JSON-lines alert log; forward it to syslog if configured.

    Parameters: ``path`` (default ``<log dir>/alerts.jsonl``), ``max_bytes`` and ``backups``
    (rotation), ``syslog`` (target, see module doc; ``None`` = off), ``facility``.
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
        dry_run: bool = False,
    ) -> None:
        super().__init__(dry_run=dry_run)
        if not isinstance(max_bytes, int) or max_bytes < 1024:
            raise ConfigError(f"alertlog.max_bytes must be an integer >= 1024, got {max_bytes!r}")
        if not isinstance(backups, int) or not 0 <= backups <= 100:
            raise ConfigError(f"alertlog.backups must be an integer in [0, 100], got {backups!r}")
        if facility not in logging.handlers.SysLogHandler.facility_names:
            raise ConfigError(
                f"unknown syslog facility {facility!r}",
                "use auth, authpriv, daemon, user or local0..local7",
            )
        self.path = Path(path) if path else core_paths.resolve().log_dir / FILE_NAME
        self.max_bytes = max_bytes
        self.backups = backups
        self.syslog = parse_syslog(syslog) if syslog else None
        self.facility = facility
        self._file: _PrivateRotatingFile | None = None
        self._sys: _Syslog | None = None

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
            kind = socket.SOCK_STREAM if t.transport == "tcp" else socket.SOCK_DGRAM
            self._sys = _Syslog(address=address, facility=self.facility, socktype=kind)
            self._sys.setFormatter(logging.Formatter("activesec[%(process)d]: %(message)s"))
        return self._sys

    # -- ban / unban --------------------------------------------------------------------------
    def _fire(self, decision: Decision) -> ActionResult:
        return self._write("fire", decision)

    def _revert(self, decision: Decision) -> ActionResult:
        return self._write("revert", decision)

    def _write(self, op: str, decision: Decision) -> ActionResult:
        line = json.dumps(
            {"op": op, **json.loads(decision.to_json())}, sort_keys=True, separators=(",", ":")
        )
        record = logging.LogRecord(
            "activesec.alerts", _LEVELS.get(decision.level, logging.WARNING), "", 0, line, None,
            None,
        )  # fmt: skip
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
                sys_handler.handle(record)
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
