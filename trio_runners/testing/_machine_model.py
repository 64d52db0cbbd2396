"""The stateful test's model and steps: what a conforming runner does, step by step.

`Model` is FIFO admission into worker slots with optional ``max_pending`` backpressure, on a
clock that only moves when a step says so; `Raw` is one drawn step, `EXAMPLES` the strategy
for a list of them; `Task` and `Consumer` are the machine's record of the tasks it started.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import attrs
import trio
from hypothesis import strategies as st

from .._states import StateType

if TYPE_CHECKING:
    from .._base import AsCompleted

__all__ = [
    "EXAMPLES",
    "LANES",
    "NEVER",
    "RULES",
    "Call",
    "Consumer",
    "Model",
    "Raw",
    "Task",
    "key",
    "time_of",
    "timeout_of",
]

LANES = 3  #: submitter tasks
#: Steps per example: Hypothesis's lists average min(max(2 * min, min + 5), (min + max) / 2)
#: elements, 20 here. The all-zero step is advance(dt=0.0), so a shrunk example's padding is
#: a no-op.
MIN_STEPS, MAX_STEPS = 10, 40
NEVER = -1  #: the index of a key that is never submitted
_C = StateType.CANCELLED


def key(i: int) -> Hashable:
    return "never-submitted" if i == NEVER else f"call-{i}"


@attrs.define
class Call:
    index: int
    duration: float
    fails: bool
    started_at: float | None = None
    finished_at: float | None = None
    outcome: StateType | None = None
    released: bool = False


class Model:
    """FIFO admission into ``capacity`` slots; ``pending`` accepted calls may wait for one.

    A submit registers its key at once. Sequential: the submit returns when its call ends (or,
    cancelled while queued, when its turn comes). With ``pending``: it returns once fewer than
    ``pending`` live calls are queued (cancelled ones take no room); blocked submits are
    accepted FIFO. A submit whose call was cancelled while it waited may return at any time
    until its turn comes.
    """

    def __init__(self, sequential: bool, capacity: int | None, pending: int | None) -> None:
        self.sequential, self.capacity, self.pending = sequential, capacity, pending
        self.now = 0.0
        self.calls: list[Call] = []
        self.queue: deque[int] = deque()  # accepted, waiting for a slot (or the lock)
        self.blocked: deque[int] = deque()  # submits waiting for room
        self.running: list[int] = []

    def live(self, i: int) -> bool:
        return 0 <= i < len(self.calls) and not self.calls[i].released

    def submit(self, duration: float, fails: bool) -> int:
        i = len(self.calls)
        self.calls.append(Call(i, duration, fails))
        (self.queue if self.pending is None else self.blocked).append(i)
        self.settle()
        return i

    def submitting(self, i: int) -> bool | None:
        """Is call i's submit still blocked? None: either answer is right now."""
        if i in self.running:
            return self.sequential
        if i in self.queue or i in self.blocked:
            waits = self.sequential or i in self.blocked
            return None if waits and self.calls[i].outcome is not None else waits
        return False

    def end(self, i: int, outcome: StateType) -> None:
        call = self.calls[i]
        if call.outcome is None:
            call.outcome, call.finished_at = outcome, self.now
        if i in self.running:
            self.running.remove(i)

    def cancel(self, i: int) -> bool | type[KeyError]:
        if not self.live(i):
            return KeyError
        if self.calls[i].outcome is not None:
            return False
        self.end(i, _C)
        self.settle()
        return True

    def cancel_all(self) -> int:
        unfinished = [c.index for c in self.calls if c.outcome is None]
        for i in unfinished:
            self.end(i, _C)
        self.settle()
        return len(unfinished)

    def abandon(self, i: int) -> None:
        """Call i's submitter was cancelled: the call ends Cancelled, its submit returns."""
        self.end(i, _C)
        for q in (self.queue, self.blocked):
            if i in q:
                q.remove(i)
        self.settle()

    def release(self, i: int) -> type[Exception] | None:
        if not self.live(i):
            return KeyError
        if self.calls[i].outcome is None:
            return RuntimeError
        self.calls[i].released = True
        return None

    def advance(self, to: float) -> None:
        while True:
            t = min((self._end_time(i) for i in self.running), default=math.inf)
            if t > to:
                break
            self.now = t
            self.settle()
        self.now = to

    def _end_time(self, i: int) -> float:
        call = self.calls[i]
        assert call.started_at is not None
        return call.started_at + call.duration

    def settle(self) -> None:
        """What happens at ``now`` without time passing: ends, admissions, acceptances."""
        changed = True
        while changed:
            changed = False
            for i in list(self.running):
                if self._end_time(i) <= self.now:
                    self.end(i, StateType.FAILED if self.calls[i].fails else StateType.COMPLETED)
                    changed = True
            while self.queue and (self.capacity is None or len(self.running) < self.capacity):
                call = self.calls[self.queue.popleft()]
                if call.outcome is None:  # a call cancelled while queued never starts
                    call.started_at = self.now
                    self.running.append(call.index)
                changed = True
            while self.blocked and sum(self.calls[i].outcome is None for i in self.queue) < (
                self.pending or 0
            ):
                i = self.blocked.popleft()
                if self.calls[i].outcome is None:
                    self.queue.append(i)
                changed = True

    def statistics(self) -> dict[str, int]:
        live = [c for c in self.calls if not c.released]
        unfinished = sum(c.outcome is None for c in self.calls)
        counts = {t: sum(c.outcome is t for c in self.calls) for t in StateType}
        return {
            "queued": unfinished - len(self.running),
            "running": len(self.running),
            "completed": counts[StateType.COMPLETED],
            "failed": counts[StateType.FAILED],
            "cancelled": counts[_C],
            "crashed": counts[StateType.CRASHED],
            "retained": sum(c.outcome is not None for c in live),
        }


