"""Prefect 2 parity in the flow layer: state hooks (``on_completion``, ``on_failure``) on tasks
and flows."""

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
    ProcessPoolTaskRunner,
    State,
    Task,
    TaskFuture,
    TaskRunInfo,
    allow_failure,
    flow,
    task,
)


class BoomError(Exception):
    pass


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


# -- on a runner that ships calls to worker processes


@task(on_completion=[lambda task, run, state: HOOKED.append((run.name, state.result()))])
def triple(x: int) -> int:
    return 3 * x


@task
def refuse() -> int:
    raise BoomError("refused")


HOOKED: list[tuple[str, int]] = []


def test_hooks_run_in_the_flows_process_and_annotations_work_on_the_process_runner() -> None:
    HOOKED.clear()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def f() -> tuple[list[int], str]:
        failed = refuse()
        got = triple.map([1, 2], wait_for=[allow_failure(failed)])
        failed.wait()
        return [g.result() for g in got], repr(failed.state)

    values, failed = f()
    assert values == [3, 6]
    assert "BoomError('refused')" in failed
    assert sorted(HOOKED) == [("triple-0", 3), ("triple-1", 6)]  # appended here, not in a worker


LOCK = threading.Lock()
LOCKED_HOOK_RAN: list[str] = []


def _locked_hook(task: Task[Any, Any], task_run: TaskRunInfo, state: State[Any]) -> None:
    with LOCK:  # a lock cannot be pickled: this hook must never be shipped
        LOCKED_HOOK_RAN.append(task_run.name)


@task(on_completion=[_locked_hook], task_run_name="locked-{x}")
def locked(x: int) -> int:
    return x


def test_a_task_shipped_to_a_worker_process_leaves_its_hooks_behind() -> None:
    # This module is not installed, so its tasks travel by value: without their hooks, which
    # hold what cannot be pickled and only ever run in the flow's process.
    LOCKED_HOOK_RAN.clear()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def f() -> int:
        return locked(5).result()

    assert f() == 5
    assert LOCKED_HOOK_RAN == ["locked-5"]
    assert locked.on_completion == [_locked_hook]  # the task itself keeps them
