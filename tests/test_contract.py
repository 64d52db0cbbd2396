"""The runner contract (DESIGN.md, "The runner contract"), one suite on every runner.

Each test runs on every runner of `contract_runners.RUNNER_KINDS`, or is skipped there with
the capability it needs named in the skip reason (``@pytest.mark.needs``). Calls are
module-level functions from `contract_calls`, so the same test body runs on the event loop, in
threads, in worker processes and on Dask. A call observed "while running" is held at a `Gate`
(a loopback rendezvous): no sleeps. Tests about time run on
``trio.testing.MockClock(autojump_threshold=0)`` on the runners that support it.
"""

from __future__ import annotations

import functools
import math
import pickle
import sys
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from contract_calls import (
    BoomError,
    CustomBaseError,
    add,
    agen_function,
    async_add,
    async_fail,
    async_raise_interrupt,
    async_raise_stray_cancelled,
    async_return_state,
    fail,
    open_gate,
    raise_base_exception,
    raise_base_exception_group,
    raise_interrupt,
    raise_stray_cancelled,
    return_state,
    returns_awaitable,
    touch,
    wait_state,
)
from contract_runners import RUNNER_KINDS, RunnerKind

from trio_runners import BaseTaskRunner, CancelledRun, Failed, State, StateType

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

needs = pytest.mark.needs


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(params=RUNNER_KINDS, ids=[kind.id for kind in RUNNER_KINDS])
def kind(request: pytest.FixtureRequest) -> RunnerKind:
    """The runner configuration under test; skips the test if it lacks a needed capability."""
    runner_kind: RunnerKind = request.param
    for marker in request.node.iter_markers("needs"):
        wanted = {**dict.fromkeys(marker.args, True), **marker.kwargs}
        for capability, value in wanted.items():
            reason = runner_kind.missing(capability, value)
            if reason is not None:
                pytest.skip(reason)
    return runner_kind


@pytest.fixture
def runner(kind: RunnerKind, request: pytest.FixtureRequest) -> BaseTaskRunner:
    """A fresh, unstarted runner of ``kind`` (overrides conftest's loop-runner fixture)."""
    address = None
    if kind.needs_dask_cluster:
        address = request.getfixturevalue("dask_threads_cluster").scheduler_address
    return kind.make(address)


@pytest.fixture
def clock(kind: RunnerKind) -> trio.testing.MockClock | None:
    """The run's clock: a MockClock(autojump_threshold=0) where the runner supports it."""
    return trio.testing.MockClock(autojump_threshold=0) if kind.mock_clock else None


