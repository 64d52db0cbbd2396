"""Every guarantee, checked through the public conformance kit, for each of our runners."""

import functools

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner
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


class TestConcurrentSyncCallsInThreads(RunnerConformance):
    """Sync calls run in worker threads: the clock-independent properties, from a file trace."""

    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=2)
    max_workers = 2
    call_kind = "sync"
    time_unit = 0.0005
    max_calls = 6


class TestSequentialSyncCallsOnRealTime(RunnerConformance):
    """As a process or Dask runner is checked: real time, sync calls, no MockClock."""

    runner_factory = SequentialTaskRunner
    sequential = True
    supports_mock_clock = False
    call_kind = "sync"
    time_unit = 0.0005
    max_calls = 5
