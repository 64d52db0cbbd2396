"""The stateful test: random steps on one long-lived run, checked against a model after each.

One example is one ``trio.run`` on a `trio.testing.MockClock` that never jumps between steps
(``autojump_threshold = inf``). Hypothesis draws the example's steps (one integer each); each
step runs inside the run, then the machine waits until every task is blocked and compares the
runner with `_Model` exactly. Everything happens in one thread: no thread round trip per step.

The steps: submit from one of several submitter tasks (lanes; a blocked submit is seen, and
its own scope can cancel it), waits with a timeout and a cancel scope of their own
(``statistics().waiters`` is checked exactly), ``cancel``, ``cancel_all``, ``release``,
letting time pass, and ``as_completed`` consumers that take steps (each in a cancel scope of
its own), are cancelled mid-step, ``aclose``, meet duplicate and unknown keys, and are
drained after the exit (a cancelled step must lose no item). With ``max_pending`` (a kit
capability), a submit that would block must be seen blocking, and a cancelled queued call
gives its room back at once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import attrs
import trio
import trio.testing
from hypothesis import Phase, given, note, settings
from hypothesis import strategies as st

from .._states import State, StateType
from ._driver import AsyncCall, CallError, MemoryTrace

if TYPE_CHECKING:
    from .._base import AsCompleted, BaseTaskRunner
    from ._conformance import RunnerConformance

__all__ = ["run_machine"]

LANES = 3  #: submitter tasks
#: Steps per example: Hypothesis's lists average min(max(2 * min, min + 5), (min + max) / 2)
#: elements, 20 here. The all-zero step is advance(dt=0.0), so a shrunk example's padding is
#: a no-op.
MIN_STEPS, MAX_STEPS = 10, 40
NEVER = -1  #: the index of a key that is never submitted
_C = StateType.CANCELLED


def _key(i: int) -> Hashable:
    return "never-submitted" if i == NEVER else f"call-{i}"


@attrs.define
class _Call:
    index: int
    duration: float
    fails: bool
    started_at: float | None = None
    finished_at: float | None = None
    outcome: StateType | None = None
    released: bool = False


class _Model:
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
        self.calls: list[_Call] = []
        self.queue: deque[int] = deque()  # accepted, waiting for a slot (or the lock)
        self.blocked: deque[int] = deque()  # submits waiting for room
        self.running: list[int] = []

    def live(self, i: int) -> bool:
        return 0 <= i < len(self.calls) and not self.calls[i].released

    def submit(self, duration: float, fails: bool) -> int:
        i = len(self.calls)
        self.calls.append(_Call(i, duration, fails))
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
class _Task:
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
class _Consumer:
    iterator: AsCompleted
    keys: list[int]
    created_at: float
    delivered: list[int] = attrs.Factory(list)
    closed: bool = False
    step: _Task | None = None


@attrs.frozen
class _Raw:
    """One step as drawn: one integer read as four bytes and a flag, which
    `_Machine._interpret` reads as the rule (if it applies then) and its arguments. Indices
    are taken modulo what exists when the step runs, so every list of steps is valid and
    Hypothesis shrinks it freely; one choice per step keeps generation cheap."""

    rule: int
    pick: int
    t1: int
    t2: int
    fails: bool

    @classmethod
    def decode(cls, v: int) -> _Raw:
        return cls(v & 255, v >> 8 & 255, v >> 16 & 255, v >> 24 & 255, bool(v >> 32 & 1))


def _time(v: int) -> float:
    """A byte as a time in [0, 4]: whole numbers or k/32 fractions, so sums are exact."""
    return float(v % 4) if v < 128 else (v - 128) / 32


def _timeout(v: int) -> float | None:
    """A byte as a timeout: None (the simplest), 0 (poll), or a time."""
    return None if v == 0 else 0.0 if v == 1 else _time(v - 2)


#: Each rule's weight is how often it appears; swarm testing leaves some out of an example.
_RULES: tuple[str, ...] = ("advance",) * 2 + ("submit",) * 5 + ("next_item", "cancel")
_OPTIONAL: tuple[str, ...] = (
    "wait",
    "cancel",
    "cancel_all",
    "release",
    "as_completed",
    "cancel_submitter",
)
_OPTIONAL += ("cancel_waiter", "cancel_next_item", "aclose", "next_item")
_RULES += _OPTIONAL
#: Built once: building strategies per step costs more than running the step.
_EXAMPLES = st.tuples(
    st.frozensets(st.sampled_from(_OPTIONAL)),
    st.lists(
        st.integers(0, 2**33 - 1).map(_Raw.decode),
        min_size=MIN_STEPS,
        max_size=MAX_STEPS,
    ),
)


class _Machine:
    def __init__(self, kit: RunnerConformance, off: frozenset[str], steps: list[_Raw]) -> None:
        self.off, self.steps = off, steps
        self.model = _Model(
            kit.sequential,
            1 if kit.sequential else kit.max_workers,
            kit.max_pending,
        )
        self.runner: BaseTaskRunner = kit.new_runner()
        self.trace = MemoryTrace()
        self.clock = trio.testing.MockClock()
        self.lanes: list[_Task | None] = [None] * LANES
        self.waiters: list[_Task] = []
        self.consumers: list[_Consumer] = []
        self.seen: dict[int, State[Any]] = {}
        self.errors: list[str] = []
        self.cancelled_caught: bool | None = None

    # ------------------------------------------------------------------ the run

    async def main(self) -> None:
        failure: AssertionError | None = None
        async with trio.open_nursery() as outer:
            self.outer = outer
            await outer.start(self._host)
            try:
                await self._steps()
            except AssertionError as exc:  # raised below, out of the nursery's group
                failure = exc
            outer.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _steps(self) -> None:
        for raw in self.steps:
            step = self._interpret(raw)
            if step is None or step == ("advance", {"dt": 0.0}):
                continue
            rule, args = step
            note(f"{rule}({', '.join(f'{k}={v!r}' for k, v in args.items())})")
            await getattr(self, rule)(**args)
            await trio.testing.wait_all_tasks_blocked()
            self.check()
        self.scope.cancel()  # the scope around start(): every unfinished call ends Cancelled
        await trio.testing.wait_all_tasks_blocked()
        for call in self.model.calls:
            if call.outcome is None:
                self.model.end(call.index, _C)
        self.check(exited=True)
        await self._drain_consumers()

    async def _host(self, task_status: trio.TaskStatus[None]) -> None:
        with trio.CancelScope() as scope:
            self.scope = scope
            async with self.runner.start(), trio.open_nursery() as lanes:
                self.lanes_nursery = lanes
                task_status.started()
                await trio.sleep_forever()
        self.cancelled_caught = scope.cancelled_caught

    async def _in_scope(self, task: _Task, fn: Callable[[], Any]) -> None:
        task.scope.deadline = task.deadline
        returned = False
        try:
            with task.scope:
                task.result = await fn()
                returned = True
        except Exception as exc:  # reported by the next check, with the step that caused it
            self.errors.append(f"{task} raised {exc!r}")
        finally:  # also when the scope around start() cancels a submitter
            task.cancelled = not returned
            task.done, task.ended_at = True, trio.current_time()

    # ------------------------------------------------------------------ rules

    def _interpret(self, raw: _Raw) -> tuple[str, dict[str, Any]] | None:
        """The rule and arguments ``raw`` means now; None if its rule does not apply."""
        n = len(self.model.calls)
        lanes, waiters, consumers = self.lanes, self.waiters, self.consumers
        free = [lane for lane, task in enumerate(lanes) if task is None]
        busy = [lane for lane, task in enumerate(lanes) if task is not None]
        pending = [w for w, task in enumerate(waiters) if not task.done]
        idle = [c for c, con in enumerate(consumers) if con.step is None or con.step.done]
        stepping = [c for c in range(len(consumers)) if c not in idle]
        open_ = [c for c in idle if not consumers[c].closed]
        applies = {
            "advance": True,
            "submit": bool(free),
            "cancel_submitter": bool(busy),
            "cancel_waiter": bool(pending),
            "next_item": bool(idle),
            "cancel_next_item": bool(stepping),
            "aclose": bool(open_),
        }
        # The rule does not depend on the state, and calls, waiters and consumers are counted
        # from the newest: deleting a step while shrinking changes the meaning of few others.
        rule = _RULES[raw.rule % len(_RULES)]
        if rule in self.off or not applies.get(rule, n > 0):
            return None

        def pick(among: list[int]) -> int:
            return among[-1 - raw.pick % len(among)] if among else NEVER

        def call(b: int) -> int:  # NEVER or a call
            return n - 1 - b % (n + 1)

        i, t1, t2 = call(raw.pick), _time(raw.t1), _timeout(raw.t2)
        keys = [call(b) for b in (raw.pick, raw.t1, raw.t2)[: 1 + raw.t2 % 3]]
        args: dict[str, dict[str, Any]] = {
            "advance": {"dt": t1},
            "submit": {"lane": pick(free), "duration": _time(raw.t1 + 1), "fails": raw.fails},
            "cancel_submitter": {"lane": pick(busy)},
            "wait": {"i": i, "timeout": _timeout(raw.t1), "scope_timeout": t2},
            "cancel": {"i": i},
            "cancel_all": {},
            "release": {"i": i},
            "as_completed": {"keys": keys},
            "cancel_waiter": {"w": pick(pending)},
            "next_item": {"c": pick(idle), "timeout": t2},
            "cancel_next_item": {"c": pick(stepping)},
            "aclose": {"c": pick(open_)},
        }
        return rule, args[rule]

    async def advance(self, dt: float) -> None:
        target = self.model.now + dt
        self.clock.autojump_threshold = 0
        await trio.sleep_until(target)
        self.clock.autojump_threshold = math.inf
        self.model.advance(target)

    async def submit(self, lane: int, duration: float, fails: bool) -> None:
        i = self.model.submit(duration, fails)
        call = AsyncCall(self.trace, i, duration, fails)
        task = self.lanes[lane] = _Task(f"lane {lane}: submit(call {i})", i, self.model.now)
        self.lanes_nursery.start_soon(
            self._in_scope, task, lambda: self.runner.submit(_key(i), call)
        )

    async def cancel_submitter(self, lane: int) -> None:
        task = self.lanes[lane]
        assert task is not None
        task.scope.cancel()
        self.model.abandon(task.call)

    async def wait(self, i: int, timeout: float | None, scope_timeout: float | None) -> None:
        if not self.model.live(i):
            with trio.move_on_after(0):
                try:
                    await self.runner.wait(_key(i), timeout)
                except KeyError:
                    return
            raise AssertionError(f"wait on unknown key {_key(i)!r} did not raise KeyError")
        now = self.model.now
        deadline = math.inf if scope_timeout is None else now + scope_timeout
        what = f"wait(call {i}, timeout={timeout}) in a scope of deadline {deadline}"
        task = _Task(what, i, now, deadline, timeout)
        self.waiters.append(task)
        self.outer.start_soon(self._in_scope, task, lambda: self.runner.wait(_key(i), timeout))

    async def cancel_waiter(self, w: int) -> None:
        self._cancel(self.waiters[w])

    def _cancel(self, task: _Task | None) -> None:
        assert task is not None
        task.scope.cancel()
        task.deadline = min(task.deadline, self.model.now)

    async def cancel(self, i: int) -> None:
        expected = self.model.cancel(i)
        try:
            got: bool | type[KeyError] = self.runner.cancel(_key(i))
        except KeyError:
            got = KeyError
        assert got == expected, f"cancel(call {i}) gave {got}, the model says {expected}"

    async def cancel_all(self) -> None:
        got, expected = self.runner.cancel_all(), self.model.cancel_all()
        assert got == expected, f"cancel_all() cancelled {got} calls, the model says {expected}"

    async def release(self, i: int) -> None:
        expected = self.model.release(i)
        got: type[Exception] | None = None
        try:
            self.runner.release(_key(i))
        except (KeyError, RuntimeError) as exc:
            got = type(exc)
        assert got is expected, f"release(call {i}) gave {got}, the model says {expected}"

    async def as_completed(self, keys: list[int]) -> None:
        try:
            iterator = self.runner.as_completed([_key(i) for i in keys])
        except KeyError:
            assert not all(self.model.live(i) for i in keys), f"as_completed({keys}): KeyError"
            return
        assert all(self.model.live(i) for i in keys), f"as_completed({keys}): no KeyError"
        self.consumers.append(_Consumer(iterator, list(dict.fromkeys(keys)), self.model.now))

    async def next_item(self, c: int, timeout: float | None) -> None:
        con = self.consumers[c]
        now = self.model.now
        deadline = math.inf if timeout is None else now + timeout
        what = f"consumer {c}: a step of as_completed({con.keys}) with deadline {deadline}"
        con.step = _Task(what, NEVER, now, deadline)
        self.outer.start_soon(self._in_scope, con.step, lambda: self._next(con.iterator))

    @staticmethod
    async def _next(iterator: AsCompleted) -> Any:
        try:
            return await iterator.__anext__()
        except StopAsyncIteration:
            return StopAsyncIteration

    async def cancel_next_item(self, c: int) -> None:
        self._cancel(self.consumers[c].step)

    async def aclose(self, c: int) -> None:
        self.consumers[c].closed = True
        await self.consumers[c].iterator.aclose()

    async def _drain_consumers(self) -> None:
        """After the exit every call has a State: each consumer must deliver all of them."""
        for c, con in enumerate(self.consumers):
            for _ in range(len(con.keys) + 1):
                await self.next_item(c, None)
                await trio.testing.wait_all_tasks_blocked()
                self._check_consumer(con)
                if con.step is not None and con.step.result is StopAsyncIteration:
                    break
            else:
                raise AssertionError(f"consumer {c} did not stop after {len(con.keys)} items")

    # ------------------------------------------------------------------ checks

    def check(self, exited: bool = False) -> None:
        model = self.model
        assert not self.errors, self.errors
        assert trio.current_time() == model.now, f"clock {trio.current_time()} != {model.now}"
        self._check_starts()
        got = self.runner.statistics()
        for name, want in model.statistics().items():
            assert getattr(got, name) == want, (
                f"statistics().{name} == {getattr(got, name)} at {model.now}, model: {want}"
            )
        waiting = sum(not w.done for w in self.waiters)
        assert got.waiters == waiting, f"statistics().waiters == {got.waiters}, {waiting} waiting"
        for call in model.calls:
            if not call.released:
                self._check_state(call, self.runner.state(_key(call.index)))
        for lane, task in enumerate(self.lanes):
            if task is not None:
                blocked = False if exited else model.submitting(task.call)
                if blocked is not None:
                    assert task.done is not blocked, (
                        f"lane {lane}: submit of call {task.call} started at {task.started_at}"
                        f" is {'done' if task.done else 'blocked'} at {model.now}; the model"
                        f" says {'blocked' if blocked else 'done'}"
                    )
                if task.done:
                    self.lanes[lane] = None
        for w in self.waiters:
            self._check_waiter(w)
        for con in self.consumers:
            self._check_consumer(con)
        if exited:
            assert self.cancelled_caught is True, "the scope around start() did not catch it"

    def _check_state(self, call: _Call, state: State[Any] | None) -> None:
        i = call.index
        if state is None:
            assert call.outcome is None, f"call {i} should be {call.outcome} at {self.model.now}"
            return
        assert state.type is call.outcome, f"call {i} is {state!r}, the model: {call.outcome}"
        if state.type is StateType.COMPLETED:
            assert state.result() == i
        elif state.type is StateType.FAILED:
            assert isinstance(state.exception(), CallError)
        first = self.seen.setdefault(i, state)
        assert first is state, f"call {i} changed State from {first!r} to {state!r}"

    def _check_starts(self) -> None:
        starts: dict[int, list[float | None]] = {}
        for event in self.trace.events():
            if event.kind == "start":
                starts.setdefault(event.call, []).append(event.time)
        for call in self.model.calls:
            got, want = starts.get(call.index, []), [call.started_at]
            if call.started_at is None:
                want = []
            assert got == want, f"call {call.index} started at {got}; the model says {want}"

    def _ends(self, task: _Task, outcomes: dict[str, float]) -> None:
        """``task`` may end as each of ``outcomes`` (value, none, cancelled) at its time: it
        must end at the earliest of them, as one of the outcomes due then."""
        first = min(outcomes.values())
        desc = f"{task} (now {self.model.now})"
        if first > self.model.now:
            assert not task.done, f"{desc}: ended early; expected {outcomes}"
            return
        assert task.done and task.ended_at == first, f"{desc}: should end at {first}: {outcomes}"
        allowed = {what for what, t in outcomes.items() if t == first}
        kind = "cancelled" if task.cancelled else "none" if task.result is None else "value"
        assert kind in allowed, f"{desc}: ended {kind}; at {first} it may only be {allowed}"

    def _check_waiter(self, w: _Task) -> None:
        finished = self.model.calls[w.call].finished_at
        outcomes = {"cancelled": w.deadline}
        if finished is not None:
            outcomes["value"] = max(finished, w.started_at)
        if w.timeout is not None:
            outcomes["none"] = w.started_at + w.timeout
        self._ends(w, outcomes)
        if w.done and not w.cancelled and w.result is not None:
            assert w.result is self.seen[w.call], f"{w}: another State than the call's"

    def _check_consumer(self, con: _Consumer) -> None:
        task = con.step
        if task is None:
            return
        model = self.model

        def ready(i: int) -> float:
            finished = model.calls[i].finished_at
            return math.inf if finished is None else max(finished, con.created_at)

        left = [i for i in con.keys if i not in con.delivered]
        outcomes = {"cancelled": task.deadline}
        first = task.started_at if con.closed or not left else min(map(ready, left))
        if first < math.inf:  # an item, or StopAsyncIteration at once
            outcomes["value"] = max(first, task.started_at)
        if task.checked:
            return
        self._ends(task, outcomes)
        if not task.done:
            return
        task.checked, result, desc = True, task.result, repr(task)
        if task.cancelled:
            return
        if result is StopAsyncIteration:
            assert con.closed or not left, f"{desc}: stopped; calls {left} never delivered"
            return
        assert not con.closed, f"{desc}: gave {result!r} after aclose()"
        key, state = result
        i = next((j for j in left if _key(j) == key), None)
        assert i is not None, f"{desc}: gave {key!r}, not one of {left}"
        assert ready(i) == min(map(ready, left)), f"{desc}: gave call {i} out of finish order"
        assert state is self.seen.setdefault(i, state), f"{desc}: another State for call {i}"
        con.delivered.append(i)


def run_machine(kit: RunnerConformance, hypothesis_settings: settings) -> None:
    """Run the state machine against ``kit``'s runner."""

    def machine(example: tuple[frozenset[str], list[_Raw]]) -> None:
        m = _Machine(kit, *example)
        trio.run(m.main, clock=m.clock)

    owner = f"{type(kit).__module__}.{type(kit).__qualname__}.state_machine"
    machine._hypothesis_internal_add_digest = owner.encode()  # type: ignore[attr-defined]
    # No explain phase: it traces every line of a failing example's replays (minutes here),
    # and the steps noted for the failing example already say what happened.
    phases = [p for p in hypothesis_settings.phases if p is not Phase.explain]
    settings(hypothesis_settings, deadline=None, phases=phases)(given(_EXAMPLES)(machine))()
