# Ported from PrefectHQ/prefect, tag 2.20.25:
#   src/integrations/prefect-dask/tests/test_task_runners.py
# Rewritten for trio-runners' API (not copied): each test keeps Prefect's name and intent.
# What differs, and why: docs/migrating.md, "Prefect 2's runner test suite, ported".
"""Prefect 2's standard task-runner suite and prefect-dask's own tests, on DaskTaskRunner.

Prefect runs the suite on five Dask runners, each creating its own cluster (or reaching one it
made for the test). Here it runs on two, each shared by the whole module (a cluster per test
would cost seconds each): a threads-only `distributed.LocalCluster` in this process
(``dask_threads_cluster``, conftest.py), and a cluster of `dask scheduler` / `dask worker`
processes the test did not create, reached by ``address=`` (``scheduler_address``,
dask_fixtures.py). Starting a cluster of its own is covered by tests/test_dask.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from prefect_suite_standard import TaskRunnerStandardTestSuite

from trio_runners import BaseTaskRunner, flow, task

distributed = pytest.importorskip("distributed")

from trio_runners.dask import DaskTaskRunner  # noqa: E402


@pytest.fixture
def dask_task_runner_with_thread_pool(dask_threads_cluster: Any) -> DaskTaskRunner:
    """A threads-only LocalCluster in this process (Prefect: one per test)."""
    return DaskTaskRunner(address=dask_threads_cluster.scheduler_address)


@pytest.fixture
def dask_task_runner_with_existing_cluster_address(scheduler_address: str) -> DaskTaskRunner:
    """Processes started by `dask scheduler` / `dask worker`, reached by address."""
    return DaskTaskRunner(address=scheduler_address)


class _FailsToLoad:
    """An argument that pickles, but raises ``error`` when it is unpickled (on the worker)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (_raise, (self.error,))


def _raise(error: BaseException) -> None:
    raise error


@task
def my_task() -> str:
    """Module level, so that it reaches the in-process cluster today (tasks pickle by name)."""
    return str(distributed.get_worker().get_current_task())


