"""The state machine catches each deliberately broken runner here.

Each broken runner is one of ours with one behaviour changed (using private names where the
bug lives in the core's bookkeeping). Each test runs the state machine alone, without
shrinking (not what these tests are about), and asserts that it reports the broken promise:
once from drawn steps only, once from the machine's landmarks only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import pytest
import trio
from broken_runners import LANDMARKS_ONLY, played
from hypothesis import Phase, settings
from test_kit_catches_bugs import PendingRoomKeptByCancelledCalls

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner, State
from trio_runners.testing import RunnerConformance
from trio_runners.testing._machine import run_machine

# ---------------------------------------------------------------------- the broken runners


# A queued call that is cancelled never gives its max_pending room back (hole 1): the same
# broken runner the kit's properties are shown to catch.
KeepsPendingRoom = PendingRoomKeptByCancelledCalls


class _CountsBeforeReceiving:
    """An as_completed iterator whose step counts its item before the item has arrived: a
    step cancelled while it waits loses one item (iteration stops one short)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __aiter__(self) -> _CountsBeforeReceiving:
        return self

    async def __anext__(self) -> tuple[Hashable, State[Any]]:
        inner = self._inner
        if inner._remaining == 0:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        inner._remaining -= 1
        item: tuple[Hashable, State[Any]] = await inner._receive.receive()
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()


class LosesAnItemOnACancelledStep(ConcurrentTaskRunner):  # type: ignore[misc]
    def as_completed(self, keys: Iterable[Hashable]) -> Any:
        return _CountsBeforeReceiving(super().as_completed(keys))


class CancelledWaiterStaysCounted(SequentialTaskRunner):  # type: ignore[misc]
    """A waiter cancelled by its own scope is still counted in statistics().waiters."""

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        try:
            return await super().wait(key, timeout)
        except trio.Cancelled:
            self._table.waiters += 1
            raise


# ---------------------------------------------------------------------- helpers

# Each broken runner is found within a few hundred drawn examples, the as_completed one after a
# median of about 500 (25 runs: 66 to 1,270), so 2,000 missed it in about one run of fifty;
# 6,000 make a miss negligible and cost nothing while the bug is found early. The machine's
# landmarks (played first) catch each in every run: the second test of each.
SEARCH = settings(max_examples=6000, deadline=None, database=None, phases=[Phase.generate])


def machine_fails(
    factory: Callable[[], Any], match: str, search: settings, **capabilities: Any
) -> None:
    kit = type(
        "Kit", (RunnerConformance,), {"runner_factory": staticmethod(factory), **capabilities}
    )()
    with pytest.raises(AssertionError, match=match):
        played(lambda: run_machine(kit, search))  # a test with nothing to play fails


# ---------------------------------------------------------------------- the tests

HOW = pytest.mark.parametrize(
    "search", [SEARCH, LANDMARKS_ONLY], ids=["drawn steps", "landmarks alone"]
)


@HOW
def test_state_machine_catches_cancelled_queued_calls_that_keep_their_room(
    search: settings,
) -> None:
    machine_fails(
        functools.partial(KeepsPendingRoom, max_workers=1, max_pending=2),
        re.escape("is blocked at") + ".*" + re.escape("the model says done"),
        search,
        max_workers=1,
        max_pending=2,
    )


@HOW
def test_state_machine_catches_an_as_completed_step_that_loses_an_item(search: settings) -> None:
    # The lost item shows either when the consumer is drained after the exit (an item never
    # delivered) or at once, when the consumer's next step ends although a call is pending.
    machine_fails(LosesAnItemOnACancelledStep, "never delivered|ended early", search)


@HOW
def test_state_machine_catches_a_cancelled_waiter_left_in_the_count(search: settings) -> None:
    machine_fails(
        CancelledWaiterStaysCounted, re.escape("statistics().waiters"), search, sequential=True
    )
