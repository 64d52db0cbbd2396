"""The deadlock guard: a cancel scope around one example that fires when it cannot finish.

Nothing in a schedule takes long: an example still running after the guard's limit is
deadlocked (a submit, a wait or the runner's exit waits for something that can never happen),
and is reported as such instead of hanging the test session.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import trio

from ._loop import primitives

__all__ = ["deadlock_guard"]


def _watchdog(scope: Any, seconds: float) -> threading.Timer:
    """Cancel ``scope`` after ``seconds`` of real time, from a timer thread (through
    `TrioToken.run_sync_soon`; nothing happens if the run has finished). Trio only."""
    token = trio.lowlevel.current_trio_token()

    def fire() -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(scope.cancel)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


@contextlib.contextmanager
def deadlock_guard(exact: bool, hang_limit: float, backend: str) -> Iterator[Any]:
    """A cancel scope that is cancelled once the example has run too long; its
    ``cancelled_caught`` says the example deadlocked.

    Exact runs: a deadline on the MockClock (``10 * hang_limit``), reached only when every task
    is blocked. Other runs on Trio (calls in threads or processes, on any clock): a real-time
    watchdog thread, since a MockClock jumps while a thread works. On asyncio: a deadline in
    real time. Real-time limits are ``max(60, 3 * hang_limit)`` seconds.
    """
    lib = primitives(backend)
    guard = lib.CancelScope()
    watchdog = None
    real_limit = max(60.0, 3 * hang_limit)
    if exact:
        guard.deadline = lib.current_time() + hang_limit * 10
    elif backend == "trio":
        watchdog = _watchdog(guard, real_limit)
    else:
        guard.deadline = lib.current_time() + real_limit
    try:
        with guard:
            yield guard
    finally:
        if watchdog is not None:
            watchdog.cancel()
