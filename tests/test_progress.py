"""ProgressBar: live counts on a terminal, nothing at all elsewhere."""

from __future__ import annotations

import functools
import io

import trio
import trio.testing
from rich.console import Console

from trio_runners import ConcurrentTaskRunner
from trio_runners.progress import ProgressBar


async def fail() -> None:
    raise ValueError


async def run_with(bar: ProgressBar) -> None:
    runner = ConcurrentTaskRunner(max_workers=2, instruments=[bar])
    async with runner.start():
        for i in range(5):
            await runner.submit(i, functools.partial(trio.sleep, 1))
        await runner.submit("bad", fail)
        await runner.submit("stop", trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        assert bar.running == 2
        runner.cancel("stop")


async def test_progress_bar_counts_and_draws_on_a_terminal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    out = io.StringIO()
    with ProgressBar("demo", console=Console(file=out, force_terminal=True, width=120)) as bar:
        await run_with(bar)
    assert (bar.submitted_count, bar.completed, bar.failed, bar.cancelled) == (7, 5, 1, 1)
    assert bar.running == 0
    text = out.getvalue()
    assert "demo" in text
    assert "submitted 7  running 0  done 5  failed 1  cancelled 1" in text


async def test_progress_bar_is_disabled_when_not_a_terminal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    out = io.StringIO()
    with ProgressBar("demo", console=Console(file=out)) as bar:
        assert not bar.enabled
        await run_with(bar)
    assert out.getvalue() == ""
    assert bar.finished_count == 7
