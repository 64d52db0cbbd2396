"""Calls and the gate used by the contract suite (and by the runner-specific test modules).

Every call here is a module-level function (or a partial of one), so it can be pickled and
run in a worker process or on a Dask worker as well as on the event loop.

Calls that must be observed "while running" go through a `Gate`: a loopback TCP rendezvous.
The call connects to the test, reports its process id, and blocks until the test releases it
(or closes the gate). No sleeps: the test waits for the call's connection, with a generous
bound that is a hang guard, not a timing assertion.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import attrs
import trio

from trio_runners import BaseTaskRunner, Failed, State

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

#: Hang guard for rendezvous with real threads, processes and Dask workers (not a timing test).
HANG_GUARD = 60


# ---------------------------------------------------------------------- calls (module level)


def add(a: int, b: int) -> int:
    return a + b


async def async_add(a: int, b: int) -> int:
    await trio.lowlevel.checkpoint()
    return a + b


async def _coroutine_add(a: int, b: int) -> int:
    await trio.lowlevel.checkpoint()
    return a + b


def returns_awaitable(a: int, b: int) -> Any:
    """A sync call that returns an awaitable: the runner awaits it."""
    return _coroutine_add(a, b)


class BoomError(Exception):
    pass


def fail(message: str) -> None:
    raise BoomError(message)


async def async_fail(message: str) -> None:
    await trio.lowlevel.checkpoint()
    raise BoomError(message)


def return_state(message: str) -> State[Any]:
    return Failed(BoomError(message), message=message)


async def async_return_state(message: str) -> State[Any]:
    await trio.lowlevel.checkpoint()
    return Failed(BoomError(message), message=message)


def raise_base_exception(kind: type[BaseException]) -> None:
    raise kind()


async def async_raise_base_exception(kind: type[BaseException]) -> None:
    await trio.lowlevel.checkpoint()
    raise kind()


def _interrupt(name: str) -> BaseException:
    if name == "group":
        return BaseExceptionGroup("call's own group", [KeyboardInterrupt()])
    return {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[name]()


def raise_interrupt(name: str) -> None:
    """Raise what stops a process: ``KeyboardInterrupt``, ``SystemExit``, or ``group`` (a
    `BaseExceptionGroup` holding a `KeyboardInterrupt`)."""
    raise _interrupt(name)


async def async_raise_interrupt(name: str) -> None:
    await trio.lowlevel.checkpoint()
    raise _interrupt(name)


def raise_stray_cancelled() -> None:
    """A call that raises `trio.Cancelled` although nothing cancelled it (its own defect)."""
    raise trio.Cancelled._create()


async def async_raise_stray_cancelled() -> None:
    await trio.lowlevel.checkpoint()
    raise trio.Cancelled._create()


def raise_base_exception_group() -> None:
    raise BaseExceptionGroup("call's own group", [BaseException("inside")])


class CustomBaseError(BaseException):
    pass


def touch(path: str) -> None:
    """Leave a trace in the file system (visible whichever process ran the call)."""
    Path(path).touch()


async def agen_function() -> AsyncIterator[int]:  # an async generator *function*
    yield 1  # pragma: no cover


def gated(port: int, value: Any) -> Any:
    """Connect to the test's gate, report our pid and ``value``, block until released; return
    ``value``."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"{os.getpid()} {value}\n".encode())
        if not sock.recv(1):
            raise ConnectionError("the gate was closed without releasing this call")
    return value


async def async_gated(port: int, value: Any) -> Any:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"{os.getpid()} {value}\n".encode())
        if not await stream.receive_some(1):
            raise ConnectionError("the gate was closed without releasing this call")
    return value


# ---------------------------------------------------------------------- the gate


@attrs.define
class Arrival:
    """One call that has reached the gate and is blocked there."""

    stream: trio.SocketStream
    pid: int
    value: str  # str() of the value the call will return

    async def release(self) -> None:
        """Let the call return (a no-op if its end of the connection is already gone)."""
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_all(b"x")
        await self.stream.aclose()

    async def left(self) -> None:
        """Wait until the call has left the gate without being released (it was interrupted:
        its task was cancelled or its process killed, so its end of the connection closed)."""
        with trio.fail_after(HANG_GUARD):
            try:
                data = await self.stream.receive_some(1)
            except trio.BrokenResourceError:  # connection reset by a killed process
                return
        assert data == b"", f"unexpected bytes from a gated call: {data!r}"


@attrs.define
class Gate:
    listener: trio.SocketListener
    port: int
    arrivals: list[Arrival] = attrs.field(factory=list)

    def call(self, value: Any = None, *, is_async: bool = False) -> Callable[[], Any]:
        return functools.partial(async_gated if is_async else gated, self.port, value)

    async def arrival(self) -> Arrival:
        """Wait until one call is blocked at the gate."""
        with trio.fail_after(HANG_GUARD):
            stream = await self.listener.accept()
            line = b""
            while not line.endswith(b"\n"):
                chunk = await stream.receive_some(64)
                assert chunk, "a call connected to the gate and went away"
                line += chunk
        pid, _, value = line.decode().rstrip("\n").partition(" ")
        arrival = Arrival(stream, int(pid), value)
        self.arrivals.append(arrival)
        return arrival


@asynccontextmanager
async def open_gate() -> AsyncIterator[Gate]:
    """A gate on 127.0.0.1; closing it makes every call still blocked there raise."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listener = listeners[0]
    gate = Gate(listener, listener.socket.getsockname()[1])
    try:
        async with listener:
            yield gate
    finally:
        with trio.CancelScope(shield=True):
            for arrival in gate.arrivals:
                await arrival.stream.aclose()


async def wait_state(runner: BaseTaskRunner, key: Hashable) -> State[Any]:
    """The call's State, waited for with a hang guard."""
    with trio.fail_after(HANG_GUARD):
        state = await runner.wait(key)
    assert state is not None
    return state


__all__ = [
    "HANG_GUARD",
    "Arrival",
    "BoomError",
    "CustomBaseError",
    "Gate",
    "add",
    "agen_function",
    "async_add",
    "async_fail",
    "async_gated",
    "async_raise_base_exception",
    "async_raise_interrupt",
    "async_raise_stray_cancelled",
    "async_return_state",
    "fail",
    "gated",
    "open_gate",
    "raise_base_exception",
    "raise_base_exception_group",
    "raise_interrupt",
    "raise_stray_cancelled",
    "return_state",
    "returns_awaitable",
    "touch",
    "wait_state",
]
