"""What the conformance kit needs from a runner: a required core and optional capabilities.

The core (`CoreRunner`) is three members: ``start()``, ``await submit(key, call)`` and
``await wait(key, timeout)``. Everything else is a capability that a runner may lack; a
`RunnerConformance` subclass declares each one with a flag (see `CAPABILITIES`), and a
property that needs a capability the runner lacks is skipped with the capability named.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from .._states import State

__all__ = ["CAPABILITIES", "CoreRunner", "FlowHooksRunner"]


@runtime_checkable
class CoreRunner(Protocol):
    """The required core: what every property that applies to any runner uses.

    - ``start()``: an async context manager; leaving its block waits for the calls in flight.
    - ``await submit(key, call)``: ``call`` is a zero-argument async callable (the kit's calls);
      after ``submit`` has begun, ``key`` is known to ``wait``.
    - ``await wait(key, timeout=None)``: the call's final `State` once it has finished, or None
      if ``timeout`` seconds pass first; it never raises the call's exception. A call that
      returns a `State` ends with that State (capability ``returned_states``).
    """

    def start(self) -> AbstractAsyncContextManager[Any]: ...

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> Any: ...

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None: ...


@runtime_checkable
class FlowHooksRunner(CoreRunner, Protocol):
    """Capability ``flow_hooks``: what a call may ask of the runner running it (the flow layer's
    hooks, docs/contract.md). Every `trio_runners.abc.BaseTaskRunner` provides them.

    - ``await run_in_slot(call)``: from inside one of the runner's calls, runs ``call`` as part
      of it and returns its result or raises its exception; always a checkpoint.
    - ``lend_slot()``: an async context manager that lends the current call's worker slot
      while it waits (elsewhere, it lends nothing).
    - ``has_backpressure``: True if ``submit`` may wait for room before accepting a call.
    - A `trio_runners.abc.LoopCall` runs on the event loop, in this process.
    """

    async def run_in_slot(self, call: Callable[[], Any]) -> Any: ...

    def lend_slot(self) -> AbstractAsyncContextManager[None]: ...

    @property
    def has_backpressure(self) -> bool: ...


#: Optional capabilities: name -> (the `RunnerConformance` flag that declares it, what it is).
CAPABILITIES: dict[str, tuple[str, str]] = {
    "cancel": ("supports_cancel", "cancel(key) -> bool: cancels one call"),
    "cancel_all": ("supports_cancel_all", "cancel_all() -> int: cancels every unfinished call"),
    "state": ("supports_state", "state(key) -> State | None, synchronous"),
    "release": ("supports_release", "release(key): forgets a finished call's State"),
    "statistics": ("supports_statistics", "statistics() with running/queued/retained counts"),
    "as_completed": ("supports_as_completed", "as_completed(keys): States as calls finish"),
    "instruments": ("supports_instruments", "add_instrument/remove_instrument lifecycle hooks"),
    "returned_states": (
        "supports_returned_states",
        "a call that returns a State ends with that State (Prefect's convention)",
    ),
    "max_workers": ("max_workers", "a promised worker limit"),
    "sequential": ("sequential", "one call at a time, in submission order, inside submit"),
    "mock_clock": ("supports_mock_clock", "runs under trio.testing.MockClock (on Trio)"),
    "flow_hooks": (
        "supports_flow_hooks",
        "run_in_slot / lend_slot / has_backpressure and LoopCall (the flow layer's hooks)",
    ),
    "trio": ("backend", "lives on Trio (backend = 'trio'): scenarios that use Trio itself"),
}
