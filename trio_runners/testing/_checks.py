"""The properties, as functions from a `Report` to a list of violations (empty: it holds).

One name per concept: ``judge_*`` here judge one played example (a `Report`: the calls' own
record, the driver's actions, every State seen) and return violations; the public
``check_*`` of `trio_runners.testing` (from ``_trace``) check a runner's lifecycle trace (a
list of event dicts) and raise `TraceViolation`. Each ``judge_*`` runs the matching
``check_*`` on the example's lifecycle trace too, when the runner has instruments.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from typing import Any

import trio

from .. import _trace
from .._states import State
from .._trace import TraceViolation
from ._calls import CallError, raised_kind
from ._report import CANCELLED_NAMES, Report
from ._timeline import Timeline as _Timeline
from ._timeline import submitted as _submitted
from ._timeline import timelines as _timelines

__all__ = [
    "judge_cancellation",
    "judge_exactly_once",
    "judge_fifo",
    "judge_max_workers",
    "judge_memory",
    "judge_sequential",
    "judge_states",
    "judge_wait",
]


def _lifecycle(report: Report, *checkers: Callable[[list[dict[str, Any]]], None]) -> list[str]:
    """Run trace checkers (the ones production traces are checked with) on the runner's own
    lifecycle trace of this example."""
    violations = []
    for checker in checkers:
        try:
            checker(report.lifecycle)
        except TraceViolation as exc:
            violations.append(f"lifecycle trace: {exc}")
    return violations


def _own(report: Report, prefix: str) -> list[str]:
    return [v for v in report.violations if v.startswith(prefix)]


def _result_agrees(i: int, state: State[Any]) -> list[str]:
    """``state.result()`` raises the State's exception (returns it with
    ``raise_on_failure=False``); a Completed State's result() returns its value."""
    error = state.exception()
    if error is None:
        return []
    if state.result(raise_on_failure=False) is not error:
        return [f"call {i}: {state!r}.result(raise_on_failure=False) is not its exception"]
    try:
        state.result()
    except BaseException as raised:  # the State's own exception, re-raised by result()
        if raised is error:
            return []
        if not isinstance(raised, Exception):
            raise  # a real KeyboardInterrupt or cancellation, not the State's
        return [f"call {i}: {state!r}.result() raised {raised!r}, not its exception"]
    return [f"call {i}: {state!r}.result() returned instead of raising its exception"]


def _ended_cancelled(report: Report, state: State[Any], timeline: _Timeline) -> bool:
    """The State says the call was cancelled (a runner that declares ``crashed_means``
    ``cancelled`` labels a cancelled call Crashed)."""
    if state.is_cancelled():
        return True
    if not (state.is_crashed() and "cancelled" in report.crashed_means):
        return False
    # Crashed as this runner labels a cancellation: one the kit asked for, or one the State
    # itself names (the event loop's cancellation exception, e.g. a call the runner accepted
    # while its own task group was being cancelled), as a Cancelled State would be accepted.
    return timeline.cancel is not None or _is_cancellation(state.exception())


def _is_cancellation(error: BaseException | None) -> bool:
    """``error`` is trio's or asyncio's cancellation exception."""
    return isinstance(error, (trio.Cancelled, asyncio.CancelledError))


def judge_states(report: Report) -> list[str]:
    """Every submitted call has exactly one terminal State, every observer of it saw that very
    object, and the State is the one its spec and the cancels performed allow. An exception
    the runner raised (``wait`` raising, recorded by the driver) is a violation too, and so is
    an example that never finished (a deadlock)."""
    violations = _own(report, "runner:") + _lifecycle(report, _trace.check_one_terminal_state)
    if report.deadlocked:
        violations.append(
            "the example never finished: every task stayed blocked (a deadlock: a submit, a"
            " wait or the runner's exit waited for something that could never happen)"
        )
    timelines = _timelines(report)
    for i in _submitted(report):
        state = report.final[i]
        if state is not None:
            violations += _result_agrees(i, state)
        spec = report.schedule.calls[i]
        if state is None:
            violations.append(f"call {i} has no State after the runner exited")
            continue
        seen: list[tuple[str, State[Any] | None]] = []
        if i in report.observed:
            seen.append(("a waiter without timeout", report.observed[i][1]))
        if i in report.later:
            seen.append(("a wait after the runner exited", report.later[i]))
        seen += [("a waiter with a timeout", w.result) for w in report.waits if w.spec.call == i]
        for who, other in seen:
            if other is not None and other is not state:
                violations.append(f"call {i}: {who} got {other!r}, the final State is {state!r}")
        timeline = timelines[i]
        ended = min((p for p in (timeline.end, timeline.cancel) if p is not None), default=None)
        if timeline.got_state and (ended is None or timeline.got_state[0] < ended):
            violations.append(
                f"call {i}: a waiter received its State {state!r} before the call had ended"
                " or been cancelled"
            )
        crashed_error = (
            state.is_crashed() and "error" in report.crashed_means and spec.raises is None
        )
        if state.is_completed():
            if spec.fails or spec.raises or state.result() != i:
                violations.append(f"call {i} should have failed, but it is {state!r}")
        elif _ended_cancelled(report, state, timeline) and not state.is_cancelled():
            pass  # Crashed, as this runner labels a cancelled call: nothing more to check
        elif state.is_failed() or (crashed_error and spec.fails):
            exc = state.exception()
            if spec.raises is not None:
                violations.append(f"call {i} raised {spec.raises}, but it is {state!r}")
            elif not spec.fails or not isinstance(exc, CallError) or exc.args != (i,):
                violations.append(f"call {i} did not fail, but it is {state!r}")
        elif state.is_cancelled():
            if timelines[i].cancel is None:
                violations.append(
                    f"call {i} ended Cancelled although nothing cancelled it (a timeout,"
                    " a sibling or the runner disturbed it)"
                )
        elif spec.raises is None:
            violations.append(f"call {i} ended {state!r}, but it raised no BaseException")
        elif (exc := state.exception()) is None or raised_kind(exc) != spec.raises:
            violations.append(
                f"call {i} raised {spec.raises} (a BaseException that leaves the run alone),"
                f" it ended {state!r}, not Crashed with it"
            )
    return violations


