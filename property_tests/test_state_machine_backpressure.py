"""The state machine on a runner with two workers and one pending place: a submit that would
block is seen blocking, and a cancelled queued call gives its room back at once.

(test_our_runners.py's TestConcurrentBackpressure runs it with one worker and two pending
places, with every other property.) Only the state machine runs here: the class below is not
collected by pytest, the test function runs it.
"""

import functools

from hypothesis import settings

from trio_runners import ConcurrentTaskRunner
from trio_runners.testing import RunnerConformance
from trio_runners.testing._machine import run_machine


class TwoWorkersOnePending(RunnerConformance):
    runner_factory = functools.partial(ConcurrentTaskRunner, max_workers=2, max_pending=1)
    max_workers = 2
    max_pending = 1


def test_state_machine_two_workers_one_pending() -> None:
    run_machine(TwoWorkersOnePending(), settings())
