"""Helpers shared by the CLI commands: state location, settings, output."""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, get_args

import typer
from rich.console import Console

from activesec.core import config, paths
from activesec.core.config import BackendName, Settings
from activesec.core.errors import ActiveSecError
from activesec.core.paths import Paths

out = Console(highlight=False, emoji=False)  # "pointer:mouse:" is a modality, not 🐭
err = Console(stderr=True, highlight=False, emoji=False)


def backend_choice(value: str | None) -> str | None:
    """``--backend`` of `run` and `capture`: a misspelt flag is a usage error (exit 2), not a
    configuration error the agent would record as why it stopped (exit 78)."""
    names = get_args(BackendName)
    if value is not None and value not in names:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(names)}")
    return value


def finite(option: str, hint: str, minimum: float | None = None,
           maximum: float | None = None) -> Callable[[float | None], float | None]:
    """The callback of a number option (``--duration``, ``--speed``…) that refuses ``nan`` and
    ``inf`` — ``inf`` was taken as no limit and ``nan`` refused as "not greater than or equal
    to 0" — and a value outside ``minimum``…``maximum``, with one ``error:`` line (exit 2)
    ending in ``hint``: what to pass instead. The bounds are checked here, not by Typer's
    ``min=``, which refuses ``nan`` first with that confusing message."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value):
            raise ActiveSecError(f"{option} must be a finite number, got {value}", hint)
        if minimum is not None and value < minimum:
            raise ActiveSecError(f"{option} must be at least {minimum:g}, got {value:g}", hint)
        if maximum is not None and value > maximum:
            raise ActiveSecError(f"{option} must be at most {maximum:g}, got {value:g}", hint)
        return value

    return check


def state_paths() -> Paths:
    return paths.resolve()


def settings(p: Paths, overrides: dict[str, Any] | None = None) -> Settings:
    return config.load(p, overrides)


#: a command printed its JSON object: an error after it adds no second one (:func:`json_error`)
_json_printed = False


def json_safe(obj: Any) -> Any:
    """``obj`` with every infinite or NaN float made null: JSON has neither (RFC 8259), and
    ``json.dumps`` would write ``Infinity`` — which ``JSON.parse``, Go, serde and other strict
    readers refuse. An ANGA with no false lock at all is such a value."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    """Every command's ``--json`` object: one strict JSON object on stdout (:func:`json_safe`)."""
    global _json_printed
    sys.stdout.write(json.dumps(json_safe(obj), indent=2, sort_keys=False, default=str,
                                allow_nan=False) + "\n")
    sys.stdout.flush()
    _json_printed = True


def json_error(exc: ActiveSecError) -> None:
    """An expected failure under ``--json``, as one line on stdout — ``{"ok": false, "error":
    …, "hint": …}`` plus the error's ``details`` if it has any (``evaluate``: why no user could
    be evaluated) — so a script reading stdout gets an object, not an empty string. Nothing when
    the command had already printed its object. The ``error:`` line still goes to stderr."""
    if _json_printed:
        return
    details = getattr(exc, "details", None) or {}
    obj = {"ok": False, "error": exc.message, "hint": exc.hint, **details}
    sys.stdout.write(json.dumps(json_safe(obj), sort_keys=False, default=str, allow_nan=False)
                     + "\n")
    sys.stdout.flush()


def plural(count: int, noun: str) -> str:
    """``1 session``, ``2 sessions``, ``1,234 events``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def human_bytes(n: float) -> str:
    return paths.size_text(n)


def interactive() -> bool:
    return sys.stderr.isatty()


@dataclass
class Foreground:
    """What `capture` and `run` share: state paths, owner, settings and a probed backend."""

    paths: Paths
    owner: str
    settings: Settings
    backend_name: str
    reason: str
    backend: Any
    stop: threading.Event


@contextmanager
def foreground_backend(backend: str | None, what: str) -> Iterator[Foreground]:
    """Hold the single-instance lock, create and probe the capture backend, and turn SIGTERM /
    Ctrl-C into ``stop`` — everything a foreground `capture` or `run` needs, released after."""
    from activesec.capture.select import choose_backend, create_backend
    from activesec.core import logs, profile
    from activesec.core.errors import CaptureError
    from activesec.core.instance import InstanceLock

    p = state_paths()
    profile.require(p)
    # as `init` does: a profile copied from another machine by a tool that lost the modes
    # (unzip, a sync client) would otherwise be recorded into while others can read it
    p.ensure()
    s = settings(p, {"capture": {"backend": backend}} if backend else {})
    logs.setup(p, s.log_level)
    name, reason = choose_backend(s.capture.backend)
    if backend and s.capture.backend != backend:  # only the machine's [enforced] wins over it
        reason = (f"the machine policy enforces capture.backend = {s.capture.backend!r} over "
                  f"--backend {backend}")
    # capture and the agent share one lock: they never record at the same time
    lock = InstanceLock(p.run_dir / "capture.lock", what).acquire()
    try:
        be = create_backend(name, settings=s)
        probe = type(be).probe()
        if not probe.available:
            raise CaptureError(f"{name} backend unavailable: {probe.reason}", probe.hint)
        stop = threading.Event()

        def _on_signal(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        if hasattr(signal, "SIGHUP"):  # its terminal closed, or a `kill -HUP` meant as reload:
            # the default ended the process on the spot — the last second of input lost, gated
            # apps left suspended, the session never ended; edits apply by themselves (10 s)
            signal.signal(signal.SIGHUP, _on_signal)
        done = threading.Event()
        keeper = threading.Thread(target=_keep_lock, args=(lock, stop, done, what),
                                  name="activesec-lock", daemon=True)
        keeper.start()
        try:
            yield Foreground(p, profile.owner(p, s.user), s, name, reason, be, stop)
        finally:
            done.set()
            keeper.join(5)
    finally:
        lock.release()


LOCK_CHECK_S = 2.0


def _keep_lock(lock: Any, stop: threading.Event, done: threading.Event, what: str) -> None:
    """Every LOCK_CHECK_S, put the single-instance lock's file back if it was deleted (a
    cleaned run folder); if another agent took the new one meanwhile, this one stops."""
    import logging

    while not done.wait(LOCK_CHECK_S):
        if not lock.restore():
            logging.getLogger(__name__).error(
                "the lock file %s was deleted and another ActiveSec %s started meanwhile: "
                "stopping this one", lock.path, what)
            stop.set()
            return


def parse_params(items: list[str]) -> dict[str, Any]:
    """``--param KEY=VALUE`` items (``evaluate``, ``train``): each value read as JSON (``7``,
    ``0.5``, ``true``), else kept as text."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ActiveSecError(
                f"bad --param {item!r}", "use KEY=VALUE, e.g. --param n_estimators=200"
            )
        try:
            params[key] = json.loads(raw)
        except (ValueError, RecursionError):
            params[key] = raw
    return params
