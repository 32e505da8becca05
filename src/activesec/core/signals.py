"""Signals around file swaps: hold SIGTERM/SIGINT through a step that must not be cut in two,
and turn SIGTERM into an exception a command can report in one line.

A command that replaces files in more than one system call (a model folder moved aside, then
the new one in; a background's data, then its card) holds signals through those calls: a
`kill` or a log-out between them would otherwise leave the profile in a state no later command
expects. Held signals act as they would have once the step is done.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: SIGTERM's conventional exit status (128 + 15)
EXIT_SIGTERM = 143


class Stopped(BaseException):
    """SIGTERM inside :func:`sigterm_raises` (not an Exception: nothing on the way catches
    it, so only the command that installed the handler reports it)."""


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT wait until the block ends, then act as they would have (a command's
    "stopped" line, the default's exit). Python runs signal handlers in the main thread only,
    so only there can they interrupt the block (and be held)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    held = [s for s, h in previous.items() if h is not None]  # None: set outside Python
    for s in held:
        signal.signal(s, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for s in held:
            signal.signal(s, previous[s])
        for signum in caught:
            signal.raise_signal(signum)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Stopped` wherever the main thread is."""

    def stop(_signum: int, _frame: object) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
