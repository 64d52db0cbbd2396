"""The parallel runners against their obvious peers, measured in the same run.

(a) threads: 200 x ``time.sleep(0.01)`` sync calls, ``ThreadPoolTaskRunner(max_workers=20)``
    against ``concurrent.futures.ThreadPoolExecutor(20)`` (ideal: 0.1 s).
(b) processes: 8 CPU-bound calls on ``ProcessPoolTaskRunner`` against running them serially
    in this process (target: >= 1.9x on 2 cores, and >= the stdlib pool). "cold" includes
    starting the worker processes; "warm" reuses workers started by a first batch in the same
    run. The stdlib ``ProcessPoolExecutor`` on the same work shows what the machine allows,
    and raw ``trio_parallel`` (warm) what the runner's engine does alone. Each call also
    reports where and when it ran (`Span`), which gives two figures apart from the machine's
    speed: the gap between two calls in the same worker (what a pool costs per call) and the
    call itself (see ``python -m benchmarks.layout`` for why that one moves).
(c) dask: per-call overhead of ``DaskTaskRunner`` against raw ``client.submit`` + ``gather``
    on the same ``LocalCluster`` (2 worker processes, 127.0.0.1, no dashboard); target <= 1.1x,
    5 runs in the full suite (min / median / max of the per-run ratio in the table), after
    one untimed run of each side. Also against raw ``distributed.as_completed(...,
    with_results=True)``, which, like the runner, hands over each result as soon as it is
    ready (one ``gather`` at the end cannot). Both clients set ``direct_to_workers=True``.

Times are wall-clock (these workloads wait on threads, processes and sockets); each row keeps
every run (min / median / max in the table), and the two sides of a ratio alternate so that load
from other programs on the machine hits both.

    python benchmarks/parallel.py
    python benchmarks/parallel.py --only dask --repeat 5
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import itertools
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import trio

from trio_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner


def timed(repeat: int, *workloads: Callable[[], None]) -> list[list[float]]:
    """Wall time of each workload in each of ``repeat`` rounds, alternating them."""
    samples: list[list[float]] = [[] for _ in workloads]
    for _ in range(repeat):
        for index, workload in enumerate(workloads):
            start = time.perf_counter()
            workload()
            samples[index].append(time.perf_counter() - start)
    return samples


def spread(samples: list[float]) -> dict[str, float]:
    """min / median / max of ``samples``, how many there are, and the samples themselves (in the
    order they were taken: latest.json keeps them)."""
    return {
        "min": min(samples),
        "median": statistics.median(samples),
        "max": max(samples),
        "runs": len(samples),
        "samples": list(samples),
    }


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


def row(
    workload: str,
    runner: str,
    n: int,
    samples: list[float],
    baseline: list[float] | None,
    of: str,
) -> Row:
    """A row of the standing benchmark's table (see benchmarks/run.py): ``samples`` are wall
    seconds per run; the ratio is of the minima, and, run by run, of each sample to the
    baseline's sample of the same round (the two ran back to back)."""
    seconds = min(samples)
    result: Row = {
        "workload": workload,
        "runner": runner,
        "n": n,
        "seconds": seconds,
        "seconds_spread": spread(samples),
        "us_per_call": seconds / n * 1e6,
        "ratio": 1.0 if baseline is None else seconds / min(baseline),
        "ratio_of": of,
    }
    if baseline is not None:
        result["ratio_spread"] = spread([a / b for a, b in zip(samples, baseline, strict=True)])
    return result


def bench_threads(repeat: int) -> list[Row]:
    executor, runner = timed(repeat, executor_sleeps, runner_sleeps)
    print(f"(a) threads: {SLEEPS} x sleep({SLEEP}) on {THREADS} workers (ideal 0.100 s)")
    print(f"    ThreadPoolExecutor     {min(executor):.3f} s")
    print(f"    ThreadPoolTaskRunner   {min(runner):.3f} s")
    print(f"    ratio runner/executor  {min(runner) / min(executor):.2f}x")
    name = f"(a) {SLEEPS} x time.sleep({SLEEP}), {THREADS} workers (ideal 0.1 s)"
    return [
        row(name, f"ThreadPoolExecutor({THREADS})", SLEEPS, executor, None, "executor"),
        row(name, f"ThreadPoolTaskRunner({THREADS})", SLEEPS, runner, executor, "executor"),
    ]


# ---------------------------------------------------------------------- (b) processes

CPU_CALLS = 8
CPU_WORK = 8_000_000


