# Ported from PrefectHQ/prefect, tag 2.20.25:
#   src/prefect/testing/standard_test_suites/task_runners.py (TaskRunnerStandardTestSuite)
# Rewritten for trio-runners' API (not copied): each test keeps Prefect's name and intent.
# What differs, and why, is in docs/migrating.md, "Prefect 2's runner test suite, ported".
"""Prefect 2's standard task-runner test suite, for trio-runners.

A test module subclasses `TaskRunnerStandardTestSuite` and provides a ``task_runner`` fixture
(a fresh, unstarted runner); every test here then runs on that runner.

Synchronisation. Prefect's suite tells "ran concurrently" from "ran one after the other" with a
canary file and a sleep: ``foo`` sleeps, then writes ``foo``; ``bar`` writes ``bar`` at once;
the last word in the file says which ran last. Here nothing sleeps: ``foo`` is *held* at a gate
(a loopback TCP rendezvous, `contract_calls.open_gate`, which works from threads, worker
processes and Dask workers alike) until the test lets it go.

- "ran concurrently": ``bar`` writes, then arrives at the gate too; the test waits until both
  are held at once (impossible if they ran one after the other: the hang guard then fails the
  test), then releases them. ``foo`` writes last.
- "ran sequentially": while ``foo`` is held, the test waits until every Trio task is blocked
  and checks that ``bar`` has not written; then it releases ``foo``. ``bar`` writes last. (An
  async ``bar`` that could run would have run by then; a sync ``bar`` in a thread may still be
  on its way, so for sync tasks this check catches an overlap when the thread got there first.)
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import cloudpickle
import pytest
import trio
import trio.testing
from contract_calls import Gate, open_gate

from trio_runners import (
    BaseTaskRunner,
    Completed,
    Crashed,
    State,
    StateType,
    TaskConcurrencyType,
    TaskTimeout,
    UpstreamFailed,
    flow,
    task,
)

#: How long `wait` may take in test_submit_and_wait. Prefect waits 5 s; a busy CI machine can
#: take longer than that to start a worker process. Not a timing assertion: a hang guard.
WAIT_TIMEOUT = 30

#: Skip reasons that name a deliberate difference (docs/migrating.md, "Prefect 2's runner
#: test suite, ported").
SEQUENTIAL_FOR_ASYNC_CALLERS = (
    "deliberate difference: the sequential runner runs one call at a time for async "
    "submitters too, so submissions from a task group do not interleave (docs/migrating.md)"
)
EXCEPTION_IS_FAILED = (
    "deliberate difference: an Exception raised by a call is Failed, not Crashed; Crashed is "
    "for BaseExceptions and for the machinery failing (docs/migrating.md)"
)
LOOP_RUNNER_INTERRUPT = (
    "as in Prefect, not for this runner: a KeyboardInterrupt raised by a call on the event loop "
    "or in a thread of this process propagates out of start() (docs/migrating.md)"
)


NOT_THIS_TYPE = "This test does not apply to {} task runners."


def _only_when(
    applies: Callable[[TaskConcurrencyType], bool], reason: str = NOT_THIS_TYPE
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run a test only on runners whose concurrency type ``applies``; skip it elsewhere with
    ``reason`` (formatted with the type). Prefect skips inside the test; here the skip happens
    in a sync fixture, where pytest keeps its reason (pytest-trio loses it)."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        test._only_when = (applies, reason)  # type: ignore[attr-defined]
        return test

    return mark


# ------------------------------------------------- what tasks call (they travel with them)


def arrive(port: int, name: str) -> None:
    """From a sync task (any thread or process): tell the test's gate that ``name`` is here,
    then block until the test releases it.

    Raises:
      ConnectionError: the gate closed without releasing this call.
    """
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"{os.getpid()} {name}\n".encode())
        if not sock.recv(1):
            raise ConnectionError(f"{name}: the gate closed without releasing this call")


async def arrive_async(port: int, name: str) -> None:
    """`arrive` for an async task (on the event loop, or under a worker's own ``trio.run``).

    Raises:
      ConnectionError: the gate closed without releasing this call.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"{os.getpid()} {name}\n".encode())
        if not await stream.receive_some(1):
            raise ConnectionError(f"{name}: the gate closed without releasing this call")


# ------------------------------------------------- what the tests do while a flow runs


async def held_together(gate: Gate, *names: str) -> None:
    """Wait until every one of ``names`` is held at the gate at the same time (proof that they
    run concurrently), then release them in the order given."""
    arrivals = {}
    for _ in names:
        arrival = await gate.arrival()
        arrivals[arrival.value] = arrival
    assert sorted(arrivals) == sorted(names)
    for name in names:
        await arrivals[name].release()


