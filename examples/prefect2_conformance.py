"""The conformance kit on Prefect 2's own task runners, through `prefect2_adapter`.

Run with ``make check-prefect2`` (it installs Prefect 2.3.0 in a virtualenv of its own; not
part of ``make test``). Both runners offer only the kit's core (``start``, ``submit``,
``wait``), so every property that needs another capability is skipped, naming it. Prefect
labels a call's exception and its cancellation Crashed (``crashed_means``); the kit judges
cancellation by its consequences, whatever the label.

Expected findings (see docs/conformance.md, "Checking a runner you did not write"):
  - SequentialTaskRunner: ``wait`` raises KeyError for a call that is running (RunnerRaised);
    ``submit`` swallows an enclosing cancellation (CancellationSwallowed).
  - ConcurrentTaskRunner, under Trio: ``start()`` exits normally after the enclosing scope
    cancelled its calls, and the scope does not report ``cancelled_caught``
    (CancellationSwallowed).

``TestPrefect2ConcurrentOnAsyncio`` checks ConcurrentTaskRunner where Prefect runs it, on
asyncio (``backend = "asyncio"``: anyio's asyncio backend, real time); Prefect 2.20's
``wait`` uses an asyncio-only Event, so on 2.20 only this class can run it. Its findings are
not recorded in docs/conformance.md yet.
"""

from __future__ import annotations

from prefect.task_runners import ConcurrentTaskRunner, SequentialTaskRunner
from prefect2_adapter import Prefect2Adapter

from trio_runners.testing import RunnerConformance

CORE_ONLY = {
    "supports_cancel": False,
    "supports_cancel_all": False,
    "supports_state": False,
    "supports_release": False,
    "supports_statistics": False,
    "supports_as_completed": False,
    "supports_instruments": False,
    # The adapter's call wraps whatever the kit's call returns in a Prefect Completed State
    # (Prefect's engine builds the States its runners get), so a call returning one of our
    # States is not a case the adapter translates.
    "supports_returned_states": False,
    # Prefect records a call's exception and its cancellation as Crashed States.
    "crashed_means": frozenset({"error", "cancelled"}),
}


class TestPrefect2Sequential(RunnerConformance):
    runner_factory = staticmethod(Prefect2Adapter.factory(SequentialTaskRunner))
    sequential = True
    locals().update(CORE_ONLY)


class TestPrefect2Concurrent(RunnerConformance):
    runner_factory = staticmethod(Prefect2Adapter.factory(ConcurrentTaskRunner))
    # Its wait() polls with sleep(0): under MockClock(autojump_threshold=0) the clock would
    # never jump while a waiter polls, so it runs on real time (time_unit seconds per unit).
    supports_mock_clock = False
    runs_calls_in_process = True
    locals().update(CORE_ONLY)


class TestPrefect2ConcurrentOnAsyncio(TestPrefect2Concurrent):
    # Where Prefect itself runs the runner: anyio's asyncio backend, in real time.
    backend = "asyncio"
