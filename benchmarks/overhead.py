"""Per-call overhead of the event-loop runners against a raw-trio floor, in the same run.

The floor is what a hand-written Trio program does: one nursery, one Event per key and a results
dict; the contract floor adds what the runner contract requires (a CancelScope per call, a
checkpoint per submit). Each workload submits N trivial async calls and waits for all of them.
We report min / median / max of ``--repeat`` runs in microseconds per call and the ratios of the
minima to both floors. Times are CPU time
of this process (``time.process_time``), which a busy machine disturbs less than wall time.
The full suite, with asyncio, flows, memory and plots, is ``python -m benchmarks``.

    python benchmarks/overhead.py                 # N = 10k and 100k
    python benchmarks/overhead.py --sizes 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import bench_trivial


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    for n in args.sizes:
        print(f"\nN = {n:,}")
        print(
            f"{'workload':62} {'µs/call: min / median / max':>27} {'x floor':>8} "
            f"{'x contr.':>8} {'x bound.':>8}"
        )
        for row in bench_trivial([n], args.repeat):
            low, mid, high = (row["us_spread"][k] for k in ("min", "median", "max"))
            print(
                f"{row['runner']:62} {low:8.2f} /{mid:7.2f} /{high:7.2f} "
                f"{row['ratio_to_trio_floor']:8.2f} {row['ratio_to_contract_floor']:8.2f}"
                + (
                    f" {row['ratio_to_bounded_contract_floor']:8.2f}"
                    if row["ratio_to_bounded_contract_floor"] is not None
                    else ""
                )
            )


if __name__ == "__main__":
    main()
