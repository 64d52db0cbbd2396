"""Traces: record a runner's lifecycle events, check the guarantees over them, replay them.

A trace is a list of events, each a JSON-ready dict::

    {"seq": 3, "event": "finished", "key": "k1", "time": 2.5, "runner": "concurrent",
     "state": "COMPLETED", "value": 42}

``seq`` numbers the events in the order they happened (several may share a ``time``).
``finished`` events carry ``state`` and, when JSON can hold it, the ``value`` (Completed) or the
``error`` type and message (Failed / Crashed / Cancelled).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, final

import trio

from ._base import BaseTaskRunner
from ._instruments import Instrument
from ._states import Crashed, State

__all__ = [
    "ReplayedCrash",
    "ReplayedError",
    "TraceRecorder",
    "TraceViolation",
    "check_exactly_once",
    "check_fifo_admission",
    "check_max_workers",
    "check_one_terminal_state",
    "check_sequential",
    "check_trace",
    "load_trace",
    "replay",
    "schedule_of",
]

Event = dict[str, Any]


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _json_key(key: Hashable) -> Any:
    """Keys that JSON can hold are kept; others (UUIDs, tuples...) become their ``str``."""
    if isinstance(key, str | int | float | bool) or key is None:
        return key
    return str(key)


@final
class TraceRecorder(Instrument):
    """An instrument that records every lifecycle event (see the module docstring).

    Args:
      file: optional text file (or path) to which each event is written as one JSON line as it
        happens, so a production run leaves a trace behind even if it dies.

    ``events`` holds the trace in memory; ``clear()`` empties it.
    """

    def __init__(self, file: IO[str] | str | Path | None = None) -> None:
        self.events: list[Event] = []
        self._owned = isinstance(file, str | Path)
        self._file: IO[str] | None = (
            open(file, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
            if isinstance(file, str | Path)
            else file
        )

    def close(self) -> None:
        """Close the file if the recorder opened it."""
        if self._owned and self._file is not None:
            self._file.close()
            self._file = None

    def clear(self) -> None:
        """Forget the recorded events."""
        self.events.clear()

    def _record(self, runner: BaseTaskRunner, event: str, key: Hashable, time: float) -> Event:
        entry: Event = {
            "seq": len(self.events),
            "event": event,
            "key": _json_key(key),
            "time": time,
            "runner": runner.name,
        }
        self.events.append(entry)
        return entry

    def _flush(self, entry: Event) -> None:
        if self._file is not None:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()

    def submitted(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self._flush(self._record(runner, "submitted", key, time))

    def admitted(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self._flush(self._record(runner, "admitted", key, time))

    def started(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self._flush(self._record(runner, "started", key, time))

    def cancel_requested(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self._flush(self._record(runner, "cancel_requested", key, time))

    def released(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self._flush(self._record(runner, "released", key, time))

    def finished(
        self, runner: BaseTaskRunner, key: Hashable, state: State[Any], time: float
    ) -> None:
        entry = self._record(runner, "finished", key, time)
        entry["state"] = state.type.value
        error = state.exception()
        if error is None:
            value = state.result()
            if _jsonable(value):
                entry["value"] = value
        else:
            entry["error"] = {"type": type(error).__name__, "message": str(error)}
        self._flush(entry)


def load_trace(source: str | Path | Iterable[str]) -> list[Event]:
    """Read a trace written by `TraceRecorder` (a path, or an iterable of JSON lines)."""
    lines: Iterable[str]
    if isinstance(source, str | Path):
        lines = Path(source).read_text(encoding="utf-8").splitlines()
    else:
        lines = source
    return [json.loads(line) for line in lines if line.strip()]


# ---------------------------------------------------------------------------- checkers


class TraceViolation(AssertionError):
    """A trace breaks a stated guarantee; the message says which event and why."""


def _by_key(events: Sequence[Event], kind: str) -> dict[Any, list[Event]]:
    found: dict[Any, list[Event]] = {}
    for event in events:
        if event["event"] == kind:
            found.setdefault(event["key"], []).append(event)
    return found


def check_one_terminal_state(events: Sequence[Event]) -> None:
    """Every submitted call has exactly one ``finished`` event, and none comes without a
    submission. A run that is still going may have unfinished calls: check finished traces."""
    finished = _by_key(events, "finished")
    submitted = _by_key(events, "submitted")
    for key, ends in finished.items():
        if len(ends) > len(submitted.get(key, [])):
            raise TraceViolation(f"call {key!r} has {len(ends)} terminal States: {ends}")
    for key, subs in submitted.items():
        if len(finished.get(key, [])) < len(subs):
            raise TraceViolation(f"call {key!r} was submitted but never finished")


def check_exactly_once(events: Sequence[Event]) -> None:
    """No call starts twice; a call that never started was cancelled before it could."""
    started = _by_key(events, "started")
    submitted = _by_key(events, "submitted")
    for key, starts in started.items():
        if len(starts) > len(submitted.get(key, [])):
            raise TraceViolation(f"call {key!r} started {len(starts)} times")
    for key, ends in _by_key(events, "finished").items():
        if key not in started and any(e["state"] != "CANCELLED" for e in ends):
            raise TraceViolation(f"call {key!r} finished {ends[-1]['state']} without starting")


def check_sequential(events: Sequence[Event]) -> None:
    """Calls start in submission order, and each finishes before the next starts."""
    order = [e["key"] for e in events if e["event"] == "submitted"]
    starts = [e["key"] for e in events if e["event"] == "started"]
    expected = [key for key in order if key in set(starts)]
    if starts != expected:
        raise TraceViolation(f"calls started in order {starts}, submitted in order {expected}")
    running: Any = None
    for event in events:
        if event["event"] == "started":
            if running is not None:
                raise TraceViolation(
                    f"call {event['key']!r} started (seq {event['seq']}) while {running!r} ran"
                )
            running = event["key"]
        elif event["event"] == "finished" and event["key"] == running:
            running = None


def check_max_workers(events: Sequence[Event], max_workers: int) -> None:
    """Never more than ``max_workers`` calls admitted and not finished at once."""
    admitted: set[Any] = set()
    for event in events:
        if event["event"] == "admitted":
            admitted.add(event["key"])
            if len(admitted) > max_workers:
                raise TraceViolation(
                    f"{len(admitted)} calls held worker slots at seq {event['seq']} "
                    f"(max_workers={max_workers}): {sorted(map(str, admitted))}"
                )
        elif event["event"] == "finished":
            admitted.discard(event["key"])


def check_fifo_admission(events: Sequence[Event]) -> None:
    """Calls are admitted in submission order (calls cancelled while queued are skipped)."""
    order = [e["key"] for e in events if e["event"] == "submitted"]
    admits = [e["key"] for e in events if e["event"] == "admitted"]
    admitted = set(admits)
    expected = [key for key in order if key in admitted]
    if admits != expected:
        raise TraceViolation(f"admission order {admits} is not submission order {expected}")


def check_trace(
    events: Sequence[Event], *, sequential: bool = False, max_workers: int | None = None
) -> None:
    """Check a finished trace against every guarantee that applies to its runner.

    Always: one terminal State per call, exactly once. ``sequential=True``: submission order and
    no overlap. ``max_workers=k``: the bound and FIFO admission.

    Raises:
      TraceViolation: naming the first event that breaks a guarantee.
    """
    check_one_terminal_state(events)
    check_exactly_once(events)
    if sequential:
        check_sequential(events)
    if max_workers is not None:
        check_max_workers(events, max_workers)
        check_fifo_admission(events)


# ---------------------------------------------------------------------------- replay


class ReplayedError(Exception):
    """Raised by a replayed call whose recorded State was Failed."""


class ReplayedCrash(Exception):
    """Carried by the Crashed State a replayed call returns for a recorded crash."""


def schedule_of(events: Sequence[Event]) -> list[tuple[float, str, Any, str | None]]:
    """The comparable content of a trace: ``(time, event, key, state)`` sorted, without ``seq``
    (events at one instant may be reported in either order, as Trio schedules them)."""
    return sorted((e["time"], e["event"], str(e["key"]), e.get("state")) for e in events)


@final
class _Plan:
    """What the trace says about one call."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.started: float | None = None
        self.finished: Event | None = None
        self.cancel_at: float | None = None

    def call(self) -> Callable[[], Any]:
        finished = self.finished
        started = self.started

        async def replayed() -> Any:
            if finished is None or started is None or finished["state"] == "CANCELLED":
                await trio.sleep_forever()  # ended by the replayed cancel
            assert finished is not None and started is not None
            if trio.current_time() == started:  # on schedule: end at the very recorded instant
                await trio.sleep_until(finished["time"])
            else:  # the runner under test scheduled it differently: keep its duration
                await trio.sleep(finished["time"] - started)
            error = finished.get("error") or {}
            if finished["state"] == "FAILED":
                raise ReplayedError(f"{error.get('type')}: {error.get('message')}")
            if finished["state"] == "CRASHED":
                return Crashed(ReplayedCrash(f"{error.get('type')}: {error.get('message')}"))
            return finished.get("value")

        return replayed


