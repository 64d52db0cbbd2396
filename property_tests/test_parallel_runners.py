"""The conformance kit on the thread and process runners.

Calls in threads and processes run on real time, so the clock-independent properties are
checked from a file trace the calls append to (see docs/conformance.md). Worker processes are
slow to start, so the process runner gets fewer examples than the ci profile's 200: each example
opens a fresh worker pool (30 examples per property: about a minute and a half on 2 cores;
``TRIO_RUNNERS_REMOTE_EXAMPLES`` overrides it: the stress mode, tools/stress.py, runs these
properties while every CPU is kept busy).
"""

import functools
import os

from hypothesis import settings

from trio_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from trio_runners.testing import RunnerConformance


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


PROCESS_EXAMPLES = int(os.environ.get("TRIO_RUNNERS_REMOTE_EXAMPLES", "30"))


class TestProcessPool(RunnerConformance):
    runner_factory = functools.partial(ProcessPoolTaskRunner, max_workers=2)
    max_workers = 2
    supports_mock_clock = False
    call_kind = "sync"
    time_unit = 0.005
    max_calls = 4
    hypothesis_settings = settings(max_examples=PROCESS_EXAMPLES, deadline=None)
