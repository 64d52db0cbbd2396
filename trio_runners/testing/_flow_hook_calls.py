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


class SlotWorkError(Exception):
    """What a piece of slot work raises; its only argument is the work's value."""


def sync_work(value: int, raises: bool) -> int:
    """Sync work (a worker thread, a process, a Dask worker): returns or raises ``value``."""
    if raises:
        raise SlotWorkError(value)
    return value


async def async_work(value: int, raises: bool, checkpoint: bool) -> int:
    """Async work on the loop: returns or raises ``value``, checkpointing first if asked (work
    that never checkpoints is where ``run_in_slot`` must checkpoint itself)."""
    if checkpoint:
        await trio.lowlevel.checkpoint()
    if raises:
        raise SlotWorkError(value)
    return value


class HandsWork(LoopCall):
    """Hands ``work`` to ``run_in_slot`` (inside an already-cancelled scope if ``cancelled``).

    Returns ``(pid, outcome, detail)``: the process it ran in, then ``("returned", value)``,
    ``("raised", exception args)`` or ``("cancelled", None)`` (``trio.Cancelled`` reached the
    cancelled scope).
    """

    def __init__(self, runner: FlowHooksRunner, work: Any, cancelled: bool) -> None:
        self.runner = runner
        self.work = work
        self.cancelled = cancelled
        self.unpicklable = threading.Lock()

    async def __call__(self) -> tuple[int, str, Any]:
        pid = os.getpid()
        try:
            if not self.cancelled:
                return pid, "returned", await self.runner.run_in_slot(self.work)
            with trio.CancelScope() as scope:
                scope.cancel()
                value = await self.runner.run_in_slot(self.work)
            if scope.cancelled_caught:
                return pid, "cancelled", None
            return pid, "returned", value
        except SlotWorkError as exc:
            return pid, "raised", exc.args