def judge_exactly_once(report: Report) -> list[str]:
    """Each call runs at most once, and exactly once unless cancelled before it started."""
    violations = judge_states(report) + _lifecycle(report, _trace.check_exactly_once)
    timelines = _timelines(report)
    for i in _submitted(report):
        runs = len(timelines[i].starts)
        state = report.final[i]
        if runs > 1:
            violations.append(f"call {i} ran {runs} times")
        if state is None:
            continue
        if not _ended_cancelled(report, state, timelines[i]) and runs != 1:
            violations.append(f"call {i} ended {state!r} but ran {runs} times")
        if timelines[i].ghost() and timelines[i].api_cancel is not None and report.exact:
            violations.append(f"call {i} started after cancel() / cancel_all() cancelled it")
    return violations


def judge_sequential(report: Report) -> list[str]:
    """Calls start in submission order, each ends before the next starts, at most one runs."""
    violations = _own(report, "sequential:") + _lifecycle(report, _trace.check_sequential)
    timelines = _timelines(report)
    started = sorted((t.starts[0], i) for i, t in enumerate(timelines) if t.started())
    order = [i for _, i in started]
    if order != sorted(order):
        violations.append(f"calls started in the order {order}, not in submission order")
    for (_, a), (b_start, b) in itertools.pairwise(started):
        if timelines[a].stop() > b_start:
            violations.append(f"call {b} started before call {a} had ended")
    return violations


def _max_running(report: Report) -> tuple[int, int]:
    """The largest number of calls running at once, and the position where it happened."""
    timelines = _timelines(report)
    changes: list[tuple[float, int]] = []
    for t in timelines:
        if t.started():
            changes.append((float(t.starts[0]), 1))
            changes.append((t.stop(), -1))
    changes.sort(key=lambda c: (c[0], c[1]))  # at one position, ends before starts
    running = peak = 0
    where = -1
    for position, delta in changes:
        running += delta
        if running > peak:
            peak, where = running, int(position)
    return peak, where


def judge_max_workers(report: Report, max_workers: int) -> list[str]:
    """Never more than ``max_workers`` calls run at once."""
    violations = _lifecycle(report, lambda events: _trace.check_max_workers(events, max_workers))
    peak, where = _max_running(report)
    if peak > max_workers:
        violations.append(
            f"{peak} calls ran at once (at trace event {where}), max_workers={max_workers}"
        )
    return violations


def judge_fifo(report: Report, max_workers: int) -> list[str]:
    """Admission is FIFO: a call is never admitted before an earlier-submitted call that was
    not cancelled by then. Judged on exact start times (MockClock, calls on the loop); with
    real time only for one worker, where start order equals admission order."""
    violations = _lifecycle(report, _trace.check_fifo_admission)
    timelines = _timelines(report)
    exact = report.exact
    if not exact and max_workers != 1:
        return violations
    submitted = _submitted(report)
    for j in submitted:
        tj = timelines[j]
        if not tj.started():
            continue
        begun = tj.start_times[0] if exact else tj.starts[0]
        for i in submitted:
            if i >= j:
                break
            ti = timelines[i]
            if ti.started():
                other = ti.start_times[0] if exact else ti.starts[0]
                assert other is not None
                assert begun is not None
                if other > begun:
                    violations.append(f"call {j} was admitted before call {i}, submitted earlier")
            else:
                action = ti.cancel_action
                cancelled = None if action is None else (action.time if exact else ti.cancel)
                assert begun is not None
                if cancelled is None or cancelled > begun:
                    violations.append(
                        f"call {j} was admitted while call {i}, submitted earlier, was queued"
                    )
    return violations


