"""The stateful test: one long-lived ``trio.run`` in a helper thread, stepped by Hypothesis.

Each rule is one ``trio.from_thread.run`` into that run. Between steps the MockClock does not
move (``autojump_threshold = inf``); the ``advance`` rule lets it run to a target instant
(autojumping through every deadline in order) and every rule ends when all tasks are blocked,
so after each step the runner and the `ReferenceModel` can be compared exactly.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import trio
import trio.testing
from hypothesis import settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from .._base import RunnerStatistics
from .._states import State, StateType
from ._driver import AsyncCall, CallError, MemoryTrace
from .reference import ReferenceModel
from .strategies import durations, outcomes, ticks, timeouts

if TYPE_CHECKING:
    from ._conformance import RunnerConformance

__all__ = ["run_machine"]

T = TypeVar("T")


@attrs.define
class _Waiter:
    call: int
    started_at: float
    timeout: float | None
    returned: bool = False
    returned_at: float = math.nan
    result: State[Any] | None = None


@attrs.frozen
class _Snapshot:
    now: float
    statistics: RunnerStatistics
    states: dict[int, State[Any] | None]


def _key(i: int) -> Hashable:
    return f"call-{i}"


class RunnerMachine(RuleBasedStateMachine):
    """Steps one runner and the reference model side by side."""

    kit: RunnerConformance

    def __init__(self) -> None:
        super().__init__()
        kit = self.kit
        self.model = ReferenceModel(sequential=kit.sequential, max_workers=kit.max_workers)
        self.runner = kit.new_runner()
        self.trace = MemoryTrace()
        self.clock = trio.testing.MockClock()
        self.waiters: list[_Waiter] = []
        self.seen: dict[int, State[Any]] = {}
        self.cancelled_caught: bool | None = None
        self.error: BaseException | None = None
        #: The last invariant check passed (rules are always followed by one).
        self._healthy = True
        self._outer: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None
        self._send: trio.MemorySendChannel[tuple[Hashable, AsyncCall]] | None = None
        self._shutdown: trio.Event | None = None
        ready: queue.Queue[trio.lowlevel.TrioToken | None] = queue.Queue()
        self._thread = threading.Thread(target=self._thread_main, args=(ready,), daemon=True)
        self._thread.start()
        token = ready.get()
        if token is None:
            self._raise_error()
        assert token is not None
        self._token = token

    # ------------------------------------------------------------------ the Trio side

    def _thread_main(self, ready: queue.Queue[trio.lowlevel.TrioToken | None]) -> None:
        try:
            trio.run(self._trio_main, ready, clock=self.clock)
        except BaseException as exc:  # reported on the Hypothesis side, see _raise_error
            self.error = exc
        ready.put(None)

    async def _trio_main(self, ready: queue.Queue[trio.lowlevel.TrioToken | None]) -> None:
        self._shutdown = trio.Event()
        async with trio.open_nursery() as outer:
            self._outer = outer
            with trio.CancelScope() as scope:
                self._scope = scope
                async with self.runner.start():
                    send, receive = trio.open_memory_channel[tuple[Hashable, AsyncCall]](math.inf)
                    self._send = send
                    ready.put(trio.lowlevel.current_trio_token())
                    # One submitter drains a FIFO channel: submission order is structural.
                    async with receive:
                        async for key, call in receive:
                            await self.runner.submit(key, call)
            self.cancelled_caught = scope.cancelled_caught
            await self._shutdown.wait()

    def _raise_error(self) -> None:
        error = self.error
        assert error is not None
        raise AssertionError(f"the Trio run ended with {error!r}") from error

    def _step(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn`` in the Trio thread, then wait until every task there is blocked."""
        self._healthy = False  # until the invariant has checked the result

        async def step() -> T:
            result = await fn(*args)
            await trio.testing.wait_all_tasks_blocked()
            return result

        try:
            return trio.from_thread.run(step, trio_token=self._token)
        except trio.RunFinishedError:
            self._thread.join()
            self._raise_error()
            raise

    # ------------------------------------------------------------------ rules

    keys = Bundle("keys")

    @rule(target=keys, duration=durations(2), fails=outcomes())
    def submit(self, duration: float, fails: bool) -> int:
        i = self.model.submit(duration, fails)
        call = AsyncCall(self.trace, i, duration, fails)

        async def do() -> None:
            assert self._send is not None
            self._send.send_nowait((_key(i), call))

        self._step(do)
        return i

    @rule(i=keys, timeout=timeouts(3))
    def wait(self, i: int, timeout: float | None) -> None:
        call = self.model.calls[i]
        if not call.registered or call.released:

            async def expect_key_error() -> bool:
                with trio.move_on_after(0):
                    try:
                        await self.runner.wait(_key(i), timeout)
                    except KeyError:
                        return True
                return False

            assert self._step(expect_key_error), f"wait on unknown key {i} did not raise KeyError"
            return
        waiter = _Waiter(i, self.model.now, timeout)
        self.waiters.append(waiter)

        async def run_waiter() -> None:
            waiter.result = await self.runner.wait(_key(i), timeout)
            waiter.returned_at = trio.current_time()
            waiter.returned = True

        async def spawn() -> None:
            assert self._outer is not None
            self._outer.start_soon(run_waiter)

        self._step(spawn)

    @rule(i=keys)
    def cancel(self, i: int) -> None:
        expected = self.model.cancel(i)

        async def do() -> bool | type[KeyError]:
            try:
                return self.runner.cancel(_key(i))
            except KeyError:
                return KeyError

        got = self._step(do)
        assert got == expected, f"cancel(call {i}) gave {got}, the model says {expected}"

    @rule()
    def cancel_all(self) -> None:
        expected = self.model.cancel_all()

        async def do() -> int:
            return self.runner.cancel_all()

        got = self._step(do)
        assert got == expected, f"cancel_all() cancelled {got} calls, the model says {expected}"

    @rule(dt=ticks(2))
    def advance(self, dt: float) -> None:
        target = self.model.now + dt

        async def do() -> None:
            self.clock.autojump_threshold = 0
            await trio.sleep_until(target)
            self.clock.autojump_threshold = math.inf

        self._step(do)
        self.model.advance(target)

    @rule(i=keys)
    def release(self, i: int) -> None:
        expected = self.model.release(i)

        async def do() -> type[Exception] | None:
            try:
                self.runner.release(_key(i))
            except (KeyError, RuntimeError) as exc:
                return type(exc)
            return None

        got = self._step(do)
        assert got is expected, f"release(call {i}) gave {got}, the model says {expected}"

    # ------------------------------------------------------------------ checks

    def _snapshot(self) -> _Snapshot:
        async def do() -> _Snapshot:
            states = {
                c.index: self.runner.state(_key(c.index))
                for c in self.model.calls
                if c.registered and not c.released
            }
            return _Snapshot(trio.current_time(), self.runner.statistics(), states)

        return self._step(do)

    @invariant()
    def agrees_with_the_model(self) -> None:
        snap = self._snapshot()
        model = self.model
        self._check_starts()
        assert snap.now == model.now, f"Trio's clock is at {snap.now}, the model at {model.now}"
        expected = model.statistics()
        waiting = sum(1 for w in self.waiters if not w.returned)
        got = snap.statistics
        for field in attrs.fields(type(expected)):
            assert getattr(got, field.name) == getattr(expected, field.name), (
                f"statistics().{field.name} == {getattr(got, field.name)} at {model.now},"
                f" the model says {getattr(expected, field.name)}"
            )
        assert got.waiters == waiting, f"{got.waiters} waiters counted, {waiting} waiting"
        for i, state in snap.states.items():
            self._check_state(i, state)
        for waiter in self.waiters:
            self._check_waiter(waiter)
        self._healthy = True

    def _check_state(self, i: int, state: State[Any] | None) -> None:
        call = self.model.calls[i]
        if state is None:
            assert call.outcome is None, f"call {i} should be {call.outcome} at {self.model.now}"
            return
        assert state.type is call.outcome, (
            f"call {i} is {state!r} at {self.model.now}, the model says {call.outcome}"
        )
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
            got = starts.get(call.index, [])
            want = [] if call.started_at is None else [call.started_at]
            assert got == want, (
                f"call {call.index} started at {got}; the model (FIFO, one run per call)"
                f" says {want}"
            )

    def _check_waiter(self, w: _Waiter) -> None:
        finished = self.model.finish_time(w.call)
        deadline = math.inf if w.timeout is None else w.started_at + w.timeout
        desc = f"wait(call {w.call}, timeout={w.timeout}) started at {w.started_at}"
        now = self.model.now
        if finished is not None and finished <= deadline:
            tie = finished == deadline
            if not w.returned:
                raise AssertionError(f"{desc}: the call finished at {finished}; still waiting")
            assert w.returned_at == max(finished, w.started_at), f"{desc}: late or early"
            if not tie:
                assert w.result is not None, f"{desc}: returned None, not the State"
            if w.result is not None:
                assert w.result is self.seen.get(w.call, w.result), f"{desc}: another State"
        elif deadline <= now:
            returned_none_in_time = w.returned and w.result is None and w.returned_at == deadline
            assert returned_none_in_time, (
                f"{desc}: should have returned None at {deadline}; returned={w.returned}"
                f" {w.result!r} at {w.returned_at}"
            )
        else:
            assert not w.returned, f"{desc}: returned {w.result!r} at {w.returned_at}, too early"

    def teardown(self) -> None:
        try:
            # Hypothesis calls teardown after a failed step too: check the exit only after a
            # step that passed, so that the first failure is the one reported.
            if self._healthy and self.error is None and self._thread.is_alive():
                self._exit_runner()
        finally:
            self._stop_thread()

    def _exit_runner(self) -> None:
        async def cancel_scope() -> None:
            assert self._scope is not None
            self._scope.cancel()

        self._step(cancel_scope)
        self.model.cancel_everything()
        assert self.cancelled_caught is True, "the scope around start() did not catch Cancelled"
        hung = [w for w in self.waiters if not w.returned]
        assert not hung, f"waiters hung after the runner exited: {hung}"
        for i, state in self._snapshot().states.items():
            assert state is not None, f"call {i} has no State after the runner exited"
            self._check_state(i, state)

    def _stop_thread(self) -> None:
        if self._thread.is_alive():

            def stop() -> None:
                assert self._shutdown is not None
                assert self._outer is not None
                self._outer.cancel_scope.cancel()  # waiters that hung, if any
                self._shutdown.set()

            with contextlib.suppress(trio.RunFinishedError):  # it ended on its own meanwhile
                trio.from_thread.run_sync(stop, trio_token=self._token)
        self._thread.join()


def run_machine(kit: RunnerConformance, hypothesis_settings: settings) -> None:
    """Run the state machine against ``kit``'s runner."""
    machine = type(
        f"{type(kit).__name__}Machine",
        (RunnerMachine,),
        {"kit": kit, "__module__": type(kit).__module__},
    )
    # Typed in recent Hypothesis releases, untyped in the last ones for Python 3.10.
    run_state_machine_as_test(machine, settings=hypothesis_settings)  # type: ignore[no-untyped-call,unused-ignore]