#: (pid, start, end) of one call in its worker. ``time.perf_counter`` is CLOCK_MONOTONIC on
#: Linux (mach_absolute_time on macOS, QueryPerformanceCounter on Windows): one clock for every
#: process of the machine, so spans from different processes compare.
Span = tuple[int, float, float]


def cpu_bound(n: int) -> Span:
    """CPU-bound work; returns where and when it ran."""
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i % 7
    assert total >= 0
    return os.getpid(), start, time.perf_counter()


def dispatch_gaps(spans: list[Span]) -> list[float]:
    """The time each worker spent between the end of one call and the start of its next call
    (seconds): handing over the result, then the next call, with no work of the calls in it.
    This is the pool's whole per-call cost on CPU-bound work, measured apart from how fast the
    machine ran the calls themselves (which varies far more from run to run)."""
    by_worker: dict[int, list[tuple[float, float]]] = {}
    for pid, start, end in spans:
        by_worker.setdefault(pid, []).append((start, end))
    gaps = []
    for calls in by_worker.values():
        calls.sort()
        gaps += [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(calls)]
    return gaps


def serial_cpu() -> None:
    for _ in range(CPU_CALLS):
        cpu_bound(CPU_WORK)


async def _cpu_batch(runner: ProcessPoolTaskRunner, tag: str) -> list[Span]:
    keys = [(tag, index) for index in range(CPU_CALLS)]
    for key in keys:
        await runner.submit(key, functools.partial(cpu_bound, CPU_WORK))
    return [state.result() async for _, state in runner.as_completed(keys)]


def executor_cpu(spans: list[Span]) -> Callable[[], None]:
    def run() -> None:
        # The peer: a stdlib process pool (started inside the measurement, as "cold" is).
        workers = ProcessPoolTaskRunner().workers
        with concurrent.futures.ProcessPoolExecutor(workers) as executor:
            futures = [executor.submit(cpu_bound, CPU_WORK) for _ in range(CPU_CALLS)]
            spans.extend(future.result() for future in futures)

    return run


def process_cold() -> None:
    async def main() -> None:
        async with ProcessPoolTaskRunner().start() as runner:
            await _cpu_batch(runner, "cold")

    trio.run(main)


def process_warm(timings: list[float], spans: list[Span]) -> Callable[[], None]:
    def run() -> None:
        async def main() -> None:
            async with ProcessPoolTaskRunner().start() as runner:
                await _cpu_batch(runner, "warm-up")
                start = time.perf_counter()
                spans.extend(await _cpu_batch(runner, "measured"))
                timings.append(time.perf_counter() - start)

        trio.run(main)

    return run


def trio_parallel_warm(timings: list[float], spans: list[Span]) -> Callable[[], None]:
    """The runner's engine alone: raw ``trio_parallel`` with as many workers, warmed up the same
    way (the function travels by reference, pickled by trio-parallel)."""

    def run() -> None:
        import trio_parallel

        async def batch(context: Any, limiter: trio.CapacityLimiter) -> list[Span]:
            results: list[Span] = []

            async def one() -> None:
                results.append(await context.run_sync(cpu_bound, CPU_WORK, limiter=limiter))

            async with trio.open_nursery() as nursery:
                for _ in range(CPU_CALLS):
                    nursery.start_soon(one)
            return results

        async def main() -> None:
            limiter = trio.CapacityLimiter(ProcessPoolTaskRunner().workers)
            async with trio_parallel.open_worker_context() as context:
                await batch(context, limiter)
                start = time.perf_counter()
                spans.extend(await batch(context, limiter))
                timings.append(time.perf_counter() - start)

        trio.run(main)

    return run


def span_rows(name: str, runner: str, values: list[float], baseline: list[float] | None) -> Row:
    """A row of per-call figures measured inside the workers (seconds), for a table cell in µs;
    the ratio is of the medians (the figures of one pool are many calls, not runs)."""
    us = [value * 1e6 for value in values]
    median = statistics.median(us)
    return {
        "workload": name,
        "runner": runner,
        "n": len(us),
        "us_per_call": median,
        "us_spread": spread(us),
        "ratio": 1.0 if baseline is None else median / (statistics.median(baseline) * 1e6),
        "ratio_of": "executor (medians)",
    }


