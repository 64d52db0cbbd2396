"""Every guarantee, checked through the public conformance kit, for each of our runners.

The process and Dask runners have files of their own (their workers are slow to start).
"""

import functools

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner, ThreadPoolTaskRunner
from trio_runners.testing import RunnerConformance


class TestSequential(RunnerConformance):
    runner_factory = SequentialTaskRunner
    sequential = True


class TestConcurrentUnbounded(RunnerConformance):
    runner_factory = ConcurrentTaskRunner


class TestConcurrentOneWorker(RunnerConformance):
    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=1)
    max_workers = 1


class TestConcurrentThreeWorkers(RunnerConformance):
    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=3)
    max_workers = 3


class TestConcurrentBackpressure(RunnerConformance):
    """One worker and two pending places: submit blocks, cancels of queued calls free room."""

    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=1, max_pending=2)
    max_workers = 1
    max_pending = 2


class TestConcurrentSyncCallsInThreads(RunnerConformance):
    """Sync calls run in worker threads: the clock-independent properties, from a file trace."""

    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=2, max_pending=1)
    max_workers = 2
    max_pending = 1
    call_kind = "sync"
    time_unit = 0.0005
    max_calls = 6


class TestSequentialSyncCallsOnRealTime(RunnerConformance):
    """As a process or Dask runner is checked: real time, sync calls, no MockClock."""

    runner_factory = SequentialTaskRunner
    sequential = True
    supports_mock_clock = False
    runs_calls_in_process = True
    call_kind = "sync"
    time_unit = 0.0005
    max_calls = 5


class TestThreadPoolAsyncCalls(RunnerConformance):
    """Async calls run on the loop under the thread runner's slots: exact, on a MockClock."""

    runner_factory = functools.partial(ThreadPoolTaskRunner, max_workers=2)
    max_workers = 2


class TestThreadPoolSyncCalls(RunnerConformance):
    runner_factory = functools.partial(ThreadPoolTaskRunner, max_workers=2)
    max_workers = 2
    call_kind = "sync"
    time_unit = 0.0005
    max_calls = 6
