"""Embedding: use any runner from code that is not running Trio (plain threads, asyncio).

An anyio blocking portal (`anyio.from_thread.start_blocking_portal`) hosts a Trio loop in a
thread of its own; the runner is started inside it and every method of the handle is one trip
through the portal. Nothing here re-implements the runner: the handle only carries calls across
the thread boundary, and the runner's own contract (States, cancellation, backpressure) applies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar, final

import anyio.abc
import anyio.from_thread
import outcome
import trio

from ._base import AsCompleted, BaseTaskRunner
from ._states import State, _is_cancellation

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "AsyncBackgroundRunner",
    "BackgroundFuture",
    "BackgroundRunner",
    "run_in_background",
    "run_in_background_async",
]

R = TypeVar("R", bound=BaseTaskRunner)
T = TypeVar("T")


def _plain_keyboard_interrupt(exc: BaseException) -> BaseException:
    """A group holding a `KeyboardInterrupt` becomes a plain one, as the flows layer does:
    a host that is not Trio should not have to unpack groups to see Ctrl-C."""
    if isinstance(exc, BaseExceptionGroup) and exc.split(KeyboardInterrupt)[0] is not None:
        interrupt = KeyboardInterrupt()
        interrupt.__cause__ = exc
        return interrupt
    return exc


@final
class BackgroundFuture:
    """A `concurrent.futures`-style handle on one call submitted through a `BackgroundRunner`.

    Every method may be called from any thread except the portal's own (the Trio thread). The
    State is read through the portal while the runner runs, and directly once it has exited
    (every call has a State by then), so a future stays usable after the ``with`` block.
    """

    __slots__ = ("_background", "_state", "key")

    def __init__(self, background: BackgroundRunner[Any], key: Hashable) -> None:
        self._background = background
        #: The key the call was submitted under.
        self.key = key
        self._state: State[Any] | None = None

    def __repr__(self) -> str:
        state = self._peek()
        shown = "running" if state is None else state.type.value.lower()
        return f"<BackgroundFuture {self.key!r} {shown}>"

    def _peek(self) -> State[Any] | None:
        if self._state is None:
            self._state = self._background.state(self.key)
        return self._state

    def state(self, timeout: float | None = None) -> State[Any]:
        """Block until the call has finished and return its `State`.

        The call's own exception never escapes (it is inside the State). A timeout does not
        disturb the call. Interrupting the waiting thread (Ctrl-C) leaves the call running;
        it is the ``with`` block that ends (and cancels) the calls.

        Raises:
          TimeoutError: the call did not finish within ``timeout`` seconds.
          KeyError: the key was released.
        """
        if self._state is None:
            state = self._background.wait(self.key, timeout)
            if state is None:
                raise TimeoutError(f"call {self.key!r} did not finish within {timeout} s")
            self._state = state
        return self._state

    def result(self, timeout: float | None = None) -> Any:
        """Block until the call has finished; return its value or raise what ended it.

        Completed: the value. Failed or Crashed: the call's exception is raised. Cancelled:
        `CancelledRun` is raised (where `concurrent.futures` raises ``CancelledError``).

        Raises:
          TimeoutError: the call did not finish within ``timeout`` seconds.
          CancelledRun: the call was cancelled.
          Exception: whatever the call raised.
        """
        return self.state(timeout).result()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Block until the call has finished; the exception that ended it, or None if it
        completed (`CancelledRun` for a cancelled call).

        Raises:
          TimeoutError: the call did not finish within ``timeout`` seconds.
        """
        return self.state(timeout).exception()

    def done(self) -> bool:
        """True once the call has its final State. Never blocks on the call."""
        return self._peek() is not None

    def cancel(self) -> bool:
        """Cancel the call (`BaseTaskRunner.cancel`): a queued call never starts, a running one
        has its scope cancelled (a sync call's thread is abandoned); its State is Cancelled.

        Returns:
          True if the call was unfinished and is now Cancelled; False if it had finished.
        """
        return self._background.cancel(self.key)