def replay(events: Sequence[Event], runner_factory: Callable[[], BaseTaskRunner]) -> list[Event]:
    """Replay a recorded trace deterministically on `trio.testing.MockClock`.

    A fresh runner from ``runner_factory`` gets the same calls, submitted at the recorded
    instants in the recorded order; each replayed call runs for its recorded duration (ending at
    its recorded instant when it starts on schedule) and ends with its recorded State (Failed
    calls raise `ReplayedError`, Crashed ones return a Crashed State holding `ReplayedCrash`,
    Completed ones return the recorded value when JSON could hold it);
    ``cancel_requested`` and ``released`` events are replayed at their instants. The clock
    starts at the trace's first instant, so times compare exactly.

    Returns the replayed trace; ``schedule_of(replayed) == schedule_of(events)`` when the runner
    behaves as the recorded one did (calls cancelled by a run's exit are replayed as
    ``cancel(key)``). Runs its own `trio.run`: call it from synchronous code (e.g. a test).
    """
    plans: dict[Any, _Plan] = {}
    actions: list[Event] = []
    for event in events:
        plan = plans.setdefault(event["key"], _Plan(event["key"]))
        kind = event["event"]
        if kind == "started":
            plan.started = event["time"]
        elif kind == "finished":
            plan.finished = event
            if event["state"] == "CANCELLED" and plan.cancel_at is None:
                actions.append({**event, "event": "cancel_requested"})
        elif kind == "cancel_requested":
            plan.cancel_at = event["time"]
            actions.append(event)
        elif kind in ("submitted", "released"):
            actions.append(event)
    recorder = TraceRecorder()
    start_time = min((e["time"] for e in events), default=0.0)

    async def main() -> None:
        runner = runner_factory()
        runner.add_instrument(recorder)
        registered: dict[Any, trio.Event] = {key: trio.Event() for key in plans}

        async def submitter() -> None:
            for event in actions:
                if event["event"] == "submitted":
                    await trio.sleep_until(event["time"])
                    registered[event["key"]].set()  # no checkpoint before submit registers it
                    await runner.submit(event["key"], plans[event["key"]].call())

        async def controller() -> None:
            for event in actions:
                if event["event"] == "submitted":
                    continue
                await registered[event["key"]].wait()
                await trio.sleep_until(event["time"])
                if event["event"] == "cancel_requested":
                    runner.cancel(event["key"])
                elif runner.state(event["key"]) is None:  # a release: wait for the call first
                    await runner.wait(event["key"])
                    runner.release(event["key"])
                else:
                    runner.release(event["key"])

        async with runner.start(), trio.open_nursery() as nursery:
            nursery.start_soon(controller)
            await submitter()

    import trio.testing  # here: it imports pytest when installed, and this module must not

    clock = trio.testing.MockClock(autojump_threshold=0)
    clock.jump(start_time)
    trio.run(main, clock=clock)
    return recorder.events
