"""Embedding from asyncio: `run_in_background_async` drives any runner from an asyncio program.

Each test is a plain function that runs its own ``asyncio.run`` (the Trio loop lives in the
portal's thread). Synchronisation is by `threading.Event` and `asyncio.Event`; the timeouts only
guard against a hang.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
import trio

from trio_runners import BaseTaskRunner, ConcurrentTaskRunner, State, TaskConcurrencyType
from trio_runners.embed import run_in_background_async

HANG_GUARD = 30  # seconds; only against a hang
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(main, HANG_GUARD)

    return asyncio.run(guarded())


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """A threading.Event set at teardown, so an abandoned worker thread always ends."""
    event = threading.Event()
    yield event
    event.set()


async def double_async(n: int = 21) -> int:
    await trio.lowlevel.checkpoint()
    return 2 * n


def fail() -> None:
    raise ArithmeticError("bad sum")


def test_an_asyncio_program_submits_and_awaits_states(runner: BaseTaskRunner) -> None:
    async def main() -> list[State[Any] | None]:
        async with run_in_background_async(runner) as background:
            await background.submit("async", double_async)
            await background.submit("sync", lambda: 6 * 7)
            await background.submit("fails", fail)
            return [await background.wait(key) for key in ("async", "sync", "fails")]

    done, in_thread, failed = run(main())
    assert done is not None and done.result() == 42
    assert in_thread is not None and in_thread.result() == 42
    assert failed is not None and failed.is_failed()
    with pytest.raises(ArithmeticError, match="bad sum"):
        failed.result()


def test_awaiting_a_state_does_not_block_the_asyncio_loop(gate: threading.Event) -> None:
    async def open_gate() -> None:
        await asyncio.sleep(0)
        gate.set()

    async def main() -> State[Any] | None:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:
            await background.submit("gated", lambda: gate.wait(HANG_GUARD))
            # The gate is opened by another asyncio task: this only ends if the wait below
            # leaves the asyncio loop free to run it.
            opener = asyncio.create_task(open_gate())
            state = await background.wait("gated")
            await opener
            return state

    state = run(main())
    assert state is not None and state.result() is True


def test_leaving_the_block_waits_for_calls_without_blocking_the_asyncio_loop(
    gate: threading.Event,
) -> None:
    runner = ConcurrentTaskRunner()

    async def main() -> None:
        opener = None
        async with run_in_background_async(runner) as background:
            await background.submit("gated", lambda: gate.wait(HANG_GUARD))
            opener = asyncio.get_running_loop().call_soon(gate.set)
        assert opener is not None

    run(main())
    state = runner.state("gated")
    assert state is not None and state.result() is True


def test_wait_with_a_timeout_returns_none_and_leaves_the_call_running(
    gate: threading.Event,
) -> None:
    async def main() -> tuple[State[Any] | None, State[Any] | None]:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:
            await background.submit("gated", lambda: gate.wait(HANG_GUARD))
            timed_out = await background.wait("gated", timeout=0)
            gate.set()
            return timed_out, await background.wait("gated")

    timed_out, state = run(main())
    assert timed_out is None
    assert state is not None and state.is_completed()


def test_a_cancelled_asyncio_waiter_leaves_the_call_running(gate: threading.Event) -> None:
    async def main() -> State[Any] | None:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:
            await background.submit("gated", lambda: gate.wait(HANG_GUARD))
            waiter = asyncio.create_task(background.wait("gated"))
            await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert await background.state("gated") is None
            gate.set()
            return await background.wait("gated")

    state = run(main())
    assert state is not None and state.is_completed()


def test_cancel_from_asyncio_makes_the_call_cancelled() -> None:
    async def main() -> tuple[bool, bool, State[Any] | None]:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:
            await background.submit("forever", trio.sleep_forever)
            first = await background.cancel("forever")
            second = await background.cancel("forever")
            return first, second, await background.wait("forever")

    first, second, state = run(main())
    assert (first, second) == (True, False)
    assert state is not None and state.is_cancelled()


def test_leaving_the_block_by_an_exception_cancels_the_calls_and_reraises_it(
    gate: threading.Event,
) -> None:
    runner = ConcurrentTaskRunner()
    error = LookupError("the host gave up")

    async def main() -> None:
        async with run_in_background_async(runner) as background:
            await background.submit("on loop", trio.sleep_forever)
            await background.submit("in thread", lambda: gate.wait(HANG_GUARD))
            raise error

    with pytest.raises(LookupError) as raised:
        run(main())
    assert raised.value is error
    for key in ("on loop", "in thread"):
        state = runner.state(key)
        assert state is not None and state.is_cancelled(), key


def test_cancelling_the_host_task_cancels_the_calls() -> None:
    runner = ConcurrentTaskRunner()

    async def host(ready: asyncio.Event) -> None:
        async with run_in_background_async(runner) as background:
            await background.submit("forever", trio.sleep_forever)
            ready.set()
            await asyncio.Event().wait()

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(host(ready))
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    state = runner.state("forever")
    assert state is not None and state.is_cancelled()


def test_several_asyncio_tasks_submit_at_once(runner: BaseTaskRunner) -> None:
    tasks, per_task = 5, 10

    async def host(background: Any, t: int) -> list[Any]:
        for i in range(per_task):
            await background.submit((t, i), (lambda t=t, i=i: (t, i)))
        states = [await background.wait((t, i)) for i in range(per_task)]
        return [state.result() for state in states]

    async def main() -> list[list[Any]]:
        async with run_in_background_async(runner) as background:
            return await asyncio.gather(*(host(background, t) for t in range(tasks)))

    results = run(main())
    assert results == [[(t, i) for i in range(per_task)] for t in range(tasks)]
    assert runner.statistics().completed == tasks * per_task


def test_as_completed_from_asyncio_yields_in_completion_order(gate: threading.Event) -> None:
    async def main() -> list[Any]:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:
            await background.submit("gated", lambda: gate.wait(HANG_GUARD))
            await background.submit("quick", double_async)
            assert await background.wait("quick") is not None
            seen = []
            async for key, state in background.as_completed(["gated", "quick"]):
                seen.append(key)
                if key == "quick":
                    gate.set()
                assert state.is_completed()
            return seen

    assert run(main()) == ["quick", "gated"]


def test_as_completed_from_asyncio_raises_key_error_for_an_unknown_key() -> None:
    async def main() -> None:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:
            with pytest.raises(KeyError):
                await background.as_completed(["unknown"]).__anext__()

    run(main())


def test_the_asyncio_handle_refuses_calls_after_the_block() -> None:
    async def main() -> None:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:
            await background.submit("key", double_async)
        state = await background.wait("key")  # States stay readable
        assert state is not None and state.result() == 42
        with pytest.raises(RuntimeError, match="has exited"):
            await background.submit("late", double_async)

    run(main())


def test_the_asyncio_handle_used_from_the_trio_thread_says_to_use_the_runner_itself() -> None:
    async def main() -> object:
        async with run_in_background_async(ConcurrentTaskRunner()) as background:

            async def uses_the_handle() -> str:  # runs on the runner's Trio thread
                try:
                    await background.submit("inner", double_async)
                except RuntimeError as exc:
                    return str(exc)
                return "accepted"  # pragma: no cover (the bug this test is about)

            await background.submit("outer", uses_the_handle)
            state = await background.wait("outer")
            assert state is not None
            return state.result()

    refusal = run(main())
    assert isinstance(refusal, str)
    assert "own Trio thread" in refusal
    assert "await runner.submit(key, call)" in refusal


class SlowToOpen(BaseTaskRunner):
    """A runner whose backend starts only once `may_open` is set, and that reports its exit."""

    def __init__(self) -> None:
        super().__init__()
        self.opening = threading.Event()
        self.may_open = threading.Event()
        self.closed = threading.Event()

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.CONCURRENT

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        try:
            self.opening.set()
            await trio.to_thread.run_sync(self.may_open.wait, HANG_GUARD)
            yield
        finally:
            self.closed.set()

    async def _submit(self, record: Any) -> None:  # pragma: no cover (never submitted to)
        raise AssertionError


def test_cancelling_the_host_task_while_entering_leaves_no_runner_behind() -> None:
    runner = SlowToOpen()

    async def host() -> None:
        async with run_in_background_async(runner):  # pragma: no cover (cancelled on entry)
            raise AssertionError

    async def main() -> None:
        task = asyncio.create_task(host())
        await asyncio.to_thread(runner.opening.wait, HANG_GUARD)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not runner.closed.is_set()
        runner.may_open.set()  # the opening completes, then is undone in a thread of its own

    run(main())
    assert runner.closed.wait(HANG_GUARD)
