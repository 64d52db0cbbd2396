"""Per-call overhead of ConcurrentTaskRunner against a raw-trio floor, measured in the same run.

The floor is what a hand-written Trio program does: one nursery, one Event per key and a results
dict. Each workload submits N trivial async calls and waits for all of them. We report the best of
``--repeat`` runs in microseconds per call and the ratio runner / floor. Times are CPU time
of this process (``time.process_time``), which a busy machine disturbs less than wall time.

    python benchmarks/overhead.py                 # N = 10k and 100k
    python benchmarks/overhead.py --sizes 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner


async def trivial() -> int:
    return 1


async def raw_trio_floor(n: int) -> None:
    results: dict[int, Any] = {}
    events: dict[int, trio.Event] = {}

    async def run(key: int) -> None:
        results[key] = await trivial()
        events[key].set()

    async with trio.open_nursery() as nursery:
        for key in range(n):
            events[key] = trio.Event()
            nursery.start_soon(run, key)
        for key in range(n):
            await events[key].wait()
    assert len(results) == n


def runner_workload(factory: Callable[[], Any]) -> Callable[[int], Awaitable[None]]:
    async def workload(n: int) -> None:
        runner = factory()
        async with runner.start():
            for key in range(n):
                await runner.submit(key, trivial)
            for key in range(n):
                await runner.wait(key)
        assert runner.statistics().completed == n

    return workload


WORKLOADS: dict[str, Callable[[int], Awaitable[None]]] = {
    "raw trio floor": raw_trio_floor,
    "ConcurrentTaskRunner()": runner_workload(ConcurrentTaskRunner),
    "ConcurrentTaskRunner(max_workers=64)": runner_workload(
        lambda: ConcurrentTaskRunner(max_workers=64)
    ),
    "SequentialTaskRunner()": runner_workload(SequentialTaskRunner),
}


def measure(workload: Callable[[int], Awaitable[None]], n: int, repeat: int) -> float:
    """Best CPU time per call, in microseconds."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        trio.run(workload, n)
        best = min(best, time.process_time() - started)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    table: dict[int, dict[str, float]] = {}
    for n in args.sizes:
        table[n] = {}
        # Interleave the workloads so machine noise hits them alike.
        for name, workload in WORKLOADS.items():
            table[n][name] = measure(workload, n, args.repeat)
        floor = table[n]["raw trio floor"]
        print(f"\nN = {n:,}")
        print(f"{'workload':40} {'µs/call':>9} {'x floor':>8}")
        for name, micros in table[n].items():
            print(f"{name:40} {micros:9.2f} {micros / floor:8.2f}")
    return table


if __name__ == "__main__":
    main()