class TestDaskTaskRunner(TaskRunnerStandardTestSuite):
    @pytest.fixture(
        params=[
            "dask_task_runner_with_thread_pool",
            "dask_task_runner_with_existing_cluster_address",
        ]
    )
    def task_runner(self, request: pytest.FixtureRequest) -> BaseTaskRunner:
        runner: BaseTaskRunner = request.getfixturevalue(request.param)
        return runner

    # Prefect skips test_successful_flow_run here ("Deadlocks"), and its override of
    # test_sync_task_timeout runs the async test instead; both run here as inherited. Its
    # overrides of test_is_pickleable_after_start (a default client) and
    # test_wait_captures_exceptions_as_crashed_state (no exception equality) are not needed.

    @pytest.mark.parametrize(
        "exceptions",
        [(KeyboardInterrupt(), KeyboardInterrupt), (ValueError("test"), ValueError)],
        ids=["KeyboardInterrupt", "ValueError"],
    )
    def test_exception_to_crashed_state_in_flow_run(
        self, exceptions: tuple[BaseException, type[BaseException]], task_runner: BaseTaskRunner
    ) -> None:
        """An exception raised on the worker before the task's function begins (Prefect
        patches its engine to raise there; here an argument fails to unpickle) ends the task
        run Crashed with that exception, and nothing deadlocks (Prefect skips it: "Deadlocks").
        """
        raised_exception, state_exception_type = exceptions
        ran = []

        @task
        def test_task(payload: Any) -> None:
            ran.append(payload)  # pragma: no cover (must not run)

        @flow(task_runner=task_runner)
        def test_flow() -> Any:
            future = test_task.submit(_FailsToLoad(raised_exception))
            return future.wait(10)

        # Prefect: the flow raises it. Here the body looked at the State (wait returned it),
        # so the flow returns it (docs/flows.md, "Outcome of a flow run").
        state = test_flow()
        assert state is not None, "wait timed out"
        assert state.is_crashed(), state
        assert isinstance(state.exception(), state_exception_type)
        assert ran == []

    def test_cluster_not_asynchronous(self) -> None:
        pytest.skip(
            "deliberate difference: DaskTaskRunner takes no cluster object (it pickles to its "
            "options): it creates its cluster (cluster_class) or reaches one by address "
            "(docs/migrating.md)"
        )

    def test_dask_task_key_has_prefect_task_name(self, dask_threads_cluster: Any) -> None:
        task_runner = DaskTaskRunner(address=dask_threads_cluster.scheduler_address)

        @flow(task_runner=task_runner)
        def my_flow() -> Any:
            return [my_task.submit(), my_task.submit(), my_task.submit()]

        keys = my_flow()
        assert len(set(keys)) == 3
        # Prefect also checks that the key ends with the attempt number ("-1"): its keys are
        # task run name, task run id and run count; here they are name, run id and a counter.
        assert all(key.startswith("my_task-") for key in keys), keys

    @pytest.mark.parametrize("async_adapt", [False, True], ids=["sync-adapt", "async-adapt"])
    async def test_dask_cluster_adapt_is_properly_called(self, async_adapt: bool) -> None:
        # Like dask_kubernetes.classic.KubeCluster: adapt is a plain method.
        class MockDaskCluster(distributed.LocalCluster):  # type: ignore[misc]
            def __init__(self, **kwargs: Any) -> None:
                self._adapt_called = False
                super().__init__(**kwargs)

            def adapt(self, **kwargs: Any) -> None:
                self._adapt_called = True

        # Like dask_kubernetes.operator.KubeCluster (asynchronous): adapt must be awaited.
        class AsyncMockDaskCluster(MockDaskCluster):
            async def adapt(self, **kwargs: Any) -> None:  # type: ignore[override]
                self._adapt_called = True

        cluster_class = AsyncMockDaskCluster if async_adapt else MockDaskCluster
        # The adapt_kwargs option is what makes the runner call adapt.
        task_runner = DaskTaskRunner(
            cluster_class=cluster_class,
            cluster_kwargs={"n_workers": 0, "processes": False},
            adapt_kwargs={"minimum": 1, "maximum": 1},
        )
        async with task_runner.start():
            assert task_runner.cluster._adapt_called

    async def test_task_runner_can_execute_sync_task_in_async_flow(
        self, task_runner: BaseTaskRunner
    ) -> None:
        """Regression test for PrefectHQ/prefect#7422."""

        @task
        def identity(x: int) -> int:
            return x

        @flow(task_runner=task_runner)
        async def test_flow() -> int:
            # On the Trio thread, submit and map return awaitables (Prefect: futures).
            mapped_futures = await identity.map(range(1, 4))
            single_future = await identity.submit(1)
            return sum([await fut.result() for fut in [*mapped_futures, single_future]])

        result = await test_flow()
        assert result == 7  # 1 + 2 + 3 + 1

    class TestInputArguments:
        def test_dataclasses_can_be_passed_to_task_runners(
            self, task_runner: BaseTaskRunner
        ) -> None:
            """Regression test for PrefectHQ/prefect#6905."""

            @dataclasses.dataclass
            class Foo:
                value: int

            @task
            def get_dataclass_values(n: int) -> list[Foo]:
                return [Foo(value=i) for i in range(n)]

            @task
            def print_foo(x: Foo) -> Foo:
                print(x)
                return x

            @flow(task_runner=task_runner)
            def test_dask_flow(n: int = 3) -> list[Foo]:
                # Calling a task in a flow gives its future here (Prefect: its value).
                foos = get_dataclass_values(n).result()
                future = print_foo.submit(foos[0])
                futures = print_foo.map(foos)
                return [fut.result() for fut in [*futures, future]]

            results = test_dask_flow()
            assert results == [Foo(value=i) for i in range(3)] + [Foo(value=0)]
