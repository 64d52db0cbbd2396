"""The conformance kit: the library's guarantees as Hypothesis properties, for any runner.

- `strategies`: Hypothesis strategies for schedules of calls (durations, outcomes, cancel
  points, timeouts).
- `reference`: `ReferenceModel`, what a conforming runner does, without Trio.
- Traces (no extra needed): `TraceRecorder` (an instrument recording every lifecycle event as
  JSON lines), the checkers `check_trace` and `check_*` that verify the stated guarantees over
  any trace (the property tests run them on every example too), and `replay`, which re-runs a
  recorded schedule deterministically on `trio.testing.MockClock`.
- `CoreRunner`: the `typing.Protocol` of what the kit needs (``start``, ``submit``, ``wait``);
  `CAPABILITIES`: the optional ones, each declared by a flag of `RunnerConformance`;
  `FlowHooksRunner`: the protocol of capability ``flow_hooks`` (``run_in_slot``,
  ``lend_slot``, ``has_backpressure``: what the flow layer asks of a runner).
- `RunnerConformance`: subclass it with a ``runner_factory`` to run every property under pytest
  (on Trio, or with ``backend = "asyncio"`` on anyio's asyncio backend); `ConformanceError` is
  what it raises; `Report` is what a custom check (`RunnerConformance.check_property`)
  receives: ``Report.log`` is the kit's call log, ``Report.lifecycle`` the runner's lifecycle
  trace.

Needs the ``testing`` extra (``pip install 'trio-runners[testing]'``: Hypothesis and pytest);
``import trio_runners`` does not. `reference` needs neither, so it is imported eagerly; the rest is
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .._trace import ReplayedCrash as ReplayedCrash
from .._trace import ReplayedError as ReplayedError
from .._trace import TraceRecorder as TraceRecorder
from .._trace import TraceViolation as TraceViolation
from .._trace import check_exactly_once as check_exactly_once
from .._trace import check_fifo_admission as check_fifo_admission
from .._trace import check_max_workers as check_max_workers
from .._trace import check_one_terminal_state as check_one_terminal_state
from .._trace import check_sequential as check_sequential
from .._trace import check_trace as check_trace
from .._trace import load_trace as load_trace
from .._trace import replay as replay
from .._trace import schedule_of as schedule_of
from . import reference as reference
from ._protocol import CAPABILITIES as CAPABILITIES
from ._protocol import CoreRunner as CoreRunner
from ._protocol import FlowHooksRunner as FlowHooksRunner
from .reference import ReferenceModel as ReferenceModel

if TYPE_CHECKING:
    from . import strategies as strategies
    from ._conformance import RunnerConformance as RunnerConformance
    from ._errors import CancellationSwallowed as CancellationSwallowed
    from ._errors import ConformanceError as ConformanceError
    from ._errors import RunnerRaised as RunnerRaised
    from ._report import Report as Report

__all__ = [
    "CAPABILITIES",
    "CancellationSwallowed",
    "ConformanceError",
    "CoreRunner",
    "FlowHooksRunner",
    "RunnerRaised",
    "ReplayedCrash",
    "ReplayedError",
    "TraceRecorder",
    "TraceViolation",
    "check_exactly_once",
    "check_fifo_admission",
    "check_max_workers",
    "check_one_terminal_state",
    "check_sequential",
    "check_trace",
    "load_trace",
    "replay",
    "schedule_of",
    "ReferenceModel",
    "Report",
    "RunnerConformance",
    "reference",
    "strategies",
]

_LAZY = {
    "strategies": (".strategies", None),
    "RunnerConformance": ("._conformance", "RunnerConformance"),
    "ConformanceError": ("._errors", "ConformanceError"),
    "CancellationSwallowed": ("._errors", "CancellationSwallowed"),
    "RunnerRaised": ("._errors", "RunnerRaised"),
    "Report": ("._report", "Report"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    try:
        module = importlib.import_module(module_name, __name__)
    except ModuleNotFoundError as exc:
        if exc.name not in ("hypothesis", "pytest"):
            raise
        raise ModuleNotFoundError(
            f"trio_runners.testing.{name} needs {exc.name}: pip install 'trio-runners[testing]'",
            name=exc.name,
        ) from exc
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
