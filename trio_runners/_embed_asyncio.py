"""The asyncio host: a started runner driven from an asyncio program, as coroutines.

`run_in_background_async` enters an embedding session (`_embed_session`) from a worker thread
and yields an `AsyncBackgroundRunner`, whose coroutine methods forward the runner contract as
the forwarding table (`_embed_forward`) says, without ever blocking the asyncio loop: the hop
onto the Trio thread happens in a worker thread, and the wait is on the portal's future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar, final

from ._base import AsCompleted, BaseTaskRunner
from ._embed_forward import CONTRACT, Forward
from ._embed_session import _Embedding
from ._embed_sync import BackgroundRunner
from ._states import State

R = TypeVar("R", bound=BaseTaskRunner)
T = TypeVar("T")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking bridge step in a worker thread of the asyncio loop. If the asyncio task
    is cancelled meanwhile the step still completes; the caller is told by CancelledError."""
    return await asyncio.shield(asyncio.ensure_future(asyncio.to_thread(fn, *args)))


def _task_cancelling() -> bool:
    """Whether the current asyncio task is being cancelled (on Python 3.10, which cannot tell,
    assume it is: the cancellation then propagates)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or cancelling() > 0


async def _close_off_loop(background: BackgroundRunner[Any], exc: BaseException | None) -> None:
    """Leave ``background``'s block from a worker thread, and return only once it has exited:
    every call then has its State. If the asyncio task is cancelled meanwhile (again, when it
    is leaving because it was cancelled), the close still runs to its end; then, leaving
    normally, the cancellation is raised, and leaving by ``exc``, the caller re-raises ``exc``.
    So the block is never left while the runner is still exiting."""
    closing = asyncio.ensure_future(asyncio.to_thread(background._close, exc))
    cancelled: asyncio.CancelledError | None = None
    while not closing.done():
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError as error:
            if closing.done() and closing.cancelled():
                raise  # the close itself was cancelled: nothing left to wait for
            cancelled = error  # wait again for the close; re-raised below
    closing.result()  # the close's own error, if any
    if cancelled is not None and exc is None:
        raise cancelled
    # Leaving by ``exc``: the caller re-raises it, as a Trio nursery keeps its body's
    # exception when a cancellation arrives while it waits for its children.


async def _open_off_loop(background: BackgroundRunner[Any]) -> None:
    """Open ``background`` from a worker thread. If the asyncio task is cancelled meanwhile,
    the opening still completes and is then undone (the runner's block cancelled and left) in
    a thread of its own, so that no Trio loop is left behind."""
    opening = asyncio.get_running_loop().run_in_executor(None, background._open)
    try:
        await asyncio.shield(opening)
    except asyncio.CancelledError:
        reason = asyncio.CancelledError("the host task was cancelled while entering the block")

        def undo(opened: asyncio.Future[None]) -> None:
            if not opened.cancelled() and opened.exception() is None:
                threading.Thread(target=background._close, args=(reason,), daemon=True).start()

        opening.add_done_callback(undo)
        raise


@final
class AsyncBackgroundRunner(Generic[R]):
    """The asyncio face of a `BackgroundRunner`: the runner contract as coroutines.

    Returned by `run_in_background_async`. Every method is a coroutine that never blocks the
    asyncio loop: the hop onto the Trio thread happens in a worker thread, and the wait for
    the result is an `asyncio.wrap_future` of the portal's future. Cancelling the awaiting
    asyncio task cancels the Trio side of that one request, as a cancelled Trio caller would
    be: a cancelled ``wait`` leaves the call alone; a cancelled ``submit`` that had not been
    accepted yet leaves the call Cancelled.
    """

    def __init__(self, background: BackgroundRunner[R]) -> None:
        # Held so that the finalizer of an unclosed block (registered on ``background``) runs
        # only once this face is gone too.
        self._background = background
        self._embedding: _Embedding = background._embedding
        #: The runner being driven.
        self.runner: R = background.runner

    def __repr__(self) -> str:
        return f"<AsyncBackgroundRunner {self.runner!r}>"

    async def _bridge(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the Trio thread (awaited if it is async), without blocking asyncio."""
        session = self._embedding.usable(self, "async with")
        spawned = asyncio.ensure_future(asyncio.to_thread(session.start_task_soon, fn, *args))
        try:
            trio_side: concurrent.futures.Future[Any] = await asyncio.shield(spawned)
        except asyncio.CancelledError:
            # Cancelled during the hop: cancel the Trio-side task as soon as it exists.
            spawned.add_done_callback(
                lambda f: None if f.cancelled() or f.exception() else f.result().cancel()
            )
            raise
        return await asyncio.wrap_future(trio_side)

    async def _forward(self, row: Forward, *args: Any) -> Any:
        """One method of the contract (``args`` as the runner takes them), as a coroutine.

        Raises:
          RuntimeError: see `_embed_session._Embedding.usable`.
        """
        if row.from_states and self._embedding.exited():  # every call has its State
            await asyncio.sleep(0)  # still a checkpoint of the asyncio task
            return self.runner.state(args[0])
        try:
            return await self._bridge(row.on(self.runner), *args)
        except RuntimeError:
            # The block was left while this request hopped: the portal had stopped.
            if row.from_states and self._embedding.exited():
                return self.runner.state(args[0])
            raise
        except asyncio.CancelledError:
            # The block was left by an exception while this request waited: the portal
            # cancelled its tasks after every call had been given its State. (A cancellation
            # of this asyncio task itself propagates.)
            if row.from_states and self._embedding.exited() and not _task_cancelling():
                return self.runner.state(args[0])
            raise

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        """`BaseTaskRunner.submit`: returns once the runner has accepted the call (for the
        sequential runner, once the call has finished). Cancelling the awaiting task before
        the call was accepted leaves it Cancelled.

        Raises:
          RuntimeError: the block has exited (or the runner is not accepting calls).
          TypeError: ``call`` is not callable, or ``key`` is not hashable.
          ValueError: ``key`` was already submitted in this run.
        """
        await self._forward(CONTRACT.submit, key, call)

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        """`BaseTaskRunner.wait`: the call's State, or None after ``timeout`` seconds.
        Cancelling the awaiting task does not disturb the call.

        Raises:
          KeyError: ``key`` is unknown.
          ValueError: ``timeout`` is negative or NaN.
        """
        state: State[Any] | None = await self._forward(CONTRACT.wait, key, timeout)
        return state

    async def state(self, key: Hashable) -> State[Any] | None:
        """`BaseTaskRunner.state`: the State if the call has finished, else None.

        Raises:
          KeyError: ``key`` is unknown.
        """
        state: State[Any] | None = await self._forward(CONTRACT.state, key)
        return state

    async def cancel(self, key: Hashable) -> bool:
        """`BaseTaskRunner.cancel`: True if the call was unfinished and is now Cancelled.

        Raises:
          KeyError: ``key`` is unknown.
        """
        cancelled: bool = await self._forward(CONTRACT.cancel, key)
        return cancelled

    async def cancel_all(self) -> int:
        """`BaseTaskRunner.cancel_all`: cancel every unfinished call; return how many."""
        count: int = await self._forward(CONTRACT.cancel_all)
        return count

    async def release(self, key: Hashable) -> None:
        """`BaseTaskRunner.release`: forget a finished call's State.

        Raises:
          KeyError: ``key`` is unknown.
          RuntimeError: the call has not finished.
        """
        await self._forward(CONTRACT.release, key)

    def as_completed(self, keys: Iterable[Hashable]) -> AsyncIterator[tuple[Hashable, State[Any]]]:
        """An async iterator of ``(key, State)`` in completion order (`BaseTaskRunner.
        as_completed`). It starts listening at its first step, which raises `KeyError` if a
        key is unknown. Cancelling a step does not affect the calls; ``aclose()`` stops
        listening early.
        """
        return _AsyncAsCompleted(self, list(keys))


@final
class _AsyncAsCompleted(AsyncIterator[tuple[Hashable, State[Any]]]):
    """The async iterator returned by `AsyncBackgroundRunner.as_completed`."""

    def __init__(self, background: AsyncBackgroundRunner[Any], keys: list[Hashable]) -> None:
        self._background = background
        self._keys = keys
        self._states: AsCompleted | None = None
        self._closed = False

    async def __anext__(self) -> tuple[Hashable, State[Any]]:
        if self._closed:
            raise StopAsyncIteration
        states = self._states
        if states is None:
            listening = self._background._forward(CONTRACT.as_completed, self._keys)
            states = self._states = await listening
        try:
            item: tuple[Hashable, State[Any]] = await self._background._bridge(states.__anext__)
            return item
        except StopAsyncIteration:
            self._closed = True
            raise

    async def aclose(self) -> None:
        """Stop listening; later completions are not delivered."""
        self._closed = True
        states, self._states = self._states, None
        if states is not None and self._background._embedding.live() is not None:
            await self._background._bridge(states.aclose)


@contextlib.asynccontextmanager
async def run_in_background_async(runner: R) -> AsyncIterator[AsyncBackgroundRunner[R]]:
    """`run_in_background` for an asyncio program: ``async with``, and coroutine methods.

    ```python
    async with run_in_background_async(ConcurrentTaskRunner()) as background:
        await background.submit("key", fn)
        state = await background.wait("key")
    ```

    Entering and leaving run in a worker thread, so the asyncio loop keeps running while the
    portal starts and while the calls drain. Leaving normally waits for every call; leaving by
    an exception (including `asyncio.CancelledError` when the host task is cancelled) cancels
    every unfinished call and re-raises it, as `run_in_background` does.

    Raises:
      RuntimeError: ``runner`` is already started.
    """
    background = BackgroundRunner(runner)
    await _open_off_loop(background)
    try:
        yield AsyncBackgroundRunner(background)
    except BaseException as exc:
        await _close_off_loop(background, exc)
        raise
    await _close_off_loop(background, None)
