"""The standing benchmark: every runner against raw Trio (and asyncio), in one process run.

    python -m benchmarks            # the full suite (several minutes)
    python -m benchmarks --quick    # under a minute; what CI runs to keep the suite working

Writes ``benchmarks/results/latest.json`` and ``benchmarks/results/latest.md`` and draws PNG plots
into ``docs/benchmarks/``. Every figure is a ratio against a baseline measured in the same run, so
the table means something on any machine. Times are CPU seconds of this process
(``time.process_time``) for single-threaded workloads, wall seconds where threads, processes or a
cluster do the work. No figure here is asserted by a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

import trio_runners
from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner, flow, task
from trio_runners.abc import BaseTaskRunner

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PLOTS = ROOT / "docs" / "benchmarks"

Row = dict[str, Any]


# ---------------------------------------------------------------------------- workload 1


async def trivial() -> int:
    return 1


async def raw_trio_floor(n: int) -> None:
    """One nursery, one Event per key, a results dict: what hand-written Trio does."""
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


async def contract_floor(n: int) -> None:
    """Raw Trio doing the work the runner contract requires, and nothing else: a `CancelScope`
    per call (so one call can be cancelled alone), a checkpoint per submit (every public async
    method checkpoints) and an `Event` per key (any task may wait for any key)."""
    results: dict[int, Any] = {}
    events: dict[int, trio.Event] = {}

    async def run(key: int, scope: trio.CancelScope, event: trio.Event) -> None:
        with scope:
            results[key] = await trivial()
        event.set()

    async with trio.open_nursery() as nursery:
        for key in range(n):
            event = events[key] = trio.Event()
            nursery.start_soon(run, key, trio.CancelScope(), event)
            await trio.lowlevel.checkpoint()
        for key in range(n):
            await events[key].wait()
    assert len(results) == n


async def contract_floor_bounded(n: int, workers: int = 64) -> None:
    """The contract floor of a runner with a worker limit: the same, plus a slot of a
    `trio.Semaphore` per call, taken before the call starts (waiting when all are taken, as
    admission does) and given back as its task ends: raw Trio bounding concurrency."""
    results: dict[int, Any] = {}
    events: dict[int, trio.Event] = {}
    slots = trio.Semaphore(workers)

    async def run(key: int, scope: trio.CancelScope, event: trio.Event) -> None:
        try:
            with scope:
                results[key] = await trivial()
            event.set()
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for key in range(n):
            event = events[key] = trio.Event()
            await trio.lowlevel.checkpoint()
            await slots.acquire()
            nursery.start_soon(run, key, trio.CancelScope(), event)
        for key in range(n):
            await events[key].wait()
    assert len(results) == n


async def raw_asyncio(n: int) -> None:
    """``create_task`` + ``gather``."""
    tasks = [asyncio.create_task(trivial()) for _ in range(n)]
    assert len(await asyncio.gather(*tasks)) == n


def through(factory: Callable[[], BaseTaskRunner]) -> Callable[[int], Awaitable[None]]:
    async def workload(n: int) -> None:
        runner = factory()
        async with runner.start():
            for key in range(n):
                await runner.submit(key, trivial)
            for key in range(n):
                await runner.wait(key)
        assert runner.statistics().completed == n

    return workload


def through_nowait(factory: Callable[[], ConcurrentTaskRunner]) -> Callable[[int], Awaitable[None]]:
    """As `through`, submitting with ``submit_nowait`` (no checkpoint per submit)."""

    async def workload(n: int) -> None:
        runner = factory()
        async with runner.start():
            for key in range(n):
                runner.submit_nowait(key, trivial)
            for key in range(n):
                await runner.wait(key)
        assert runner.statistics().completed == n

    return workload


FLOOR = "raw trio floor"
CONTRACT = "contract floor (raw trio: scope + checkpoint + Event per call)"
BOUNDED = "bounded contract floor (the same + a Semaphore(64) slot per call)"

TRIVIAL: dict[str, tuple[str, Callable[[int], Awaitable[None]]]] = {
    FLOOR: ("trio", raw_trio_floor),
    CONTRACT: ("trio", contract_floor),
    BOUNDED: ("trio", contract_floor_bounded),
    "raw asyncio (create_task + gather)": ("asyncio", raw_asyncio),
    "ConcurrentTaskRunner()": ("trio", through(ConcurrentTaskRunner)),
    "ConcurrentTaskRunner(max_workers=64)": (
        "trio",
        through(lambda: ConcurrentTaskRunner(max_workers=64)),
    ),
    "SequentialTaskRunner()": ("trio", through(SequentialTaskRunner)),
    "ConcurrentTaskRunner(), submit_nowait": ("trio", through_nowait(ConcurrentTaskRunner)),
    "ConcurrentTaskRunner(max_workers=64), submit_nowait": (
        "trio",
        through_nowait(lambda: ConcurrentTaskRunner(max_workers=64)),
    ),
}


def cpu_seconds(loop: str, workload: Callable[[int], Awaitable[None]], n: int) -> float:
    gc.collect()
    started = time.process_time()
    if loop == "trio":
        trio.run(workload, n)
    else:
        asyncio.run(workload(n))  # type: ignore[arg-type]
    return time.process_time() - started


def spread(samples: list[float], per: float = 1.0) -> dict[str, float]:
    """min / median / max of ``samples`` divided by ``per``."""
    return {
        "min": min(samples) / per,
        "median": statistics.median(samples) / per,
        "max": max(samples) / per,
        "runs": len(samples),
    }


def bench_trivial(sizes: list[int], repeat: int, big_repeat: int = 1) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        samples: dict[str, list[float]] = {name: [] for name in TRIVIAL}
        rounds = repeat if n < 1_000_000 else big_repeat
        for _ in range(rounds):  # interleaved, so machine noise hits every workload alike
            for name, (loop, workload) in TRIVIAL.items():
                samples[name].append(cpu_seconds(loop, workload, n))
        floor, contract = min(samples[FLOOR]), min(samples[CONTRACT])
        bounded = min(samples[BOUNDED])
        for name, seconds in samples.items():
            rows.append(
                {
                    "workload": "trivial async calls",
                    "runner": name,
                    "n": n,
                    "us_per_call": min(seconds) / n * 1e6,
                    "us_spread": spread(seconds, n / 1e6),
                    "ratio_to_trio_floor": min(seconds) / floor,
                    "ratio_to_contract_floor": min(seconds) / contract,
                    # the rows with a worker limit, against the floor that has one too
                    "ratio_to_bounded_contract_floor": (
                        min(seconds) / bounded if name == BOUNDED or "max_workers" in name else None
                    ),
                }
            )
        print(f"  trivial N={n:,}: done", file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------- workload 2


@task
async def async_noop(i: int) -> int:
    return i


@task
def sync_noop(i: int) -> int:
    return i


@flow
async def async_flow(n: int) -> int:
    futures = [await async_noop(i) for i in range(n)]
    return sum([await f.result() for f in futures])


@flow
def sync_flow(n: int) -> int:
    futures = [sync_noop(i) for i in range(n)]
    return sum(f.result() for f in futures)


PREVIOUS_SYNC_PATH = "sync flow, sync tasks, one trio.to_thread.run_sync per task (previous path)"

TARGETS = {
    "async flow, async tasks (ConcurrentTaskRunner)": 50,
    "sync flow, sync tasks (ConcurrentTaskRunner, threads)": 100,
    PREVIOUS_SYNC_PATH: 100,
}


def sync_flow_per_call_to_thread(n: int) -> int:
    """The sync flow as it ran before the run's long-lived worker threads: no pool is ever
    found, so each sync task takes a ``trio.to_thread.run_sync`` of its own (same run, same
    machine load: the ratio of the two rows is what the worker threads buy)."""
    from trio_runners import _execution

    saved = _execution.worker_threads_for
    _execution.worker_threads_for = lambda limiter: None
    try:
        result: int = sync_flow(n)
    finally:
        _execution.worker_threads_for = saved
    return result


def bench_flows(sizes: list[int], repeat: int) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        cases: dict[str, Callable[[], Any]] = {
            "async flow, async tasks (ConcurrentTaskRunner)": lambda n=n: trio.run(async_flow, n),
            "sync flow, sync tasks (ConcurrentTaskRunner, threads)": lambda n=n: sync_flow(n),
            PREVIOUS_SYNC_PATH: lambda n=n: sync_flow_per_call_to_thread(n),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(repeat):  # interleaved, as above
            for name, run in cases.items():
                gc.collect()
                started = time.perf_counter()
                assert run() == n * (n - 1) // 2
                samples[name].append(time.perf_counter() - started)
        for name, seconds in samples.items():
            rows.append(
                {
                    "workload": "flows",
                    "runner": name,
                    "n": n,
                    "us_per_call": min(seconds) / n * 1e6,
                    "us_spread": spread(seconds, n / 1e6),
                    "target_us_per_call": TARGETS[name],
                }
            )
        print(f"  flows N={n:,}: done", file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------- workload 3


async def stream(n: int, release: bool, window: int = 1_000) -> None:
    """Submit ``n`` calls with backpressure; consume them with as_completed, window by window."""
    runner = ConcurrentTaskRunner(max_workers=64, max_pending=256)
    async with runner.start(), trio.open_nursery() as nursery:
        windows: trio.MemorySendChannel[range]
        windows, pending = trio.open_memory_channel[range](2)

        async def consume() -> None:
            async with pending:
                async for keys in pending:
                    async for key, state in runner.as_completed(keys):
                        state.result()
                        if release:
                            runner.release(key)

        nursery.start_soon(consume)
        async with windows:
            for start in range(0, n, window):
                keys = range(start, min(start + window, n))
                for key in keys:
                    await runner.submit(key, trivial)
                await windows.send(keys)
    assert runner.statistics().retained == (0 if release else n)


def peak_bytes(n: int, release: bool) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        trio.run(stream, n, release)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_memory(sizes: list[int], repeat: int) -> list[Row]:
    rows: list[Row] = []
    for release in (True, False):
        for n in sizes:
            samples = [float(peak_bytes(n, release)) for _ in range(repeat if n < 1_000_000 else 1)]
            rows.append(
                {
                    "workload": "memory: as_completed + release, max_pending backpressure",
                    "runner": "streaming with release" if release else "keeping every result",
                    "n": n,
                    "peak_bytes": min(samples),
                    "bytes_spread": spread(samples),
                }
            )
            print(f"  memory N={n:,} release={release}: done", file=sys.stderr)
    base = {r["runner"]: r["peak_bytes"] for r in rows if r["n"] == sizes[0]}
    for row in rows:
        row["ratio_to_smallest_n"] = row["peak_bytes"] / base[row["runner"]]
    return rows


# ---------------------------------------------------------------------------- report


def _spread_text(row: Row) -> str:
    """The row's min / median / max, in its unit."""
    if "bytes_spread" in row:
        low, mid, high = (row["bytes_spread"][k] / 2**20 for k in ("min", "median", "max"))
        return f"{low:.1f} / {mid:.1f} / {high:.1f} MiB peak"
    if "seconds_spread" in row:
        low, mid, high = (row["seconds_spread"][k] for k in ("min", "median", "max"))
        return f"{low:.3f} / {mid:.3f} / {high:.3f} s"
    low, mid, high = (row["us_spread"][k] for k in ("min", "median", "max"))
    return f"{low:.1f} / {mid:.1f} / {high:.1f}"


