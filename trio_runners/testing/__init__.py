"""The conformance kit: the library's guarantees as Hypothesis properties, for any runner.

- `strategies`: Hypothesis strategies for schedules of calls (durations, outcomes, cancel
  points, timeouts).
- `reference`: `ReferenceModel`, what a conforming runner does, without Trio.
- `RunnerConformance`: subclass it with a ``runner_factory`` to run every property under pytest;
  `ConformanceError` is what it raises; `Report` is what a custom check
  (`RunnerConformance.check_property`) receives.

Needs the ``testing`` extra (``pip install 'trio-runners[testing]'``: Hypothesis and pytest);
``import trio_runners`` does not. `reference` needs neither, so it is imported eagerly; the rest is
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import reference as reference
from .reference import ReferenceModel as ReferenceModel

if TYPE_CHECKING:
    from . import strategies as strategies
    from ._conformance import ConformanceError as ConformanceError
    from ._conformance import RunnerConformance as RunnerConformance
    from ._driver import Report as Report

__all__ = [
    "ConformanceError",
    "ReferenceModel",
    "Report",
    "RunnerConformance",
    "reference",
    "strategies",
]

_LAZY = {
    "strategies": (".strategies", None),
    "RunnerConformance": ("._conformance", "RunnerConformance"),
    "ConformanceError": ("._conformance", "ConformanceError"),
    "Report": ("._driver", "Report"),
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
