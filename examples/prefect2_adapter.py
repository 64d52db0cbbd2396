"""A thin, honest adapter from Prefect 2's task runners to the conformance kit's required core.

Prefect 2 (tested with 2.3.0) ships `SequentialTaskRunner` and `ConcurrentTaskRunner` with the
interface our contract grew from: ``start()``, ``await submit(key, call)``,
``await wait(key, timeout)``. This adapter forwards those three calls unchanged and translates
only what differs in *form*:

- Prefect's runners take a call that *returns a Prefect State* (its engine builds that call);
  the kit's calls return plain values. ``submit`` hands Prefect a call that awaits the kit's
  call and wraps the value it returns in a Prefect ``Completed`` State. Nothing is caught: an
  exception or a cancellation raised by the call reaches Prefect's runner untouched.
- ``wait`` returns what Prefect stored, translated (once per stored object) to a
  `trio_runners.states.State` with the same label (Completed, Failed, Crashed, Cancelled)
  and the same exception.

It fixes nothing: no exception is caught, retried or re-raised differently, no checkpoint is
added, no cancellation is translated. Whatever the foreign runner does, the kit sees. It has
none of the optional capabilities (cancel, cancel_all, release, statistics, as_completed,
instruments, max_workers), and says so in `docs/conformance.md`'s worked example.

Run ``make check-prefect2`` to check both runners (it installs Prefect 2.3.0 in its own
virtualenv); see ``examples/prefect2_conformance.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from trio_runners.states import Cancelled, Completed, Crashed, Failed, State

__all__ = ["Prefect2Adapter", "to_state"]


def to_state(stored: Any) -> State[Any]:
    """Translate what a Prefect 2 runner stored for a call into our `State` (same label)."""
    from prefect.orion.schemas.states import State as PrefectState

    if not isinstance(stored, PrefectState):
        return Completed(stored)  # not a State: Prefect stored a plain value
    if stored.is_completed():
        return Completed(stored.result())
    exc = stored.result(raise_on_failure=False)
    if not isinstance(exc, BaseException):
        exc = RuntimeError(f"Prefect state {stored.name} carries no exception: {exc!r}")
    if stored.is_failed():
        return Failed(exc, stored.message)
    if stored.is_cancelled():
        return Cancelled(stored.message)
    return Crashed(exc, stored.message)  # Crashed (and any other non-final label)


def _returning_a_prefect_state(call: Callable[[], Any]) -> Callable[[], Any]:
    async def prefect_call() -> Any:
        from prefect.orion.schemas.data import DataDocument
        from prefect.states import Completed as PrefectCompleted

        value = await call()  # no try: whatever the call raises, Prefect's runner handles
        return PrefectCompleted(data=DataDocument.encode("cloudpickle", value))

    return prefect_call


class Prefect2Adapter:
    """Wraps one Prefect 2 task runner; offers exactly ``start``, ``submit`` and ``wait``."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        # One translation per stored object, so that every waiter of a call gets one State
        # object, as every waiter gets Prefect's one stored object.
        self._translated: dict[int, tuple[Any, State[Any]]] = {}

    @classmethod
    def factory(cls, runner_class: Callable[[], Any]) -> Callable[[], Prefect2Adapter]:
        """A ``runner_factory`` for the kit: a new Prefect runner, wrapped, per example."""
        return lambda: cls(runner_class())

    @asynccontextmanager
    async def start(self) -> AsyncIterator[Prefect2Adapter]:
        """Prefect's ``start()``, unchanged."""
        async with self.runner.start():
            yield self

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        """Prefect's ``submit(key, call)``, with the call returning a Prefect State."""
        await self.runner.submit(key, _returning_a_prefect_state(call))

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        """Prefect's ``wait(key, timeout)``; what it returns, translated by `to_state`."""
        stored = await self.runner.wait(key, timeout)
        if stored is None:
            return None
        if id(stored) not in self._translated:
            self._translated[id(stored)] = (stored, to_state(stored))
        return self._translated[id(stored)][1]

    def __repr__(self) -> str:
        return f"Prefect2Adapter({type(self.runner).__name__}())"
