"""Task runs submitted from a sync flow's body go through the flow run's submission pump: the body
never waits for the Trio thread, the runner still sees them in order, and a task run the pump has
not submitted yet can be waited on, cancelled and listed like any other."""

import threading

import pytest

from trio_runners import (
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    TaskFuture,
    as_completed,
    flow,
    task,
)
from trio_runners.flows._flow_run import FlowRun, current_flow_run
from trio_runners.flows._task_submit import _prepare

ran: list[int] = []


@task
def record(i: int) -> int:
    ran.append(i)
    return i


def _pending(flow_run: FlowRun, i: int) -> TaskFuture:
    """Queue a task run in the pump from the Trio thread: it stays pending until the pump task
    runs (the next checkpoint at the earliest)."""
    assert flow_run.pump is not None
    call = _prepare(record, flow_run, (i,), {}, [], pending=True)
    flow_run.pump.put(call.future, call)
    flow_run.futures.append(call.future)
    return call.future


@pytest.mark.parametrize("runner", [SequentialTaskRunner(), ConcurrentTaskRunner(max_workers=1)])
def test_the_body_submits_in_order_without_waiting_for_the_trio_thread(
    runner: ConcurrentTaskRunner | SequentialTaskRunner,
) -> None:
    ran.clear()
    body_went_on = threading.Event()

    @task
    def first() -> None:
        # With one worker (or the sequential runner) the body's later task runs only start
        # after this one: the body went on submitting while it was blocked here.
        assert body_went_on.wait(30)

    @flow(task_runner=runner)
    def f() -> list[int]:
        first()
        futures = [record(i) for i in range(20)]
        body_went_on.set()
        return [future.result() for future in futures]

    assert f() == list(range(20))
    assert ran == list(range(20))


async def test_a_task_run_still_in_the_pump_can_be_waited_for() -> None:
    @flow
    async def f() -> tuple[bool, int]:
        flow_run = current_flow_run.get()
        assert flow_run is not None
        future = _pending(flow_run, 7)
        was_pending = future._pending and future.state is None
        return was_pending, await future.result()

    assert await f() == (True, 7)


async def test_a_task_run_cancelled_in_the_pump_never_runs() -> None:
    ran.clear()

    @flow
    async def f() -> tuple[bool, bool, str]:
        flow_run = current_flow_run.get()
        assert flow_run is not None
        future = _pending(flow_run, 1)
        cancelled = future.cancel()
        again = future.cancel()
        state = await future.wait()
        return cancelled, again, state.type.value

    assert await f() == (True, False, "CANCELLED")
    assert ran == []


async def test_as_completed_includes_task_runs_still_in_the_pump() -> None:
    @flow
    async def f() -> list[int]:
        flow_run = current_flow_run.get()
        assert flow_run is not None
        futures = [_pending(flow_run, i) for i in range(3)]
        futures[1].cancel()
        seen = []
        async for future in as_completed(futures):
            state = future.state
            assert state is not None
            seen.append(-1 if state.is_cancelled() else await future.result())
        return sorted(seen)

    assert await f() == [-1, 0, 2]


async def test_a_closed_pump_refuses_task_runs() -> None:
    @flow
    async def f() -> None:
        flow_run = current_flow_run.get()
        assert flow_run is not None and flow_run.pump is not None
        flow_run.pump.close()
        with pytest.raises(RuntimeError, match="has ended"):
            _pending(flow_run, 0)

    await f()


def test_with_max_pending_the_body_keeps_its_backpressure() -> None:
    @flow(task_runner=ConcurrentTaskRunner(max_workers=1, max_pending=1))
    def f() -> tuple[bool, int]:
        flow_run = current_flow_run.get()
        assert flow_run is not None
        return flow_run.pump is None, sum(future.result() for future in record.map(range(5)))

    assert f() == (True, 10)
