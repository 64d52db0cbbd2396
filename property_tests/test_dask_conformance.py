"""The conformance kit on DaskTaskRunner, against one real LocalCluster (all on 127.0.0.1).

Each example connects a new runner (its own client) to the shared cluster; 50 examples per
property keep the suite's time in budget (``TRIO_RUNNERS_REMOTE_EXAMPLES`` overrides it: the
stress mode, tools/stress.py, runs these properties while every CPU is kept busy). Dask
cannot interrupt a call already running on a worker (its State is decided at once, the result
discarded), which the kit allows for calls off the event loop. Dask's own reruns after a
worker death are not exercised here (tests/test_dask.py does that with real processes).
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from trio_runners.testing import RunnerConformance

distributed = pytest.importorskip("distributed")

from trio_runners.dask import DaskTaskRunner  # noqa: E402

_cluster: dict[str, Any] = {}

EXAMPLES = int(os.environ.get("TRIO_RUNNERS_REMOTE_EXAMPLES", "50"))


@pytest.fixture(scope="module", autouse=True)
def local_cluster() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    with cluster:
        _cluster["address"] = cluster.scheduler_address
        yield cluster
        _cluster.clear()


def connect() -> DaskTaskRunner:
    return DaskTaskRunner(address=_cluster["address"])


class TestDask(RunnerConformance):
    runner_factory = staticmethod(connect)
    supports_mock_clock = False
    call_kind = "sync"
    time_unit = 0.005
    max_calls = 4
    hypothesis_settings = settings(max_examples=EXAMPLES, deadline=None)
