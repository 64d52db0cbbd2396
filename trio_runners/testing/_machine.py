"""The stateful test: random steps on one long-lived run, checked against `Model` after each.

One example is one ``trio.run`` on a MockClock that never jumps between steps; each step runs
inside the run, then the machine waits until every task is blocked and compares the runner
with the model exactly. The steps (see `_machine_model`; the ones played first: `_landmarks`):
submits from several submitter lanes (a blocked submit is seen; its own scope can cancel it),
scoped waits, ``cancel``, ``cancel_all``, ``release``, time passing, ``as_completed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio
import trio.testing
from hypothesis import Phase, given, note, settings

from .._states import State, StateType
from . import _landmarks
from ._calls import AsyncCall, CallError
from ._log import MemoryCallLog
from ._machine_model import EXAMPLES, LANES, NEVER, RULES, Consumer, Model, Raw, Task
from ._machine_model import Call as _Call
from ._machine_model import key as _key
from ._machine_model import time_of as _time
from ._machine_model import timeout_of as _timeout
from ._settings import KitSettings

if TYPE_CHECKING:
    from .._base import AsCompleted, BaseTaskRunner

__all__ = ["run_machine"]


class _Machine:
    """One example: the runner, the model, the tasks the steps started, what was seen."""

    def __init__(self, kit: KitSettings, off: frozenset[str], steps: list[Raw]) -> None:
        self.off, self.steps = off, steps
        workers = 1 if kit.sequential else kit.max_workers
        self.model = Model(kit.sequential, workers, kit.max_pending)
        self.runner: BaseTaskRunner = kit.new_runner()
        self.log = MemoryCallLog()
        self.clock = trio.testing.MockClock()
        self.lanes: list[Task | None] = [None] * LANES
        self.waiters: list[Task] = []
        self.consumers: list[Consumer] = []
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
                self.model.end(call.index, StateType.CANCELLED)
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

    async def _in_scope(self, task: Task, fn: Callable[[], Any]) -> None:
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

    def _interpret(self, raw: Raw) -> tuple[str, dict[str, Any]] | None:
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
        rule = RULES[raw.rule % len(RULES)]
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
        call = AsyncCall(self.log, i, duration, fails)
        task = self.lanes[lane] = Task(f"lane {lane}: submit(call {i})", i, self.model.now)
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
        task = Task(what, i, now, deadline, timeout)
        self.waiters.append(task)
        self.outer.start_soon(self._in_scope, task, lambda: self.runner.wait(_key(i), timeout))

    async def cancel_waiter(self, w: int) -> None:
        self._cancel(self.waiters[w])

    def _cancel(self, task: Task | None) -> None:
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
        self.consumers.append(Consumer(iterator, list(dict.fromkeys(keys)), self.model.now))

    async def next_item(self, c: int, timeout: float | None) -> None:
        con = self.consumers[c]
        now = self.model.now
        deadline = math.inf if timeout is None else now + timeout
        what = f"consumer {c}: a step of as_completed({con.keys}) with deadline {deadline}"
        con.step = Task(what, NEVER, now, deadline)
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
        for event in self.log.events():
            if event.kind == "start":
                starts.setdefault(event.call, []).append(event.time)
        for call in self.model.calls:
            got, want = starts.get(call.index, []), [call.started_at]
            if call.started_at is None:
                want = []
            assert got == want, f"call {call.index} started at {got}; the model says {want}"

    def _ends(self, task: Task, outcomes: dict[str, float]) -> None:
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

    def _check_waiter(self, w: Task) -> None:
        finished = self.model.calls[w.call].finished_at
        outcomes = {"cancelled": w.deadline}
        if finished is not None:
            outcomes["value"] = max(finished, w.started_at)
        if w.timeout is not None:
            outcomes["none"] = w.started_at + w.timeout
        self._ends(w, outcomes)
        if w.done and not w.cancelled and w.result is not None:
            assert w.result is self.seen[w.call], f"{w}: another State than the call's"

    def _check_consumer(self, con: Consumer) -> None:
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


def run_machine(kit: KitSettings, hypothesis_settings: settings) -> None:
    """Run the state machine against ``kit``'s runner."""

    def machine(example: tuple[frozenset[str], list[Raw]]) -> None:
        m = _Machine(kit, *example)
        trio.run(m.main, clock=m.clock)

    owner = f"{type(kit).__module__}.{type(kit).__qualname__}.state_machine"
    machine._hypothesis_internal_add_digest = owner.encode()  # type: ignore[attr-defined]
    # No explain phase: it traces every line of a failing example's replays (minutes here).
    phases = [p for p in hypothesis_settings.phases if p is not Phase.explain]
    test = _landmarks.played_first(given(EXAMPLES)(machine), _landmarks.machine(type(kit)))
    settings(hypothesis_settings, deadline=None, phases=phases)(test)()
