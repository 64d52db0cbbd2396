"""Shared fixtures: the runners tests run against, and the contract suite's Dask cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

# The `dask scheduler` / `dask worker` cluster fixture, shared by every module that asks for it
# (one cluster per module: the fixture is module-scoped).
from dask_fixtures import scheduler_address as scheduler_address

from trio_runners import BaseTaskRunner, ConcurrentTaskRunner, SequentialTaskRunner

#: The event-loop runners, for tests of what the loop runners share (instruments, embedding).
#: The runner contract itself runs on every runner: see contract_runners.RUNNER_KINDS.
RUNNER_FACTORIES: dict[str, Callable[[], BaseTaskRunner]] = {
    "sequential": SequentialTaskRunner,
    "concurrent": ConcurrentTaskRunner,
    "concurrent-max2": lambda: ConcurrentTaskRunner(max_workers=2),
    "concurrent-max1-pending1": lambda: ConcurrentTaskRunner(max_workers=1, max_pending=1),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(*capabilities, **capability_values): the contract test runs only on runners "
        "that declare these capabilities (tests/contract_runners.py); elsewhere it is skipped "
        "with the missing capability named",
    )


@pytest.fixture(params=sorted(RUNNER_FACTORIES))
def runner(request: pytest.FixtureRequest) -> BaseTaskRunner:
    """A fresh, unstarted runner of each kind."""
    return RUNNER_FACTORIES[request.param]()


@pytest.fixture(scope="module")
def dask_threads_cluster() -> Iterator[Any]:
    """One threads-only Dask LocalCluster (in this process, every socket on 127.0.0.1) for
    a whole test module: each contract test's DaskTaskRunner connects a client of its own."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=4,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    )
    with cluster:
        yield cluster
