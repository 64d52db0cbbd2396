"""Which side of a flow the caller is on: the Trio thread, a Trio worker thread, an asyncio loop.

The flow layer's blocking methods return awaitables on the Trio thread and block from a worker
thread; a flow call picks how to run from where it is called. These tests decide that.
"""

from __future__ import annotations

import sys

import trio

__all__ = ["in_trio_worker_thread", "on_asyncio_thread", "on_trio_thread"]


def on_trio_thread() -> bool:
    """True on the thread that runs a Trio loop (where blocking would freeze the loop)."""
    return trio.lowlevel.in_trio_run()


def in_trio_worker_thread() -> bool:
    """True in a thread started by `trio.to_thread.run_sync` (it can reach its Trio loop)."""
    try:
        trio.from_thread.check_cancelled()
    except RuntimeError:
        return False
    return True


def on_asyncio_thread() -> bool:
    """True on a thread whose asyncio event loop is running (in a coroutine or a callback)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:  # never imported: no loop can be running
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
