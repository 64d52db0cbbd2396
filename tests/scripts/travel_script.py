"""Run as ``python travel_script.py ADDRESS``, from a directory that is not installed: each flow
runs its tasks on the Dask cluster at ADDRESS, and one JSON line per flow reports its results,
or the error it ended with.

Its module-level tasks live in ``__main__``, which a ``dask worker`` cannot import (its
``__main__`` is the ``dask`` command); ``travel_checkout`` sits next to this script, where the
workers cannot import it either. Both must travel by value (docs/runners/dask.md).
"""

from __future__ import annotations

import json
import os
import sys

import travel_checkout

from trio_runners import flow, task
from trio_runners.dask import DaskTaskRunner


@task
def double(x: int) -> tuple[int, int]:
    return 2 * x, os.getpid()


@task
async def add(pairs: list[tuple[int, int]]) -> int:
    return sum(value for value, _ in pairs)


@flow
def script_flow(n: int) -> tuple[list[tuple[int, int]], int]:
    doubled = double.map(range(n))
    return doubled, add(doubled)  # (the flow resolves the futures it returns)


@flow
def checkout_flow(n: int) -> list[tuple[int, int]]:
    return travel_checkout.triple.map(range(n))


def main(address: str) -> None:
    for each in (script_flow, checkout_flow):
        each.task_runner = DaskTaskRunner(address=address)
        try:
            result = each(4)
        except Exception as exc:
            print(json.dumps({"flow": each.name, "error": f"{type(exc).__name__}: {exc}"}))
        else:
            print(json.dumps({"flow": each.name, "result": result, "pid": os.getpid()}))


if __name__ == "__main__":
    main(sys.argv[1])