def bench_processes(repeat: int) -> list[Row]:
    warm: list[float] = []
    engine: list[float] = []
    spans: dict[str, list[Span]] = {
        "ProcessPoolExecutor": [],
        "raw trio_parallel, warm": [],
        "ProcessPoolTaskRunner, warm": [],
    }
    serial, executor, cold, _, _ = timed(
        repeat,
        serial_cpu,
        executor_cpu(spans["ProcessPoolExecutor"]),
        process_cold,
        trio_parallel_warm(engine, spans["raw trio_parallel, warm"]),
        process_warm(warm, spans["ProcessPoolTaskRunner, warm"]),
    )
    workers = ProcessPoolTaskRunner().workers
    best = min(serial)
    print(f"(b) processes: {CPU_CALLS} CPU-bound calls, {workers} workers (target >= 1.9x)")
    print(f"    serial                 {best:.3f} s")
    walls = {
        "ProcessPoolExecutor": executor,
        "ProcessPoolTaskRunner, cold": cold,
        "raw trio_parallel, warm": engine,
        "ProcessPoolTaskRunner, warm": warm,
    }
    for label, samples in walls.items():
        print(f"    {label:28} {min(samples):.3f} s   speed-up {best / min(samples):.2f}x")
    gaps = {label: dispatch_gaps(pool) for label, pool in spans.items()}
    calls = {label: [end - start for _, start, end in pool] for label, pool in spans.items()}
    for label in spans:
        gap, call = statistics.median(gaps[label]) * 1e3, statistics.median(calls[label])
        print(f"    {label:28} in a worker: a call {call:.3f} s, then {gap:.2f} ms to the next")
    name = f"(b) {CPU_CALLS} CPU-bound calls, {workers} workers (target: serial/runner >= 1.9)"
    gap_name = "(b) the same, in the workers: gap from a call's end to the next call's start"
    call_name = "(b) the same, in the workers: the call itself (same function, same work)"
    rows = [row(name, "serial", CPU_CALLS, serial, None, "serial")]
    rows += [
        row(name, label, CPU_CALLS, samples, serial, "serial") for label, samples in walls.items()
    ]
    for figure_name, figures in ((gap_name, gaps), (call_name, calls)):
        baseline = figures["ProcessPoolExecutor"]
        rows += [
            span_rows(figure_name, label, values, None if values is baseline else baseline)
            for label, values in figures.items()
        ]
    return rows


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
        # Both clients fetch results straight from the workers (Dask's ``direct_to_workers``,
        # which the runner sets itself for a LocalCluster it makes): with Dask's default the
        # scheduler relays every result, and the runner, which fetches a batch each time calls
        # finish, would pay that relay many times where one final gather pays it once.
        client_kwargs = {"direct_to_workers": True}
        with distributed.Client(address, set_as_default=False, **client_kwargs) as client:

            def raw() -> None:
                futures = [client.submit(inc, i, pure=False) for i in range(DASK_CALLS)]
                assert client.gather(futures) == list(range(1, DASK_CALLS + 1))

            def raw_streaming() -> None:
                # Each result as soon as it is ready, as the runner delivers each State.
                futures = [client.submit(inc, i, pure=False) for i in range(DASK_CALLS)]
                completed = distributed.as_completed(futures, loop=client.loop, with_results=True)
                assert sum(1 for _ in completed) == DASK_CALLS

            runner = DaskTaskRunner(address=address, client_kwargs=client_kwargs)
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

            # Warm both sides once, untimed: the workers import what each side ships (the raw
            # function; the runner's `run_pickled`, so trio-runners and trio) on first use.
            raw()
            through_runner()
            raw_runs, streaming_runs, _ = timed(repeat, raw, raw_streaming, runner_calls)
            raw_time, streaming_time, runner_time = min(raw_runs), min(streaming_runs), min(timings)
    print(f"(c) dask: {DASK_CALLS} trivial calls on a 2-process LocalCluster (target <= 1.1x)")
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
    name = f"(c) {DASK_CALLS} trivial calls, 2-process LocalCluster (target <= 1.1x raw)"
    return [
        row(name, "raw client.submit + gather", DASK_CALLS, raw_runs, None, "raw"),
        row(name, "raw as_completed(with_results)", DASK_CALLS, streaming_runs, raw_runs, "raw"),
        row(name, "DaskTaskRunner", DASK_CALLS, timings, raw_runs, "raw"),
    ]


def suite(quick: bool) -> list[Row]:
    """Workload 4 of ``python -m benchmarks``: every parallel runner against its peer."""
    global CPU_WORK, DASK_CALLS
    if quick:  # smaller work, same shape: keeps --quick under a minute
        CPU_WORK, DASK_CALLS = 1_000_000, 200
    repeat = 2 if quick else 5
    rows = bench_threads(repeat)
    rows += bench_processes(2 if quick else 3)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("(c) dask: skipped (pip install 'trio-runners[dask]')")
    else:
        rows += bench_dask(repeat)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
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
