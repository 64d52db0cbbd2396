"""The forwarding table: each method of the runner contract, as both embedding hosts forward it.

The blocking host (`_embed_sync.BackgroundRunner`) and the asyncio host
(`_embed_asyncio.AsyncBackgroundRunner`) offer the same methods as `BaseTaskRunner`; each of
their methods is one row of this table sent through the host's own ``_forward``. What differs
between methods is said here once; what differs between hosts (blocking the thread, or awaiting
without blocking the asyncio loop) is said once in each host.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Final, final

import attrs

from ._base import BaseTaskRunner


@final
@attrs.frozen
class Forward:
    """How the hosts forward one method of the runner contract to the Trio thread.

    Every row is refused with `RuntimeError` before the block is entered and from the
    runner's own Trio thread (`_embed_session._Embedding.usable`), except as ``from_states``
    says once the block has exited.
    """

    #: The `BaseTaskRunner` method; the runner's own (a backend may override it) is called.
    method: Callable[..., Any]
    #: Answered from ``runner.state(key)`` once the block has exited, from any thread: every
    #: call has its State by then. Otherwise the request is refused: the block "has exited".
    from_states: bool = False

    @property
    def name(self) -> str:
        """The method's name."""
        return self.method.__name__

    @property
    def awaited(self) -> bool:
        """An async method of the runner: the request waits on the Trio side (for the call to
        be accepted, or to finish), so it may still be in flight when the block is left."""
        return inspect.iscoroutinefunction(self.method)

    def on(self, runner: BaseTaskRunner) -> Callable[..., Any]:
        """The method of ``runner``, to be called (and awaited if `awaited`) on the Trio thread."""
        bound: Callable[..., Any] = getattr(runner, self.name)
        return bound


@final
@attrs.frozen
class Contract:
    """The table: one row for each method of the runner contract that the hosts offer."""

    submit: Forward
    wait: Forward
    state: Forward
    cancel: Forward
    cancel_all: Forward
    release: Forward
    as_completed: Forward


#: The forwarding table both hosts use.
CONTRACT: Final = Contract(
    # The blocking host hands back a `BackgroundFuture`, the asyncio host nothing.
    submit=Forward(BaseTaskRunner.submit),
    # A blocking wait cut short by the block being left (the portal cancels its request) is
    # answered from the States; an asyncio wait is told so by CancelledError.
    wait=Forward(BaseTaskRunner.wait, from_states=True),
    state=Forward(BaseTaskRunner.state, from_states=True),
    cancel=Forward(BaseTaskRunner.cancel),
    cancel_all=Forward(BaseTaskRunner.cancel_all),
    release=Forward(BaseTaskRunner.release),
    # Each host wraps the runner's async iterator in an iterator of its own.
    as_completed=Forward(BaseTaskRunner.as_completed),
)
