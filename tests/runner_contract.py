"""The runner contract as a reusable test class, for runners that execute calls for real.

Subclass `RunnerContract` in a test module, set the capability attributes and provide a
``runner`` fixture (a fresh, unstarted runner). Every call used here is a module-level function
(or a partial of one), so it can be pickled and run in a worker process or on a Dask worker.

Calls that must be observed "while running" go through a `Gate`: a loopback TCP rendezvous.
The call connects to the test, reports its process id, and blocks until the test releases it
(or closes the gate). No sleeps: the test waits for the call's connection, with a generous
bound that is a hang guard, not a timing assertion.
"""

from __future__ import annotations

import functools
import os
import pickle
import socket
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

from trio_runners import (
    BaseTaskRunner,
    CancelledRun,
    Completed,
    Failed,
    State,
    StateType,
    TaskConcurrencyType,
)

#: Hang guard for rendezvous with real threads, processes and Dask workers (not a timing test).
HANG_GUARD = 60


# ---------------------------------------------------------------------- calls (module level)


def add(a: int, b: int) -> int:
    return a + b


async def async_add(a: int, b: int) -> int:
    await trio.lowlevel.checkpoint()
    return a + b


class BoomError(Exception):
    pass


def fail(message: str) -> None:
    raise BoomError(message)


async def async_fail(message: str) -> None:
    await trio.lowlevel.checkpoint()
    raise BoomError(message)


def return_state(message: str) -> State[Any]:
    return Failed(BoomError(message), message=message)


