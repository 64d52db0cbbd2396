"""`ScheduleDriver`: plays one `Schedule` against a runner and records a `Report`.

The calls record ``start``/``end`` events in a `CallLog`; the driver records its own actions
(submissions, cancels, the scope cancel, the exception raised in the block) in the same log,
so every property can be judged from the order of events alone, and, on a MockClock, from
their exact times too. The driver is written against anyio, so it plays on Trio (exact, on a
MockClock, when the kit runs it there) and on asyncio (real time) alike.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Hashable
from typing import Any

import attrs
import sniffio

from .._states import State
from ._calls import BlockError, CallFactory
from ._guard import deadlock_guard
from ._log import CallEvent, CallLog, MemoryCallLog
from ._loop import primitives, task_group
from ._report import CANCELLED_NAMES, CancelAction, Report, WaitResult
from .strategies import Schedule, WaitSpec

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["ScheduleDriver", "run_schedule"]


@attrs.define(eq=False)
class _KnownWhenStarted(CallLog):
    """A `MemoryCallLog` wrapper that also sets ``known[i]`` when call ``i`` records its start
    on the loop's thread: from then on ``wait`` must know the call's key."""

    inner: CallLog
    known: list[Any]  # Events of the loop
    loop_thread: int = attrs.Factory(threading.get_ident)

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        self.inner.record(kind, call, at)
        if kind == "start" and threading.get_ident() == self.loop_thread:
            self.known[call].set()

    def events(self) -> list[CallEvent]:
        return self.inner.events()


class ScheduleDriver:
    """Plays ``schedule`` against ``runner`` (unstarted): `run` does it, in the current run.

    ``runner`` needs the kit's core (`CoreRunner`), plus ``cancel`` / ``cancel_all`` /
    ``release`` / ``statistics`` when the schedule draws them, and ``state(key)`` when
    ``has_state`` (without it, States are read with ``await wait(key, 0)``). An exception a
    ``wait`` raises is recorded as a violation (prefix ``runner:``), never let out.

    Times of the schedule are multiplied by ``time_unit`` (1 on a MockClock). After the runner
    has exited, every waiter must return within ``hang_limit`` seconds (instantly, on a
    MockClock); the ones that do not are counted in `Report.hung_waiters`.
    """

    def __init__(
        self,
        runner: Any,
        schedule: Schedule,
        *,
        log: CallLog,
        make_call: CallFactory,
        exact: bool,
        sequential: bool,
        time_unit: float = 1.0,
        hang_limit: float = 1e6,
        has_state: bool = True,
    ) -> None:
        self.runner = runner
        self.schedule = schedule
        self.log = log
        self.make_call = make_call
        self.exact = exact
        self.sequential = sequential
        self.time_unit = time_unit
        self.hang_limit = hang_limit
        self.has_state = has_state
        n = self.n = len(schedule.calls)
        self.keys: list[Hashable] = [f"call-{i}" for i in range(n)]
        self.report = Report(schedule=schedule, keys=self.keys, exact=exact, sequential=sequential)
        self.report.time_unit = time_unit
        self.report.registered = [False] * n
        self.report.submit_returned = [False] * n
        self.report.submit_times = [None] * n
        self.report.final = [None] * n
        self.waits_for: dict[int, list[WaitSpec]] = {}
        for spec in schedule.waits:
            self.waits_for.setdefault(spec.call, []).append(spec)
        self.api_cancelled: set[int] = set()
        self.runner_exited = False
        self.outstanding = 0  # observers and waiters that have not returned yet
        self.all_returned: Any = None  # an Event of the loop, once the runner has exited
        self.t0 = 0.0

    # ------------------------------------------------------------------ helpers

    def scaled(self, t: float) -> float:
        return t * self.time_unit

    def now(self) -> float:
        return float(self.lib.current_time())

    def _waiter_done(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0 and self.all_returned is not None:
            self.all_returned.set()

    async def _checked_wait(self, i: int, timeout: float | None) -> tuple[bool, State[Any] | None]:
        """``wait``, with an exception it raises recorded as a violation: (returned, State)."""
        try:
            return True, await self.runner.wait(self.keys[i], timeout)
        except Exception as exc:
            when = "after the runner exited" if self.runner_exited else "while the runner ran"
            self.report.violations.append(
                f"runner: wait({self.keys[i]!r}, timeout={timeout}) raised {exc!r} {when},"
                f" after submit() of call {i} had begun (it must wait, or return None on timeout)"
            )
            return False, None

    async def _wait_until_known(self, i: int) -> bool:
        """Without ``state(key)``: wait until ``wait`` must know call ``i``; False if it was
        never submitted or is released."""
        if self.has_state:
            return True
        await self.known[i].wait()
        return self.report.registered[i] and i not in self.report.released

    def _snapshot(self) -> dict[int, State[Any] | None]:
        report = self.report
        live = [i for i in range(self.n) if report.registered[i] and i not in report.released]
        if self.has_state:
            return {i: self.runner.state(self.keys[i]) for i in live}
        # The unfinished calls, from the calls' own record.
        ended = {e.call for e in self.log.events() if e.kind in ("end", "unwound")}
        return {i: None for i in live if i not in ended}

    # ------------------------------------------------------------------ the schedule's tasks

    async def _observer(self, i: int) -> None:
        try:
            if await self._wait_until_known(i):
                returned, state = await self._checked_wait(i, None)
                if returned:
                    self.report.observed[i] = (self.now(), state)
                    self.log.record("got_state", i, self.now())
        finally:
            self._waiter_done()

    async def _waiter(self, spec: WaitSpec) -> None:
        try:
            await self.lib.sleep(self.scaled(spec.delay))
            if not await self._wait_until_known(spec.call):
                return
            started = self.now()
            timeout = None if spec.timeout is None else self.scaled(spec.timeout)
            returned, result = await self._checked_wait(spec.call, timeout)
            if returned:
                self.report.waits.append(WaitResult(spec, started, self.now(), result))
            if result is not None:
                self.log.record("got_state", spec.call, self.now())
        finally:
            self._waiter_done()

    def _act(self, kind: str, target: int = -1) -> None:
        snapshot = self._snapshot()
        self.log.record(kind, target, self.now())
        action = CancelAction(kind, target, self.now(), not self.runner_exited, snapshot)
        self.report.cancels.append(action)
        if kind == "cancel":
            action.returned = self.runner.cancel(self.keys[target])
            if action.returned:
                self.api_cancelled.add(target)
        elif kind == "cancel_all":
            action.returned = self.runner.cancel_all()
            self.api_cancelled.update(i for i, s in snapshot.items() if s is None)
        elif kind == "scope":
            self.run_scope.cancel()

    async def _canceller(self, i: int, delay: float) -> None:
        await self.lib.sleep(self.scaled(delay))
        if i not in self.report.released:
            self._act("cancel", i)

    async def _act_at(self, t: float, kind: str) -> None:
        await self.lib.sleep_until(self.t0 + self.scaled(t))
        self._act(kind)
        if kind == "raise":
            raise BlockError

    async def _consumer(self, delays: tuple[float, ...]) -> None:
        report, runner = self.report, self.runner
        consumed = 0
        for i in range(self.n):
            await self.submitted[i].wait()
            if not report.registered[i]:
                continue  # never submitted
            state = await runner.wait(self.keys[i])
            await self.lib.sleep(self.scaled(delays[i]))
            self._check_retained(consumed)
            report.final[i] = state
            runner.release(self.keys[i])
            report.released.add(i)
            consumed += 1
            try:
                runner.state(self.keys[i])
            except KeyError:
                pass
            else:
                report.violations.append(f"memory: call {i} is still known after release()")
            self._check_retained(consumed)

    def _check_retained(self, consumed: int) -> None:
        report = self.report
        stats = self.runner.statistics()
        live = [i for i in range(self.n) if report.registered[i] and i not in report.released]
        holding = sum(1 for i in live if self.runner.state(self.keys[i]) is not None)
        not_consumed = sum(report.registered) - consumed
        if stats.retained > not_consumed or stats.retained != holding:
            report.violations.append(
                f"memory: statistics().retained == {stats.retained} after {consumed} releases,"
                f" with {holding} finished calls not released and {not_consumed} not consumed"
            )

    def _spawn_watchers(self, outer: Any, i: int) -> None:
        self.outstanding += 1
        outer.start_soon(self._observer, i)
        for wait_spec in self.waits_for.get(i, ()):
            self.outstanding += 1
            outer.start_soon(self._waiter, wait_spec)

    async def _submitter(self, outer: Any) -> None:
        report = self.report
        try:
            for i, spec in enumerate(self.schedule.calls):
                await self.lib.sleep(self.scaled(spec.submit_delay))
                self._spawn_watchers(outer, i)
                # cancel_after=0 on a runner whose submit returns before the call ends: cancel
                # right after submit returns, with no checkpoint in between (the call's task may
                # not have run yet: it must then never start).
                cancel_on_return = spec.cancel_after == 0 and not self.sequential
                if spec.cancel_after is not None and not cancel_on_return:
                    outer.start_soon(self._canceller, i, spec.cancel_after)
                self.log.record("submit", i, self.now())
                report.registered[i] = True
                report.submit_times[i] = self.now()
                self.submitted[i].set()
                try:
                    await self.runner.submit(self.keys[i], self.make_call(self.call_log, i, spec))
                except BaseException:
                    if not self.has_state and not self.known[i].is_set():
                        # submit() raised (e.g. Cancelled) before the call started: without
                        # state(key) to ask, the kit takes the key as never submitted.
                        report.registered[i] = False
                    raise
                finally:
                    self.known[i].set()
                report.submit_returned[i] = True
                if cancel_on_return:
                    self._act("cancel", i)
                if self.sequential:
                    await self._check_sequential_submit(i)
        finally:
            for event in self.submitted:
                event.set()

    async def _check_sequential_submit(self, i: int) -> None:
        report = self.report
        # Judged by consequences first, whatever State the runner records: the call was
        # interrupted (its checkpoint raised) but submit(), which ran it, returned normally.
        unwound = any(e.kind == "unwound" and e.call == i for e in self.log.events())
        if unwound and i not in self.api_cancelled:
            report.violations.append(
                f"cancellation: submit() of call {i} returned normally although its call was"
                f" interrupted by an enclosing cancellation ({self.cancelled_name} was swallowed)"
            )
            return
        if i in report.released:
            return  # the consumer already had its State (released: it had finished)
        if self.has_state:
            state = self.runner.state(self.keys[i])
        else:
            with self.lib.CancelScope(shield=True):
                _, state = await self._checked_wait(i, 0)
        if state is None:
            report.violations.append(
                f"sequential: submit() of call {i} returned before the call finished"
            )
        elif state.is_cancelled() and i not in self.api_cancelled:
            report.violations.append(
                f"cancellation: submit() of call {i} returned normally although its call was"
                f" cancelled by an enclosing scope ({self.cancelled_name} was swallowed)"
            )

    # ------------------------------------------------------------------ the play

    async def _play(self) -> None:
        """The runner's block, with the schedule's tasks around and inside it."""
        report, schedule = self.report, self.schedule
        async with task_group(self.report.backend) as outer:
            if schedule.consumer_delays is not None:
                outer.start_soon(self._consumer, schedule.consumer_delays)
            with self.run_scope:
                if schedule.scope_cancel_at is not None:
                    outer.start_soon(self._act_at, schedule.scope_cancel_at, "scope")
                try:
                    async with self.runner.start(), task_group(self.report.backend) as body:
                        if schedule.cancel_all_at is not None:
                            body.start_soon(self._act_at, schedule.cancel_all_at, "cancel_all")
                        if schedule.raise_at is not None:
                            body.start_soon(self._act_at, schedule.raise_at, "raise")
                        await self._submitter(outer)
                except BlockError:
                    report.block_error_propagated = True
                except BaseExceptionGroup as group:  # except* needs Python 3.11
                    matched, rest = group.split(BlockError)
                    report.block_error_propagated = matched is not None
                    if rest is not None:
                        raise rest from None  # e.g. Cancelled, for the scope around start()
                finally:
                    self.runner_exited = True
                    report.exit_time = self.now()
            report.cancelled_caught = self.run_scope.cancelled_caught
            # No waiter may hang once the runner has exited.
            if self.outstanding:
                self.all_returned = self.lib.Event()
                with self.lib.move_on_after(self.hang_limit) as guard:
                    await self.all_returned.wait()
                if guard.cancelled_caught:
                    report.hung_waiters = self.outstanding
                    outer.cancel_scope.cancel()

    async def _read_final_states(self) -> None:
        report = self.report
        probed = False
        for i in range(self.n):
            if not report.registered[i] or i in report.released:
                continue
            if self.has_state:
                report.final[i] = self.runner.state(self.keys[i])
            _, report.later[i] = await self._checked_wait(i, 0)
            if not self.has_state:
                report.final[i] = report.later[i]
            if report.final[i] is not None and not probed:
                # wait() is a checkpoint even when the State is already there: a waiter whose
                # scope is cancelled must get the cancellation, not the State.
                probed = True
                with self.lib.CancelScope() as probe:
                    probe.cancel()
                    await self._checked_wait(i, None)
                if not probe.cancelled_caught:
                    report.violations.append(
                        f"wait: wait() on finished call {i} returned its State inside a cancelled"
                        " scope: it is not a checkpoint"
                    )

    async def run(self) -> Report:
        """Play the schedule in the current run (Trio or asyncio, through anyio); the report.

        Checkpoints. Raises: whatever the runner lets out of its block but the exception the
        schedule raised in it (e.g. a `KeyboardInterrupt` of a call's own)."""
        self.report.backend = sniffio.current_async_library()
        self.lib = primitives(self.report.backend)
        self.cancelled_name = CANCELLED_NAMES.get(self.report.backend, "the cancellation")
        self.submitted = [self.lib.Event() for _ in range(self.n)]
        # Without state(key) (a foreign runner), waiters wait for these: set once wait(key) must
        # know the key, when submit() returned or the call started. (A key registered at some
        # checkpoint inside submit() is fine.) Runners with state(key) know it as submit() begins.
        self.known = [self.lib.Event() for _ in range(self.n)]
        self.run_scope = self.lib.CancelScope()  # the scope around start(); "scope" cancels it
        log = self.log
        self.call_log = (
            _KnownWhenStarted(log, self.known) if isinstance(log, MemoryCallLog) else log
        )
        self.t0 = self.now()
        with deadlock_guard(self.exact, self.hang_limit, self.report.backend) as guard:
            await self._play()
        self.report.deadlocked = guard.cancelled_caught
        await self._read_final_states()
        self.report.log = log.events()
        return self.report


async def run_schedule(runner: Any, schedule: Schedule, **options: Any) -> Report:
    """``ScheduleDriver(runner, schedule, **options).run()``: play ``schedule`` once."""
    return await ScheduleDriver(runner, schedule, **options).run()
