"""The conformance kit on the process runner (the thread runner is in test_our_runners.py).

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

from trio_runners import ProcessPoolTaskRunner
from trio_runners.testing import RunnerConformance

PROCESS_EXAMPLES = int(os.environ.get("TRIO_RUNNERS_REMOTE_EXAMPLES", "30"))


class TestProcessPool(RunnerConformance):
    runner_factory = functools.partial(ProcessPoolTaskRunner, max_workers=2)
    max_workers = 2
    supports_mock_clock = False
    call_kind = "sync"
    time_unit = 0.005
    max_calls = 4
    hypothesis_settings = settings(max_examples=PROCESS_EXAMPLES, deadline=None)
