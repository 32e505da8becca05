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
