# Ported from PrefectHQ/prefect, tag 2.20.25: tests/test_task_runners.py
# Rewritten for trio-runners' API (not copied): each test keeps Prefect's name and intent.
# Prefect runs its standard suite on SequentialTaskRunner and ConcurrentTaskRunner; here it also
# runs on ThreadPoolTaskRunner and ProcessPoolTaskRunner (Dask: test_prefect_suite_dask.py).
# What differs, and why: docs/migrating.md, "Prefect 2's runner test suite, ported".
"""Prefect 2's standard task-runner suite on the runners of this process and its pool."""

from __future__ import annotations

import pytest
from prefect_suite_standard import TaskRunnerStandardTestSuite

from trio_runners import (
    BaseTaskRunner,
    ConcurrentTaskRunner,
    ProcessPoolTaskRunner,
    SequentialTaskRunner,
    ThreadPoolTaskRunner,
)

RUNNERS = {
    "sequential": SequentialTaskRunner,
    "concurrent": ConcurrentTaskRunner,
    "threadpool": ThreadPoolTaskRunner,
    "processpool": lambda: ProcessPoolTaskRunner(max_workers=2),
}


@pytest.mark.parametrize("kind", sorted(RUNNERS))
async def test_task_runner_cannot_be_started_while_running(kind: str) -> None:
    async with RUNNERS[kind]().start() as task_runner:
        with pytest.raises(RuntimeError, match="already started"):
            async with task_runner.start():
                pass  # pragma: no cover


class TestSequentialTaskRunner(TaskRunnerStandardTestSuite):
    @pytest.fixture
    def task_runner(self) -> BaseTaskRunner:
        return SequentialTaskRunner()


class TestConcurrentTaskRunner(TaskRunnerStandardTestSuite):
    @pytest.fixture
    def task_runner(self) -> BaseTaskRunner:
        return ConcurrentTaskRunner()


class TestThreadPoolTaskRunner(TaskRunnerStandardTestSuite):
    @pytest.fixture
    def task_runner(self) -> BaseTaskRunner:
        return ThreadPoolTaskRunner()


class TestProcessPoolTaskRunner(TaskRunnerStandardTestSuite):
    @pytest.fixture
    def task_runner(self) -> BaseTaskRunner:
        # Two workers: the concurrency tests hold one call while another runs.
        return ProcessPoolTaskRunner(max_workers=2)
