"""Shared fixtures: the runners every contract test runs against."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trio_runners import BaseTaskRunner, ConcurrentTaskRunner, SequentialTaskRunner

RUNNER_FACTORIES: dict[str, Callable[[], BaseTaskRunner]] = {
    "sequential": SequentialTaskRunner,
    "concurrent": ConcurrentTaskRunner,
    "concurrent-max2": lambda: ConcurrentTaskRunner(max_workers=2),
    "concurrent-max1-pending1": lambda: ConcurrentTaskRunner(max_workers=1, max_pending=1),
}


@pytest.fixture(params=sorted(RUNNER_FACTORIES))
def runner(request: pytest.FixtureRequest) -> BaseTaskRunner:
    """A fresh, unstarted runner of each kind."""
    return RUNNER_FACTORIES[request.param]()
