"""LoopCall: the capability of a call that orchestrates on the event loop, never shipped.

A call that only coordinates (waits for other calls, retries, times out) and hands its actual
work to `BaseTaskRunner.run_in_slot` derives from `LoopCall`. Every runner runs such a call on
the event loop, in the current process: the loop runners do so for any async call, and a
runner that ships calls elsewhere (processes, a cluster; ours, or a third party's) checks
``isinstance(call, LoopCall)`` and keeps it home, shipping only what it passes to
`run_in_slot`. The flow layer's task runs are `LoopCall` objects.
"""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["LoopCall"]


class LoopCall(abc.ABC):
    """A zero-argument async call that every runner runs on its event loop, in its process.

    Subclass it (and implement ``async def __call__``) for a call that orchestrates: it is
    never pickled, even by a runner that ships its calls to other processes; the work it hands
    to `BaseTaskRunner.run_in_slot` is what travels. A runner that ships calls must test
    ``isinstance(call, LoopCall)`` and run such a call with ``await call()`` on the loop.
    """

    __slots__ = ()

    @abc.abstractmethod
    async def __call__(self) -> Any:
        """Run the call on the event loop; its return value (or a `State`) is the result."""
