"""Ctrl-C in a host that embeds a runner: a real SIGINT cancels the calls and is re-raised."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HANG_GUARD = 60  # seconds; only against a hang, nothing is timed

PRELUDE = """
import asyncio
import os
import threading

import trio

from trio_runners import ConcurrentTaskRunner
from trio_runners.embed import run_in_background, run_in_background_async

started = threading.Event()
futures = {}

def in_thread():
    started.set()
    threading.Event().wait()  # blocks for ever; its thread is abandoned on cancel
"""

# Each child prints "ready" once its calls are running, then blocks until Ctrl-C.
CHILDREN = {
    "sync host blocked on a result": """
try:
    with run_in_background(ConcurrentTaskRunner()) as background:
        on_loop = background.submit("on_loop", trio.sleep_forever)
        stuck = background.submit("in_thread", in_thread)
        started.wait()
        os.write(1, b"ready\\n")
        on_loop.result()
except KeyboardInterrupt:
    print("KeyboardInterrupt", on_loop.state().type.value, stuck.state().type.value)
""",
    "sync host leaving the block (the calls drain)": """
try:
    with run_in_background(ConcurrentTaskRunner()) as background:
        on_loop = background.submit("on_loop", trio.sleep_forever)
        stuck = background.submit("in_thread", in_thread)
        started.wait()
        os.write(1, b"ready\\n")
except KeyboardInterrupt:
    print("KeyboardInterrupt", on_loop.state().type.value, stuck.state().type.value)
""",
    "asyncio host (asyncio.run turns Ctrl-C into a cancel)": """
runner = ConcurrentTaskRunner()

async def main():
    async with run_in_background_async(runner) as background:
        await background.submit("on_loop", trio.sleep_forever)
        await background.submit("in_thread", in_thread)
        await asyncio.to_thread(started.wait)
        os.write(1, b"ready\\n")
        await background.wait("on_loop")

try:
    asyncio.run(main())
except KeyboardInterrupt:
    print(
        "KeyboardInterrupt",
        runner.state("on_loop").type.value,
        runner.state("in_thread").type.value,
    )
""",
}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("child", sorted(CHILDREN))
def test_sigint_in_the_host_cancels_the_calls_and_raises_keyboard_interrupt(
    child: str, tmp_path: Path
) -> None:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(PRELUDE) + CHILDREN[child])
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=HANG_GUARD)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.splitlines() == ["KeyboardInterrupt CANCELLED CANCELLED"], err
