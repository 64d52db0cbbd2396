"""The state machine on runners with ``max_pending``: a submit that would block is seen
blocking, and a cancelled queued call gives its room back at once.

Only the state machine runs here (the other properties are in test_our_runners.py); the
classes below are not collected by pytest, the test functions run them.
"""

import functools

from hypothesis import settings

from trio_runners import ConcurrentTaskRunner
from trio_runners.testing import RunnerConformance
from trio_runners.testing._machine import run_machine


class OneWorkerTwoPending(RunnerConformance):
    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=1, max_pending=2)
    max_workers = 1
    max_pending = 2


class TwoWorkersOnePending(RunnerConformance):
    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=2, max_pending=1)
    max_workers = 2
    max_pending = 1


def test_state_machine_one_worker_two_pending() -> None:
    run_machine(OneWorkerTwoPending(), settings())


def test_state_machine_two_workers_one_pending() -> None:
    run_machine(TwoWorkersOnePending(), settings())
