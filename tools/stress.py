"""Stress mode: the timing-dependent suites, run while other processes keep every CPU busy.

    python tools/stress.py            # the full run (make stress)
    python tools/stress.py --ci       # the bounded slice CI runs (a few minutes)
    python tools/stress.py --repeat 3 # three runs in a row; stops at the first failure

What runs: the conformance properties of the process runner and of the Dask runner (real
time, real processes: their schedules depend on the machine's load) and the flows tests
(``tests/test_flows_*.py``), under pytest, while one busy-loop process per CPU competes with
them. Timing-dependent paths must be correct on a loaded machine, not only on an idle one.

The busy loops are this script's children and are always stopped: on success, on failure,
on Ctrl-C or SIGTERM (the script kills them in ``finally``), and even if this script is
killed outright (each loop exits on its own as soon as its parent is gone).

``--ci`` (or ``TRIO_RUNNERS_STRESS=ci`` in the environment) runs fewer examples per property
(``TRIO_RUNNERS_REMOTE_EXAMPLES``, read by the two property files). The exit status is
pytest's (or 130 on Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent

#: The suites that run under load, relative to the repository root.
SUITES = [
    "property_tests/test_parallel_runners.py::TestProcessPool",
    "property_tests/test_dask_conformance.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_flows_*.py")),
]

#: Examples per remote-runner property: the slice CI runs, and the full stress run (the
#: property files' own defaults are 30 for processes and 50 for Dask).
CI_EXAMPLES = 10
FULL_EXAMPLES = 50

#: A busy loop that stops by itself once its parent (this script) is gone.
BUSY_LOOP = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


class _Stop(Exception):
    """SIGTERM (or SIGHUP) arrived: stop, cleaning up like Ctrl-C does."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


@contextlib.contextmanager
def busy_cpus(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Keep ``count`` CPUs busy with busy-loop child processes for the duration."""
    loops: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            loops.append(
                subprocess.Popen(
                    [sys.executable, "-c", BUSY_LOOP],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    # Its own session: a Ctrl-C at the terminal reaches pytest and this
                    # script, and this script stops the loops itself.
                    start_new_session=True,
                )
            )
        yield loops
    finally:
        for loop in loops:
            with contextlib.suppress(ProcessLookupError):
                loop.kill()
        for loop in loops:
            loop.wait()


def run_once(args: argparse.Namespace, examples: int) -> int:
    env = dict(os.environ)
    env["TRIO_RUNNERS_REMOTE_EXAMPLES"] = str(examples)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", *SUITES, "-q", "-p", "no:cacheprovider"]
    command += args.pytest_args
    with busy_cpus(args.busy) as loops:
        print(
            f"stress: {len(loops)} busy loop(s) (pids {[p.pid for p in loops]}),"
            f" {examples} examples per remote-runner property",
            flush=True,
        )
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            return process.wait()
        finally:
            if process.poll() is None:  # interrupted: stop pytest (and its workers) too
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ci",
        action="store_true",
        default=os.environ.get("TRIO_RUNNERS_STRESS") == "ci",
        help=f"the bounded slice CI runs ({CI_EXAMPLES} examples per remote-runner property)",
    )
    parser.add_argument(
        "--examples", type=int, default=None, help="examples per remote-runner property"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs in a row (default 1)")
    parser.add_argument(
        "--busy",
        type=int,
        default=os.cpu_count() or 1,
        help="busy-loop processes (default: one per CPU)",
    )
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    if args.repeat < 1 or args.busy < 0:
        parser.error("--repeat must be >= 1 and --busy >= 0")
    examples = args.examples or (CI_EXAMPLES if args.ci else FULL_EXAMPLES)
    signal.signal(signal.SIGTERM, _raise_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _raise_stop)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background by a non-interactive shell: make Ctrl-C (SIGINT) work.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    status = 0
    try:
        for run in range(1, args.repeat + 1):
            started = time.monotonic()
            status = run_once(args, examples)
            elapsed = time.monotonic() - started
            verdict = "passed" if status == 0 else f"FAILED (exit status {status})"
            print(f"stress: run {run}/{args.repeat} {verdict} in {elapsed:.0f} s", flush=True)
            if status != 0:
                break
    except (KeyboardInterrupt, _Stop) as exc:
        print(f"stress: interrupted ({type(exc).__name__} {exc}); busy loops stopped", flush=True)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
