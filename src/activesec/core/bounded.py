"""Calling code ActiveSec does not own (a plug-in) with a bound on how long the caller waits.

Python cannot stop a thread: a call that does not return in time is left running in a daemon
thread of its own, and the caller is told (:class:`Overdue`, holding that thread) instead of
hanging with it — an agent stuck in a plug-in stopped scoring, locking and hearing SIGTERM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Overdue(Exception):
    """The call did not return within the bound; ``thread`` still runs it."""

    def __init__(self, thread: threading.Thread, seconds: float) -> None:
        super().__init__(f"did not return within {seconds:g} s")
        self.thread = thread


def call_within(fn: Callable[[], T], seconds: float, name: str) -> T:
    """``fn()`` in a daemon thread called ``name``, waited for ``seconds`` at most: its result,
    or its exception raised here, or :class:`Overdue`."""
    box: list[T | Exception] = []

    def run() -> None:
        try:
            box.append(fn())
        except Exception as exc:
            box.append(exc)

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Overdue(worker, seconds)
    out = box[0]
    if isinstance(out, Exception):
        raise out
    return out
