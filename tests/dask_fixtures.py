"""A Dask cluster started from the command line (`dask scheduler`, `dask worker`), shared.

The fixture is made available to every test module by ``tests/conftest.py``; being
module-scoped, each module that asks for it gets one cluster for all its tests. Nothing here
imports ``distributed`` until a test asks for the cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

#: Bound on cluster start-up (a hang guard, not a timing assertion).
STARTUP = 60


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of the call)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    """Start ``python -m dask ARGS`` as the leader of a new process group, output discarded."""
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    """A real `dask scheduler` and two `dask worker` subprocesses (each with a nanny, two
    threads each), all on 127.0.0.1: the address of a cluster the test did not create."""
    distributed = pytest.importorskip("distributed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    no_dashboard = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")
    processes = [_spawn("scheduler", "--host", "127.0.0.1", "--port", str(port), *no_dashboard)]
    try:
        for _ in range(2):
            processes.append(
                _spawn("worker", address, "--host", "127.0.0.1", "--nthreads", "2", *no_dashboard)
            )
        with distributed.Client(address, timeout=STARTUP, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=STARTUP)
        yield address
    finally:
        # Each process leads its own process group (nanny and worker together): kill the
        # groups outright, as a graceful nanny shutdown can wait on a restarting worker.
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in processes:
            process.wait()


__all__ = ["STARTUP", "free_port", "scheduler_address"]
