"""Playing a `Schedule` against a runner and recording what happened (a `Report`).

The calls record ``start``/``end`` events in a `Trace`; the driver records its own actions
(submissions, cancels, the scope cancel, the exception raised in the block) in the same trace,
so every property can be judged from the order of events alone, and, on a MockClock, from
their exact times too.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import attrs
import trio

from .._states import State
from .strategies import CallSpec, Schedule, WaitSpec

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "AsyncCall",
    "BlockError",
    "CallError",
    "KitBaseException",
    "FileTrace",
    "MemoryTrace",
    "Report",
    "SyncCall",
    "Trace",
    "TraceEvent",
    "make_raising",
    "raised_kind",
    "run_schedule",
]


class CallError(Exception):
    """What a call of the kit raises when its spec says it fails; ``args == (index,)``."""


class BlockError(Exception):
    """What the kit raises inside ``start()`` to leave the block by an exception."""


class KitBaseException(BaseException):
    """A `BaseException` that is neither cancellation, `KeyboardInterrupt` nor `SystemExit`."""


def make_raising(kind: str) -> BaseException:
    """A fresh exception of one of `strategies.BASE_EXCEPTION_KINDS` (or ``fail``)."""
    if kind == "fail":
        return ValueError("a call's own error")
    if kind == "stray_cancelled":
        return trio.Cancelled._create()  # what a call re-raising a foreign Cancelled does
    if kind == "custom_base":
        return KitBaseException("a call's own BaseException")
    if kind == "base_group":
        return BaseExceptionGroup("group", [KitBaseException("in a group"), ValueError("v")])
    if kind == "keyboard_interrupt":
        return KeyboardInterrupt()
    if kind == "system_exit":
        return SystemExit(3)
    if kind == "ki_group":
        return BaseExceptionGroup("group", [KeyboardInterrupt(), ValueError("v")])
    raise ValueError(f"unknown kind {kind!r}")


def raised_kind(exc: BaseException) -> str | None:
    """Which of `make_raising`'s non-propagating kinds a Crashed State's exception ``exc`` is
    (None: none of them). A stray `trio.Cancelled` may be kept as is, or as the cause of
    another exception (so that ``result()`` never raises a bare Cancelled in its reader)."""
    if isinstance(exc, trio.Cancelled) or isinstance(exc.__cause__, trio.Cancelled):
        return "stray_cancelled"
    if isinstance(exc, KitBaseException):
        return "custom_base"
    if isinstance(exc, BaseExceptionGroup) and exc.subgroup(KitBaseException) is not None:
        return "base_group"
    return None


@attrs.frozen
class TraceEvent:
    """One event: ``kind`` (start, end, unwound: the call; submit, cancel, cancel_all, scope,
    raise: the driver; got_state: a waiter received the call's State), the call index (-1 for
    none) and the Trio time if known."""

    kind: str
    call: int
    time: float | None


class Trace:
    """Where calls and the driver record events, in the order they happen."""

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        """Append an event."""
        raise NotImplementedError

    def events(self) -> list[TraceEvent]:
        raise NotImplementedError


@attrs.define(eq=False)
class MemoryTrace(Trace):
    """A trace in memory, for calls that run in this process (on the loop or in threads)."""

    _events: list[TraceEvent] = attrs.Factory(list)
    _lock: threading.Lock = attrs.Factory(threading.Lock)

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        with self._lock:
            self._events.append(TraceEvent(kind, call, at))

    def events(self) -> list[TraceEvent]:
        with self._lock:
            return list(self._events)


@attrs.frozen
class FileTrace(Trace):
    """A trace in a file opened with ``O_APPEND``: each event is one short ``write``, which
    POSIX makes atomic, so calls running in threads or other processes on this machine (process
    pools, a local Dask cluster) record in the real order. Picklable."""

    path: str

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        line = f"{kind} {call} {'-' if at is None else repr(at)}\n".encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:  # an abandoned call outlived its example; nothing to record
            return
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def events(self) -> list[TraceEvent]:
        with open(self.path, encoding="ascii") as f:
            lines = f.read().splitlines()
        events = []
        for line in lines:
            kind, call, at = line.split()
            events.append(TraceEvent(kind, int(call), None if at == "-" else float(at)))
        return events


@attrs.frozen
class AsyncCall:
    """An async call of the kit: records ``start``, sleeps ``duration`` on Trio's clock,
    records ``end`` (or ``unwound`` if an exception, e.g. cancellation, interrupts it), then
    returns its index or raises `CallError` (or, with ``raises``, `make_raising` of it)."""

    trace: Trace
    index: int
    duration: float
    fails: bool
    raises: str | None = None

    async def __call__(self) -> int:
        self.trace.record("start", self.index, trio.current_time())
        try:
            await trio.sleep(self.duration)
        except BaseException:
            self.trace.record("unwound", self.index, trio.current_time())
            raise
        self.trace.record("end", self.index, trio.current_time())
        if self.raises is not None:
            raise make_raising(self.raises)
        if self.fails:
            raise CallError(self.index)
        return self.index


@attrs.frozen
class SyncCall:
    """A sync, picklable call of the kit, for runners that run calls in threads, processes or
    on a Dask cluster: records ``start``, sleeps ``duration`` real seconds, records ``end``."""

    trace: Trace
    index: int
    duration: float
    fails: bool
    raises: str | None = None

    def __call__(self) -> int:
        self.trace.record("start", self.index)
        time.sleep(self.duration)
        self.trace.record("end", self.index)
        if self.raises is not None:
            raise make_raising(self.raises)
        if self.fails:
            raise CallError(self.index)
        return self.index


@attrs.define
class CancelAction:
    """One cancellation the driver performed, with the States just before it."""

    kind: str  # cancel, cancel_all, scope, raise
    target: int
    time: float
    before_exit: bool
    #: State of every registered call just before the action (None: unfinished).
    snapshot: dict[int, State[Any] | None]
    returned: object = None


@attrs.define
class WaitResult:
    spec: WaitSpec
    started_at: float
    returned_at: float
    result: State[Any] | None


@attrs.define
class Report:
    """Everything the checks need about one played schedule."""

    schedule: Schedule
    keys: list[Hashable]
    exact: bool  # calls ran on the event loop under a MockClock: times are exact
    sequential: bool
    registered: list[bool] = attrs.Factory(list)
    submit_returned: list[bool] = attrs.Factory(list)
    submit_times: list[float | None] = attrs.Factory(list)
    final: list[State[Any] | None] = attrs.Factory(list)
    observed: dict[int, tuple[float, State[Any] | None]] = attrs.Factory(dict)
    waits: list[WaitResult] = attrs.Factory(list)
    later: dict[int, State[Any] | None] = attrs.Factory(dict)
    cancels: list[CancelAction] = attrs.Factory(list)
    trace: list[TraceEvent] = attrs.Factory(list)
    #: Endings a foreign runner labels Crashed: ``error`` (the call raised an Exception),
    #: ``cancelled`` (the call was cancelled). Ours label them Failed and Cancelled.
    crashed_means: frozenset[str] = frozenset()
    #: Seconds of Trio time per schedule time unit (1 on a MockClock).
    time_unit: float = 1.0
    cancelled_caught: bool = False
    block_error_propagated: bool = False
    exit_time: float = math.nan
    hung_waiters: int = 0
    deadlocked: bool = False  # the example never finished: every task blocked for good
    violations: list[str] = attrs.Factory(list)  # seen while running (submit, memory)
    #: The runner's own lifecycle trace (`trio_runners.testing.TraceRecorder` events), checked
    #: by the same trace checkers a production trace is checked with.
    lifecycle: list[dict[str, Any]] = attrs.Factory(list)
    released: set[int] = attrs.Factory(set)

    @property
    def n(self) -> int:
        return len(self.keys)


CallFactory = Callable[[Trace, int, CallSpec], Callable[[], Any]]


@attrs.define(eq=False)
class _KnownWhenStarted(Trace):
    """A `MemoryTrace` wrapper that also sets ``known[i]`` when call ``i`` records its start
    on the loop's thread: from then on ``wait`` must know the call's key."""

    inner: Trace
    known: list[trio.Event]
    loop_thread: int = attrs.Factory(threading.get_ident)

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        self.inner.record(kind, call, at)
        if kind == "start" and threading.get_ident() == self.loop_thread:
            self.known[call].set()

    def events(self) -> list[TraceEvent]:
        return self.inner.events()


def _watchdog(scope: trio.CancelScope, seconds: float) -> threading.Timer:
    """Cancel ``scope`` after ``seconds`` of real time, from a timer thread (through
    `TrioToken.run_sync_soon`; nothing happens if the run has finished)."""
    token = trio.lowlevel.current_trio_token()

    def fire() -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(scope.cancel)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


async def run_schedule(
    runner: Any,
    schedule: Schedule,
    *,
    trace: Trace,
    make_call: CallFactory,
    exact: bool,
    sequential: bool,
    time_unit: float = 1.0,
    hang_limit: float = 1e6,
    has_state: bool = True,
) -> Report:
    """Play ``schedule`` against ``runner`` (unstarted) inside the current Trio run.

    ``runner`` needs the kit's core (`CoreRunner`), plus ``cancel`` / ``cancel_all`` /
    ``release`` / ``statistics`` when the schedule draws them, and ``state(key)`` when
    ``has_state`` (without it, States are read with ``await wait(key, 0)``). An exception a
    ``wait`` raises is recorded as a violation (prefix ``runner:``), never let out.

    Times of the schedule are multiplied by ``time_unit`` (1 on a MockClock). After the runner
    has exited, every waiter must return within ``hang_limit`` seconds (instantly, on a
    MockClock); the ones that do not are counted in `Report.hung_waiters`.
    """
    n = len(schedule.calls)
    keys: list[Hashable] = [f"call-{i}" for i in range(n)]
    report = Report(schedule=schedule, keys=keys, exact=exact, sequential=sequential)
    report.time_unit = time_unit
    report.registered = [False] * n
    report.submit_returned = [False] * n
    report.submit_times = [None] * n
    submitted = [trio.Event() for _ in range(n)]
    # Without state(key) (a foreign runner), waiters wait for these: set once wait(key) must
    # know the key, when submit() returned or the call started. (A key registered at some
    # checkpoint inside submit() is fine.) Runners with state(key) know it as submit() begins.
    known = [trio.Event() for _ in range(n)]
    call_trace = _KnownWhenStarted(trace, known) if isinstance(trace, MemoryTrace) else trace
    waits_for: dict[int, list[WaitSpec]] = {}
    for spec in schedule.waits:
        waits_for.setdefault(spec.call, []).append(spec)
    api_cancelled: set[int] = set()
    runner_exited = False
    outstanding = 0
    all_returned: trio.Event | None = None
    now = trio.current_time

    def scaled(t: float) -> float:
        return t * time_unit

    def waiter_done() -> None:
        nonlocal outstanding
        outstanding -= 1
        if outstanding == 0 and all_returned is not None:
            all_returned.set()

    async def checked_wait(i: int, timeout: float | None) -> tuple[bool, State[Any] | None]:
        """``wait``, with an exception it raises recorded as a violation: (returned, State)."""
        try:
            return True, await runner.wait(keys[i], timeout)
        except Exception as exc:
            when = "after the runner exited" if runner_exited else "while the runner ran"
            report.violations.append(
                f"runner: wait({keys[i]!r}, timeout={timeout}) raised {exc!r} {when}, after"
                f" submit() of call {i} had begun (it must wait, or return None on timeout)"
            )
            return False, None

    async def observer(i: int) -> None:
        try:
            if not has_state:
                await known[i].wait()
                if not report.registered[i] or i in report.released:
                    return
            returned, state = await checked_wait(i, None)
            if returned:
                report.observed[i] = (now(), state)
                trace.record("got_state", i, now())
        finally:
            waiter_done()

    async def waiter(spec: WaitSpec) -> None:
        try:
            await trio.sleep(scaled(spec.delay))
            if not has_state:
                await known[spec.call].wait()
                if not report.registered[spec.call] or spec.call in report.released:
                    return
            started = now()
            timeout = None if spec.timeout is None else scaled(spec.timeout)
            returned, result = await checked_wait(spec.call, timeout)
            if returned:
                report.waits.append(WaitResult(spec, started, now(), result))
            if result is not None:
                trace.record("got_state", spec.call, now())
        finally:
            waiter_done()

    def act(kind: str, target: int = -1) -> None:
        if has_state:
            snapshot = {
                i: runner.state(keys[i])
                for i in range(n)
                if report.registered[i] and i not in report.released
            }
        else:  # the unfinished calls, from the calls' own record
            ended = {e.call for e in trace.events() if e.kind in ("end", "unwound")}
            snapshot = {i: None for i in range(n) if report.registered[i] and i not in ended}
        trace.record(kind, target, now())
        action = CancelAction(kind, target, now(), not runner_exited, snapshot)
        report.cancels.append(action)
        if kind == "cancel":
            action.returned = runner.cancel(keys[target])
            if action.returned:
                api_cancelled.add(target)
        elif kind == "cancel_all":
            action.returned = runner.cancel_all()
            api_cancelled.update(i for i, s in snapshot.items() if s is None)
        elif kind == "scope":
            run_scope.cancel()

    async def canceller(i: int, delay: float) -> None:
        await trio.sleep(scaled(delay))
        if i not in report.released:
            act("cancel", i)

    async def cancel_all_at(t: float) -> None:
        await trio.sleep_until(t0 + scaled(t))
        act("cancel_all")

    async def scope_cancel_at(t: float) -> None:
        await trio.sleep_until(t0 + scaled(t))
        act("scope")

    async def raise_at(t: float) -> None:
        await trio.sleep_until(t0 + scaled(t))
        act("raise")
        raise BlockError

    async def consumer(delays: tuple[float, ...]) -> None:
        consumed = 0
        for i in range(n):
            await submitted[i].wait()
            if not report.registered[i]:
                continue  # never submitted
            state = await runner.wait(keys[i])
            await trio.sleep(scaled(delays[i]))
            check_retained(consumed)
            report.final[i] = state
            runner.release(keys[i])
            report.released.add(i)
            consumed += 1
            try:
                runner.state(keys[i])
            except KeyError:
                pass
            else:
                report.violations.append(f"memory: call {i} is still known after release()")
            check_retained(consumed)

    def check_retained(consumed: int) -> None:
        stats = runner.statistics()
        live = [i for i in range(n) if report.registered[i] and i not in report.released]
        holding = sum(1 for i in live if runner.state(keys[i]) is not None)
        not_consumed = sum(report.registered) - consumed
        if stats.retained > not_consumed or stats.retained != holding:
            report.violations.append(
                f"memory: statistics().retained == {stats.retained} after {consumed} releases,"
                f" with {holding} finished calls not released and {not_consumed} not consumed"
            )

    async def submitter(outer: trio.Nursery) -> None:
        nonlocal outstanding
        try:
            for i, spec in enumerate(schedule.calls):
                await trio.sleep(scaled(spec.submit_delay))
                outstanding += 1
                outer.start_soon(observer, i)
                for wait_spec in waits_for.get(i, ()):
                    outstanding += 1
                    outer.start_soon(waiter, wait_spec)
                # cancel_after=0 on a runner whose submit returns before the call ends: cancel
                # right after submit returns, with no checkpoint in between (the call's task may
                # not have run yet: it must then never start).
                cancel_on_return = spec.cancel_after == 0 and not sequential
                if spec.cancel_after is not None and not cancel_on_return:
                    outer.start_soon(canceller, i, spec.cancel_after)
                trace.record("submit", i, now())
                report.registered[i] = True
                report.submit_times[i] = now()
                submitted[i].set()
                try:
                    await runner.submit(keys[i], make_call(call_trace, i, spec))
                except BaseException:
                    if not has_state and not known[i].is_set():
                        # submit() raised (e.g. Cancelled) before the call started: without
                        # state(key) to ask, the kit takes the key as never submitted.
                        report.registered[i] = False
                    raise
                finally:
                    known[i].set()
                report.submit_returned[i] = True
                if cancel_on_return:
                    act("cancel", i)
                if sequential:
                    await check_sequential_submit(i)
        finally:
            for event in submitted:
                event.set()

    async def check_sequential_submit(i: int) -> None:
        # Judged by consequences first, whatever State the runner records: the call was
        # interrupted (its checkpoint raised) but submit(), which ran it, returned normally.
        unwound = any(e.kind == "unwound" and e.call == i for e in trace.events())
        if unwound and i not in api_cancelled:
            report.violations.append(
                f"cancellation: submit() of call {i} returned normally although its call was"
                " interrupted by an enclosing cancellation (trio.Cancelled was swallowed)"
            )
            return
        if i in report.released:
            return  # the consumer already had its State (released: it had finished)
        if has_state:
            state = runner.state(keys[i])
        else:
            with trio.CancelScope(shield=True):
                _, state = await checked_wait(i, 0)
        if state is None:
            report.violations.append(
                f"sequential: submit() of call {i} returned before the call finished"
            )
        elif state.is_cancelled() and i not in api_cancelled:
            report.violations.append(
                f"cancellation: submit() of call {i} returned normally although its call was"
                " cancelled by an enclosing scope (trio.Cancelled was swallowed)"
            )

    t0 = now()
    report.final = [None] * n
    # Nothing in a schedule takes long: an example still running after this is deadlocked.
    # Exact runs: a deadline on the MockClock, reached only when every task is blocked. Other
    # runs (calls in threads or processes, on any clock): a real-time watchdog thread, since a
    # MockClock jumps while a thread works.
    deadlock_guard = trio.CancelScope()
    if exact:
        deadlock_guard.deadline = trio.current_time() + hang_limit * 10
    watchdog = _watchdog(deadlock_guard, max(60.0, 3 * hang_limit)) if not exact else None
    with deadlock_guard:
        async with trio.open_nursery() as outer:
            if schedule.consumer_delays is not None:
                outer.start_soon(consumer, schedule.consumer_delays)
            with trio.CancelScope() as run_scope:
                if schedule.scope_cancel_at is not None:
                    outer.start_soon(scope_cancel_at, schedule.scope_cancel_at)
                try:
                    async with runner.start(), trio.open_nursery() as body:
                        if schedule.cancel_all_at is not None:
                            body.start_soon(cancel_all_at, schedule.cancel_all_at)
                        if schedule.raise_at is not None:
                            body.start_soon(raise_at, schedule.raise_at)
                        await submitter(outer)
                except BlockError:
                    report.block_error_propagated = True
                except BaseExceptionGroup as group:  # except* needs Python 3.11
                    matched, rest = group.split(BlockError)
                    report.block_error_propagated = matched is not None
                    if rest is not None:
                        raise rest from None  # e.g. Cancelled, for the scope around start()
                finally:
                    runner_exited = True
                    report.exit_time = now()
            report.cancelled_caught = run_scope.cancelled_caught
            # No waiter may hang once the runner has exited.
            if outstanding:
                all_returned = trio.Event()
                with trio.move_on_after(hang_limit) as guard:
                    await all_returned.wait()
                if guard.cancelled_caught:
                    report.hung_waiters = outstanding
                    outer.cancel_scope.cancel()
    if watchdog is not None:
        watchdog.cancel()
    report.deadlocked = deadlock_guard.cancelled_caught
    probed = False
    for i in range(n):
        if report.registered[i] and i not in report.released:
            if has_state:
                report.final[i] = runner.state(keys[i])
            _, report.later[i] = await checked_wait(i, 0)
            if not has_state:
                report.final[i] = report.later[i]
            if report.final[i] is not None and not probed:
                # wait() is a checkpoint even when the State is already there: a waiter whose
                # scope is cancelled must get trio.Cancelled, not the State.
                probed = True
                with trio.CancelScope() as probe:
                    probe.cancel()
                    await checked_wait(i, None)
                if not probe.cancelled_caught:
                    report.violations.append(
                        f"wait: wait() on finished call {i} returned its State inside a cancelled"
                        " scope: it is not a checkpoint"
                    )
    report.trace = trace.events()
    return report