def judge_wait(report: Report) -> list[str]:
    """``wait(key, t)`` returns the State iff the call finished within ``t`` of the wait
    starting (either answer at exactly the deadline), else None; a later wait still gets the
    State; all waiters get the same State; the timeout does not change the outcome; wait() on
    a finished call is still a checkpoint."""
    violations = judge_states(report) + _own(report, "wait:")
    if report.hung_waiters:
        violations.append(f"{report.hung_waiters} waiters never returned")
    if not report.exact:
        return violations + _wait_within_tolerance(report)
    for w in report.waits:
        i = w.spec.call
        if i not in report.observed:
            continue  # hung: reported above
        finished = report.observed[i][0]
        deadline = math.inf if w.spec.timeout is None else w.started_at + w.spec.timeout
        desc = f"wait(call {i}, timeout={w.spec.timeout}) started at {w.started_at}"
        if finished < deadline:
            expect_at = max(finished, w.started_at)
            if w.result is None or w.returned_at != expect_at:
                violations.append(
                    f"{desc}: the call finished at {finished}, so it should return the State"
                    f" at {expect_at}; it returned {w.result!r} at {w.returned_at}"
                )
        elif finished > deadline:
            if w.result is not None or w.returned_at != deadline:
                violations.append(
                    f"{desc}: the call finished at {finished}, after the deadline, so it should"
                    f" return None at {deadline}; it returned {w.result!r} at {w.returned_at}"
                )
        elif w.returned_at != deadline:
            violations.append(f"{desc}: returned at {w.returned_at}, not at {deadline}")
    return violations


#: Real time: how late a wait may return, and how early a call must have finished for a wait
#: to owe its State, in seconds (a loaded machine delays a task's wake-up by that much).
TOLERANCE = 0.5


def _wait_within_tolerance(report: Report) -> list[str]:
    """The wait property on real time, with the exact checks turned into tolerance checks: a
    wait that returned None did so no earlier than its timeout and at most `TOLERANCE` after
    it; a wait whose call finished `TOLERANCE` before its deadline returned the State."""
    violations = []
    unit = report.time_unit
    for w in report.waits:
        if w.spec.timeout is None:
            continue
        timeout = w.spec.timeout * unit
        elapsed = w.returned_at - w.started_at
        desc = (
            f"wait(call {w.spec.call}, timeout={timeout:.4f}s) (real time, tolerance {TOLERANCE}s)"
        )
        if w.result is None:
            if elapsed < timeout - 1e-3:
                violations.append(f"{desc} returned None after {elapsed:.4f}s, before its timeout")
            elif elapsed > timeout + TOLERANCE:
                violations.append(f"{desc} returned None only after {elapsed:.4f}s")
            finished = report.observed.get(w.spec.call, (math.inf, None))[0]
            if finished < w.started_at + timeout - TOLERANCE:
                violations.append(
                    f"{desc} returned None although the call finished"
                    f" {finished - w.started_at:.4f}s after the wait began"
                )
    return violations


def judge_cancellation(report: Report) -> list[str]:
    """Every call ends in one terminal State; calls finished before a cancel keep their State;
    cancellation propagates (the enclosing scope catches it, the block's exception leaves
    ``start()``, nothing is delayed); no waiter hangs after the runner exits."""
    violations = judge_states(report) + _own(report, "cancellation:")
    if report.hung_waiters:
        violations.append(f"{report.hung_waiters} waiters hung after the runner exited")
    for action in report.cancels:
        for i, before in action.snapshot.items():
            if before is not None and report.final[i] is not before:
                violations.append(
                    f"call {i} had finished ({before!r}) before {action.kind} at"
                    f" {action.time}, but ended {report.final[i]!r}"
                )
    timelines = _timelines(report)
    ending = [a for a in report.cancels if a.kind in ("scope", "raise") and a.before_exit]
    if ending:
        first = ending[0]
        if first.kind == "raise" and not report.block_error_propagated:
            violations.append("the exception raised in the start() block did not propagate")
        if first.kind == "scope":
            # Judged by consequences, whatever State the runner records: a call whose
            # checkpoint the cancel interrupted, or that ended Cancelled by it.
            caused = [
                i
                for i in _submitted(report)
                if timelines[i].cancel_action is first
                and (
                    timelines[i].unwound
                    or ((state := report.final[i]) is not None and state.is_cancelled())
                )
            ]
            # On real time a cancel and the block's exception due a moment later may meet in
            # one turn of the loop: the exception then leaves start() in the cancel's place.
            superseded = report.block_error_propagated and not report.exact
            if caused and not report.cancelled_caught and not superseded:
                name = CANCELLED_NAMES.get(report.backend, "the cancellation")
                violations.append(
                    f"the enclosing scope cancelled calls {caused} (their checkpoints raised"
                    f" {name}) but start() exited normally and the scope does not report"
                    f" cancelled_caught: {name} was swallowed"
                )
        if report.exact and report.exit_time != first.time:
            violations.append(
                f"the runner exited at {report.exit_time}, not at once when {first.kind}"
                f" happened at {first.time}"
            )
    return violations


def judge_memory(report: Report) -> list[str]:
    """With ``release``, retained States never exceed the States not yet consumed."""
    return _own(report, "memory:") + judge_states(report)
