"""Blocking one-shot D-Bus method calls on the session bus (dbus-fast underneath).

Actions are called synchronously by the engine, possibly from a thread that already runs an
event loop, so each call runs its own short-lived loop in a worker thread and is bounded by a
timeout. A missing bus raises :class:`BusUnavailable`; an error reply raises :class:`CallFailed`
with the D-Bus error name (``org.freedesktop.DBus.Error.ServiceUnknown`` when nobody owns the
destination).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Sequence
from typing import Any

SERVICE_UNKNOWN = "org.freedesktop.DBus.Error.ServiceUnknown"


class BusUnavailable(Exception):
    """No session bus to talk to (no address, socket gone, dbus-fast not installed)."""


class DBusFastMissing(BusUnavailable):
    """dbus-fast is not installed, so no bus can be reached from Python."""


class CallFailed(Exception):
    """The bus answered the call with an error."""

    def __init__(self, error_name: str, text: str) -> None:
        super().__init__(f"{error_name}: {text}" if text else error_name)
        self.error_name = error_name


async def _call(
    address: str | None,
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str,
    body: Sequence[Any],
) -> list[Any]:
    try:
        from dbus_fast import Message, MessageType
        from dbus_fast.aio import MessageBus
    except ImportError as exc:
        raise DBusFastMissing(f"dbus-fast is not installed ({exc})") from None
    try:
        bus = await MessageBus(bus_address=address).connect()
    except Exception as exc:  # address missing/invalid, socket refused, auth failed
        raise BusUnavailable(f"{type(exc).__name__}: {exc}") from None
    try:
        reply = await bus.call(
            Message(
                destination=destination,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=list(body),
            )
        )
    finally:
        bus.disconnect()
    if reply is None:
        return []
    if reply.message_type == MessageType.ERROR:
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise CallFailed(reply.error_name or "unknown error", text)
    return list(reply.body)


def call(
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str = "",
    body: Sequence[Any] = (),
    *,
    address: str | None = None,
    timeout_s: float = 5.0,
) -> list[Any]:
    """Call ``interface.member`` on ``destination`` at ``path``; return the reply body.

    ``address`` defaults to the session bus (``DBUS_SESSION_BUS_ADDRESS``). Raises
    :class:`BusUnavailable`, :class:`CallFailed`, or :class:`TimeoutError`.
    """

    def run() -> list[Any]:
        return asyncio.run(
            asyncio.wait_for(
                _call(address, destination, path, interface, member, signature, body), timeout_s
            )
        )

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="activesec-dbus") as pool:
        try:
            return pool.submit(run).result()
        except asyncio.TimeoutError:
            raise TimeoutError(f"no reply from {destination} within {timeout_s:g} s") from None


class SignalListener:
    """Has the session bus carried a ``member`` signal (any sender, any interface) since the
    last look? One connection in a daemon thread with its own loop, so asking never blocks
    (:meth:`fired`); used to ask a screensaver *now* when it says it changed, instead of at
    the next poll. It ends with the bus (:attr:`alive` turns False) and never raises: no bus or
    no dbus-fast leaves it dead, and the caller polls as before."""

    def __init__(self, member: str, address: str | None = None) -> None:
        self.member = member
        self._address = address
        self._lock = threading.Lock()
        self._count = self._seen = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.ready = threading.Event()  # listening (or given up)
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="activesec-dbus-signals",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def fired(self) -> bool:
        """True once per batch of signals that arrived since the previous call."""
        with self._lock:
            new, self._seen = self._count != self._seen, self._count
        return new

    def close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended (the bus went away)
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(2.0)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # no bus, no dbus-fast, a refused match rule
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()

    async def _main(self) -> None:
        from dbus_fast import Message, MessageType
        from dbus_fast.aio import MessageBus

        bus = await MessageBus(bus_address=self._address).connect()
        try:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()

            def on(msg: Any) -> None:
                if msg.message_type == MessageType.SIGNAL and msg.member == self.member:
                    with self._lock:
                        self._count += 1

            bus.add_message_handler(on)
            reply = await bus.call(Message(
                destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                body=[f"type='signal',member='{self.member}'"]))
            if reply is not None and reply.message_type == MessageType.ERROR:
                raise CallFailed(reply.error_name or "unknown error", "AddMatch refused")
            self.ready.set()
            stop = asyncio.ensure_future(self._stop.wait())
            gone = asyncio.ensure_future(bus.wait_for_disconnect())
            await asyncio.wait({stop, gone}, return_when=asyncio.FIRST_COMPLETED)
            for f in (stop, gone):
                if f.done() and not f.cancelled():
                    f.exception()  # retrieved: a lost bus ends the listener quietly
                f.cancel()
        finally:
            bus.disconnect()
