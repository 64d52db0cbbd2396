"""The work the flow-hook scenarios hand to ``run_in_slot``, and the `LoopCall` that hands it.

The work functions live at module level, so that a runner that ships work to other processes
(processes, a Dask cluster) can send them; `HandsWork` holds a `threading.Lock`, which cannot be
pickled: a runner that shipped the `LoopCall` itself would fail it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import trio

from .._loop_call import LoopCall
from ._protocol import FlowHooksRunner

__all__ = ["HandsWork", "SlotWorkError", "async_work", "sync_work"]


#: How long "during" work runs before its scope is cancelled (virtual seconds: it is async).
DURING = 1.0


class SlotWorkError(Exception):
    """What a piece of slot work raises; its only argument is the work's value."""


def sync_work(value: int, raises: bool) -> int:
    """Sync work (a worker thread, a process, a Dask worker): returns or raises ``value``."""
    if raises:
        raise SlotWorkError(value)
    return value


async def async_work(value: int, raises: bool, checkpoint: bool, block: bool = False) -> int:
    """Async work on the loop: returns or raises ``value``, checkpointing first if asked (work
    that never checkpoints is where ``run_in_slot`` must checkpoint itself); ``block``: sleeps
    until cancelled first."""
    if block:
        await trio.sleep_forever()
    if checkpoint:
        await trio.lowlevel.checkpoint()
    if raises:
        raise SlotWorkError(value)
    return value


class HandsWork(LoopCall):
    """Hands ``work`` to ``run_in_slot``: ``cancel`` is ``"no"``, ``"before"`` (inside an
    already-cancelled scope) or ``"during"`` (a scope cancelled `DURING` seconds later).

    Returns ``(pid, outcome, detail)``: the process it ran in, then ``("returned", value)``,
    ``("raised", exception args)`` or ``("cancelled", None)`` (``trio.Cancelled`` reached the
    cancelled scope).
    """

    def __init__(self, runner: FlowHooksRunner, work: Any, cancel: str) -> None:
        self.runner = runner
        self.work = work
        self.cancel = cancel
        self.unpicklable = threading.Lock()

    async def __call__(self) -> tuple[int, str, Any]:
        pid = os.getpid()
        try:
            if self.cancel == "no":
                return pid, "returned", await self.runner.run_in_slot(self.work)
            with trio.CancelScope() as scope:
                if self.cancel == "before":
                    scope.cancel()
                else:
                    scope.deadline = trio.current_time() + DURING
                value = await self.runner.run_in_slot(self.work)
            if scope.cancelled_caught:
                return pid, "cancelled", None
            return pid, "returned", value
        except SlotWorkError as exc:
            return pid, "raised", exc.args
