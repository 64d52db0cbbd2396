"""The parallel runners against their obvious peers, measured in the same run.

(a) threads: 200 x ``time.sleep(0.01)`` sync calls, ``ThreadPoolTaskRunner(max_workers=20)``
    against ``concurrent.futures.ThreadPoolExecutor(20)`` (ideal: 0.1 s).
(b) processes: 8 CPU-bound calls on ``ProcessPoolTaskRunner`` against running them serially
    in this process (target: >= 1.8x on 2 cores). "cold" includes starting the worker
    processes; "warm" reuses workers started by a first batch in the same run. The stdlib
    ``ProcessPoolExecutor`` on the same work shows what the machine allows right now.
(c) dask: per-call overhead of ``DaskTaskRunner`` against raw ``client.submit`` + ``gather``
    on the same ``LocalCluster`` (2 worker processes, 127.0.0.1, no dashboard); target <= 1.2x.
    Also against raw ``distributed.as_completed(..., with_results=True)``, which, like the
    runner, hands over each result as soon as it is ready (one ``gather`` at the end cannot).

Times are wall-clock (these workloads wait on threads, processes and sockets); each number is the
best of ``--repeat`` runs, and the two sides of a ratio alternate so that load from other
programs on the machine hits both.

    python benchmarks/parallel.py
    python benchmarks/parallel.py --only dask --repeat 5
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import trio

from trio_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner


def best_of(repeat: int, *workloads: Callable[[], None]) -> list[float]:
    """Best wall time of each workload, alternating them ``repeat`` times."""
    best = [float("inf")] * len(workloads)
    for _ in range(repeat):
        for index, workload in enumerate(workloads):
            start = time.perf_counter()
            workload()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


# ---------------------------------------------------------------------- (a) threads

SLEEPS = 200
SLEEP = 0.01
THREADS = 20


def executor_sleeps() -> None:
    with concurrent.futures.ThreadPoolExecutor(THREADS) as executor:
        futures = [executor.submit(time.sleep, SLEEP) for _ in range(SLEEPS)]
        for future in futures:
            future.result()


def runner_sleeps() -> None:
    async def main() -> None:
        runner = ThreadPoolTaskRunner(max_workers=THREADS)
        async with runner.start():
            for key in range(SLEEPS):
                await runner.submit(key, functools.partial(time.sleep, SLEEP))
        assert runner.statistics().completed == SLEEPS

    trio.run(main)


Row = dict[str, Any]


def row(workload: str, runner: str, n: int, seconds: float, ratio: float, of: str) -> Row:
    """A row of the standing benchmark's table (see benchmarks/run.py)."""
    return {
        "workload": workload,
        "runner": runner,
        "n": n,
        "seconds": seconds,
        "us_per_call": seconds / n * 1e6,
        "ratio": ratio,
        "ratio_of": of,
    }


def bench_threads(repeat: int) -> list[Row]:
    executor, runner = best_of(repeat, executor_sleeps, runner_sleeps)
    print(f"(a) threads: {SLEEPS} x sleep({SLEEP}) on {THREADS} workers (ideal 0.100 s)")
    print(f"    ThreadPoolExecutor     {executor:.3f} s")
    print(f"    ThreadPoolTaskRunner   {runner:.3f} s")
    print(f"    ratio runner/executor  {runner / executor:.2f}x")
    name = f"(a) {SLEEPS} x time.sleep({SLEEP}), {THREADS} workers (ideal 0.1 s)"
    return [
        row(name, f"ThreadPoolExecutor({THREADS})", SLEEPS, executor, 1.0, "executor"),
        row(
            name, f"ThreadPoolTaskRunner({THREADS})", SLEEPS, runner, runner / executor, "executor"
        ),
    ]


# ---------------------------------------------------------------------- (b) processes

CPU_CALLS = 8
CPU_WORK = 8_000_000


