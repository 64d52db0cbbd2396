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
