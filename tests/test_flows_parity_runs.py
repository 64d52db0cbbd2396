"""Prefect 2 parity in the flow layer: flow ``timeout_seconds`` and ``retries`` (state hooks are
in test_flows_parity_hooks.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import (
    FlowTimeout,
    TaskFuture,
    flow,
    quote,
    task,
)


class BoomError(Exception):
    pass


# -- flow timeout_seconds


async def test_a_flow_run_past_its_timeout_fails_with_flow_timeout_and_cancels_its_task_runs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    futures: list[TaskFuture] = []
    reached: list[str] = []

    @task
    async def forever() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            reached.append("task cancelled")
            raise

    @flow(timeout_seconds=5)
    async def f() -> None:
        futures.append(await forever())
        await trio.sleep(100)
        reached.append("body went on")

    state = await f(return_state=True)  # type: ignore[call-arg]
    assert trio.current_time() == 5
    assert state.is_failed()
    error = state.exception()
    assert isinstance(error, FlowTimeout) and isinstance(error, TimeoutError)
    assert str(error) == "flow run 'f' timed out after 5 s"
    assert reached == ["task cancelled"]
    assert futures[0].state is not None and futures[0].state.is_cancelled()


async def test_a_sync_flow_past_its_timeout_fails_and_its_task_runs_are_cancelled(
    mock_clock: trio.testing.MockClock,
) -> None:
    futures: list[TaskFuture] = []
    submitted = threading.Event()
    errors: list[BaseException] = []

    @task
    async def forever() -> None:
        await trio.sleep_forever()

    @flow(timeout_seconds=5)
    def f() -> None:
        futures.append(forever())
        submitted.set()
        futures[0].wait()  # blocks the body's thread until the run ends

    async def run() -> None:
        try:
            await trio.to_thread.run_sync(f)
        except FlowTimeout as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.to_thread.run_sync(submitted.wait)
        mock_clock.jump(5)
    assert len(errors) == 1
    assert futures[0].state is not None and futures[0].state.is_cancelled()


async def test_a_flow_that_finishes_within_its_timeout_is_not_disturbed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task
    async def quick() -> str:
        await trio.sleep(4)
        return "done"

    @flow(timeout_seconds=5)
    async def f() -> str:
        return str(await (await quick()).result())

    assert await f() == "done"


def test_flow_options_are_checked_at_decoration_naming_the_option() -> None:
    with pytest.raises(ValueError, match="timeout_seconds"):
        flow(timeout_seconds=0)
    with pytest.raises(TypeError, match="retries"):
        flow(retries="2")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="retry_delay_seconds"):
        flow(retry_delay_seconds=-1)
    with pytest.raises(TypeError, match="on_completion takes a list of hooks"):
        flow(on_completion=print)  # type: ignore[call-overload]


# -- flow retries


async def test_a_failed_flow_run_is_retried_after_its_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    @flow(retries=2, retry_delay_seconds=3)
    async def f() -> str:
        attempts.append(trio.current_time())
        if len(attempts) < 3:
            raise BoomError("not yet")
        return "third time"

    assert await f() == "third time"
    assert attempts == [0, 3, 6]


async def test_when_flow_retries_run_out_the_last_error_is_raised() -> None:
    attempts: list[int] = []

    @flow(retries=1)
    async def f() -> None:
        attempts.append(1)
        raise BoomError(f"attempt {len(attempts)}")

    with pytest.raises(BoomError, match="attempt 2"):
        await f()


def test_a_flow_retry_reruns_the_task_runs_on_a_fresh_runner() -> None:
    calls: list[int] = []

    @task
    def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise BoomError("first run")

    @flow(retries=1)
    def f() -> Any:
        future = step()
        future.result()  # raises in the first attempt: the run fails, and is retried
        return quote(future)

    future = f()
    assert len(calls) == 2
    assert future.name == "step-0"  # names count per attempt
    assert future.state.is_completed()


async def test_a_timed_out_flow_attempt_is_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[int] = []

    @flow(timeout_seconds=5, retries=1)
    async def f() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            await trio.sleep(10)
        return "second"

    assert await f() == "second"
    assert trio.current_time() == 5


async def test_a_cancelled_flow_run_is_not_retried_and_the_cancellation_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[int] = []

    @flow(retries=3)
    async def f() -> None:
        attempts.append(1)
        await trio.sleep_forever()

    with trio.move_on_after(1) as scope:
        await f()
    assert scope.cancelled_caught
    assert attempts == [1]