@final
class _Session:
    """The Trio side of one embedding: an anyio blocking portal (a Trio loop in a daemon
    thread) whose task holds ``runner.start()`` open until the session is closed.

    It holds no reference to the handle that owns it, so a handle that is never closed can be
    garbage-collected, and its finalizer (`_close_unclosed`) close the session.
    """

    def __init__(self, runner: BaseTaskRunner) -> None:
        """Start the portal and the runner inside it; return once the runner has started.

        Raises:
          RuntimeError: ``runner`` is already started.
          BaseException: whatever the runner's ``start()`` raised while starting.
        """
        self.runner = runner
        #: True once the runner's block has ended: the handle then answers from the runner.
        self.closed = False
        self._stop = trio.Event()
        self._scope = trio.CancelScope()
        self._loop_thread: int | None = None
        manager = anyio.from_thread.start_blocking_portal(backend="trio")
        self._portal = manager.__enter__()
        try:
            self._serving, _ = self._portal.start_task(self._serve)
        except BaseException as exc:
            manager.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._manager = manager

    async def _serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> outcome.Outcome[None]:
        """The portal task that holds the runner's ``start()`` block open until closed."""
        self._loop_thread = threading.get_ident()
        started = False
        try:
            with self._scope:
                async with self.runner.start():
                    task_status.started()
                    started = True
                    await self._stop.wait()
        except BaseException as exc:
            # Hand the runner's failure to the host instead of crashing the portal's loop;
            # a cancellation of the portal itself keeps propagating.
            if not started or _is_cancellation(exc):
                raise
            return outcome.Error(exc)
        return outcome.Value(None)

    def on_loop_thread(self) -> bool:
        """True in the portal's own thread (the Trio thread), where blocking on it deadlocks."""
        return threading.get_ident() == self._loop_thread

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the Trio thread (awaited if it is async), blocking this thread."""
        return self._portal.call(fn, *args)

    def start_task_soon(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Spawn ``fn(*args)`` on the Trio thread; its future, at once."""
        return self._portal.start_task_soon(fn, *args)

    def close(self) -> None:
        """Leave the runner's block once every call has finished, then stop the portal.

        A `KeyboardInterrupt` (or any exception) while the calls drain cancels them (see
        `cancel_and_close`) and is re-raised; a failure of the run is raised (a group holding
        a `KeyboardInterrupt` as a plain one).
        """
        try:
            self._portal.call(self._stop.set)
            ended = self._serving.result()
        except BaseException as interrupted:  # e.g. Ctrl-C while the calls drain
            self.cancel_and_close(interrupted)
            raise
        self.closed = True
        self._manager.__exit__(None, None, None)
        if isinstance(ended, outcome.Error):
            raise _plain_keyboard_interrupt(ended.error)

    def cancel_and_close(self, reason: BaseException) -> None:
        """Cancel the runner's block (every unfinished call becomes Cancelled), wait until it
        has ended, then stop the portal (cancelling requests still in it). The run's own
        failure, if any, yields to ``reason`` (which the caller re-raises, or not)."""
        try:
            self._portal.call(self._scope.cancel)
            self._serving.result()
        finally:
            self.closed = True
            self._manager.__exit__(type(reason), reason, reason.__traceback__)


class _UnclosedError(Exception):
    """Why an unclosed handle's calls were cancelled (seen only by the portal's shutdown)."""


def _close_unclosed(session: _Session, handle: str) -> None:
    """The finalizer of a handle that was never closed: called when it is garbage-collected,
    or at interpreter exit (`weakref.finalize` runs pending finalizers in an `atexit` hook).

    Warns, then cancels the calls and stops the portal. From the portal's own thread (a
    collection triggered there) it cannot wait on the portal, so a daemon thread closes it.
    """
    try:
        warnings.warn(
            f"unclosed {handle}: its unfinished calls are cancelled; "
            "leave its block ('with' / 'async with') to close it",
            ResourceWarning,
            stacklevel=3,  # where the handle was dropped (past weakref.finalize.__call__)
        )
    finally:
        reason = _UnclosedError(f"unclosed {handle}")
        if session.on_loop_thread():
            threading.Thread(
                target=session.cancel_and_close, args=(reason,), name="unclosed-embed", daemon=True
            ).start()
        else:
            session.cancel_and_close(reason)


