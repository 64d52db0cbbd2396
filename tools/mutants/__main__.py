"""Plant each mutant in a temporary copy of the repository and run the property suite on it.

Safety: the source tree is only read. Each run (the unmutated baseline and every mutant) gets its
own temporary copy of the tracked and untracked-but-not-ignored files, the mutant is written
into the copy only, and the copy is deleted afterwards; the pytest process runs from the copy,
and the run checks that ``trio_runners`` was imported from the copy. At the end the core files
of the source tree are hashed again to show they are untouched.

Exit status: 0 if at least ``--threshold`` percent of the mutants were caught by a failing test;
1 if fewer; 2 if the run is not valid (a stale mutant, the baseline failing, a run erroring).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import datetime
import hashlib
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from .catalogue import MUTANTS, Mutant

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORE = sorted({m.file for m in MUTANTS})

# The property files run first, most direct first; any other property file follows (sorted),
# and the tests of the kit's own broken runners come last.
PREFERRED_ORDER = ("test_our_runners.py", "test_parallel_runners.py")
LAST = ("test_kit_catches_bugs.py",)
SLOW_FILES = ("test_dask_conformance.py",)
# Tests of the kit itself (its deliberately broken runners, its model): not properties of our
# runners, so they only run with --kit-tests.
KIT_FILES = ("test_kit_catches_bugs.py", "test_kit_itself.py")
SLOW_KEYWORD = "not ProcessPool and not Dask"

# A pytest plugin written next to (not into) each copy: registers the small ``mutants`` profile
# and reports where trio_runners was imported from, so a run can prove it tested the copy.
PLUGIN = """
import os, sys
from hypothesis import Phase, settings

# No shrinking: a mutant is caught by the first failing example; a minimal one is not needed.
settings.register_profile(
    "mutants",
    max_examples=50,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)


def pytest_collection_finish(session):
    module = sys.modules.get("trio_runners")
    with open(os.environ["MUTANTS_IMPORTED_FROM"], "w") as f:
        f.write("" if module is None else os.path.dirname(os.path.abspath(module.__file__)))
"""


class Stale(Exception):
    """A mutant's snippet is not found exactly once in its file."""


@dataclasses.dataclass
class Result:
    id: str
    status: str  # caught | survived | timeout | stale | error
    caught_by: str = ""
    detail: str = ""
    seconds: float = 0.0


def plant(mutant: Mutant, text: str) -> str:
    """The file's text with ``mutant``'s edits made; `Stale` if an edit does not apply exactly."""
    for old, new in mutant.edits:
        if old == new:
            raise Stale(f"{mutant.id}: an edit does not change anything")
        found = text.count(old)
        if found != 1:
            first = old.strip().splitlines()[0] if old.strip() else repr(old)
            raise Stale(f"{mutant.id}: {first!r} found {found} times in {mutant.file}, not once")
        text = text.replace(old, new)
    return text


def check_catalogue(source: pathlib.Path, mutants: list[Mutant]) -> dict[str, str]:
    """Plant each mutant in memory: {id: why it cannot be planted} for the stale or broken."""
    problems: dict[str, str] = {}
    ids = [m.id for m in MUTANTS]
    for duplicate in {i for i in ids if ids.count(i) > 1}:
        problems[duplicate] = "duplicate id in the catalogue"
    for mutant in mutants:
        path = source / mutant.file
        try:
            text = plant(mutant, path.read_text())
            compile(text, str(path), "exec")
        except FileNotFoundError:
            problems[mutant.id] = f"stale: {mutant.file} does not exist"
        except Stale as exc:
            problems[mutant.id] = f"stale: {exc}"
        except SyntaxError as exc:
            problems[mutant.id] = f"does not compile: {exc}"
    return problems


def source_files(source: pathlib.Path) -> list[str]:
    """The files a copy needs: tracked, plus untracked ones that are not ignored."""
    out = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({name for name in out.split("\0") if name and (source / name).is_file()})


