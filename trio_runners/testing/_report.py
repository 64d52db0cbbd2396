"""`Report`: everything the checks need about one played schedule.

Two records of one example, under two names: `Report.log`, the kit's call log (`CallEvent`s
written by the kit's calls and the driver), and `Report.lifecycle`, the runner's own lifecycle
trace (the event dicts its instruments saw, as `trio_runners.testing.TraceRecorder` writes them).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable
from typing import Any

import attrs

from .._states import State
from ._log import CallEvent
from .strategies import Schedule, WaitSpec

__all__ = ["CANCELLED_NAMES", "CancelAction", "Report", "WaitResult"]

#: What each event loop's cancellation exception is called, in violations.
CANCELLED_NAMES = {"trio": "trio.Cancelled", "asyncio": "asyncio.CancelledError"}


@attrs.define
class CancelAction:
    """One cancellation the driver performed, with the States just before it."""

    kind: str  # cancel, cancel_all, scope, raise
    target: int
    time: float
    before_exit: bool
    #: State of every registered call just before the action (None: unfinished).
    snapshot: dict[int, State[Any] | None]
    returned: object = None


@attrs.define
class WaitResult:
    """One ``wait(key, timeout)`` of the schedule: when it began and returned, and what."""

    spec: WaitSpec
    started_at: float
    returned_at: float
    result: State[Any] | None


@attrs.define
class Report:
    """Everything the checks need about one played schedule."""

    schedule: Schedule
    keys: list[Hashable]
    exact: bool  # calls ran on the event loop under a MockClock: times are exact
    sequential: bool
    registered: list[bool] = attrs.Factory(list)
    submit_returned: list[bool] = attrs.Factory(list)
    submit_times: list[float | None] = attrs.Factory(list)
    final: list[State[Any] | None] = attrs.Factory(list)
    observed: dict[int, tuple[float, State[Any] | None]] = attrs.Factory(dict)
    waits: list[WaitResult] = attrs.Factory(list)
    later: dict[int, State[Any] | None] = attrs.Factory(dict)
    cancels: list[CancelAction] = attrs.Factory(list)
    #: The kit's call log: what its calls and the driver did, in order.
    log: list[CallEvent] = attrs.Factory(list)
    #: Endings a foreign runner labels Crashed: ``error`` (the call raised an Exception),
    #: ``cancelled`` (the call was cancelled). Ours label them Failed and Cancelled.
    crashed_means: frozenset[str] = frozenset()
    #: Seconds of the event loop's time per schedule time unit (1 on a MockClock).
    time_unit: float = 1.0
    #: The event loop the example ran on: ``"trio"`` or ``"asyncio"`` (through anyio).
    backend: str = "trio"
    cancelled_caught: bool = False
    block_error_propagated: bool = False
    exit_time: float = math.nan
    hung_waiters: int = 0
    deadlocked: bool = False  # the example never finished: every task blocked for good
    violations: list[str] = attrs.Factory(list)  # seen while running (submit, memory)
    #: The runner's own lifecycle trace (`trio_runners.testing.TraceRecorder` events), checked
    #: by the same trace checkers a production trace is checked with.
    lifecycle: list[dict[str, Any]] = attrs.Factory(list)
    released: set[int] = attrs.Factory(set)

    @property
    def n(self) -> int:
        """How many calls the schedule has."""
        return len(self.keys)

    @property
    def trace(self) -> list[CallEvent]:
        """Deprecated: the kit's call log, now `log` (``lifecycle`` is the runner's trace)."""
        warnings.warn(
            "Report.trace is deprecated: the kit's call log is Report.log (the runner's"
            " lifecycle trace is Report.lifecycle)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.log
