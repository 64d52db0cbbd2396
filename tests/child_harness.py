"""Run a Python script in a child process for a test, with a guard against hangs.

Used by the tests that need a real process: Ctrl-C (a real SIGINT, which only the main thread of
a process can receive) and interpreter exit. Two promises to the tests that use it:

- The child's SIGINT handler is Python's default (`signal.default_int_handler`), whatever the
  test process inherited: a non-interactive shell starts a background job (``make test &``,
  ``nohup make test``) with SIGINT ignored, every child inherits that, and Python leaves an
  ignored SIGINT ignored.
- A child that hangs is killed and its pipes are closed, and the test fails at once with what
  the child printed: it never hangs the suite, and never leaks pipes that a later, unrelated test
  would then report as a `ResourceWarning`.

Nothing is timed: `HANG_GUARD` only bounds a hang.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

HANG_GUARD = 60.0  # seconds; only against a hang, nothing is timed

#: The line a child prints (with ``os.write(1, b"ready\\n")``, before anything else on stdout)
#: once it is in the state the test wants to interrupt.
READY = "ready"

_ROOT = Path(__file__).resolve().parent.parent  # the checkout whose trio_runners is tested

# First lines of every child script: Ctrl-C raises KeyboardInterrupt, even if SIGINT was ignored.
_RESTORE_SIGINT = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"


@dataclass(frozen=True)
class Ended:
    """How a child ended: its exit status and what it printed (stdout after the ready line)."""

    returncode: int
    stdout: list[str]
    stderr: str


def interrupt_when_ready(script: str, directory: Path) -> Ended:
    """Run ``script``; once it prints `READY`, send it SIGINT; return how it ended.

    Fails the test (after killing the child) if it does not print `READY` as its first line, or
    does not end, within `HANG_GUARD` seconds.
    """
    deadline = time.monotonic() + HANG_GUARD
    with _start(script, directory, ()) as child:
        try:
            out, err = _read_first_line(child, deadline)
            first, _, rest = out.partition(b"\n")
            if first.decode() != READY:
                child.kill()
                more_out, more_err = child.communicate()
                pytest.fail(
                    f"the child printed {first!r} instead of {READY!r}\n"
                    f"stdout: {(out + more_out).decode()}\nstderr: {(err + more_err).decode()}"
                )
            child.send_signal(signal.SIGINT)
            return _finish(child, deadline, rest, err)
        finally:
            _kill_if_running(child)


def run_to_end(script: str, directory: Path, python_options: tuple[str, ...] = ()) -> Ended:
    """Run ``script`` (with ``python_options`` such as ``("-W", "always")``) until it exits.

    Fails the test (after killing the child) if it does not exit within `HANG_GUARD` seconds.
    """
    deadline = time.monotonic() + HANG_GUARD
    with _start(script, directory, python_options) as child:
        try:
            return _finish(child, deadline, b"", b"")
        finally:
            _kill_if_running(child)


def _start(
    script: str, directory: Path, python_options: tuple[str, ...]
) -> subprocess.Popen[bytes]:
    path = directory / "child.py"
    path.write_text(_RESTORE_SIGINT + textwrap.dedent(script))
    pythonpath = os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, *python_options, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )


def _read_first_line(child: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes]:
    """Read both pipes until stdout holds a whole line (or ends); fail the test at the deadline.

    Reads the file descriptors directly (no buffering), so `subprocess.Popen.communicate` can
    read the rest afterwards.
    """
    assert child.stdout is not None and child.stderr is not None
    read = {child.stdout.fileno(): bytearray(), child.stderr.fileno(): bytearray()}
    out = read[child.stdout.fileno()]
    with selectors.DefaultSelector() as selector:
        for fd in read:
            selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in out and selector.get_map():
            ready = selector.select(deadline - time.monotonic())
            if not ready:
                _fail_hung(
                    child, f"no {READY!r} line", bytes(out), bytes(read[child.stderr.fileno()])
                )
            for key, _ in ready:
                chunk = os.read(key.fd, 65536)
                if chunk:
                    read[key.fd] += chunk
                else:
                    selector.unregister(key.fd)
    return bytes(out), bytes(read[child.stderr.fileno()])


def _finish(child: subprocess.Popen[bytes], deadline: float, out: bytes, err: bytes) -> Ended:
    try:
        more_out, more_err = child.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _fail_hung(child, "it did not exit", out, err)
    return Ended(
        child.returncode, (out + more_out).decode().splitlines(), (err + more_err).decode()
    )


def _fail_hung(child: subprocess.Popen[bytes], what: str, out: bytes, err: bytes) -> NoReturn:
    child.kill()
    more_out, more_err = child.communicate()
    pytest.fail(
        f"the child hung ({what} within {HANG_GUARD} s) and was killed\n"
        f"stdout: {(out + more_out).decode()}\nstderr: {(err + more_err).decode()}"
    )


def _kill_if_running(child: subprocess.Popen[bytes]) -> None:
    """Kill a child that is still running; ``Popen.__exit__`` then closes its pipes and reaps it."""
    if child.poll() is None:
        child.kill()