async def held_alone(gate: Gate, name: str, canary: Path) -> None:
    """Wait until ``name`` is held at the gate; once every Trio task is blocked, check that
    nothing wrote the canary meanwhile (nothing else ran); then release it."""
    arrival = await gate.arrival()
    assert arrival.value == name
    await trio.testing.wait_all_tasks_blocked()
    assert await trio.Path(canary).read_text() == "", f"something ran while {name} was running"
    await arrival.release()


def exceptions_equal(a: BaseException, b: BaseException) -> bool:
    """Same type and same arguments (an exception that crossed a process is a copy)."""
    return type(a) is type(b) and a.args == b.args


class TaskRunnerStandardTestSuite(ABC):
    """The standard test suite for task runners (port of Prefect's).

    Subclass it in a test module and define a ``task_runner`` fixture returning a fresh,
    unstarted runner::

        class TestSequentialTaskRunner(TaskRunnerStandardTestSuite):
            @pytest.fixture
            def task_runner(self):
                return SequentialTaskRunner()
    """

    @pytest.fixture
    @abstractmethod
    def task_runner(self) -> BaseTaskRunner:
        """A fresh, unstarted runner."""

    @pytest.fixture(autouse=True)
    def _applies_here(self, request: pytest.FixtureRequest) -> None:
        """Skip a test that does not apply to this runner; mark one that cannot pass yet."""
        if "task_runner" not in request.fixturenames:
            return  # (a test of its own, like prefect-dask's cluster tests)
        task_runner = request.getfixturevalue("task_runner")
        only_when = getattr(request.function, "_only_when", None)
        if only_when is not None and not only_when[0](task_runner.concurrency_type):
            pytest.skip(only_when[1].format(task_runner.concurrency_type))

    @pytest.fixture
    def tmp_file(self, tmp_path: Path) -> Path:
        file_path = tmp_path / "canary.txt"
        file_path.touch()
        return file_path

    # ------------------------------------------------------------------ the runner itself

    async def test_duplicate(self, task_runner: BaseTaskRunner) -> None:
        new = task_runner.duplicate()
        assert new == task_runner
        assert new is not task_runner

    async def test_is_pickleable_after_start(self, task_runner: BaseTaskRunner) -> None:
        """The runner pickles while it runs (as Prefect attaches it to futures)."""
        async with task_runner.start():
            unpickled = cloudpickle.loads(cloudpickle.dumps(task_runner))
            assert isinstance(unpickled, type(task_runner))
            assert unpickled == task_runner

    async def test_submit_and_wait(self, task_runner: BaseTaskRunner) -> None:
        key = uuid4()

        async def fake_orchestrate_task_run(example_kwarg: int) -> State[int]:
            return Completed(example_kwarg)

        async with task_runner.start():
            await task_runner.submit(key, partial(fake_orchestrate_task_run, example_kwarg=1))
            state = await task_runner.wait(key, WAIT_TIMEOUT)
            assert state is not None, "wait timed out"
            assert isinstance(state, State), "wait should return a state"
            assert state.result() == 1

    @_only_when(lambda t: t == TaskConcurrencyType.PARALLEL, LOOP_RUNNER_INTERRUPT)
    @pytest.mark.parametrize(
        "exception",
        [
            KeyboardInterrupt(),
            pytest.param(
                ValueError("test"),
                marks=pytest.mark.xfail(strict=True, reason=EXCEPTION_IS_FAILED),
            ),
        ],
        ids=["KeyboardInterrupt", "ValueError"],
    )
    async def test_wait_captures_exceptions_as_crashed_state(
        self, task_runner: BaseTaskRunner, exception: BaseException
    ) -> None:
        key = uuid4()

        async def fake_orchestrate_task_run() -> None:
            raise exception

        async with task_runner.start():
            await task_runner.submit(key, fake_orchestrate_task_run)
            state = await task_runner.wait(key, WAIT_TIMEOUT)
        # (checked after the block, so that a failed check is not inside an exception group)
        assert state is not None, "wait timed out"
        assert isinstance(state, State), "wait should return a state"
        assert state.type == StateType.CRASHED, state
        result = state.result(raise_on_failure=False)
        assert isinstance(result, BaseException)
        assert exceptions_equal(result, exception)

    # ------------------------------------------------------------------ flows of tasks

    def test_successful_flow_run(self, task_runner: BaseTaskRunner) -> None:
        @task
        def task_a() -> str:
            return "a"

        @task
        def task_b() -> str:
            return "b"

        @task
        def task_c(b: str) -> str:
            return b + "c"

        @flow(task_runner=task_runner)
        def test_flow() -> Any:
            a = task_a()
            b = task_b()
            c = task_c(b)
            return a, b, c

        a, b, c = test_flow()
        assert (a, b, c) == ("a", "b", "bc")

    def test_failing_flow_run(self, task_runner: BaseTaskRunner) -> None:
        @task
        def task_a() -> None:
            raise RuntimeError("This task fails!")

        @task
        def task_b() -> None:
            raise ValueError("This task fails and passes data downstream!")

        @task
        def task_c(b: str) -> str:
            # Would use the upstream's data: must not run.
            return b + "c"

        futures = []

        @flow(task_runner=task_runner)
        def test_flow() -> Any:
            a = task_a.submit()
            b = task_b.submit()
            c = task_c.submit(b)
            d = task_c.submit(c)
            futures.extend([a, b, c, d])
            return a, b, c, d

        state = test_flow(return_state=True)

        assert state.is_failed()
        a, b, c, d = (future.state for future in futures)
        with pytest.raises(RuntimeError, match="This task fails!"):
            a.result()
        with pytest.raises(ValueError, match="This task fails and passes data downstream"):
            b.result()
        # Prefect: Pending, named NotReady, "Upstream task run ... did not reach a 'COMPLETED'
        # state". Here a downstream that cannot run ends Failed with UpstreamFailed.
        for downstream, upstream in [(c, futures[1]), (d, futures[2])]:
            assert downstream.is_failed()
            error = downstream.exception()
            assert isinstance(error, UpstreamFailed)
            assert error.upstream == upstream.name
            assert f"upstream task run {upstream.name!r}" in str(error)

    @_only_when(lambda t: t == TaskConcurrencyType.SEQUENTIAL)
    async def test_sync_tasks_run_sequentially_with_sequential_concurrency_type(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        async with open_gate() as gate:
            port = gate.port

            @task
            def foo() -> None:
                arrive(port, "foo")
                tmp_file.write_text("foo")

            @task
            def bar() -> None:
                tmp_file.write_text("bar")

            @flow(task_runner=task_runner)
            def test_flow() -> None:
                foo()
                bar()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, test_flow)
                await held_alone(gate, "foo", tmp_file)

        assert await trio.Path(tmp_file).read_text() == "bar"

    @_only_when(lambda t: t != TaskConcurrencyType.SEQUENTIAL)
    async def test_sync_tasks_run_concurrently_with_nonsequential_concurrency_type(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        await self._sync_foo_bar_concurrently(task_runner, tmp_file)

    @_only_when(lambda t: t == TaskConcurrencyType.SEQUENTIAL)
    async def test_async_tasks_run_sequentially_with_sequential_concurrency_type(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        await self._async_foo_bar_sequentially(task_runner, tmp_file)

    @_only_when(lambda t: t != TaskConcurrencyType.SEQUENTIAL)
    async def test_async_tasks_run_concurrently_with_nonsequential_concurrency_type(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        await self._async_foo_bar_concurrently(task_runner, tmp_file)

    @_only_when(lambda t: t != TaskConcurrencyType.SEQUENTIAL, SEQUENTIAL_FOR_ASYNC_CALLERS)
    async def test_async_tasks_run_concurrently_with_task_group_with_all_concurrency_types(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        async with open_gate() as gate:
            port = gate.port

            @task
            async def foo() -> None:
                await arrive_async(port, "foo")
                await trio.Path(tmp_file).write_text("foo")

            @task
            async def bar() -> None:
                await trio.Path(tmp_file).write_text("bar")
                await arrive_async(port, "bar")

            @flow(task_runner=task_runner)
            async def test_flow() -> None:
                async with trio.open_nursery() as tg:
                    tg.start_soon(foo.submit)
                    tg.start_soon(bar.submit)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(test_flow)
                await held_together(gate, "bar", "foo")

        assert await trio.Path(tmp_file).read_text() == "foo"

    # ------------------------------------------------------------------ subflows

    async def test_sync_subflows_run_sequentially_with_all_concurrency_types(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        async with open_gate() as gate:
            port = gate.port

            @flow
            def foo() -> None:
                arrive(port, "foo")
                tmp_file.write_text("foo")

            @flow
            def bar() -> None:
                tmp_file.write_text("bar")

            @flow(task_runner=task_runner)
            def test_flow() -> None:
                foo()
                bar()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, test_flow)
                await held_alone(gate, "foo", tmp_file)

        assert await trio.Path(tmp_file).read_text() == "bar"

    async def test_async_subflows_run_sequentially_with_all_concurrency_types(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        async with open_gate() as gate:
            port = gate.port

            @flow
            async def foo() -> None:
                await arrive_async(port, "foo")
                await trio.Path(tmp_file).write_text("foo")

            @flow
            async def bar() -> None:
                await trio.Path(tmp_file).write_text("bar")

            @flow(task_runner=task_runner)
            async def test_flow() -> None:
                await foo()
                await bar()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(test_flow)
                await held_alone(gate, "foo", tmp_file)

        assert await trio.Path(tmp_file).read_text() == "bar"

    async def test_async_subflows_run_concurrently_with_task_group_with_all_concurrency_types(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        async with open_gate() as gate:
            port = gate.port

            @flow
            async def foo() -> None:
                await arrive_async(port, "foo")
                await trio.Path(tmp_file).write_text("foo")

            @flow
            async def bar() -> None:
                await trio.Path(tmp_file).write_text("bar")
                await arrive_async(port, "bar")

            @flow(task_runner=task_runner)
            async def test_flow() -> None:
                async with trio.open_nursery() as tg:
                    tg.start_soon(foo)
                    tg.start_soon(bar)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(test_flow)
                await held_together(gate, "bar", "foo")

        assert await trio.Path(tmp_file).read_text() == "foo"

    # ------------------------------------------------------------------ timeouts

    async def test_async_task_timeout(self, task_runner: BaseTaskRunner) -> None:
        async with open_gate() as gate:  # never opened: the task runs until the gate closes
            port = gate.port

            @task(timeout_seconds=0.1)
            async def my_timeout_task() -> int:
                await arrive_async(port, "never released")
                return 42

            @task
            async def my_dependent_task(task_res: int) -> int:
                return 1764

            @task
            async def my_independent_task() -> int:
                return 74088

            futures = []

            @flow(task_runner=task_runner)
            async def test_flow() -> Any:
                a = await my_timeout_task.submit()
                b = await my_dependent_task.submit(a)
                c = await my_independent_task.submit()
                futures.extend([a, b, c])
                return a, b, c

            state = await test_flow(return_state=True)

        self._check_timeout_states(state, futures)

    async def test_sync_task_timeout(self, task_runner: BaseTaskRunner) -> None:
        async with open_gate() as gate:  # never opened: the task runs until the gate closes
            port = gate.port

            @task(timeout_seconds=0.1)
            def my_timeout_task() -> int:
                arrive(port, "never released")
                return 42

            @task
            def my_dependent_task(task_res: int) -> int:
                return 1764

            @task
            def my_independent_task() -> int:
                return 74088

            futures = []

            @flow(task_runner=task_runner)
            def test_flow() -> Any:
                a = my_timeout_task.submit()
                b = my_dependent_task.submit(a)
                c = my_independent_task.submit()
                futures.extend([a, b, c])
                return a, b, c

            state = await trio.to_thread.run_sync(partial(test_flow, return_state=True))

        self._check_timeout_states(state, futures)

    @staticmethod
    def _check_timeout_states(state: State[Any], futures: list[Any]) -> None:
        assert state.is_failed()
        ax, bx, cx = (future.state for future in futures)
        assert ax.type == StateType.FAILED
        assert isinstance(ax.exception(), TaskTimeout)
        # Prefect: Pending (the downstream never ran). Here: Failed with UpstreamFailed.
        assert bx.type == StateType.FAILED
        assert isinstance(bx.exception(), UpstreamFailed)
        assert cx.type == StateType.COMPLETED
        assert cx.result() == 74088

    # ------------------------------------------------------------------ by concurrency type

    @_only_when(lambda t: t == TaskConcurrencyType.SEQUENTIAL)
    async def test_sync_tasks_run_sequentially_with_sequential_task_runners(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        async with open_gate() as gate:
            port = gate.port

            @task
            def foo() -> None:
                arrive(port, "foo")
                tmp_file.write_text("foo")

            @task
            def bar() -> None:
                tmp_file.write_text("bar")

            @flow(task_runner=task_runner)
            def test_flow() -> None:
                foo.submit()
                bar.submit()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, test_flow)
                await held_alone(gate, "foo", tmp_file)

        assert await trio.Path(tmp_file).read_text() == "bar"

    @_only_when(lambda t: t == TaskConcurrencyType.PARALLEL)
    async def test_sync_tasks_run_concurrently_with_parallel_task_runners(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        await self._sync_foo_bar_concurrently(task_runner, tmp_file)

    @_only_when(lambda t: t == TaskConcurrencyType.SEQUENTIAL)
    async def test_async_tasks_run_sequentially_with_sequential_task_runners(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        await self._async_foo_bar_sequentially(task_runner, tmp_file)

    @_only_when(lambda t: t == TaskConcurrencyType.PARALLEL)
    async def test_async_tasks_run_concurrently_with_parallel_task_runners(
        self, task_runner: BaseTaskRunner, tmp_file: Path
    ) -> None:
        await self._async_foo_bar_concurrently(task_runner, tmp_file)

    # ------------------------------------------------------------------ Prefect-only features

    def test_allow_failure(self, task_runner: BaseTaskRunner, tmp_path: Path) -> None:
        from trio_runners import allow_failure

        log = tmp_path / "log.txt"
        log.touch()

        @task
        def failing_task() -> None:
            raise ValueError("This is expected")

        @task
        def dependent_task() -> int:
            with log.open("a") as file:
                file.write("Dependent task still runs!\n")
            return 1

        @task
        def another_dependent_task() -> int:
            with log.open("a") as file:
                file.write("Sub-dependent task still runs!\n")
            return 1

        @flow(task_runner=task_runner)
        def test_flow() -> None:
            ft = failing_task.submit()
            dt = dependent_task.submit(wait_for=[allow_failure(ft)])
            another_dependent_task.submit(wait_for=[dt])

        # Prefect raises the ValueError itself; here a failure nobody looked at fails the flow
        # run with FlowRunFailed, an exception group of those failures.
        with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="This is expected")):
            test_flow()
        # (Prefect's own test makes these checks inside the `raises` block, after the call
        # that raises, where they never run.)
        assert log.read_text().splitlines() == [
            "Dependent task still runs!",
            "Sub-dependent task still runs!",
        ]

    def test_passing_quoted_state(self, task_runner: BaseTaskRunner) -> None:
        from trio_runners import quote

        @task
        def test_task() -> Any:
            state = Crashed(RuntimeError("a State passed as data"))
            return quote(state)

        @flow(task_runner=task_runner)
        def test_flow() -> Any:
            return test_task()

        result = test_flow()
        assert isinstance(result, quote)
        assert isinstance(result.unquote(), State)
        assert result.unquote().is_crashed()

    # ------------------------------------------------------------------ shared bodies

    @staticmethod
    async def _sync_foo_bar_concurrently(task_runner: BaseTaskRunner, tmp_file: Path) -> None:
        async with open_gate() as gate:
            port = gate.port

            @task
            def foo() -> None:
                arrive(port, "foo")  # held until bar has written
                tmp_file.write_text("foo")

            @task
            def bar() -> None:
                tmp_file.write_text("bar")
                arrive(port, "bar")

            @flow(task_runner=task_runner)
            def test_flow() -> None:
                foo.submit()
                bar.submit()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, test_flow)
                await held_together(gate, "bar", "foo")

        assert await trio.Path(tmp_file).read_text() == "foo"

    @staticmethod
    async def _async_foo_bar_concurrently(task_runner: BaseTaskRunner, tmp_file: Path) -> None:
        async with open_gate() as gate:
            port = gate.port

            @task
            async def foo() -> None:
                await arrive_async(port, "foo")  # held until bar has written
                await trio.Path(tmp_file).write_text("foo")

            @task
            async def bar() -> None:
                await trio.Path(tmp_file).write_text("bar")
                await arrive_async(port, "bar")

            @flow(task_runner=task_runner)
            async def test_flow() -> None:
                await foo.submit()
                await bar.submit()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(test_flow)
                await held_together(gate, "bar", "foo")

        assert await trio.Path(tmp_file).read_text() == "foo"

    @staticmethod
    async def _async_foo_bar_sequentially(task_runner: BaseTaskRunner, tmp_file: Path) -> None:
        async with open_gate() as gate:
            port = gate.port

            @task
            async def foo() -> None:
                await arrive_async(port, "foo")
                await trio.Path(tmp_file).write_text("foo")

            @task
            async def bar() -> None:
                await trio.Path(tmp_file).write_text("bar")

            @flow(task_runner=task_runner)
            async def test_flow() -> None:
                await foo.submit()
                await bar.submit()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(test_flow)
                await held_alone(gate, "foo", tmp_file)

        assert await trio.Path(tmp_file).read_text() == "bar"


__all__ = [
    "TaskRunnerStandardTestSuite",
    "arrive",
    "arrive_async",
    "exceptions_equal",
    "held_alone",
    "held_together",
]
