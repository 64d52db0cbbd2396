"""Lifecycle instruments: every event, on every runner, in order; misbehaving instruments."""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Hashable
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner, State
from trio_runners.abc import BaseTaskRunner, Instrument


class Log(Instrument):
    def __init__(self) -> None:
        self.events: list[tuple[str, Hashable, float]] = []
        self.states: dict[Hashable, State[Any]] = {}

    def submitted(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.events.append(("submitted", key, time))

    def admitted(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.events.append(("admitted", key, time))

    def started(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.events.append(("started", key, time))

    def cancel_requested(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.events.append(("cancel_requested", key, time))

    def finished(
        self, runner: BaseTaskRunner, key: Hashable, state: State[Any], time: float
    ) -> None:
        self.events.append(("finished", key, time))
        self.states[key] = state

    def released(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.events.append(("released", key, time))

    def of(self, key: Hashable) -> list[str]:
        return [kind for kind, k, _ in self.events if k == key]


async def test_every_event_of_a_call_is_reported_in_order_with_its_time(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    log = Log()
    runner.add_instrument(log)
    async with runner.start():
        await runner.submit("k", functools.partial(trio.sleep, 2))
        state = await runner.wait("k")
        runner.release("k")
    assert log.of("k") == ["submitted", "admitted", "started", "finished", "released"]
    times = {kind: time for kind, _, time in log.events}
    assert times["started"] == 0
    assert times["finished"] == 2
    assert log.states["k"] is state


async def test_admission_is_reported_when_a_slot_is_taken_in_fifo_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = Log()
    runner = ConcurrentTaskRunner(max_workers=1, instruments=[log])
    async with runner.start():
        for key in "abc":
            await runner.submit(key, functools.partial(trio.sleep, 1))
    admitted = [(key, time) for kind, key, time in log.events if kind == "admitted"]
    assert admitted == [("a", 0), ("b", 1), ("c", 2)]


async def test_a_call_cancelled_while_queued_is_never_admitted_or_started(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = Log()
    runner = ConcurrentTaskRunner(max_workers=1, instruments=[log])
    async with runner.start():
        await runner.submit("busy", functools.partial(trio.sleep, 1))
        await runner.submit("queued", functools.partial(trio.sleep, 1))
        runner.cancel("queued")
    assert log.of("queued") == ["submitted", "cancel_requested", "finished"]


async def test_only_overridden_events_are_called(runner: BaseTaskRunner) -> None:
    class OnlyFinished(Instrument):
        def __init__(self) -> None:
            self.keys: list[Hashable] = []

        def finished(
            self, runner: BaseTaskRunner, key: Hashable, state: State[Any], time: float
        ) -> None:
            self.keys.append(key)

    only = OnlyFinished()
    runner.add_instrument(only)
    assert runner._instruments.hooks.keys() == {"finished"}
    async with runner.start():
        await runner.submit(1, lambda: None)
    assert only.keys == [1]


async def test_a_raising_instrument_is_removed_and_logged_and_the_run_goes_on(
    runner: BaseTaskRunner, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Instrument):
        def submitted(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
            raise RuntimeError("instrument bug")

    broken, log = Broken(), Log()
    runner.add_instrument(broken)
    runner.add_instrument(log)
    with caplog.at_level(logging.ERROR, logger="trio_runners"):
        async with runner.start():
            await runner.submit(1, lambda: "ok")
            await runner.submit(2, lambda: "ok")
    assert runner.instruments == (log,)
    assert "instrument bug" in caplog.text
    assert log.of(2)[0] == "submitted"
    assert runner.state(2).result() == "ok"  # type: ignore[union-attr]


def test_instruments_are_validated_carried_by_duplicate_and_not_pickled() -> None:
    log = Log()
    with pytest.raises(TypeError, match="Instrument"):
        ConcurrentTaskRunner(instruments=[object()])  # type: ignore[list-item]
    runner = SequentialTaskRunner(instruments=[log])
    assert runner.duplicate().instruments == (log,)
    assert pickle.loads(pickle.dumps(runner)).instruments == ()
    assert runner == SequentialTaskRunner()  # observers are not configuration
    runner.remove_instrument(log)
    assert runner.instruments == ()
    with pytest.raises(KeyError):
        runner.remove_instrument(log)