def describe_source(source: pathlib.Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(source), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    dirty = f" + uncommitted changes to {len(changed)} files" if changed else ""
    return f"{git('rev-parse', '--short', 'HEAD')} ({git('log', '-1', '--format=%s')}){dirty}"


def fingerprint(source: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for name in CORE:
        path = source / name
        digest.update(name.encode() + (path.read_bytes() if path.exists() else b"<missing>"))
    return digest.hexdigest()


def test_files(source: pathlib.Path, slow: bool, kit_tests: bool) -> list[str]:
    names = sorted(p.name for p in (source / "property_tests").glob("test_*.py"))
    if not slow:
        names = [n for n in names if n not in SLOW_FILES]
    if not kit_tests:
        names = [n for n in names if n not in KIT_FILES]
    ordered = [n for n in PREFERRED_ORDER if n in names]
    ordered += [n for n in names if n not in ordered and n not in LAST]
    ordered += [n for n in LAST if n in names]
    return [f"property_tests/{n}" for n in ordered]


@dataclasses.dataclass
class Settings:
    source: pathlib.Path
    files: list[str]
    tests: list[str]
    profile: str
    seed: int
    timeout: float
    slow: bool
    keep: bool
    deselect: list[str]


_LIVE: set[subprocess.Popen[str]] = set()
_LIVE_LOCK = threading.Lock()


def kill(process: subprocess.Popen[str]) -> None:
    """Kill the pytest process and everything it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_one(mutant: Mutant | None, cfg: Settings) -> Result:
    """Copy the source, plant ``mutant`` (None: the baseline), run the suite; never raises."""
    began = time.monotonic()
    result = _run_one(mutant, cfg)
    result.seconds = time.monotonic() - began
    return result


def _run_one(mutant: Mutant | None, cfg: Settings) -> Result:
    name = "baseline" if mutant is None else mutant.id
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"mutant-{name}-"))
    try:
        repo, plugin_dir = tmp / "repo", tmp / "plugin"
        plugin_dir.mkdir()
        (plugin_dir / "_mutants_plugin.py").write_text(PLUGIN)
        for name_ in cfg.files:
            target = repo / name_
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(cfg.source / name_, target)
        if mutant is not None:
            path = repo / mutant.file
            path.write_text(plant(mutant, path.read_text()))
        imported_from = tmp / "imported-from"
        env = dict(os.environ)
        env.update(
            PYTHONPATH=f"{repo}{os.pathsep}{plugin_dir}",
            PYTHONDONTWRITEBYTECODE="1",
            MUTANTS_IMPORTED_FROM=str(imported_from),
        )
        command = [
            sys.executable,
            "-m",
            "pytest",
            *cfg.tests,
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "_mutants_plugin",
            f"--hypothesis-profile={cfg.profile}",
            f"--hypothesis-seed={cfg.seed}",
            "-rfE",
        ]
        if not cfg.slow:
            command += ["-k", SLOW_KEYWORD]
        for node in cfg.deselect:
            command += ["--deselect", node]
        process = subprocess.Popen(
            command,
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        with _LIVE_LOCK:
            _LIVE.add(process)
        try:
            output, _ = process.communicate(timeout=cfg.timeout)
        except subprocess.TimeoutExpired:
            kill(process)
            process.communicate()
            return Result(name, "timeout", detail=f"no result after {cfg.timeout:.0f} s")
        finally:
            kill(process)  # whatever it left behind (abandoned worker processes)
            with _LIVE_LOCK:
                _LIVE.discard(process)
        return judge(name, process.returncode, output, imported_from, repo)
    except Exception as exc:  # a broken copy or a stale snippet: reported, never raised
        return Result(name, "error", detail=f"{type(exc).__name__}: {exc}")
    finally:
        if cfg.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


_FAILURE = re.compile(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$", re.M)


def judge(
    name: str, code: int, output: str, imported_from: pathlib.Path, repo: pathlib.Path
) -> Result:
    where = imported_from.read_text() if imported_from.exists() else ""
    if where and pathlib.Path(where) != repo / "trio_runners":
        return Result(name, "error", detail=f"trio_runners was imported from {where}, not the copy")
    failure = _FAILURE.search(output)
    if code == 0:
        return Result(name, "survived")
    if code in (1, 2) and failure:
        kind, test, message = failure.groups()
        by = test if kind == "FAILED" else f"{test} (collection error)"
        return Result(name, "caught", caught_by=by, detail=(message or "").strip()[:160])
    tail = " | ".join(output.strip().splitlines()[-3:])
    return Result(name, "error", detail=f"pytest exited {code}: {tail[:300]}")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report(
    results: dict[str, Result],
    mutants: list[Mutant],
    header: str,
) -> tuple[str, int, int]:
    lines = [header, "", "| # | mutant | file | the bug it models | result |", "|---" * 5 + "|"]
    caught = 0
    counted = 0
    for n, mutant in enumerate(mutants, 1):
        result = results.get(mutant.id, Result(mutant.id, "error", detail="not run"))
        if result.status == "caught":
            caught += 1
            test = result.caught_by.removeprefix("property_tests/")
            outcome = f"caught by `{test}`"
        elif result.status == "survived":
            outcome = "**survived**"
        elif result.status == "timeout":
            outcome = f"timeout (not counted as caught: {result.detail})"
        else:
            outcome = f"**{result.status}**: {cell(result.detail)}"
        if result.status != "stale":
            counted += 1
        file = mutant.file.removeprefix("trio_runners/")
        lines.append(f"| {n} | `{mutant.id}` | `{file}` | {cell(mutant.description)} | {outcome} |")
    return "\n".join(lines), caught, counted


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.mutants",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--source", type=pathlib.Path, default=ROOT, help="repo to copy")
    parser.add_argument("--only", help="comma-separated mutant ids to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--check", action="store_true", help="only check that every mutant still applies"
    )
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (at most 2)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per run (default: 600)"
    )
    parser.add_argument("--threshold", type=float, default=90.0, help="percent to pass")
    parser.add_argument(
        "--hypothesis-profile",
        default="mutants",
        help="mutants (default: 50 examples per property, no shrinking, no example database) "
        "or ci (200 examples and shrinking, as CI runs the suite: several times slower)",
    )
    parser.add_argument("--seed", type=int, help="Hypothesis seed (default: random, printed)")
    parser.add_argument(
        "--slow", action="store_true", help="include the Dask and process-pool properties"
    )
    parser.add_argument(
        "--kit-tests",
        action="store_true",
        help="also run the kit's own tests (test_kit_catches_bugs.py, test_kit_itself.py)",
    )
    parser.add_argument(
        "--deselect",
        action="append",
        default=[],
        metavar="NODEID",
        help="leave out a test that fails on the unmutated code (said in the report)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument("--output", type=pathlib.Path, help="also write the table here")
    args = parser.parse_args(argv)
    # Started in the background by a non-interactive shell, SIGINT is ignored: restore it, and
    # let SIGTERM stop the run the same way (the runs' process groups are killed on the way out).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)

    mutants = list(MUTANTS)
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {m.id for m in mutants})
        if unknown:
            parser.error(f"unknown mutant ids: {', '.join(unknown)}")
        mutants = [m for m in mutants if m.id in wanted]
    if args.list:
        for m in mutants:
            print(f"{m.id:52} {m.file.removeprefix('trio_runners/'):16} {m.description}")
        return 0
    if not 1 <= args.jobs <= 2:
        parser.error("--jobs must be 1 or 2 (the machine has 2 cores)")

    source = args.source.resolve()
    problems = check_catalogue(source, mutants)
    for mutant_id, why in problems.items():
        print(f"STALE {mutant_id}: {why}", file=sys.stderr)
    if args.check or problems:
        print(
            f"{len(mutants) - len(problems)} of {len(mutants)} mutants apply to {source}",
            file=sys.stderr,
        )
        return 2 if problems else 0

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    cfg = Settings(
        source=source,
        files=source_files(source),
        tests=test_files(source, args.slow, args.kit_tests),
        profile=args.hypothesis_profile,
        seed=seed,
        timeout=args.timeout,
        slow=args.slow,
        keep=args.keep,
        deselect=args.deselect,
    )
    before = fingerprint(source)
    described = describe_source(source)
    print(
        f"mutants: {len(mutants)} against {source} at {described}; property files: "
        f"{' '.join(cfg.tests)}; profile {cfg.profile}, seed {seed}, {args.jobs} at a time, "
        f"timeout {cfg.timeout:.0f} s",
        file=sys.stderr,
    )
    began = time.monotonic()
    results: dict[str, Result] = {}
    jobs: list[Mutant | None] = [*([] if args.no_baseline else [None]), *mutants]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs)
    try:
        futures = {pool.submit(run_one, job, cfg): job for job in jobs}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            result = future.result()
            elapsed = result.seconds
            by = f" by {result.caught_by}" if result.caught_by else ""
            extra = f" ({result.detail})" if result.status != "caught" and result.detail else ""
            print(
                f"[{done}/{len(jobs)}] {result.id}: {result.status}{by}{extra} ({elapsed:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            if result.id == "baseline" and result.status != "survived":
                print(
                    "the unmutated suite does not pass: mutant results would mean nothing",
                    file=sys.stderr,
                )
                for f in futures:
                    f.cancel()
                with _LIVE_LOCK:
                    for process in _LIVE:
                        kill(process)
                return 2
            results[result.id] = result
    except KeyboardInterrupt:
        for f in futures:
            f.cancel()
        with _LIVE_LOCK:
            for process in _LIVE:
                kill(process)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    duration = time.monotonic() - began

    untouched = fingerprint(source) == before
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"Mutation check, {when}: code at {described}; property suite "
        f"({', '.join(t.removeprefix('property_tests/') for t in cfg.tests)}"
        f"{'' if cfg.slow else '; without the ProcessPool and Dask classes'}"
        f"{''.join(f'; without {n}' for n in cfg.deselect)}), "
        f"`pytest -x`, Hypothesis profile `{cfg.profile}`, seed {seed}; "
        f"{args.jobs} runs at a time; {duration / 60:.1f} minutes."
    )
    table, caught, counted = report(results, mutants, header)
    timeouts = sum(r.status == "timeout" for r in results.values())
    errors = [r.id for r in results.values() if r.status == "error"]
    percent = 100.0 * caught / counted if counted else 0.0
    if "baseline" in results:
        baseline = results.pop("baseline")
        table += f"\n\nThe unmutated suite passed in {baseline.seconds:.0f} s."
    table += (
        f"\n\nTimeouts (the suite did not finish; not counted as caught): {timeouts}."
        f"\nThe source tree was {'untouched' if untouched else 'CHANGED during the run'}."
        f"\n\ncaught {caught} of {counted} ({percent:.0f}%)"
    )
    print(table)
    if args.output:
        args.output.write_text(table + "\n")
    if errors or not untouched:
        return 2
    return 0 if percent >= args.threshold else 1


if __name__ == "__main__":
    sys.exit(main())
