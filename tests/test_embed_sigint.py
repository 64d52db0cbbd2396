"""Ctrl-C in a host that embeds a runner: a real SIGINT cancels the calls and is re-raised."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from child_harness import interrupt_when_ready

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
    ended = interrupt_when_ready(PRELUDE + CHILDREN[child], tmp_path)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout == ["KeyboardInterrupt CANCELLED CANCELLED"], ended.stderr
