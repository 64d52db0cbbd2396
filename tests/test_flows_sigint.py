"""Ctrl-C: SIGINT during a sync flow stops it, cancels its task runs, raises KeyboardInterrupt."""

import sys
from pathlib import Path

import pytest
from child_harness import interrupt_when_ready

CHILD = """
    import os
    import threading

    import trio
    import trio.testing

    from trio_runners import flow, task

    futures = []

    @task
    def in_thread():
        threading.Event().wait()  # blocks for ever; its thread is abandoned on cancel

    @task
    async def on_loop():
        await trio.sleep_forever()

    @flow
    def stuck():
        futures.append(in_thread())
        futures.append(on_loop())
        # Ready once every Trio task is blocked (on_loop is asleep): Ctrl-C then reaches the
        # main task. (A task running code on the loop at that instant would get the
        # KeyboardInterrupt itself and end Crashed.) The body runs in a thread: os.write is one
        # write, never mixed with other output.
        trio.from_thread.run(trio.testing.wait_all_tasks_blocked)
        os.write(1, b"ready\\n")
        for future in futures:
            future.result()

    try:
        stuck()
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        print(" ".join(f"{f.name}={f.state.type.value}" for f in futures), flush=True)
    else:
        print("no KeyboardInterrupt", flush=True)
    """


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_stops_a_sync_flow_cancels_its_tasks_and_raises_keyboard_interrupt(
    tmp_path: Path,
) -> None:
    ended = interrupt_when_ready(CHILD, tmp_path)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout == [
        "KeyboardInterrupt",
        "in_thread-0=CANCELLED on_loop-0=CANCELLED",
    ], ended.stderr
