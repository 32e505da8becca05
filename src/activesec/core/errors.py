"""Expected failures carry a one-line message and what to do about it.

The CLI prints ``error: <message> (<hint>)`` and exits non-zero, never a traceback: every
command exits 2, except the agent (``activesec run``), which exits ``EX_CONFIG`` (78, sysexits)
on a *permanent* failure, so the log-in service stops restarting it
(:mod:`activesec.service.installers`, :mod:`activesec.service.stopped`).

Permanent means: starting the agent again, unchanged, fails the same way until someone changes a
file. Transient means it may work by itself a few seconds later, so the service manager retries
(a bounded number of times). Misjudging a transient failure as permanent leaves the agent down
for the session; the reverse costs a few retries. So only failures that certainly need a person
are permanent:

* :class:`ConfigError` — permanent: an invalid config value, policy file, profile file or data
  path; nothing changes until the file is edited.
* :class:`StoreError` — transient (a full disk, the store busy in another process), except a
  store file that is not ActiveSec's, damaged, from a newer version or unreadable by its
  permissions: those are raised with ``permanent=True`` (:mod:`activesec.store.db`).
* :class:`CaptureError` — transient: no display yet at log-in, the X server restarting, the
  input devices not yet readable; a backend that never works ends at the start limit.
* :class:`ModelError`, :class:`DataError` — transient (the default): the agent refuses a
  damaged model and keeps enrolling, it does not stop on one; recordings are not its input.
* :class:`~activesec.core.instance.AlreadyRunning` and anything unclassified — transient.
"""

from __future__ import annotations

import errno
import os

EX_CONFIG = 78  # sysexits.h: "something was found in an unconfigured or misconfigured state"


class ActiveSecError(Exception):
    """An expected failure the user can act on."""

    exit_code = 2
    permanent = False  # would the agent fail the same way at every restart? (module docstring)

    def __init__(self, message: str, hint: str = "", *, permanent: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if permanent is not None:
            self.permanent = permanent

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(ActiveSecError):
    """Invalid configuration value or file."""

    permanent = True


class PolicyError(ConfigError):
    """The machine policy (an administrator's file) is unreadable or sets an invalid value: an
    account's own config is not at fault, and its owner may not be able to fix it."""


class StoreError(ActiveSecError):
    """The event store cannot be opened, read or written."""


class CaptureError(ActiveSecError):
    """No usable capture backend (no display, no permission, ...)."""


class DataError(ActiveSecError):
    """A recording or dataset file is malformed or of the wrong layout."""


class ModelError(ActiveSecError):
    """A saved model is missing, altered or does not match this installation."""


def os_reason(exc: OSError) -> str:
    """Why a write failed, for a one-line message: a full disk said in words, else the OS's."""
    return "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))


def save_error(exc: OSError, what: str, where: str | os.PathLike[str], rerun: str,
               note: str = "") -> ModelError:
    """The ModelError for ``what`` (a model, a background) that could not be saved in the
    folder ``where``: why, then free space or a writable folder, then ``rerun`` again."""
    remedy = ("free disk space" if exc.errno == errno.ENOSPC
              else f"make {where} writable by you")
    return ModelError(f"cannot save {what} in {where}: {os_reason(exc)}{note}",
                      f"{remedy}, then run `{rerun}` again")


def permission_denied(exc: PermissionError) -> ActiveSecError:
    """The one-line error for a file or folder of ActiveSec's this account may not use — most
    often one that `sudo activesec …` made as root in the user's data folder. Permanent: it
    stays so until someone changes its owner or mode."""
    what = (f"{exc.filename} belongs to another account or is closed to yours (permission "
            "denied)" if exc.filename is not None else f"permission denied ({exc})")
    return ActiveSecError(
        what,
        "run as the account that owns it, or give it back to yours (e.g. `sudo chown -R "
        "\"$USER\"` on it, when `sudo activesec …` made it)",
        permanent=True,
    )