async def submit_soon(
    nursery: trio.Nursery, runner: BaseTaskRunner, key: Hashable, call: Callable[[], Any]
) -> None:
    """Submit from a task of its own (a sequential runner's submit runs the call to completion,
    and backpressure may hold a submit); returns once ``key`` is registered."""

    async def submitter(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await runner.submit(key, call)

    await nursery.start(submitter)
    runner.state(key)  # KeyError if the submit did not register the key


def sleeps(seconds: float, value: Any = None) -> Callable[[], Any]:
    """An async call that sleeps on the run's clock (runners with ``calls_in_process``)."""

    async def call() -> Any:
        await trio.sleep(seconds)
        return value

    return call


SYNC_OR_ASYNC = pytest.mark.parametrize(
    "is_async",
    [
        pytest.param(False, id="sync", marks=needs("sync_calls")),
        pytest.param(True, id="async", marks=needs("async_calls")),
    ],
)


# ---------------------------------------------------------------------- start()


async def test_start_yields_the_started_runner(runner: BaseTaskRunner) -> None:
    assert not runner.started
    async with runner.start() as started:
        assert started is runner
        assert runner.started
    assert not runner.started


async def test_starting_a_started_runner_raises_runtime_error(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(RuntimeError, match="already started"):
            async with runner.start():
                pass  # pragma: no cover
        await runner.submit("still-works", functools.partial(add, 1, 2))
        assert (await wait_state(runner, "still-works")).result() == 3
    assert not runner.started


async def test_runner_restarts_with_a_fresh_run(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
    assert (await wait_state(runner, "k")).result() == 2  # readable until the next start
    async with runner.start():
        with pytest.raises(KeyError):
            runner.state("k")
        await runner.submit("k", functools.partial(add, 2, 3))  # the key is free again
    assert (await wait_state(runner, "k")).result() == 5


async def test_leaving_the_block_waits_for_in_flight_calls(runner: BaseTaskRunner) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery:

        async def release_when_arrived() -> None:
            await (await gate.arrival()).release()

        nursery.start_soon(release_when_arrived)
        async with trio.open_nursery() as submitters, runner.start():
            await submit_soon(submitters, runner, "k", gate.call("done"))
            assert runner.state("k") is None
        assert (await wait_state(runner, "k")).result() == "done"
        assert runner.state("k") is not None


@needs("calls_in_process")
async def test_calls_may_submit_more_calls_while_the_block_drains(
    runner: BaseTaskRunner,
) -> None:
    async def parent() -> None:
        await trio.lowlevel.checkpoint()
        await runner.submit("child", functools.partial(add, 2, 2))

    async with runner.start():
        await runner.submit("parent", parent)
    assert (await wait_state(runner, "child")).result() == 4


async def test_exception_in_block_cancels_unfinished_calls_and_propagates(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate:
        with pytest.RaisesGroup(BoomError, flatten_subgroups=True):
            async with trio.open_nursery() as nursery, runner.start():
                await submit_soon(nursery, runner, "running", gate.call("r"))
                await submit_soon(nursery, runner, "other", gate.call("o", is_async=True))
                await gate.arrival()
                raise BoomError("in the block")
        for key in ("running", "other"):
            state = runner.state(key)
            assert state is not None and state.is_cancelled(), (key, state)
    assert not runner.started


async def test_enclosing_cancel_cancels_every_unfinished_call_and_is_not_swallowed(
    runner: BaseTaskRunner,
) -> None:
    keys = ("sync", "async", "third")
    async with open_gate() as gate:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery, runner.start():
                for key in keys:
                    await submit_soon(nursery, runner, key, gate.call(key, is_async=key == "async"))
                await gate.arrival()
                scope.cancel()
                await trio.sleep_forever()
        assert scope.cancelled_caught
        for key in keys:
            state = runner.state(key)
            assert state is not None and state.is_cancelled(), (key, state)
    assert not runner.started


# ---------------------------------------------------------------------- submit()


async def test_submit_before_start_raises_runtime_error(runner: BaseTaskRunner) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        await runner.submit("k", functools.partial(add, 1, 1))


async def test_submit_after_exit_raises_runtime_error(runner: BaseTaskRunner) -> None:
    async with runner.start():
        pass
    with pytest.raises(RuntimeError):
        await runner.submit("k", functools.partial(add, 1, 1))
    with pytest.raises(KeyError):
        runner.state("k")


async def test_submit_after_exit_says_the_runner_has_exited(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        pass
    with pytest.raises(RuntimeError, match="has exited"):
        await runner.submit("k", functools.partial(add, 1, 1))


async def test_duplicate_key_raises_value_error_and_disturbs_nothing(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 0))
        with pytest.raises(ValueError, match="already submitted"):
            await runner.submit("k", functools.partial(add, 2, 0))
        assert (await wait_state(runner, "k")).result() == 1
    assert runner.statistics().finished == 1


async def test_non_callable_raises_type_error_and_leaves_no_trace(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(TypeError, match="callable") as info:
            await runner.submit("k", 42)  # type: ignore[arg-type]
        assert "'k'" in str(info.value)  # names the key
        with pytest.raises(KeyError):
            runner.state("k")
        await runner.submit("k", functools.partial(add, 1, 1))
        assert (await wait_state(runner, "k")).result() == 2


async def test_unhashable_key_raises_type_error(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(TypeError, match="unhashable"):
            await runner.submit(["not", "hashable"], functools.partial(add, 1, 1))  # type: ignore[arg-type]
        assert runner.statistics().queued == 0


async def test_unhashable_key_type_error_names_the_key(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(TypeError, match=r"\['not', 'hashable'\]"):
            await runner.submit(["not", "hashable"], functools.partial(add, 1, 1))  # type: ignore[arg-type]


async def test_async_generator_function_is_refused_with_type_error_naming_the_key(
    runner: BaseTaskRunner, kind: RunnerKind, request: pytest.FixtureRequest
) -> None:
    async with runner.start():
        with pytest.raises(TypeError, match="agen-key"):
            await runner.submit("agen-key", agen_function)
        with pytest.raises(KeyError):
            runner.state("agen-key")


async def test_a_cancelled_submitter_ends_the_call_cancelled_and_propagates(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        with trio.CancelScope() as scope:
            scope.cancel()
            await runner.submit("k", functools.partial(add, 1, 1))
        assert scope.cancelled_caught
        state = runner.state("k")
        assert state is not None and state.is_cancelled()
        await runner.submit("after", functools.partial(add, 2, 2))  # the run goes on
        assert (await wait_state(runner, "after")).result() == 4


@needs(sequential=True)
async def test_a_sequential_submitter_cancelled_while_its_call_runs_cancels_the_call(
    runner: BaseTaskRunner,
) -> None:
    scope = trio.CancelScope()

    async def submitter() -> None:
        with scope:
            await runner.submit("k", gate.call("v", is_async=True))

    async with open_gate() as gate, runner.start():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(submitter)
            arrival = await gate.arrival()
            scope.cancel()
        assert scope.cancelled_caught
        await arrival.left()
        state = runner.state("k")
        assert state is not None and state.is_cancelled()


@needs("calls_in_process")
@SYNC_OR_ASYNC
async def test_a_call_may_submit_to_its_own_runner_and_wait(
    runner: BaseTaskRunner, is_async: bool
) -> None:
    # Sequential runs the child inline; a runner with worker slots lends the parent's slot
    # (and thread token) while it waits, so this cannot deadlock even with one worker.
    async def async_parent() -> int:
        await runner.submit("child", functools.partial(async_add, 20, 22))
        state = await runner.wait("child")
        assert state is not None
        return int(state.result())

    def sync_parent() -> int:
        trio.from_thread.run(runner.submit, "child", functools.partial(add, 20, 22))
        state = trio.from_thread.run(runner.wait, "child")
        assert state is not None
        return int(state.result())

    async with runner.start():
        await runner.submit("parent", async_parent if is_async else sync_parent)
        state = await wait_state(runner, "parent")
    assert state.result() == 42


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(functools.partial(add, 1, 2), id="sync", marks=needs("sync_calls")),
        pytest.param(functools.partial(async_add, 1, 2), id="async", marks=needs("async_calls")),
        pytest.param(
            functools.partial(returns_awaitable, 1, 2),
            id="sync-returning-awaitable",
            marks=needs("sync_calls"),
        ),
    ],
)
async def test_a_returned_value_is_completed(
    runner: BaseTaskRunner, call: Callable[[], Any]
) -> None:
    async with runner.start():
        await runner.submit("k", call)
        state = await wait_state(runner, "k")
    assert state.type is StateType.COMPLETED
    assert state.result() == 3


@needs("pickles_calls")
async def test_unpicklable_call_is_refused_at_submit(runner: BaseTaskRunner) -> None:
    lock = threading.Lock()
    async with runner.start():
        with pytest.raises(TypeError, match="cannot be pickled"):
            await runner.submit("k", functools.partial(print, lock))
        with pytest.raises(KeyError):
            runner.state("k")


@needs(sequential=True)
async def test_sequential_submit_runs_the_call_to_completion(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(async_add, 2, 3))
        state = runner.state("k")
        assert state is not None and state.result() == 5


@needs(sequential=False)
async def test_submit_returns_before_the_call_finishes(runner: BaseTaskRunner) -> None:
    async with open_gate() as gate, runner.start():
        await runner.submit("k", gate.call("v"))
        assert runner.state("k") is None
        arrival = await gate.arrival()
        assert runner.state("k") is None
        await arrival.release()
        assert (await wait_state(runner, "k")).result() == "v"


async def test_sync_calls_do_not_block_the_event_loop(runner: BaseTaskRunner) -> None:
    # The gated sync call blocks in its socket until released; the test's own task, on the
    # event loop, can only accept its connection and release it if the loop is free.
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "blocking", gate.call("done"))
        await (await gate.arrival()).release()
    assert (await wait_state(runner, "blocking")).result() == "done"


async def test_public_async_methods_checkpoint(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with trio.testing.assert_checkpoints():
            await runner.submit("k", functools.partial(add, 1, 1))
        await wait_state(runner, "k")
        with trio.testing.assert_checkpoints():
            await runner.wait("k")  # fast path: already finished
        with trio.testing.assert_checkpoints():
            await runner.wait("k", timeout=0)
        stream = runner.as_completed(["k"])
        with trio.testing.assert_checkpoints():
            await stream.__anext__()
        with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        with trio.testing.assert_checkpoints():
            await stream.aclose()


# ---------------------------------------------------------------------- wait()


async def test_wait_returns_the_final_state(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 3, 4))
        state = await runner.wait("k")
    assert state is not None and state.is_completed() and state.result() == 7
    assert state is runner.state("k")


async def test_wait_timeout_returns_none_and_never_disturbs_the_call(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call("v"))
        arrival = await gate.arrival()
        assert await runner.wait("k", timeout=0) is None
        for _ in range(3):
            assert await runner.wait("k", timeout=0.01) is None
        assert runner.state("k") is None
        assert runner.statistics().waiters == 0
        await arrival.release()
        state = await wait_state(runner, "k")
        assert state.result() == "v"
        assert await runner.wait("k", timeout=0) is state


@needs("mock_clock")
async def test_wait_timeout_is_exact_and_timeout_zero_polls(
    runner: BaseTaskRunner, clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", sleeps(2, "v"))
        assert await runner.wait("k", timeout=0) is None
        assert trio.current_time() == 0
        assert await runner.wait("k", timeout=1.5) is None
        assert trio.current_time() == 1.5
        state = await runner.wait("k", timeout=1)
        assert trio.current_time() == 2
        assert state is not None and state.result() == "v"


@pytest.mark.parametrize("timeout", [-1, -0.5, math.nan])
async def test_wait_rejects_a_negative_or_nan_timeout(
    runner: BaseTaskRunner, timeout: float
) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
        with pytest.raises(ValueError, match="timeout"):
            await runner.wait("k", timeout=timeout)


async def test_wait_rejects_a_timeout_that_is_not_a_number(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
        with pytest.raises(TypeError, match="timeout"):
            await runner.wait("k", timeout="1")  # type: ignore[arg-type]


async def test_wait_unknown_key_raises_key_error(runner: BaseTaskRunner) -> None:
    with pytest.raises(KeyError, match="unknown key"):
        await runner.wait("never")
    async with runner.start():
        with pytest.raises(KeyError, match="unknown key"):
            await runner.wait("never")


@SYNC_OR_ASYNC
async def test_the_calls_exception_is_a_failed_state_and_never_escapes_wait(
    runner: BaseTaskRunner, is_async: bool
) -> None:
    call = functools.partial(async_fail if is_async else fail, "no")
    async with runner.start():
        await runner.submit("k", call)
        state = await runner.wait("k")
    assert state is not None and state.type is StateType.FAILED
    with pytest.raises(BoomError, match="no"):
        state.result()


async def test_every_waiter_gets_the_same_state(runner: BaseTaskRunner) -> None:
    got: list[State[Any] | None] = []

    async def waiter() -> None:
        got.append(await runner.wait("k"))

    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call(1))
        arrival = await gate.arrival()
        async with trio.open_nursery() as waiters:
            for _ in range(5):
                waiters.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert runner.statistics().waiters == 5
            await arrival.release()
    assert len(got) == 5
    assert got[0] is not None and got[0].result() == 1
    assert all(state is got[0] for state in got)
    assert got[0] is runner.state("k")


async def test_cancelled_waiter_propagates_and_leaves_the_call_alone(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call("v"))
        arrival = await gate.arrival()
        with trio.CancelScope() as scope:
            scope.cancel()
            await runner.wait("k")
            pytest.fail("wait returned in a cancelled scope")  # pragma: no cover
        assert scope.cancelled_caught
        assert runner.state("k") is None
        assert runner.statistics().waiters == 0
        await arrival.release()
        assert (await wait_state(runner, "k")).result() == "v"


# ---------------------------------------------------------------------- cancel()


@SYNC_OR_ASYNC
async def test_cancel_running_call_is_cancelled_at_once_and_disturbs_nothing_else(
    runner: BaseTaskRunner, is_async: bool
) -> None:
    woken: list[State[Any] | None] = []

    async def waiter() -> None:
        woken.append(await runner.wait("k"))

    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call("v", is_async=is_async))
        arrival = await gate.arrival()
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.cancel("k") is True
        state = runner.state("k")
        assert state is not None and state.is_cancelled()  # decided at once
        with pytest.raises(CancelledRun):
            state.result()
        assert runner.cancel("k") is False  # already finished
        # An async sibling: an abandoned sync call keeps its thread token until its thread
        # really ends (documented), which with one worker would hold a sync sibling back.
        await submit_soon(nursery, runner, "sibling", functools.partial(async_add, 2, 2))
        assert (await wait_state(runner, "sibling")).result() == 4
        await arrival.release()  # a call that is not interrupted (thread, Dask) may go now
    assert woken == [state]
    assert runner.state("k") is state


@needs("interrupts_running_calls")
async def test_cancel_interrupts_a_running_async_call(runner: BaseTaskRunner) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call("v", is_async=True))
        arrival = await gate.arrival()
        runner.cancel("k")
        await arrival.left()  # the call's code stopped: its connection closed unreleased
    state = runner.state("k")
    assert state is not None and state.is_cancelled()


@needs("sync_calls_in_threads")
async def test_a_cancelled_sync_call_is_abandoned_and_can_cooperate(
    runner: BaseTaskRunner,
) -> None:
    entered = threading.Event()
    noticed = threading.Event()

    def cooperative() -> None:
        entered.set()
        while True:
            try:
                trio.from_thread.check_cancelled()
            except trio.Cancelled:
                noticed.set()
                raise
            time.sleep(0.001)  # one step of a long computation (not synchronisation)

    async with trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "sync", cooperative)
        await trio.to_thread.run_sync(entered.wait)
        assert runner.cancel("sync")
        state = runner.state("sync")
        assert state is not None and state.is_cancelled()  # decided at once
        await trio.to_thread.run_sync(noticed.wait)


@needs("queues_calls")
async def test_cancel_queued_call_never_starts(
    runner: BaseTaskRunner, kind: RunnerKind, tmp_path: Path
) -> None:
    trace = tmp_path / "queued-call-ran"
    busy = 1 if kind.sequential else kind.max_workers
    assert busy is not None
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        for i in range(busy):
            await submit_soon(nursery, runner, f"busy-{i}", gate.call(i))
        arrivals = [await gate.arrival() for _ in range(busy)]
        await submit_soon(nursery, runner, "queued", functools.partial(touch, str(trace)))
        await trio.testing.wait_all_tasks_blocked()
        assert runner.statistics().queued == 1
        assert runner.cancel("queued") is True
        state = runner.state("queued")
        assert state is not None and state.is_cancelled()
        assert runner.statistics().queued == 0
        for arrival in arrivals:
            await arrival.release()
    assert [runner.state(f"busy-{i}").result() for i in range(busy)] == list(range(busy))  # type: ignore[union-attr]
    assert not trace.exists()


@needs("queues_calls")
async def test_admission_is_fifo_and_never_more_than_max_workers_run(
    runner: BaseTaskRunner, kind: RunnerKind
) -> None:
    workers = 1 if kind.sequential else kind.max_workers
    assert workers is not None
    total = workers + 2
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        for i in range(total):
            await submit_soon(nursery, runner, i, gate.call(i, is_async=i % 2 == 1))
        running = [await gate.arrival() for _ in range(workers)]
        assert sorted(arrival.value for arrival in running) == [str(i) for i in range(workers)]
        await trio.testing.wait_all_tasks_blocked()
        stats = runner.statistics()
        assert (stats.running, stats.queued) == (workers, 2)
        for expected in range(workers, total):  # each release admits the next, in order
            await running.pop(0).release()
            running.append(await gate.arrival())
            assert running[-1].value == str(expected)
        for arrival in running:
            await arrival.release()
    assert [runner.state(i).result() for i in range(total)] == list(range(total))  # type: ignore[union-attr]


@needs("max_pending")
async def test_submit_waits_while_max_pending_calls_await_admission(
    runner: BaseTaskRunner, kind: RunnerKind
) -> None:
    assert kind.max_workers is not None and kind.max_pending is not None
    submitted: list[str] = []

    async def submit_and_note(key: str) -> None:
        await runner.submit(key, functools.partial(async_add, 1, 1))
        submitted.append(key)

    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        for i in range(kind.max_workers):
            await submit_soon(nursery, runner, f"busy-{i}", gate.call(i, is_async=True))
        arrivals = [await gate.arrival() for _ in range(kind.max_workers)]
        for i in range(kind.max_pending):
            await runner.submit(f"pending-{i}", functools.partial(async_add, i, 0))
        nursery.start_soon(submit_and_note, "over")
        await trio.testing.wait_all_tasks_blocked()
        assert submitted == []  # held by backpressure
        await arrivals[0].release()  # a slot frees, a pending call is admitted, room opens
        await wait_state(runner, "busy-0")
        await trio.testing.wait_all_tasks_blocked()
        assert submitted == ["over"]
        for arrival in arrivals[1:]:
            await arrival.release()
    assert (await wait_state(runner, "over")).result() == 2


@needs("max_pending")
async def test_cancelled_queued_calls_give_their_pending_room_back(
    runner: BaseTaskRunner, kind: RunnerKind, tmp_path: Path
) -> None:
    assert kind.max_workers is not None and kind.max_pending is not None
    submitted: list[str] = []

    async def submit_and_note(key: str) -> None:
        await runner.submit(key, functools.partial(add, 1, 1))
        submitted.append(key)

    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        for i in range(kind.max_workers):
            await submit_soon(nursery, runner, f"busy-{i}", gate.call(i, is_async=True))
        arrivals = [await gate.arrival() for _ in range(kind.max_workers)]
        pending = [f"pending-{i}" for i in range(kind.max_pending)]
        for key in pending:
            await runner.submit(key, functools.partial(touch, str(tmp_path / key)))
        for key in pending:
            runner.cancel(key)
        assert runner.statistics().queued == 0
        nursery.start_soon(submit_and_note, "next")
        await trio.testing.wait_all_tasks_blocked()
        assert submitted == ["next"], "submit is held by the room of cancelled calls"
        for arrival in arrivals:
            await arrival.release()
    assert not any((tmp_path / key).exists() for key in pending)


async def test_cancel_finished_call_returns_false_and_keeps_its_state(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
        state = await wait_state(runner, "k")
        assert runner.cancel("k") is False
        assert runner.state("k") is state
    assert runner.statistics().cancelled == 0


async def test_cancel_unknown_key_raises_key_error(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(KeyError, match="unknown key"):
            runner.cancel("never")


async def test_cancel_all_cancels_every_unfinished_call_and_the_runner_goes_on(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await runner.submit("done", functools.partial(add, 1, 1))
        await wait_state(runner, "done")
        for key in ("a", "b"):
            await submit_soon(nursery, runner, key, gate.call(key, is_async=key == "b"))
        await gate.arrival()
        assert runner.cancel_all() == 2
        assert runner.cancel_all() == 0
        await submit_soon(nursery, runner, "after", functools.partial(async_add, 2, 2))
        assert (await wait_state(runner, "after")).result() == 4
    assert runner.state("done").is_completed()  # type: ignore[union-attr]
    assert runner.state("a").is_cancelled()  # type: ignore[union-attr]
    assert runner.state("b").is_cancelled()  # type: ignore[union-attr]


# ---------------------------------------------------------------------- as_completed()


async def test_as_completed_yields_finished_calls_first_then_as_they_finish(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await runner.submit("done", functools.partial(add, 1, 1))
        await wait_state(runner, "done")
        await submit_soon(nursery, runner, "slow", gate.call("s"))
        arrival = await gate.arrival()
        seen: list[tuple[Hashable, Any]] = []
        async with runner.as_completed(["slow", "done"]) as stream:
            key, state = await stream.__anext__()
            seen.append((key, state.result()))
            await arrival.release()
            async for key, state in stream:
                seen.append((key, state.result()))
    assert seen == [("done", 2), ("slow", "s")]


@needs("runs_two_at_once")
async def test_as_completed_follows_the_finishing_order_not_the_submission_order(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate, runner.start():
        await runner.submit("first", gate.call("a"))
        first = await gate.arrival()
        await runner.submit("second", gate.call("b", is_async=True))
        second = await gate.arrival()
        seen: list[tuple[Hashable, Any]] = []
        async with runner.as_completed(["first", "second"]) as stream:
            await second.release()
            key, state = await stream.__anext__()
            seen.append((key, state.result()))
            await first.release()
            async for key, state in stream:
                seen.append((key, state.result()))
    assert seen == [("second", "b"), ("first", "a")]


async def test_as_completed_reports_duplicate_keys_once(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 0))
        await runner.submit("j", functools.partial(add, 2, 0))
        seen = [(key, state.result()) async for key, state in runner.as_completed(["k", "j", "k"])]
    assert sorted(seen) == [("j", 2), ("k", 1)]


async def test_as_completed_rejects_unknown_keys_at_once(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
        with pytest.raises(KeyError, match="unknown"):
            runner.as_completed(["k", "unknown"])


async def test_as_completed_aclose_stops_listening_and_leaves_the_calls_alone(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await runner.submit("done", functools.partial(add, 1, 1))
        await submit_soon(nursery, runner, "slow", gate.call("s"))
        arrival = await gate.arrival()
        async with runner.as_completed(["done", "slow"]) as stream:
            async for key, _ in stream:
                assert key == "done"
                break
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        assert runner.state("slow") is None
        await arrival.release()
        assert (await wait_state(runner, "slow")).result() == "s"


async def test_a_cancelled_as_completed_step_loses_nothing(runner: BaseTaskRunner) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call("v"))
        arrival = await gate.arrival()
        stream = runner.as_completed(["k"])
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.__anext__()
        assert scope.cancelled_caught
        assert runner.state("k") is None  # the consumer's cancel never reaches the call
        await arrival.release()
        with trio.fail_after(60):
            key, state = await stream.__anext__()
        assert (key, state.result()) == ("k", "v")
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()


# ---------------------------------------------------------------------- release(), state()


async def test_release_forgets_a_finished_state_and_frees_the_key(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
        await wait_state(runner, "k")
        assert runner.statistics().retained == 1
        runner.release("k")
        assert runner.statistics().retained == 0
        with pytest.raises(KeyError):
            runner.state("k")
        with pytest.raises(KeyError):
            await runner.wait("k")
        await runner.submit("k", functools.partial(add, 2, 2))
        assert (await wait_state(runner, "k")).result() == 4


async def test_release_of_an_unfinished_call_raises_runtime_error(
    runner: BaseTaskRunner,
) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call("v"))
        arrival = await gate.arrival()
        with pytest.raises(RuntimeError, match="not finished"):
            runner.release("k")
        with pytest.raises(KeyError, match="unknown key"):
            runner.release("unknown")
        await arrival.release()
        assert (await wait_state(runner, "k")).result() == "v"  # undisturbed


async def test_state_is_none_until_finished_and_kept_after_exit_until_next_start(
    runner: BaseTaskRunner,
) -> None:
    with pytest.raises(KeyError):
        runner.state("k")
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        await submit_soon(nursery, runner, "k", gate.call("v"))
        arrival = await gate.arrival()
        assert runner.state("k") is None
        with pytest.raises(KeyError, match="unknown key"):
            runner.state("unknown")
        await arrival.release()
        state = await wait_state(runner, "k")
        assert runner.state("k") is state
    assert runner.state("k") is state
    assert await runner.wait("k", timeout=0) is state


async def test_statistics_count_running_waiting_and_each_state(runner: BaseTaskRunner) -> None:
    async with open_gate() as gate, trio.open_nursery() as nursery, runner.start():
        assert runner.statistics().finished == 0
        await runner.submit("ok", functools.partial(add, 1, 1))
        await runner.submit("bad", functools.partial(fail, "x"))
        await wait_state(runner, "ok")
        await wait_state(runner, "bad")
        await submit_soon(nursery, runner, "held", gate.call("h"))
        await gate.arrival()
        nursery.start_soon(runner.wait, "held")
        await trio.testing.wait_all_tasks_blocked()
        stats = runner.statistics()
        assert (stats.running, stats.queued, stats.waiters) == (1, 0, 1)
        runner.cancel("held")
        await trio.testing.wait_all_tasks_blocked()
        stats = runner.statistics()
        assert (stats.completed, stats.failed, stats.cancelled, stats.crashed) == (1, 1, 1, 0)
        assert (stats.retained, stats.finished, stats.waiters) == (3, 3, 0)
    stats = runner.statistics()
    assert (stats.queued, stats.running, stats.retained) == (0, 0, 3)


# ---------------------------------------------------------------------- identity, options


async def test_duplicate_equality_hash_and_pickling_use_options_only(
    runner: BaseTaskRunner,
) -> None:
    twin = runner.duplicate()
    assert twin == runner and twin is not runner
    assert type(twin) is type(runner)
    assert hash(twin) == hash(runner)
    assert not twin.started
    copy = pickle.loads(pickle.dumps(runner))
    assert copy == runner and not copy.started
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
        started_copy = pickle.loads(pickle.dumps(runner))  # while started
        assert started_copy == runner and hash(started_copy) == hash(runner)
        assert not started_copy.started
        with pytest.raises(KeyError):
            started_copy.state("k")
        assert runner == twin  # runtime state never enters equality
        assert not twin.started
    async with started_copy.start():
        await started_copy.submit("k", functools.partial(add, 2, 2))
        assert (await wait_state(started_copy, "k")).result() == 4


@needs("has_options")
def test_runners_with_other_options_are_unequal(runner: BaseTaskRunner, kind: RunnerKind) -> None:
    assert kind.other_options is not None
    other = type(runner)(**kind.other_options)
    assert other != runner
    assert other == type(runner)(**kind.other_options)


def test_name_and_concurrency_type(runner: BaseTaskRunner, kind: RunnerKind) -> None:
    assert runner.name == kind.name
    assert runner.concurrency_type is kind.concurrency_type


# ---------------------------------------------------------------------- how a call ends


@SYNC_OR_ASYNC
async def test_a_call_returning_a_state_keeps_it(runner: BaseTaskRunner, is_async: bool) -> None:
    call = functools.partial(async_return_state if is_async else return_state, "kept")
    async with runner.start():
        await runner.submit("k", call)
        state = await wait_state(runner, "k")
    assert state.type is StateType.FAILED
    assert state.message == "kept"
    assert isinstance(state.exception(), BoomError)
    assert runner.statistics().failed == 1


@needs("calls_in_process")
async def test_a_call_returning_a_state_keeps_that_very_object(runner: BaseTaskRunner) -> None:
    kept = Failed(BoomError("from the call"))
    async with runner.start():
        await runner.submit("sync", lambda: kept)
        await runner.submit("async", functools.partial(_return, kept))
    assert runner.state("sync") is kept
    assert runner.state("async") is kept


async def _return(value: Any) -> Any:
    await trio.lowlevel.checkpoint()
    return value


INTERRUPTS = pytest.mark.parametrize(
    ("interrupt", "expected"),
    [
        ("KeyboardInterrupt", KeyboardInterrupt),
        ("SystemExit", SystemExit),
        pytest.param("group", BaseExceptionGroup, id="BaseExceptionGroup-of-KeyboardInterrupt"),
    ],
)


@needs("base_exceptions_propagate")
@SYNC_OR_ASYNC
@INTERRUPTS
async def test_an_interrupt_from_a_call_is_crashed_and_propagates_out_of_start(
    runner: BaseTaskRunner, is_async: bool, interrupt: str, expected: type[BaseException]
) -> None:
    go = trio.Event()
    woken: list[State[Any] | None] = []

    async def async_interrupt() -> None:
        await go.wait()
        raise_interrupt(interrupt)

    def sync_interrupt() -> None:
        trio.from_thread.run(go.wait)
        raise_interrupt(interrupt)

    async def waiter() -> None:
        woken.append(await runner.wait("ki"))

    propagated = KeyboardInterrupt if interrupt == "group" else expected
    with pytest.RaisesGroup(propagated, flatten_subgroups=True):
        async with runner.start(), trio.open_nursery() as nursery:
            call = async_interrupt if is_async else sync_interrupt
            await submit_soon(nursery, runner, "ki", call)
            await submit_soon(nursery, runner, "sibling", trio.sleep_forever)
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            go.set()
            await trio.sleep_forever()
    state = runner.state("ki")
    assert state is not None and state.type is StateType.CRASHED
    assert isinstance(state.exception(), expected)
    assert woken == [state]
    sibling = runner.state("sibling")
    assert sibling is not None and sibling.is_cancelled()


@needs(base_exceptions_propagate=False)
@SYNC_OR_ASYNC
@INTERRUPTS
async def test_an_interrupt_raised_in_a_worker_is_crashed_and_the_run_goes_on(
    runner: BaseTaskRunner,
    kind: RunnerKind,
    is_async: bool,
    interrupt: str,
    expected: type[BaseException],
    request: pytest.FixtureRequest,
) -> None:
    raiser = async_raise_interrupt if is_async else raise_interrupt
    after_the_waits = False
    async with runner.start():
        await runner.submit("ki", functools.partial(raiser, interrupt))
        await runner.submit("sibling", functools.partial(add, 1, 1))
        state = await wait_state(runner, "ki")
        assert (await wait_state(runner, "sibling")).result() == 2
        after_the_waits = True
    assert after_the_waits
    assert state.type is StateType.CRASHED
    assert isinstance(state.exception(), expected)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(raise_base_exception_group, BaseExceptionGroup, id="BaseExceptionGroup"),
        pytest.param(
            functools.partial(raise_base_exception, CustomBaseError),
            CustomBaseError,
            id="custom-BaseException",
        ),
        pytest.param(
            functools.partial(raise_base_exception, GeneratorExit),
            GeneratorExit,
            id="GeneratorExit",
        ),
    ],
)
async def test_a_base_exception_that_is_not_an_interrupt_is_crashed_and_leaves_the_run_alone(
    runner: BaseTaskRunner,
    kind: RunnerKind,
    call: Callable[[], Any],
    expected: type[BaseException],
    request: pytest.FixtureRequest,
) -> None:
    after_the_waits = False
    async with runner.start():
        await runner.submit("bad", call)
        await runner.submit("sibling", functools.partial(add, 1, 1))
        state = await wait_state(runner, "bad")
        assert (await wait_state(runner, "sibling")).result() == 2
        after_the_waits = True
    assert after_the_waits
    assert state.type is StateType.CRASHED
    assert isinstance(state.exception(), expected)


@SYNC_OR_ASYNC
async def test_a_stray_cancelled_from_a_call_is_crashed_never_bare_and_leaves_the_run_alone(
    runner: BaseTaskRunner, kind: RunnerKind, is_async: bool, request: pytest.FixtureRequest
) -> None:
    # A trio.Cancelled that the call raised itself, with no scope of ours nor an enclosing
    # one cancelled: the call's own defect. Stored bare, result() would raise a Cancelled in
    # the reader's task that no scope of the reader's caused.
    after_the_waits = False
    async with runner.start():
        stray = async_raise_stray_cancelled if is_async else raise_stray_cancelled
        await runner.submit("bad", stray)
        await runner.submit("sibling", functools.partial(add, 1, 1))
        state = await wait_state(runner, "bad")
        assert (await wait_state(runner, "sibling")).result() == 2
        after_the_waits = True
    assert after_the_waits
    assert state.type is StateType.CRASHED
    exc = state.exception()
    assert isinstance(exc, RuntimeError)
    assert isinstance(exc.__cause__, trio.Cancelled)
    with pytest.raises(RuntimeError):
        state.result()
