"""statistics(): Trio-style frozen counters."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner


async def test_statistics_count_queued_running_and_each_state(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = ConcurrentTaskRunner(max_workers=1)

    async def fail() -> None:
        raise ValueError

    async with runner.start():
        await runner.submit("run", trio.sleep_forever)
        await runner.submit("queued", trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        stats = runner.statistics()
        assert (stats.running, stats.queued, stats.finished) == (1, 1, 0)
        runner.cancel_all()
        await runner.submit("ok", lambda: 1)
        await runner.submit("bad", fail)
        await runner.wait("bad")
    stats = runner.statistics()
    assert (stats.completed, stats.failed, stats.cancelled, stats.crashed) == (1, 1, 2, 0)
    assert (stats.running, stats.queued, stats.retained, stats.finished) == (0, 0, 4, 4)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.running = 3  # type: ignore[misc]


async def test_statistics_count_waiters() -> None:
    runner = ConcurrentTaskRunner()
    async with runner.start(), trio.open_nursery() as nursery:
        await runner.submit("k", trio.sleep_forever)
        nursery.start_soon(runner.wait, "k")
        nursery.start_soon(runner.wait, "k")
        await trio.testing.wait_all_tasks_blocked()
        assert runner.statistics().waiters == 2
        runner.cancel("k")
    assert runner.statistics().waiters == 0
