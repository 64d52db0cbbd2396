"""Core: a sync call waiting (from its worker thread) on a nested sync call cannot deadlock."""

import trio

from trio_runners import ConcurrentTaskRunner

# A hang guard only (real clock): the promise is "completes", not "completes quickly".
HANG_GUARD = 60


def inner() -> int:
    return 1


async def test_nested_sync_wait_with_one_worker_completes() -> None:
    runner = ConcurrentTaskRunner(max_workers=1)

    def outer() -> object:
        trio.from_thread.run(runner.submit, "inner", inner)
        state = trio.from_thread.run(runner.wait, "inner")
        assert state is not None
        return state.result()

    with trio.fail_after(HANG_GUARD):
        async with runner.start():
            await runner.submit("outer", outer)
            state = await runner.wait("outer")
    assert state is not None
    assert state.result() == 1
