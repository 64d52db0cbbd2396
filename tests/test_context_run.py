"""`in_context`: a coroutine awaited in a context of its own, inside the current task, with
checkpoints, cancellation and exceptions exactly as if it were awaited directly."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest
import trio

from trio_runners import SequentialTaskRunner
from trio_runners._context_run import in_context

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_context_run", default="outer")


async def set_and_read(value: str) -> str:
    seen = VAR.get()
    VAR.set(value)
    await trio.lowlevel.checkpoint()
    assert VAR.get() == value  # still its own after a checkpoint
    return seen


async def test_the_coroutine_sees_the_context_and_its_changes_stay_there() -> None:
    VAR.set("submitter")
    context = contextvars.copy_context()
    VAR.set("moved on")
    assert await in_context(context, set_and_read("inner")) == "submitter"
    assert VAR.get() == "moved on"
    assert context[VAR] == "inner"


async def test_cancellation_reaches_the_coroutine_and_propagates() -> None:
    finished = []

    async def sleeper() -> None:
        try:
            await trio.sleep_forever()
        finally:
            finished.append(VAR.get())

    context = contextvars.copy_context()
    context.run(VAR.set, "inner")
    after = []
    with trio.CancelScope(deadline=trio.current_time()) as scope:
        await in_context(context, sleeper())
        after.append("the await returned")  # pragma: no cover - it must not
    assert scope.cancelled_caught  # trio.Cancelled came out of in_context, to its scope
    assert finished == ["inner"]  # the coroutine's finally ran, in its own context
    assert after == []


async def test_an_exception_of_the_coroutine_propagates_unchanged() -> None:
    error = ValueError("boom")

    async def raises() -> None:
        await trio.lowlevel.checkpoint()
        raise error

    with pytest.raises(ValueError, match="boom") as info:
        await in_context(contextvars.copy_context(), raises())
    assert info.value is error


async def test_a_keyboard_interrupt_thrown_in_reaches_the_coroutine() -> None:
    caught = []

    async def waits() -> None:
        try:
            await trio.sleep_forever()
        except KeyboardInterrupt as interrupt:
            caught.append(interrupt)
            raise

    coro: Any = in_context(contextvars.copy_context(), waits())  # a generator-based coroutine
    trap = coro.send(None)  # the coroutine's first trap passes through unchanged
    assert type(trap).__name__ == "WaitTaskRescheduled"
    interrupt = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as info:
        coro.throw(interrupt)
    assert info.value is interrupt
    assert caught == [interrupt]


async def test_a_sequential_call_runs_in_a_copy_of_its_submitters_context() -> None:
    runner = SequentialTaskRunner()
    async with runner.start():
        VAR.set("submitter")
        await runner.submit("call", lambda: set_and_read("set by the call"))
        assert VAR.get() == "submitter"
    state = runner.state("call")
    assert state is not None
    assert state.result() == "submitter"