def cpu_bound(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def serial_cpu() -> None:
    for _ in range(CPU_CALLS):
        cpu_bound(CPU_WORK)


async def _cpu_batch(runner: ProcessPoolTaskRunner, tag: str) -> None:
    keys = [(tag, index) for index in range(CPU_CALLS)]
    for key in keys:
        await runner.submit(key, functools.partial(cpu_bound, CPU_WORK))
    async for _, state in runner.as_completed(keys):
        state.result()


def executor_cpu() -> None:
    # The peer: a stdlib process pool (started inside the measurement, as "cold" is).
    workers = ProcessPoolTaskRunner().workers
    with concurrent.futures.ProcessPoolExecutor(workers) as executor:
        futures = [executor.submit(cpu_bound, CPU_WORK) for _ in range(CPU_CALLS)]
        for future in futures:
            future.result()


def process_cold() -> None:
    async def main() -> None:
        async with ProcessPoolTaskRunner().start() as runner:
            await _cpu_batch(runner, "cold")

    trio.run(main)


def process_warm(timings: list[float]) -> Callable[[], None]:
    def run() -> None:
        async def main() -> None:
            async with ProcessPoolTaskRunner().start() as runner:
                await _cpu_batch(runner, "warm-up")
                start = time.perf_counter()
                await _cpu_batch(runner, "measured")
                timings.append(time.perf_counter() - start)

        trio.run(main)

    return run


def bench_processes(repeat: int) -> list[Row]:
    warm: list[float] = []
    serial, executor, cold, _ = best_of(
        repeat, serial_cpu, executor_cpu, process_cold, process_warm(warm)
    )
    workers = ProcessPoolTaskRunner().workers
    print(f"(b) processes: {CPU_CALLS} CPU-bound calls, {workers} workers (target >= 1.8x)")
    print(f"    serial                 {serial:.3f} s")
    print(f"    ProcessPoolExecutor    {executor:.3f} s   speed-up {serial / executor:.2f}x (peer)")
    print(f"    ProcessPool cold       {cold:.3f} s   speed-up {serial / cold:.2f}x")
    print(f"    ProcessPool warm       {min(warm):.3f} s   speed-up {serial / min(warm):.2f}x")
    name = f"(b) {CPU_CALLS} CPU-bound calls, {workers} workers (target: serial/runner >= 1.8)"
    return [
        row(name, "serial", CPU_CALLS, serial, 1.0, "serial"),
        row(name, "ProcessPoolExecutor", CPU_CALLS, executor, executor / serial, "serial"),
        row(name, "ProcessPoolTaskRunner, cold", CPU_CALLS, cold, cold / serial, "serial"),
        row(
            name, "ProcessPoolTaskRunner, warm", CPU_CALLS, min(warm), min(warm) / serial, "serial"
        ),
    ]


# ---------------------------------------------------------------------- (c) dask

DASK_CALLS = 500


def inc(x: int) -> int:
    return x + 1


def bench_dask(repeat: int) -> list[Row]:
    import distributed

    from trio_runners.dask import DaskTaskRunner

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        address = cluster.scheduler_address
        with distributed.Client(address, set_as_default=False) as client:

            def raw() -> None:
                futures = [client.submit(inc, i, pure=False) for i in range(DASK_CALLS)]
                assert client.gather(futures) == list(range(1, DASK_CALLS + 1))

            def raw_streaming() -> None:
                # Each result as soon as it is ready, as the runner delivers each State.
                futures = [client.submit(inc, i, pure=False) for i in range(DASK_CALLS)]
                completed = distributed.as_completed(futures, loop=client.loop, with_results=True)
                assert sum(1 for _ in completed) == DASK_CALLS

            runner = DaskTaskRunner(address=address)
            state: dict[str, Any] = {}

            def through_runner() -> None:
                async def main() -> None:
                    async with runner.start():
                        start = time.perf_counter()
                        for i in range(DASK_CALLS):
                            await runner.submit(i, functools.partial(inc, i))
                        async for _, call_state in runner.as_completed(range(DASK_CALLS)):
                            call_state.result()
                        state["elapsed"] = time.perf_counter() - start

                trio.run(main)

            timings: list[float] = []

            def runner_calls() -> None:
                through_runner()
                timings.append(state["elapsed"])

            raw()  # warm the workers' imports
            raw_time, streaming_time, _ = best_of(repeat, raw, raw_streaming, runner_calls)
            runner_time = min(timings)
    print(f"(c) dask: {DASK_CALLS} trivial calls on a 2-process LocalCluster (target <= 1.2x)")
    print(
        f"    raw submit + gather    {raw_time:.3f} s   {raw_time / DASK_CALLS * 1e3:.2f} ms/call"
    )
    print(
        f"    raw as_completed       {streaming_time:.3f} s   "
        f"{streaming_time / DASK_CALLS * 1e3:.2f} ms/call (with_results: streams results)"
    )
    print(
        f"    DaskTaskRunner         {runner_time:.3f} s   "
        f"{runner_time / DASK_CALLS * 1e3:.2f} ms/call (client connect not counted)"
    )
    print(f"    ratio runner/raw       {runner_time / raw_time:.2f}x")
    print(f"    ratio runner/streaming {runner_time / streaming_time:.2f}x")
    name = f"(c) {DASK_CALLS} trivial calls, 2-process LocalCluster (target <= 1.2x raw)"
    return [
        row(name, "raw client.submit + gather", DASK_CALLS, raw_time, 1.0, "raw"),
        row(
            name,
            "raw as_completed(with_results)",
            DASK_CALLS,
            streaming_time,
            streaming_time / raw_time,
            "raw",
        ),
        row(name, "DaskTaskRunner", DASK_CALLS, runner_time, runner_time / raw_time, "raw"),
    ]


def suite(quick: bool) -> list[Row]:
    """Workload 4 of ``python -m benchmarks``: every parallel runner against its peer."""
    global CPU_WORK, DASK_CALLS
    if quick:  # smaller work, same shape: keeps --quick under a minute
        CPU_WORK, DASK_CALLS = 1_000_000, 200
    repeat = 1 if quick else 3
    rows = bench_threads(repeat)
    rows += bench_processes(repeat)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("(c) dask: skipped (pip install 'trio-runners[dask]')")
    else:
        rows += bench_dask(repeat)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["threads", "processes", "dask"], action="append")
    args = parser.parse_args()
    chosen = args.only or ["threads", "processes", "dask"]
    print(f"cpu_count={os.cpu_count()} load average={os.getloadavg()}")
    if "threads" in chosen:
        bench_threads(args.repeat)
    if "processes" in chosen:
        bench_processes(args.repeat)
    if "dask" in chosen:
        bench_dask(args.repeat)


if __name__ == "__main__":
    main()