@attrs.define(eq=False)
class Task:
    """A waiter, a submit or an as_completed step: a task with a cancel scope of its own."""

    what: str
    call: int
    started_at: float
    deadline: float = math.inf  #: its own scope's deadline (or when that scope was cancelled)
    timeout: float | None = None  #: wait's timeout
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: bool = False
    ended_at: float = math.nan
    result: Any = None  #: a State or None (wait), a (key, State) item or StopAsyncIteration
    cancelled: bool = False
    checked: bool = False

    def __repr__(self) -> str:
        return f"{self.what} started at {self.started_at}"


@attrs.define(eq=False)
class Consumer:
    iterator: AsCompleted
    keys: list[int]
    created_at: float
    delivered: list[int] = attrs.Factory(list)
    closed: bool = False
    step: Task | None = None


@attrs.frozen
class Raw:
    """One step as drawn: one integer read as four bytes and a flag, which
    the machine's ``_interpret`` reads as the rule (if it applies then) and its arguments. Indices
    are taken modulo what exists when the step runs, so every list of steps is valid and
    Hypothesis shrinks it freely; one choice per step keeps generation cheap."""

    rule: int
    pick: int
    t1: int
    t2: int
    fails: bool

    @classmethod
    def decode(cls, v: int) -> Raw:
        return cls(v & 255, v >> 8 & 255, v >> 16 & 255, v >> 24 & 255, bool(v >> 32 & 1))


def time_of(v: int) -> float:
    """A byte as a time in [0, 4]: whole numbers or k/32 fractions, so sums are exact."""
    return float(v % 4) if v < 128 else (v - 128) / 32


def timeout_of(v: int) -> float | None:
    """A byte as a timeout: None (the simplest), 0 (poll), or a time."""
    return None if v == 0 else 0.0 if v == 1 else time_of(v - 2)


#: Each rule's weight is how often it appears; swarm testing leaves some out of an example.
RULES: tuple[str, ...] = ("advance",) * 2 + ("submit",) * 5 + ("next_item", "cancel")
OPTIONAL: tuple[str, ...] = (
    "wait",
    "cancel",
    "cancel_all",
    "release",
    "as_completed",
    "cancel_submitter",
)
OPTIONAL += ("cancel_waiter", "cancel_next_item", "aclose", "next_item")
RULES += OPTIONAL
#: Built once: building strategies per step costs more than running the step.
EXAMPLES = st.tuples(
    st.frozensets(st.sampled_from(OPTIONAL)),
    st.lists(
        st.integers(0, 2**33 - 1).map(Raw.decode),
        min_size=MIN_STEPS,
        max_size=MAX_STEPS,
    ),
)
