"""`KitSettings`: what a `RunnerConformance` subclass declares about its runner, and what follows.

The declarations (capability flags, limits, the kind of calls, the event loop) are class
attributes; the helpers here derive from them whether times are exact, whether calls run in
this process, which capabilities are missing, and why a property does not apply (a skip
reason that names the capability).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from hypothesis import settings

from ._protocol import CAPABILITIES, CoreRunner

__all__ = [
    "DETECTED",
    "KitSettings",
    "always",
    "is_exact",
    "needs_exact",
    "needs_in_process",
    "skip_reason",
]

#: Capabilities whose flag may be None: found out on the runner itself when a test runs.
DETECTED = frozenset({"flow_hooks"})


class KitSettings:
    """The declarations of a `RunnerConformance` subclass (see its docstring for each)."""

    runner_factory: ClassVar[Callable[[], CoreRunner]]
    supports_cancel: ClassVar[bool] = True
    supports_cancel_all: ClassVar[bool] = True
    supports_state: ClassVar[bool] = True
    supports_release: ClassVar[bool] = True
    supports_statistics: ClassVar[bool] = True
    supports_as_completed: ClassVar[bool] = True
    supports_instruments: ClassVar[bool] = True
    supports_returned_states: ClassVar[bool] = True
    supports_flow_hooks: ClassVar[bool | None] = None
    crashed_means: ClassVar[frozenset[str]] = frozenset()
    sequential: ClassVar[bool] = False
    max_workers: ClassVar[int | None] = None
    max_pending: ClassVar[int | None] = None
    runs_calls_in_process: ClassVar[bool | None] = None
    supports_mock_clock: ClassVar[bool] = True
    backend: ClassVar[Literal["trio", "asyncio"]] = "trio"
    call_kind: ClassVar[Literal["async", "sync"]] = "async"
    time_unit: ClassVar[float] = 0.002
    max_calls: ClassVar[int] = 8
    hypothesis_settings: ClassVar[settings | None] = None

    @property
    def exact(self) -> bool:
        """Times are exact: calls run on Trio's event loop under a MockClock."""
        return is_exact(type(self))

    @property
    def in_process(self) -> bool:
        """Calls run in this process (see ``runs_calls_in_process``)."""
        return in_process(type(self))

    def new_runner(self) -> Any:
        """A new, unstarted runner from ``runner_factory`` (with the capabilities the
        subclass declares; the kit calls only those)."""
        return type(self).runner_factory()

    @classmethod
    def uses_mock_clock(cls) -> bool:
        """The kit runs examples on a `trio.testing.MockClock` (only on Trio)."""
        return cls.supports_mock_clock and cls.backend == "trio"

    @classmethod
    def missing(cls, *capabilities: str) -> list[str]:
        """Which of ``capabilities`` (names of `CAPABILITIES`) the runner lacks."""
        lacking = []
        for name in capabilities:
            flag = CAPABILITIES[name][0]
            value = getattr(cls, flag)
            if flag == "backend":
                if value != "trio":
                    lacking.append(name)
            elif value is False or (value is None and name not in DETECTED):
                lacking.append(name)
            elif name == "mock_clock" and cls.backend != "trio":
                lacking.append(name)  # a MockClock is Trio's
        return lacking


def is_exact(cls: type[KitSettings]) -> bool:
    """Times are exact: async calls on Trio's loop under a MockClock."""
    return cls.uses_mock_clock() and cls.call_kind == "async"


def in_process(cls: type[KitSettings]) -> bool:
    """Calls run in this process (``runs_calls_in_process``, by default whether the runner
    supports a MockClock)."""
    declared = cls.runs_calls_in_process
    return cls.supports_mock_clock if declared is None else declared


def skip_reason(
    cls: type[KitSettings],
    needs: tuple[str, ...],
    skip: Callable[[type[KitSettings]], str | None],
) -> str | None:
    """Why a property does not apply: the capabilities it needs and the runner lacks (each
    named, with its flag), else the property's own reason ``skip(cls)``, else None."""
    lacking = cls.missing(*needs)
    if lacking:
        named = ", ".join(_declared(cls, m) for m in lacking)
        return f"needs capability {named}, which the runner does not declare"
    return skip(cls)


def _declared(cls: type[KitSettings], name: str) -> str:
    flag = CAPABILITIES[name][0]
    if name == "mock_clock" and cls.backend != "trio":
        flag = "backend"  # a MockClock is Trio's
    return f"{name!r} ({flag} = {getattr(cls, flag)!r})"


def always(cls: type[KitSettings]) -> str | None:
    """A property that applies whenever its capabilities are there."""
    return None


def needs_in_process(cls: type[KitSettings]) -> str | None:
    """Skip reason: the runner's calls run elsewhere."""
    if in_process(cls):
        return None
    return "the runner's calls do not run in this process (runs_calls_in_process)"


def needs_exact(cls: type[KitSettings]) -> str | None:
    """Skip reason: times are not exact, or calls run elsewhere."""
    if is_exact(cls) and in_process(cls):
        return None
    return "needs async calls on a MockClock (supports_mock_clock and call_kind='async')"