@final
class BackgroundRunner(Generic[R]):
    """A started runner living on a Trio loop in a background thread, driven from plain threads.

    Returned by `run_in_background`; it is its own context manager (``with`` enters it once).
    Its methods are thread-safe: any number of host threads may submit, wait and cancel at
    once. Each method is one blocking trip to the Trio thread
    (`anyio.from_thread.BlockingPortal.call`); it must not be called from the Trio thread
    itself, for example from inside an async call of the runner: that raises `RuntimeError`
    (use the runner itself there: ``await runner.submit(...)``).

    A handle that is never closed is closed for you: when it is garbage-collected, or at
    interpreter exit, a `ResourceWarning` names it and its unfinished calls are cancelled.
    """

    def __init__(self, runner: R) -> None:
        #: The runner being driven (started inside the portal).
        self.runner: R = runner
        self._entered = False
        self._session: _Session | None = None
        self._finalizer: weakref.finalize[[_Session, str], BackgroundRunner[R]] | None = None

    def __repr__(self) -> str:
        if self._live() is not None:
            shown = "running"
        else:
            shown = "closed" if self._entered else "not entered"
        return f"<BackgroundRunner {self.runner!r} {shown}>"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> BackgroundRunner[R]:
        """Start a Trio loop in a new thread and enter ``runner.start()`` inside it.

        Raises:
          RuntimeError: this handle was already entered, or ``runner`` is already started.
        """
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave the runner's block; see `run_in_background` for what that does to the calls.

        Raises:
          KeyboardInterrupt: Ctrl-C while the calls drained (they are cancelled), or a call
            raised it.
          BaseExceptionGroup: the run failed (what the runner's ``start()`` raised).
        """
        self._close(exc)

    def _open(self) -> None:
        if self._entered:
            raise RuntimeError(f"{self!r} was already entered: call run_in_background again")
        self._entered = True
        session = _Session(self.runner)
        self._session = session
        self._finalizer = weakref.finalize(self, _close_unclosed, session, repr(self))

    def _close(self, exc: BaseException | None) -> None:
        """Leave the runner's block, then stop the portal.

        ``exc is None``: wait for every call; a `KeyboardInterrupt` (or any exception) while
        waiting cancels them and is re-raised; a failure of the run is raised. ``exc`` given
        (the host's block raised it): cancel every unfinished call (each becomes Cancelled)
        and return, so that the caller re-raises ``exc`` unchanged. Closing a handle that is
        not open (never entered, already closed, or closed by its finalizer) does nothing.
        """
        session, finalizer = self._session, self._finalizer
        if session is None or finalizer is None or finalizer.detach() is None:
            return
        if exc is None:
            session.close()
        else:
            session.cancel_and_close(exc)

    def _live(self) -> _Session | None:
        """The session while the runner's block is open, else None."""
        session = self._session
        return None if session is None or session.closed else session

    def _exited(self) -> bool:
        """True once the block has been left: every call has its State."""
        return self._entered and self._live() is None

    def _usable(self, handle: object, block: str) -> _Session:
        """The session, if ``handle`` (this one, or its asyncio face) may use it from here.

        Raises:
          RuntimeError: the block was never entered or has exited, or this is the runner's
            own Trio thread (a blocking request from there would wait for the loop it blocks).
        """
        session = self._live()
        if session is None:
            done = "has exited" if self._entered else "was never entered"
            raise RuntimeError(f"{handle!r} {done}: use it inside its '{block}' block")
        if session.on_loop_thread():
            raise RuntimeError(
                f"{handle!r} was used from its runner's own Trio thread (inside an async call "
                "of the runner?), where a request through the handle would deadlock the loop: "
                "talk to the runner itself there, e.g. 'await runner.submit(key, call)', "
                "'await runner.wait(key)'"
            )
        return session

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the Trio thread (awaited if it is async), blocking this thread."""
        return self._usable(self, "with").call(fn, *args)

    # ------------------------------------------------------------------ the contract, blocking

    def submit(self, key: Hashable, call: Callable[[], Any]) -> BackgroundFuture:
        """Submit ``call`` under ``key`` (`BaseTaskRunner.submit`) and return its future.

        Blocks until the runner has accepted the call: at once for the concurrent runners
        (longer only under ``max_pending`` backpressure), and until the call has *finished*
        for the sequential runner, whose submit runs the call.

        Raises:
          RuntimeError: the ``with`` block has exited (or the runner is not accepting calls).
          TypeError: ``call`` is not callable, or ``key`` is not hashable.
          ValueError: ``key`` was already submitted in this run.
        """
        self._call(self.runner.submit, key, call)
        return BackgroundFuture(self, key)

    def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        """Block until the call has finished and return its State; None if ``timeout`` seconds
        pass first (`BaseTaskRunner.wait`). A timeout never disturbs the call.

        Raises:
          KeyError: ``key`` is unknown.
          ValueError: ``timeout`` is negative or NaN.
        """
        if self._exited():  # every call has its State
            return self.runner.state(key)
        try:
            state: State[Any] | None = self._call(self.runner.wait, key, timeout)
            return state
        except concurrent.futures.CancelledError:
            # The block was left by an exception while this thread waited: the portal's tasks
            # were cancelled after every call had been given its State.
            return self.runner.state(key)

    def state(self, key: Hashable) -> State[Any] | None:
        """The call's State if it has finished, else None. Does not wait for the call.

        Raises:
          KeyError: ``key`` is unknown.
        """
        if self._exited():
            return self.runner.state(key)
        state: State[Any] | None = self._call(self.runner.state, key)
        return state

    def cancel(self, key: Hashable) -> bool:
        """Cancel one call (`BaseTaskRunner.cancel`); True if it was unfinished.

        Raises:
          KeyError: ``key`` is unknown.
        """
        cancelled: bool = self._call(self.runner.cancel, key)
        return cancelled

    def cancel_all(self) -> int:
        """Cancel every unfinished call (`BaseTaskRunner.cancel_all`); return how many."""
        count: int = self._call(self.runner.cancel_all)
        return count

    def release(self, key: Hashable) -> None:
        """Forget a finished call's State (`BaseTaskRunner.release`).

        Raises:
          KeyError: ``key`` is unknown.
          RuntimeError: the call has not finished.
        """
        self._call(self.runner.release, key)

    def as_completed(self, keys: Iterable[Hashable]) -> Iterator[tuple[Hashable, State[Any]]]:
        """A plain iterator of ``(key, State)`` in the order the calls finish (finished ones
        first), over `BaseTaskRunner.as_completed`. Each step blocks until the next call
        finishes; ``close()`` (or a ``with`` block) stops listening early.

        Raises:
          KeyError: at once, if any key is unknown.
        """
        keys = list(keys)
        states: AsCompleted = self._call(self.runner.as_completed, keys)
        return _BlockingAsCompleted(self, states)


@final
class _BlockingAsCompleted(Iterator[tuple[Hashable, State[Any]]]):
    """The plain iterator returned by `BackgroundRunner.as_completed`."""

    def __init__(self, background: BackgroundRunner[Any], states: AsCompleted) -> None:
        self._background = background
        self._states: AsCompleted | None = states

    def __next__(self) -> tuple[Hashable, State[Any]]:
        if self._states is None:
            raise StopIteration
        try:
            item: tuple[Hashable, State[Any]] = self._background._call(self._states.__anext__)
            return item
        except StopAsyncIteration:
            self._states = None
            raise StopIteration from None

    def close(self) -> None:
        """Stop listening; later completions are not delivered."""
        states, self._states = self._states, None
        if states is not None and self._background._live() is not None:
            self._background._call(states.aclose)

    def __enter__(self) -> _BlockingAsCompleted:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def run_in_background(runner: R) -> BackgroundRunner[R]:
    """Run ``runner`` on a Trio loop in a background thread, for code that is not Trio.

    ```python
    with run_in_background(ConcurrentTaskRunner(max_workers=4)) as background:
        future = background.submit("key", fn)   # fn: a zero-argument callable
        future.result()
    ```

    Entering starts an anyio blocking portal (a Trio loop in a new daemon thread) and enters
    ``runner.start()`` inside it. Leaving the block normally waits until every call has
    finished, as leaving ``start()`` does. Leaving it by an exception, including
    `KeyboardInterrupt` (Ctrl-C in the host) and a Ctrl-C while the calls drain, cancels every
    unfinished call (each becomes Cancelled; sync calls' threads are abandoned) and re-raises
    that exception unchanged. A call that crashes the run (a `KeyboardInterrupt` raised in a
    call) is raised when the block ends: as a plain `KeyboardInterrupt`, otherwise in the
    exception group ``start()`` raised.

    A block that is entered and never left (``__enter__`` without ``__exit__``) is closed when
    its handle is garbage-collected, or at the latest at interpreter exit: a `ResourceWarning`
    names it, and its unfinished calls are cancelled.

    Returns:
      The handle, not yet entered: use it in a ``with`` statement.

    Raises:
      RuntimeError: on entering, if ``runner`` is already started.
    """
    return BackgroundRunner(runner)


# ---------------------------------------------------------------------- asyncio hosts


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking bridge step in a worker thread of the asyncio loop. If the asyncio task
    is cancelled meanwhile the step still completes; the caller is told by CancelledError."""
    return await asyncio.shield(asyncio.ensure_future(asyncio.to_thread(fn, *args)))


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
        self._background = background
        #: The runner being driven.
        self.runner: R = background.runner

    def __repr__(self) -> str:
        return f"<AsyncBackgroundRunner {self.runner!r}>"

    async def _bridge(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the Trio thread (awaited if it is async), without blocking asyncio."""
        session = self._background._usable(self, "async with")
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

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        """`BaseTaskRunner.submit`: returns once the runner has accepted the call (for the
        sequential runner, once the call has finished). Cancelling the awaiting task before
        the call was accepted leaves it Cancelled.

        Raises:
          RuntimeError: the block has exited (or the runner is not accepting calls).
          TypeError: ``call`` is not callable, or ``key`` is not hashable.
          ValueError: ``key`` was already submitted in this run.
        """
        await self._bridge(self.runner.submit, key, call)

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        """`BaseTaskRunner.wait`: the call's State, or None after ``timeout`` seconds.
        Cancelling the awaiting task does not disturb the call.

        Raises:
          KeyError: ``key`` is unknown.
          ValueError: ``timeout`` is negative or NaN.
        """
        if self._background._exited():
            await asyncio.sleep(0)  # still a checkpoint of the asyncio task
            return self.runner.state(key)
        state: State[Any] | None = await self._bridge(self.runner.wait, key, timeout)
        return state

    async def state(self, key: Hashable) -> State[Any] | None:
        """`BaseTaskRunner.state`: the State if the call has finished, else None.

        Raises:
          KeyError: ``key`` is unknown.
        """
        if self._background._exited():
            await asyncio.sleep(0)
            return self.runner.state(key)
        state: State[Any] | None = await self._bridge(self.runner.state, key)
        return state

    async def cancel(self, key: Hashable) -> bool:
        """`BaseTaskRunner.cancel`: True if the call was unfinished and is now Cancelled.

        Raises:
          KeyError: ``key`` is unknown.
        """
        cancelled: bool = await self._bridge(self.runner.cancel, key)
        return cancelled

    async def cancel_all(self) -> int:
        """`BaseTaskRunner.cancel_all`: cancel every unfinished call; return how many."""
        count: int = await self._bridge(self.runner.cancel_all)
        return count

    async def release(self, key: Hashable) -> None:
        """`BaseTaskRunner.release`: forget a finished call's State.

        Raises:
          KeyError: ``key`` is unknown.
          RuntimeError: the call has not finished.
        """
        await self._bridge(self.runner.release, key)

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
            runner = self._background.runner
            states = self._states = await self._background._bridge(runner.as_completed, self._keys)
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
        if states is not None and self._background._background._live() is not None:
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
        await _off_loop(background._close, exc)
        raise
    await _off_loop(background._close, None)
