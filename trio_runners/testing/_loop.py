"""The event loop's primitives, as the kit's driver and calls use them: anyio's, or Trio's own.

The kit plays on Trio and on asyncio. Everything it uses (``sleep``, ``sleep_until``,
``current_time``, ``Event``, ``CancelScope``, ``move_on_after``, a task group) has the same
shape in anyio and in Trio; on Trio the kit takes Trio's own, which skip anyio's per-call
dispatch (examples on a MockClock stay exact and as fast as they were), and anyio's elsewhere.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any

import anyio
import trio

__all__ = ["primitives", "task_group"]


def primitives(backend: str) -> ModuleType:
    """`trio` on ``"trio"``, `anyio` otherwise: the module whose ``sleep``, ``sleep_until``,
    ``current_time``, ``Event``, ``CancelScope`` and ``move_on_after`` the kit calls."""
    return trio if backend == "trio" else anyio


def task_group(backend: str) -> AbstractAsyncContextManager[Any]:
    """A Trio nursery on ``"trio"``, an anyio task group otherwise (``start_soon``,
    ``cancel_scope``)."""
    if backend == "trio":
        return trio.open_nursery()
    return anyio.create_task_group()
