"""How much a CPU-bound call's speed depends on where its objects land in memory.

The process rows of the benchmark compare pools running the same function on the same work,
and the calls themselves (timed inside the workers) differ by several per cent from one pool to
the next. This script shows why that difference is not a pool's overhead: it runs the same
call, one at a time, in one stdlib ``ProcessPoolExecutor`` worker, after allocating ``k``
small objects that live through the call (nothing else changes), and prints the median time
of the call for each ``k``. On the 2-core machine of docs/benchmarks.md, one or two objects
more or less moved the call by 3 to 8 %: CPython's memory layout, not anybody's dispatch.

    python -m benchmarks.layout              # about 10 s
    python -m benchmarks.layout --rounds 5
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import statistics

from benchmarks.parallel import CPU_WORK, Span, cpu_bound
from trio_runners._remote import pickle_call, run_pickled

PADDINGS = (0, 1, 2, 3, 5, 8)


def padded(payload: bytes, k: int) -> Span:
    """Run the pickled call (as the process runner's workers do) after allocating ``k`` objects
    that stay alive until it returns."""
    padding = [object() for _ in range(k)]
    span: Span = run_pickled(payload)
    del padding
    return span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    payload = pickle_call(functools.partial(cpu_bound, CPU_WORK)).payload
    seconds: dict[int, list[float]] = {k: [] for k in PADDINGS}
    with concurrent.futures.ProcessPoolExecutor(1) as executor:
        executor.submit(cpu_bound, 1_000).result()  # start the worker, import this module there
        for _ in range(args.rounds):
            for k in PADDINGS:
                _, start, end = executor.submit(padded, payload, k).result()
                seconds[k].append(end - start)
    fastest = min(statistics.median(values) for values in seconds.values())
    print(f"the same call ({CPU_WORK:,} iterations), one worker, {args.rounds} rounds")
    for k, values in seconds.items():
        median = statistics.median(values)
        print(
            f"  {k} padding objects: median {median:.3f} s ({median / fastest:.2f}x the fastest)"
            f"   runs: {' '.join(f'{value:.3f}' for value in values)}"
        )


if __name__ == "__main__":
    main()
