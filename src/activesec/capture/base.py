"""The capture backend interface.

A backend turns OS input into batches of :data:`activesec.core.events.EVENT_DTYPE` and hands them
to a sink. The sink must never block (it is a bounded queue's non-blocking put), and a backend
must never run the sink inside the OS hook when it can batch instead: per-event Python callbacks
are the dominant CPU cost of capture.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from activesec.core.events import DeviceType

Sink = Callable[[np.ndarray], None]


@dataclass(frozen=True)
class Device:
    """An input device seen during capture; ``index`` is what events carry in ``device``."""

    index: int
    name: str
    type: DeviceType


@dataclass(frozen=True)
class Probe:
    """Whether a backend can run here, and if not, why and what to do."""

    name: str
    available: bool
    reason: str = ""
    hint: str = ""


@dataclass
class BackendInfo:
    name: str
    screen: tuple[int, int] | None = None
    devices: list[Device] = field(default_factory=list)


class CaptureBackend(abc.ABC):
    """Start/stop a source of input events.

    ``start`` returns at once (work happens on the backend's own thread); ``stop`` is idempotent
    and delivers any events still buffered before returning. A failure on the backend's thread is
    kept in ``error`` (the runner reports it) instead of silently ending capture.
    """

    name: str = "abstract"

    def __init__(self) -> None:
        self.error: BaseException | None = None

    @classmethod
    @abc.abstractmethod
    def probe(cls) -> Probe:
        """Can this backend run on this machine now?"""

    @abc.abstractmethod
    def start(self, sink: Sink) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def info(self) -> BackendInfo: ...
