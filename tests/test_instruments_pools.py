"""Instruments on the thread and process runners: the same events, the same trace checkers."""

from __future__ import annotations

import functools

import pytest

from trio_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from trio_runners.abc import BaseTaskRunner
from trio_runners.testing import TraceRecorder, check_trace


def increment(x: int) -> int:
    return x + 1


@pytest.mark.parametrize(
    "factory",
    [functools.partial(ThreadPoolTaskRunner, 2), functools.partial(ProcessPoolTaskRunner, 2)],
    ids=["threads", "processes"],
)
async def test_instruments_see_every_lifecycle_event_and_the_trace_checks(factory) -> None:  # type: ignore[no-untyped-def]
    recorder = TraceRecorder()
    runner: BaseTaskRunner = factory(instruments=[recorder])
    async with runner.start():
        for i in range(5):
            await runner.submit(i, functools.partial(increment, i))
    kinds = [e["event"] for e in recorder.events if e["key"] == 1]
    assert kinds == ["submitted", "admitted", "started", "finished"]
    check_trace(recorder.events, max_workers=2)
