"""Logging to a private, size-rotated file in the log directory.

Log lines carry counts, states and errors — never key identities, characters or window titles
(the privacy rules in DESIGN.md); the integration tests check the log file for that.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import logging.handlers
import os
import sys
import time

from activesec.core.errors import ActiveSecError, os_reason
from activesec.core.paths import PRIVATE_FILE_MODE, Paths, make_private_dir, make_private_file

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROLLOVER_RETRY_S = 60.0  # a rotation another process's open file refused is tried again then
LOG_RETRY_S = 60.0  # a log file that could not be written (a full disk) is tried again then


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """A rotating handler whose files (current and rotated) are always 0600.

    When the log file cannot be written (a full disk, a read-only or vanished directory) it
    says so once, in one line on stderr, and stops logging to the file: the logging module's
    default is a ``--- Logging error ---`` traceback for every record, hundreds of them when
    capture runs on a full disk, burying the error that matters. It tries the file again every
    LOG_RETRY_S (quietly) and, once it can write, notes the gap in it: it used to stay off
    until the next start — for weeks, for an agent started at log-in.
    """

    failed = False
    _reopen_at = 0.0  # monotonic: when a file that could not be written is tried again
    _failed_wall = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        retrying = self.failed
        if retrying:
            if time.monotonic() < self._reopen_at:
                return
            self.failed = False  # handleError sets it again, quietly, if it still fails
        super().emit(record)
        if retrying and not self.failed:  # written again: say what is missing, in the file
            self._failed_wall, since = 0.0, self._failed_wall
            note = logging.LogRecord(
                __name__,
                logging.WARNING,
                __file__,
                0,
                "the log file could not be written from %s until the record above: records "
                "of that time are missing",
                (time.strftime("%H:%M:%S", time.localtime(since)),),
                None,
            )
            with contextlib.suppress(Exception):
                if self.stream is not None:
                    self.stream.write(self.format(note) + self.terminator)
                    self.flush()

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # a bad record (a format bug), not the file
            super().handleError(record)
            return
        quiet = self._failed_wall > 0  # said already: this is a retry that failed
        self.failed = True
        self._reopen_at = time.monotonic() + LOG_RETRY_S
        if not quiet:
            self._failed_wall = time.time()
            why = os_reason(exc)
            with contextlib.suppress(Exception):
                sys.stderr.write(
                    f"warning: cannot write the log file {self.baseFilename} ({why}); "
                    f"logging to it is off until it can be written again (tried every "
                    f"{LOG_RETRY_S:g} s)\n"
                )
        with contextlib.suppress(Exception):
            if self.stream is not None:
                self.stream.close()
        self.stream = None

    def _open(self):  # typeshed's return type is private
        make_private_file(self.baseFilename)
        return super()._open()

    # Windows: the file cannot be renamed while another process has it open (the training
    # child, another command logging at that moment: WinError 32, a PermissionError); the
    # default handler then called handleError — logging off until the next start, above.
    # The rotation waits instead, and the records go on into the current file.
    _retry_at = 0.0

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        return bool(super().shouldRollover(record))

    def doRollover(self) -> None:
        try:
            super().doRollover()
        except PermissionError:
            self._retry_at = time.monotonic() + ROLLOVER_RETRY_S
            if self.stream is None:
                self.stream = self._open()
            return
        for i in range(1, self.backupCount + 1):
            f = f"{self.baseFilename}.{i}"
            if os.path.exists(f):
                os.chmod(f, PRIVATE_FILE_MODE)


def setup(paths: Paths, level: str = "INFO", max_bytes: int = 2_000_000, backups: int = 3) -> None:
    """Send ``activesec.*`` log records to ``paths.log_file`` (idempotent)."""
    root = logging.getLogger("activesec")
    root.setLevel(level)
    target = str(paths.log_file)
    for h in root.handlers:
        if isinstance(h, logging.FileHandler) and h.baseFilename == target:
            return
    try:
        make_private_dir(paths.log_dir)
        handler = _PrivateRotatingHandler(target, maxBytes=max_bytes, backupCount=backups)
    except OSError as exc:  # a read-only or full data directory: say so, as the store does
        raise ActiveSecError(
            f"cannot write the log {target}: {exc.strerror}",
            f"make {paths.log_dir.parent} writable by you (and free space there) or set "
            "ACTIVESEC_HOME to a writable directory",
            permanent=exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)) from None
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
