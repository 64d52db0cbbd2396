"""Prefect 2 parity in the flow layer: flow ``timeout_seconds`` and ``retries``, and state hooks
(``on_completion``, ``on_failure``) on tasks and flows."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import (
    Flow,
    FlowRunFailed,
    FlowRunInfo,
    FlowTimeout,
    State,
    Task,
    TaskFuture,
    TaskRunInfo,
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


# -- task hooks


def test_on_completion_hook_gets_the_task_its_run_and_state_before_the_state_is_seen() -> None:
    calls: list[tuple[Any, ...]] = []

    def hook(task: Task[Any, Any], task_run: TaskRunInfo, state: State[Any]) -> None:
        calls.append((task, task_run, state))

    @task(on_completion=[hook], task_run_name="double-{x}")
    def double(x: int) -> int:
        return 2 * x

    @flow(flow_run_name="run-{n}")
    def f(n: int) -> tuple[int, int, State[Any]]:
        future = double(n)
        state: State[Any] = future.wait()
        return len(calls), future.key, state

    seen_hooks, key, state = f(4)
    assert seen_hooks == 1  # the hook ran before the body saw the State
    ((hooked_task, info, hooked_state),) = calls
    assert hooked_task is double
    assert info == TaskRunInfo(name="double-4", key=key, task_name="double", flow_run_name="run-4")
    assert hooked_state is state and state.result() == 8


def test_on_failure_hook_runs_once_after_retries_and_on_completion_does_not() -> None:
    calls: list[str] = []

    @task(
        retries=2,
        on_completion=[lambda *_: calls.append("completion")],
        on_failure=[lambda t, run, state: calls.append(f"failure {state.exception()}")],
    )
    def fail() -> None:
        raise BoomError("always")

    @flow
    def f() -> None:
        fail().wait()

    f()
    assert calls == ["failure always"]


async def test_an_async_hook_runs_on_the_loop_and_a_sync_hook_in_a_worker_thread() -> None:
    where: dict[str, bool] = {}

    async def async_hook(*_: object) -> None:
        await trio.lowlevel.checkpoint()
        where["async"] = trio.lowlevel.in_trio_run()

    def sync_hook(*_: object) -> None:
        where["sync"] = trio.lowlevel.in_trio_run()
        where["sync thread is main"] = threading.current_thread() is threading.main_thread()

    @task(on_completion=[async_hook, sync_hook])
    async def t() -> None:
        pass

    @flow
    async def f() -> None:
        await (await t()).result()

    await f()
    assert where == {"async": True, "sync": False, "sync thread is main": False}


def test_a_hook_that_raises_changes_no_state_is_logged_and_the_next_hook_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    def bad(*_: object) -> None:
        raise BoomError("hook bug")

    @task(on_completion=[bad, lambda *_: ran.append("next hook")])
    def t() -> str:
        return "value"

    @flow
    def f() -> State[Any]:
        state: State[Any] = t().wait()
        return state

    with caplog.at_level(logging.ERROR, logger="trio_runners"):
        state = f()
    assert state.is_completed() and state.result() == "value"
    assert ran == ["next hook"]
    (record,) = caplog.records
    assert "on_completion hook" in record.getMessage()
    assert "'t-0'" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], BoomError)


def test_no_hook_runs_for_a_task_run_that_never_ran() -> None:
    calls: list[str] = []

    @task
    def fail() -> int:
        raise BoomError("upstream")

    @task(on_failure=[lambda *_: calls.append("failure")])
    def downstream(x: int) -> None:
        pass

    @flow
    def f() -> None:
        upstream = fail()
        downstream(upstream).wait()
        upstream.wait()

    f()
    assert calls == []


async def test_no_hook_runs_for_a_cancelled_task_run() -> None:
    calls: list[str] = []
    started = trio.Event()

    @task(
        on_completion=[lambda *_: calls.append("completion")],
        on_failure=[lambda *_: calls.append("failure")],
    )
    async def forever() -> None:
        started.set()
        await trio.sleep_forever()

    @flow
    async def f() -> State[Any]:
        future: TaskFuture = await forever()
        await started.wait()
        future.cancel()
        state: State[Any] = await future.wait()
        return state

    assert (await f()).is_cancelled()
    assert calls == []


# -- flow hooks


def test_flow_hooks_get_the_flow_its_run_and_final_state_once() -> None:
    calls: list[tuple[Any, ...]] = []

    def on_failure(flow: Flow[Any, Any], flow_run: FlowRunInfo, state: State[Any]) -> None:
        calls.append(("failure", flow, flow_run, state))

    attempts: list[int] = []

    @flow(retries=1, on_failure=[on_failure], on_completion=[lambda *a: calls.append(a)])
    def f(x: int, y: int = 2) -> None:
        attempts.append(1)
        raise BoomError("x")

    state = f(1, return_state=True)  # type: ignore[call-arg]
    assert len(attempts) == 2
    ((kind, hooked_flow, info, hooked_state),) = calls
    assert (kind, hooked_flow, hooked_state) == ("failure", f, state)
    assert info == FlowRunInfo(name="f", flow_name="f", parameters={"x": 1, "y": 2})


async def test_a_flow_hook_that_raises_leaves_the_result_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def bad(*_: object) -> None:
        raise BoomError("hook bug")

    @flow(on_completion=[bad])
    async def f() -> str:
        return "value"

    with caplog.at_level(logging.ERROR, logger="trio_runners"):
        assert await f() == "value"
    (record,) = caplog.records
    assert "on_completion hook" in record.getMessage()


def test_a_flow_on_failure_hook_sees_unseen_task_failures() -> None:
    states: list[State[Any]] = []

    @task
    def fail() -> None:
        raise BoomError("x")

    @flow(on_failure=[lambda flow, run, state: states.append(state)])
    def f() -> None:
        fail()

    with pytest.raises(FlowRunFailed):
        f()
    (state,) = states
    assert isinstance(state.exception(), FlowRunFailed)
