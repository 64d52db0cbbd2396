"""The reference model: what a conforming runner does, computed without Trio.

`ReferenceModel` is a small discrete-event simulation of a runner with a worker limit
(``capacity``: 1 for a sequential runner, ``k`` for ``max_workers=k``, None for unbounded).
Calls are admitted FIFO, each runs for its duration and then Completes or Fails; ``cancel``
decides Cancelled at once and frees the call's slot at that instant. It answers, at any time,
which calls are queued, running or finished, what ``cancel``, ``cancel_all`` and ``release``
return, and what every counter of ``runner.statistics()`` is. The state machine of the
conformance kit steps a real runner and this model side by side and compares them.

It needs neither Trio nor Hypothesis.
"""

from __future__ import annotations

import math
from collections import deque

import attrs

from .._states import StateType

__all__ = ["ModelCall", "ModelStatistics", "ReferenceModel"]


@attrs.define
class ModelCall:
    """What the model knows about one call."""

    index: int
    duration: float
    fails: bool
    submitted_at: float
    #: The runner knows the key (a sequential runner registers a key only when its turn comes).
    registered: bool
    started_at: float | None = None
    finished_at: float | None = None
    outcome: StateType | None = None
    released: bool = False
    #: Its ``submit`` has returned (False while blocked by ``max_pending`` backpressure).
    accepted: bool = True

    @property
    def finished(self) -> bool:
        return self.outcome is not None


@attrs.frozen
class ModelStatistics:
    """The counters ``runner.statistics()`` must show (same names as `RunnerStatistics`)."""

    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int
    crashed: int
    retained: int


class ReferenceModel:
    """A runner as a discrete-event simulation; time only moves in `advance`.

    Args:
      sequential: keys are registered only when admitted (the sequential runner's ``submit``
        runs the call to completion, so a later call has not been submitted yet); implies a
        capacity of 1.
      max_workers: the worker limit; None for unbounded.
      max_pending: with ``max_workers``, how many live calls may be accepted and not yet
        admitted; a further ``submit`` blocks (`ModelCall.accepted` is False) until a queued
        call is admitted or cancelled, then the blocked submits are accepted in FIFO order.
    """

    def __init__(
        self,
        *,
        sequential: bool = False,
        max_workers: int | None = None,
        max_pending: int | None = None,
    ) -> None:
        self.sequential = sequential
        self.capacity: int | None = 1 if sequential else max_workers
        self.max_pending = None if sequential or max_workers is None else max_pending
        self.now = 0.0
        self.calls: list[ModelCall] = []
        self._queue: deque[int] = deque()
        self._running: list[int] = []

    # ------------------------------------------------------------------ operations

    def submit(self, duration: float, fails: bool) -> int:
        """Submit a call now; return its index. With ``max_pending`` the submit may block:
        see `ModelCall.accepted` (`submit_blocks` says beforehand)."""
        index = len(self.calls)
        call = ModelCall(index, duration, fails, self.now, registered=not self.sequential)
        call.accepted = not self.submit_blocks()
        self.calls.append(call)
        self._queue.append(index)
        self._settle()
        return index

    def pending(self) -> int:
        """Live calls accepted and not admitted (what ``max_pending`` bounds)."""
        return sum(1 for i in self._queue if self.calls[i].accepted and not self.calls[i].finished)

    def submit_blocks(self) -> bool:
        """A ``submit`` made now would block (backpressure)."""
        blocked = any(not self.calls[i].accepted for i in self._queue)
        return self.max_pending is not None and (blocked or self.pending() >= self.max_pending)

    def cancel(self, index: int) -> bool | type[KeyError]:
        """What ``runner.cancel(key)`` does now: True, False, or `KeyError` (unknown key)."""
        call = self.calls[index]
        if not call.registered or call.released:
            return KeyError
        if call.finished:
            return False
        self._end(call, StateType.CANCELLED)
        self._settle()
        return True

    def cancel_all(self) -> int:
        """What ``runner.cancel_all()`` returns now (and do it)."""
        unfinished = [c for c in self.calls if c.registered and not c.released and not c.finished]
        for call in unfinished:
            self._end(call, StateType.CANCELLED)
        self._settle()
        return len(unfinished)

    def release(self, index: int) -> type[Exception] | None:
        """What ``runner.release(key)`` does now: None (released), `KeyError` or `RuntimeError`."""
        call = self.calls[index]
        if not call.registered or call.released:
            return KeyError
        if not call.finished:
            return RuntimeError
        call.released = True
        return None

    def advance(self, to: float) -> None:
        """Let time pass until ``to``, finishing and admitting calls at their exact instants."""
        if to < self.now:
            raise ValueError("time only moves forward")
        while True:
            ends = [self._end_time(self.calls[i]) for i in self._running]
            t = min(ends, default=math.inf)
            if t > to:
                break
            self.now = t
            self._settle()
        self.now = to

    def cancel_everything(self) -> None:
        """The scope around ``start()`` is cancelled: every registered unfinished call ends
        Cancelled; calls the runner never saw (sequential, not yet submitted) never run."""
        for call in self.calls:
            if call.registered and not call.finished:
                self._end(call, StateType.CANCELLED)
        self._queue.clear()

    # ------------------------------------------------------------------ questions

    def finish_time(self, index: int) -> float | None:
        """When the call got its State, or None if it has not finished."""
        return self.calls[index].finished_at

    def statistics(self) -> ModelStatistics:
        """What ``runner.statistics()`` must report now (``waiters`` aside)."""
        live = [c for c in self.calls if c.registered]
        running = len(self._running)
        unfinished = sum(1 for c in live if not c.finished)
        counts = {t: sum(1 for c in live if c.outcome is t) for t in StateType}
        return ModelStatistics(
            queued=unfinished - running,
            running=running,
            completed=counts[StateType.COMPLETED],
            failed=counts[StateType.FAILED],
            cancelled=counts[StateType.CANCELLED],
            crashed=counts[StateType.CRASHED],
            retained=sum(1 for c in live if c.finished and not c.released),
        )

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _end_time(call: ModelCall) -> float:
        assert call.started_at is not None
        return call.started_at + call.duration

    def _end(self, call: ModelCall, outcome: StateType) -> None:
        call.outcome = outcome
        call.finished_at = self.now
        if call.index in self._running:
            self._running.remove(call.index)

    def _settle(self) -> None:
        """Everything that happens at ``now`` without time passing: ends, then admissions."""
        changed = True
        while changed:
            changed = False
            for i in list(self._running):
                call = self.calls[i]
                if self._end_time(call) <= self.now:
                    self._end(call, StateType.FAILED if call.fails else StateType.COMPLETED)
                    changed = True
            while self._queue and (self.capacity is None or len(self._running) < self.capacity):
                call = self.calls[self._queue.popleft()]
                if call.finished:  # cancelled while queued: never starts
                    continue
                call.registered = True
                call.accepted = True
                call.started_at = self.now
                self._running.append(call.index)
                changed = True
            # Room freed by admissions and cancels goes to the blocked submits, in order.
            for i in self._queue:
                call = self.calls[i]
                if call.accepted or call.finished:
                    continue
                if self.max_pending is not None and self.pending() >= self.max_pending:
                    break
                call.accepted = True
                changed = True
