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
import platform
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


TRIVIAL: dict[str, tuple[str, Callable[[int], Awaitable[None]]]] = {
    "raw trio floor": ("trio", raw_trio_floor),
    "raw asyncio (create_task + gather)": ("asyncio", raw_asyncio),
    "ConcurrentTaskRunner()": ("trio", through(ConcurrentTaskRunner)),
    "ConcurrentTaskRunner(max_workers=64)": (
        "trio",
        through(lambda: ConcurrentTaskRunner(max_workers=64)),
    ),
    "SequentialTaskRunner()": ("trio", through(SequentialTaskRunner)),
}


def cpu_seconds(loop: str, workload: Callable[[int], Awaitable[None]], n: int) -> float:
    gc.collect()
    started = time.process_time()
    if loop == "trio":
        trio.run(workload, n)
    else:
        asyncio.run(workload(n))  # type: ignore[arg-type]
    return time.process_time() - started


def bench_trivial(sizes: list[int], repeat: int) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        best = dict.fromkeys(TRIVIAL, float("inf"))
        rounds = repeat if n < 1_000_000 else 1
        for _ in range(rounds):  # interleaved, so machine noise hits every workload alike
            for name, (loop, workload) in TRIVIAL.items():
                best[name] = min(best[name], cpu_seconds(loop, workload, n))
        floor = best["raw trio floor"]
        for name, seconds in best.items():
            rows.append(
                {
                    "workload": "trivial async calls",
                    "runner": name,
                    "n": n,
                    "us_per_call": seconds / n * 1e6,
                    "ratio_to_trio_floor": seconds / floor,
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


def bench_flows(sizes: list[int], repeat: int) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        cases: dict[str, Callable[[], Any]] = {
            "async flow, async tasks (ConcurrentTaskRunner)": lambda n=n: trio.run(async_flow, n),
            "sync flow, sync tasks (ConcurrentTaskRunner, threads)": lambda n=n: sync_flow(n),
        }
        for name, run in cases.items():
            best = float("inf")
            for _ in range(repeat):
                gc.collect()
                started = time.perf_counter()
                assert run() == n * (n - 1) // 2
                best = min(best, time.perf_counter() - started)
            rows.append(
                {
                    "workload": "flows",
                    "runner": name,
                    "n": n,
                    "us_per_call": best / n * 1e6,
                    "target_us_per_call": 100,
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


def bench_memory(sizes: list[int]) -> list[Row]:
    rows: list[Row] = []
    for release in (True, False):
        for n in sizes:
            rows.append(
                {
                    "workload": "memory: as_completed + release, max_pending backpressure",
                    "runner": "streaming with release" if release else "keeping every result",
                    "n": n,
                    "peak_bytes": peak_bytes(n, release),
                }
            )
            print(f"  memory N={n:,} release={release}: done", file=sys.stderr)
    base = {r["runner"]: r["peak_bytes"] for r in rows if r["n"] == sizes[0]}
    for row in rows:
        row["ratio_to_smallest_n"] = row["peak_bytes"] / base[row["runner"]]
    return rows


# ---------------------------------------------------------------------------- report


def markdown(rows: list[Row]) -> str:
    lines = [
        "| workload | runner | N | µs per call (or time) | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        if "peak_bytes" in row:
            figure = f"{row['peak_bytes'] / 2**20:.1f} MiB peak"
            ratio = f"{row['ratio_to_smallest_n']:.2f}x smallest N"
        else:
            figure = f"{row['us_per_call']:.1f}"
            if "seconds" in row:
                figure = f"{row['seconds']:.3f} s"
            if "ratio_to_trio_floor" in row:
                ratio = f"{row['ratio_to_trio_floor']:.2f}x floor"
            elif "ratio" in row:
                ratio = f"{row['ratio']:.2f}x {row.get('ratio_of', 'baseline')}"
            else:
                ratio = f"target ≤ {row['target_us_per_call']} µs"
        lines.append(f"| {row['workload']} | {row['runner']} | {row['n']:,} | {figure} | {ratio} |")
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
    import os

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
        trivial_sizes, flow_sizes, memory_sizes, repeat = (
            [1_000, 10_000],
            [1_000],
            [10_000, 30_000],
            2,
        )
    else:
        trivial_sizes = [1_000, 10_000, 100_000, 1_000_000]
        flow_sizes, memory_sizes, repeat = [1_000, 10_000], [10_000, 100_000, 1_000_000], 3
    started = time.perf_counter()
    rows = bench_trivial(trivial_sizes, repeat)
    rows += bench_flows(flow_sizes, repeat)
    rows += bench_memory(memory_sizes)
    for suite in EXTRA_SUITES:
        rows += suite(args.quick)
    report = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "seconds": time.perf_counter() - started,
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
    return 0
