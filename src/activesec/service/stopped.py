"""Why the agent last stopped on an error: ``<run dir>/stopped.json`` (0600).

``activesec run`` writes it when it exits on an expected failure (:func:`record`) and removes it
once it has started successfully (:func:`clear`), so the file exists only while the last start
failed. ``activesec status``, ``doctor`` and ``service status`` read it (:func:`read`) and show the
one-line reason and, for a permanent failure (exit status 78, :mod:`activesec.core.errors`), how
to start the agent again after fixing it (``activesec service restart``, or ``activesec run``
for an agent someone started by hand): the log-in service does not restart it by itself then.
Under the service (``run --notify-failure``) such a failure is also shown as a desktop
notification: nobody reads the service's terminal.

The data directory comes from ``ACTIVESEC_HOME`` or the platform's user directories, never from
the config file, so the reason can be left even when the config is what is invalid. A failure
because another agent already runs is not recorded: that agent is fine, and the file would
outlive it. The file holds the message shown on stderr (paths, config keys and values; never
input), and the time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

from activesec.core.errors import ActiveSecError
from activesec.core.paths import Paths, make_private_dir, write_private_text

log = logging.getLogger(__name__)

STOPPED_FILE = "stopped.json"
RESTART = "activesec service restart"


def stopped_path(paths: Paths) -> Any:
    return paths.run_dir / STOPPED_FILE


def record(paths: Paths, exc: ActiveSecError, exit_status: int, *,
           notified_wall_ns: int | None = None, waiting: bool = False,
           service: bool = True) -> None:
    """Leave the reason the agent exits with — or, with ``waiting`` (``run --wait-for-fix``),
    waits on — and when the owner was last notified of it (``run --notify-failure``); a
    failure to write it is logged, never raised (the error being reported is the one that
    matters). ``service``: started by the log-in service (its flags), so `service restart`
    starts it again; else someone ran `activesec run` by hand, and runs it again."""
    entry = {"message": exc.message, "hint": exc.hint, "permanent": exc.permanent,
             "exit_status": exit_status, "error": type(exc).__name__, "at_wall_ns": time.time_ns(),
             "notified_wall_ns": notified_wall_ns, "waiting": waiting, "service": service}
    try:
        make_private_dir(paths.data_dir)  # no profile yet: the data dir is created private
        make_private_dir(paths.run_dir)
        write_private_text(stopped_path(paths), json.dumps(entry, indent=1) + "\n")
    except OSError as exc_:
        log.warning("cannot leave the reason the agent stopped in %s: %s",
                    stopped_path(paths), exc_.strerror or exc_)


def clear(paths: Paths) -> None:
    """The agent started: the last failure is over."""
    with contextlib.suppress(FileNotFoundError):
        stopped_path(paths).unlink()


def read(paths: Paths) -> dict[str, Any] | None:
    """The last failure (keys as written by :func:`record`), or None."""
    try:
        data = json.loads(stopped_path(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return None
    return data


def restart_command(entry: dict[str, Any]) -> str:
    """What starts the agent again: the log-in service's restart, or (an agent started by
    hand) `activesec run`; entries written before the key existed count as the service's."""
    return RESTART if entry.get("service", True) else "activesec run"


def _at(entry: dict[str, Any]) -> str:
    return time.strftime("%a %H:%M", time.localtime(int(entry.get("at_wall_ns") or 0) / 1e9))


def headline(entry: dict[str, Any]) -> str:
    """When, and whether anything restarts it: "stopped at Mon 09:12 and is not restarted"."""
    if entry.get("waiting"):
        return (f"has been waiting since {_at(entry)} for the file to be fixed (it starts by "
                "itself then)")
    if entry.get("permanent") or not entry.get("service", True):
        return f"stopped at {_at(entry)} and is not restarted by itself"
    return f"failed at {_at(entry)} (the log-in service retries a few times)"


def describe(entry: dict[str, Any]) -> str:
    """One line for the user: when, why, and what to do."""
    why = entry["message"] + (f" — {entry['hint']}" if entry.get("hint") else "")
    if entry.get("waiting"):
        return f"{headline(entry)}: {why}"
    then = "after fixing it, start it again" if entry.get("permanent") else "start it again"
    return f"{headline(entry)}: {why}; {then} with `{restart_command(entry)}`"


def restart_note(entry: dict[str, Any]) -> str:
    """What to add to the same error shown again by another command."""
    if entry.get("waiting"):
        return (f"the agent has been waiting since {_at(entry)} for it to be fixed and starts "
                "by itself then")
    return (f"the agent stopped on it at {_at(entry)} and is not restarted by itself: after "
            f"fixing it, start it again with `{restart_command(entry)}`")
