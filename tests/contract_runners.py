"""Every runner the contract suite runs on, with the capabilities it declares.

A contract test that depends on a capability says so with ``@pytest.mark.needs(...)``; on a
runner that lacks it, the test is skipped and the skip reason names the capability. So every
promise is either checked on a runner or visibly not applicable to it, never silently left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from trio_runners import (
    BaseTaskRunner,
    ConcurrentTaskRunner,
    ProcessPoolTaskRunner,
    SequentialTaskRunner,
    TaskConcurrencyType,
    ThreadPoolTaskRunner,
)

#: What each capability means (quoted in skip reasons).
CAPABILITIES: dict[str, str] = {
    "sequential": "submit runs the call to completion, one call at a time",
    "max_workers": "the runner itself bounds how many calls run at once",
    "max_pending": "submit waits while this many accepted calls are not yet admitted",
    "queues_calls": "an accepted call can wait unstarted behind running ones",
    "runs_two_at_once": "two calls can be running at the same time",
    "mock_clock": "runs under trio.testing.MockClock(autojump_threshold=0)",
    "calls_in_process": "async calls run on the test's own Trio loop (closures, Events, nested "
    "submits to the runner work)",
    "sync_calls": "accepts synchronous callables",
    "sync_calls_in_threads": "sync calls run in worker threads of this process: cancel abandons "
    "the thread, and trio.from_thread.check_cancelled() lets the call cooperate",
    "async_calls": "accepts async callables",
    "interrupts_running_calls": "cancel stops a running async call's code (cancels its scope or "
    "kills its process)",
    "pickles_calls": "calls are pickled at submit (an unpicklable call is refused there)",
    "base_exceptions_propagate": "a KeyboardInterrupt raised by a call happens in this process, "
    "so it propagates out of start()",
    "has_options": "has constructor options (so a runner with other options is unequal)",
    "needs_dask_cluster": "runs on the suite's Dask cluster",
}


@attrs.frozen
class RunnerKind:
    """One runner configuration of the contract suite and its declared capabilities."""

    id: str
    factory: Callable[[str | None], BaseTaskRunner]  # given the Dask scheduler address, if any
    name: str
    concurrency_type: TaskConcurrencyType
    sequential: bool
    max_workers: int | None
    max_pending: int | None
    mock_clock: bool
    calls_in_process: bool
    interrupts_running_calls: bool
    pickles_calls: bool
    base_exceptions_propagate: bool
    sync_calls_in_threads: bool
    other_options: Mapping[str, Any] | None
    sync_calls: bool = True
    async_calls: bool = True
    needs_dask_cluster: bool = False

    @property
    def queues_calls(self) -> bool:
        return self.sequential or self.max_workers is not None

    @property
    def runs_two_at_once(self) -> bool:
        return not self.sequential and (self.max_workers is None or self.max_workers >= 2)

    @property
    def has_options(self) -> bool:
        return self.other_options is not None

    def missing(self, capability: str, wanted: object = True) -> str | None:
        """The skip reason if this runner does not have ``capability == wanted``, else None."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}")
        value = getattr(self, capability)
        have = value is not None if capability in ("max_workers", "max_pending") else value
        if bool(have) == bool(wanted):
            return None
        return (
            f"{self.id}: needs {capability}={bool(wanted)}, has {capability}={value!r} "
            f"({CAPABILITIES[capability]})"
        )

    def make(self, dask_address: str | None = None) -> BaseTaskRunner:
        return self.factory(dask_address)


def _dask(address: str | None) -> BaseTaskRunner:
    from trio_runners.dask import DaskTaskRunner

    return DaskTaskRunner(address=address)


_LOOP: dict[str, Any] = {
    "mock_clock": True,
    "calls_in_process": True,
    "interrupts_running_calls": True,
    "pickles_calls": False,
    "base_exceptions_propagate": True,
    "sync_calls_in_threads": True,
}
_REMOTE: dict[str, Any] = {
    "mock_clock": False,
    "calls_in_process": False,
    "pickles_calls": True,
    "base_exceptions_propagate": False,
    "sync_calls_in_threads": False,
}

RUNNER_KINDS: tuple[RunnerKind, ...] = (
    RunnerKind(
        id="sequential",
        factory=lambda _: SequentialTaskRunner(),
        name="sequential",
        concurrency_type=TaskConcurrencyType.SEQUENTIAL,
        sequential=True,
        max_workers=None,
        max_pending=None,
        other_options=None,
        **_LOOP,
    ),
    RunnerKind(
        id="concurrent",
        factory=lambda _: ConcurrentTaskRunner(),
        name="concurrent",
        concurrency_type=TaskConcurrencyType.CONCURRENT,
        sequential=False,
        max_workers=None,
        max_pending=None,
        other_options={"max_workers": 3},
        **_LOOP,
    ),
    RunnerKind(
        id="concurrent-max1",
        factory=lambda _: ConcurrentTaskRunner(max_workers=1),
        name="concurrent",
        concurrency_type=TaskConcurrencyType.CONCURRENT,
        sequential=False,
        max_workers=1,
        max_pending=None,
        other_options={"max_workers": 2},
        **_LOOP,
    ),
    RunnerKind(
        id="concurrent-max2-pending2",
        factory=lambda _: ConcurrentTaskRunner(max_workers=2, max_pending=2),
        name="concurrent",
        concurrency_type=TaskConcurrencyType.CONCURRENT,
        sequential=False,
        max_workers=2,
        max_pending=2,
        other_options={"max_workers": 2, "max_pending": 3},
        **_LOOP,
    ),
    RunnerKind(
        id="threadpool-max2",
        factory=lambda _: ThreadPoolTaskRunner(max_workers=2),
        name="threadpool",
        concurrency_type=TaskConcurrencyType.CONCURRENT,
        sequential=False,
        max_workers=2,
        max_pending=None,
        other_options={"max_workers": 3},
        **_LOOP,
    ),
    RunnerKind(
        id="processpool-max2",
        factory=lambda _: ProcessPoolTaskRunner(max_workers=2),
        name="processpool",
        concurrency_type=TaskConcurrencyType.PARALLEL,
        sequential=False,
        max_workers=2,
        max_pending=None,
        other_options={"max_workers": 1},
        interrupts_running_calls=True,  # kills the worker process
        **_REMOTE,
    ),
    RunnerKind(
        id="dask-threads",
        factory=_dask,
        name="dask",
        concurrency_type=TaskConcurrencyType.PARALLEL,
        sequential=False,
        max_workers=None,  # the cluster bounds it, not the runner
        max_pending=None,
        other_options={"address": "tcp://127.0.0.1:1"},
        interrupts_running_calls=False,  # a call running in a Dask worker thread runs on
        needs_dask_cluster=True,
        **_REMOTE,
    ),
)

__all__ = ["CAPABILITIES", "RUNNER_KINDS", "RunnerKind"]