def _runs(row: Row) -> int:
    for key in ("us_spread", "seconds_spread", "bytes_spread"):
        if key in row:
            return int(row[key]["runs"])
    return 1  # pragma: no cover


def markdown(rows: list[Row]) -> str:
    """The table: every figure as min / median / max over its runs; ratios are of the minima
    (the least disturbed run of each side, both measured in the same run of the suite)."""
    lines = [
        "| workload | runner | N | runs | µs per call (or time): min / median / max | ratio "
        "(of minima) | x contract floor |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        contract = ""
        if "peak_bytes" in row:
            ratio = f"{row['ratio_to_smallest_n']:.2f}x smallest N"
        elif "ratio_to_trio_floor" in row:
            ratio = f"{row['ratio_to_trio_floor']:.2f}x floor"
            contract = f"{row['ratio_to_contract_floor']:.2f}x"
            if row.get("ratio_to_bounded_contract_floor") is not None:
                contract += f" ({row['ratio_to_bounded_contract_floor']:.2f}x bounded)"
        elif "ratio" in row:
            ratio = f"{row['ratio']:.2f}x {row.get('ratio_of', 'baseline')}"
            if "ratio_spread" in row:
                low, mid, high = (row["ratio_spread"][k] for k in ("min", "median", "max"))
                ratio += f" (per run: {low:.2f} / {mid:.2f} / {high:.2f})"
        else:
            ratio = f"target ≤ {row['target_us_per_call']} µs"
        lines.append(
            f"| {row['workload']} | {row['runner']} | {row['n']:,} | {_runs(row)} | "
            f"{_spread_text(row)} | {ratio} | {contract} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[Row]) -> list[Path]:
    """One log-log plot per figure against N, a line per runner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
    charts = [
        (
            "overhead.png",
            "Per-call overhead of trivial async calls",
            "µs per call (CPU)",
            [r for r in rows if r["workload"] == "trivial async calls"],
            lambda r: r["us_per_call"],
        ),
        (
            "memory.png",
            "Memory of a streamed run: release keeps it flat",
            "peak traced memory (MiB)",
            [r for r in rows if "peak_bytes" in r],
            lambda r: r["peak_bytes"] / 2**20,
        ),
    ]
    written = []
    for filename, title, ylabel, chart_rows, value in charts:
        if not chart_rows:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name in dict.fromkeys(r["runner"] for r in chart_rows):
            points = sorted((r["n"], value(r)) for r in chart_rows if r["runner"] == name)
            ax.plot(*zip(*points, strict=True), marker="o", label=name)
        ax.set(xscale="log", yscale="log", xlabel="calls (N)", ylabel=ylabel, title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(PLOTS / filename)
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "trio": trio.__version__,
        "trio_runners": trio_runners.__version__,
    }


def parallel_suite(quick: bool) -> list[Row]:
    """Workload 4: the thread, process and Dask runners against their peers."""
    from benchmarks import parallel

    return parallel.suite(quick)


EXTRA_SUITES: list[Callable[[bool], list[Row]]] = [parallel_suite]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: under a minute")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="where latest.json and latest.md go"
    )
    args = parser.parse_args(argv)
    if args.quick:
        trivial_sizes, flow_sizes, memory_sizes, repeat, big_repeat = (
            [1_000, 10_000],
            [1_000],
            [10_000, 30_000],
            3,
            1,
        )
    else:
        trivial_sizes = [1_000, 10_000, 100_000, 1_000_000]
        flow_sizes, memory_sizes = [1_000, 10_000], [10_000, 100_000, 1_000_000]
        repeat, big_repeat = 5, 1
    started = time.perf_counter()
    load_before = os.getloadavg()
    rows = bench_trivial(trivial_sizes, repeat, big_repeat)
    rows += bench_flows(flow_sizes, repeat)
    rows += bench_memory(memory_sizes, 2 if args.quick else 3)
    for suite in EXTRA_SUITES:
        rows += suite(args.quick)
    report = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "seconds": time.perf_counter() - started,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "rows": rows,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(rows)
    (args.results / "latest.md").write_text(table)
    print(table)
    if not args.no_plots:
        for path in plot(rows):
            print(f"wrote {path.relative_to(ROOT)}")
    print(f"benchmark {report['mode']} run: {report['seconds']:.0f} s")
    print(f"load average before {load_before}, after {report['load_average']['after']}")
    return 0