def gated(port: int, value: Any) -> Any:
    """Connect to the test's gate, report our pid, block until released; return ``value``."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"{os.getpid()}\n".encode())
        if not sock.recv(1):
            raise ConnectionError("the gate was closed without releasing this call")
    return value


async def async_gated(port: int, value: Any) -> Any:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"{os.getpid()}\n".encode())
        if not await stream.receive_some(1):
            raise ConnectionError("the gate was closed without releasing this call")
    return value


# ---------------------------------------------------------------------- the gate


@attrs.define
class Arrival:
    """One call that has reached the gate and is blocked there."""

    stream: trio.SocketStream
    pid: int

    async def release(self) -> None:
        await self.stream.send_all(b"x")
        await self.stream.aclose()


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
        arrival = Arrival(stream, int(line))
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
    with trio.fail_after(HANG_GUARD):
        state = await runner.wait(key)
    assert state is not None
    return state


# ---------------------------------------------------------------------- the contract


class RunnerContract:
    """Contract tests every real runner passes. Subclasses set the capabilities below and
    define a ``runner`` fixture returning a fresh, unstarted runner."""

    #: Calls run in another process (a BaseException raised by a call does not propagate).
    remote: bool = False
    #: The runner interrupts a running call on cancel (kills it, or cancels its Trio scope).
    interrupts_running_calls: bool = True
    #: The runner's concurrency type.
    concurrency_type: TaskConcurrencyType = TaskConcurrencyType.CONCURRENT
    #: Options that make an unequal runner of the same type (for ``==``).
    other_options: dict[str, Any] = {}  # noqa: RUF012 (read-only class data)

    # -- submit / wait ------------------------------------------------------------------

    @pytest.mark.parametrize(
        "call", [functools.partial(add, 1, 2), functools.partial(async_add, 1, 2)]
    )
    async def test_submit_then_wait_returns_completed_value(
        self, runner: BaseTaskRunner, call: Callable[[], Any]
    ) -> None:
        async with runner.start():
            await runner.submit("k", call)
            state = await wait_state(runner, "k")
        assert state.is_completed()
        assert state.result() == 3

    @pytest.mark.parametrize(
        "call", [functools.partial(fail, "no"), functools.partial(async_fail, "no")]
    )
    async def test_exception_is_failed_state_and_never_escapes_wait(
        self, runner: BaseTaskRunner, call: Callable[[], Any]
    ) -> None:
        async with runner.start():
            await runner.submit("k", call)
            state = await wait_state(runner, "k")
        assert state.is_failed()
        with pytest.raises(BoomError, match="no"):
            state.result()

    async def test_call_returning_a_state_keeps_it(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            await runner.submit("k", functools.partial(return_state, "kept"))
            state = await wait_state(runner, "k")
        assert state.is_failed()
        assert state.message == "kept"
        assert isinstance(state.exception(), BoomError)

    async def test_wait_timeout_returns_none_and_does_not_disturb_the_call(
        self, runner: BaseTaskRunner
    ) -> None:
        async with open_gate() as gate, runner.start():
            await runner.submit("k", gate.call("v"))
            arrival = await gate.arrival()
            assert await runner.wait("k", timeout=0) is None
            assert await runner.wait("k", timeout=0.01) is None
            await arrival.release()
            state = await wait_state(runner, "k")
            assert state.result() == "v"

    async def test_every_waiter_gets_the_same_state(self, runner: BaseTaskRunner) -> None:
        states: list[State[Any] | None] = []
        async with open_gate() as gate, runner.start():
            await runner.submit("k", gate.call(1, is_async=True))
            arrival = await gate.arrival()
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(lambda: _append(states, runner.wait("k")))
                await trio.testing.wait_all_tasks_blocked()
                await arrival.release()
        assert len(states) == 3
        assert states[0] is not None
        assert all(s is states[0] for s in states)

    async def test_leaving_start_waits_for_in_flight_calls(self, runner: BaseTaskRunner) -> None:
        async with open_gate() as gate, trio.open_nursery() as nursery:

            async def release_when_arrived() -> None:
                await (await gate.arrival()).release()

            nursery.start_soon(release_when_arrived)
            async with runner.start():
                await runner.submit("k", gate.call("done"))
            # The block was left normally: the call has finished.
            assert runner.state("k") is not None
            assert runner.state("k").result() == "done"  # type: ignore[union-attr]

    # -- cancellation -------------------------------------------------------------------

    async def test_cancel_running_call_is_cancelled_at_once(self, runner: BaseTaskRunner) -> None:
        async with open_gate() as gate, runner.start():
            await runner.submit("k", gate.call("v"))
            await runner.submit("other", functools.partial(add, 2, 2))
            arrival = await gate.arrival()
            assert runner.cancel("k") is True
            state = runner.state("k")
            assert state is not None
            assert state.is_cancelled()
            with pytest.raises(CancelledRun):
                state.result()
            assert runner.cancel("k") is False  # already finished
            # The sibling and the runner are not disturbed.
            assert (await wait_state(runner, "other")).result() == 4
            if not self.interrupts_running_calls:
                await arrival.release()  # let the worker's thread go
        assert runner.state("k") is state

    async def test_cancel_finished_call_keeps_its_state(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            await runner.submit("k", functools.partial(add, 1, 1))
            state = await wait_state(runner, "k")
            assert runner.cancel("k") is False
            assert runner.state("k") is state

    async def test_enclosing_cancel_cancels_in_flight_calls(self, runner: BaseTaskRunner) -> None:
        async with open_gate() as gate:
            with trio.CancelScope() as scope:
                async with runner.start():
                    await runner.submit("k", gate.call("v", is_async=True))
                    arrival = await gate.arrival()
                    scope.cancel()
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            state = runner.state("k")
            assert state is not None
            assert state.is_cancelled()
            if not self.interrupts_running_calls:
                await arrival.release()

    async def test_exception_in_block_cancels_calls_and_propagates(
        self, runner: BaseTaskRunner
    ) -> None:
        async with open_gate() as gate:
            with pytest.RaisesGroup(BoomError):
                async with runner.start():
                    await runner.submit("k", gate.call("v"))
                    arrival = await gate.arrival()
                    raise BoomError("in the block")
            state = runner.state("k")
            assert state is not None
            assert state.is_cancelled()
            if not self.interrupts_running_calls:
                await arrival.release()

    # -- as_completed / release / statistics ---------------------------------------------

    async def test_as_completed_yields_in_finishing_order(self, runner: BaseTaskRunner) -> None:
        async with open_gate() as gate, runner.start():
            await runner.submit("first", gate.call("a"))
            arrival_1 = await gate.arrival()
            await runner.submit("second", gate.call("b"))
            arrival_2 = await gate.arrival()
            seen: list[Hashable] = []
            async with runner.as_completed(["first", "second"]) as stream:
                await arrival_2.release()
                key, state = await stream.__anext__()
                seen.append(key)
                assert state.result() == "b"
                await arrival_1.release()
                async for key, _ in stream:
                    seen.append(key)
            assert seen == ["second", "first"]

    async def test_release_forgets_state_and_frees_the_key(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            await runner.submit("k", functools.partial(add, 1, 1))
            await wait_state(runner, "k")
            assert runner.statistics().retained == 1
            runner.release("k")
            assert runner.statistics().retained == 0
            with pytest.raises(KeyError):
                runner.state("k")
            await runner.submit("k", functools.partial(add, 2, 2))
            assert (await wait_state(runner, "k")).result() == 4

    async def test_statistics_count_each_state(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            await runner.submit("ok", functools.partial(add, 1, 1))
            await runner.submit("bad", functools.partial(fail, "x"))
            await wait_state(runner, "ok")
            await wait_state(runner, "bad")
            stats = runner.statistics()
        assert (stats.completed, stats.failed, stats.cancelled, stats.crashed) == (1, 1, 0, 0)
        assert (stats.queued, stats.running) == (0, 0)

    # -- errors -------------------------------------------------------------------------

    async def test_submit_outside_start_raises_runtime_error(self, runner: BaseTaskRunner) -> None:
        with pytest.raises(RuntimeError, match="not started"):
            await runner.submit("k", functools.partial(add, 1, 1))
        async with runner.start():
            pass
        with pytest.raises(RuntimeError, match="not started"):
            await runner.submit("k", functools.partial(add, 1, 1))

    async def test_duplicate_key_raises_value_error(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            await runner.submit("k", functools.partial(add, 1, 1))
            with pytest.raises(ValueError, match="already submitted"):
                await runner.submit("k", functools.partial(add, 1, 1))

    async def test_non_callable_raises_type_error(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            with pytest.raises(TypeError, match="callable"):
                await runner.submit("k", 42)  # type: ignore[arg-type]

    async def test_unknown_key_raises_key_error(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            with pytest.raises(KeyError):
                await runner.wait("nope")
            with pytest.raises(KeyError):
                runner.cancel("nope")
            with pytest.raises(KeyError):
                runner.release("nope")
            with pytest.raises(KeyError):
                runner.as_completed(["nope"])

    async def test_release_of_unfinished_call_raises_runtime_error(
        self, runner: BaseTaskRunner
    ) -> None:
        async with open_gate() as gate, runner.start():
            await runner.submit("k", gate.call("v"))
            arrival = await gate.arrival()
            with pytest.raises(RuntimeError, match="has not finished"):
                runner.release("k")
            await arrival.release()

    # -- lifecycle, configuration -------------------------------------------------------

    async def test_starting_a_started_runner_raises(self, runner: BaseTaskRunner) -> None:
        async with runner.start():
            with pytest.raises(RuntimeError, match="already started"):
                async with runner.start():
                    pass  # pragma: no cover

    async def test_runner_can_be_started_again_with_a_fresh_run(
        self, runner: BaseTaskRunner
    ) -> None:
        async with runner.start():
            await runner.submit("k", functools.partial(add, 1, 1))
        assert runner.state("k") is not None  # readable until the next start
        async with runner.start():
            with pytest.raises(KeyError):
                runner.state("k")
            await runner.submit("k", functools.partial(add, 2, 3))
            assert (await wait_state(runner, "k")).result() == 5
        assert not runner.started

    def test_pickles_configuration_only(self, runner: BaseTaskRunner) -> None:
        copy = pickle.loads(pickle.dumps(runner))
        assert copy == runner
        assert copy is not runner
        assert not copy.started

    async def test_pickling_a_started_runner_gives_an_unstarted_copy(
        self, runner: BaseTaskRunner
    ) -> None:
        async with runner.start():
            copy = pickle.loads(pickle.dumps(runner))
            assert copy == runner
            assert not copy.started

    def test_duplicate_is_equal_new_and_unstarted(self, runner: BaseTaskRunner) -> None:
        twin = runner.duplicate()
        assert twin == runner
        assert hash(twin) == hash(runner)
        assert twin is not runner
        assert type(twin) is type(runner)

    def test_different_options_are_unequal(self, runner: BaseTaskRunner) -> None:
        other = type(runner)(**self.other_options)
        assert other != runner

    def test_concurrency_type(self, runner: BaseTaskRunner) -> None:
        assert runner.concurrency_type is self.concurrency_type

    # -- crashes ------------------------------------------------------------------------

    async def test_keyboard_interrupt_in_a_call_is_crashed(self, runner: BaseTaskRunner) -> None:
        call = functools.partial(raise_base_exception, KeyboardInterrupt)
        if self.remote:
            # It happened in a worker: Crashed, and nothing propagates here.
            async with runner.start():
                await runner.submit("k", call)
                state = await wait_state(runner, "k")
            assert state.type is StateType.CRASHED
            assert isinstance(state.exception(), KeyboardInterrupt)
        else:
            with pytest.RaisesGroup(KeyboardInterrupt):
                async with runner.start():
                    await runner.submit("k", call)
                    await runner.wait("k")
            state = runner.state("k")  # type: ignore[assignment]
            assert state is not None
            assert state.is_crashed()


def raise_base_exception(kind: type[BaseException]) -> None:
    raise kind()


async def _append(states: list[State[Any] | None], awaitable: Any) -> None:
    states.append(await awaitable)


__all__ = [
    "Arrival",
    "BoomError",
    "Completed",
    "Gate",
    "RunnerContract",
    "add",
    "async_add",
    "fail",
    "gated",
    "open_gate",
    "wait_state",
]
