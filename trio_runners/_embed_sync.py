"""The blocking host: a started runner driven from plain threads, and its future.

`run_in_background` returns a `BackgroundRunner`: a ``with`` block around an embedding session
(`_embed_session`) whose methods block the calling thread for one trip to the Trio thread
each, as the forwarding table (`_embed_forward`) says. `submit` hands back a `BackgroundFuture`,
the `concurrent.futures`-style handle on one call. Nothing here re-implements the runner: the
runner's own contract (States, cancellation, backpressure) applies.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Hashable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar, final

from ._base import AsCompleted, BaseTaskRunner
from ._embed_forward import CONTRACT, Forward
from ._embed_session import _Embedding
from ._states import State

R = TypeVar("R", bound=BaseTaskRunner)


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
        self._embedding = _Embedding(runner)

    def __repr__(self) -> str:
        if self._embedding.live() is not None:
            shown = "running"
        else:
            shown = "closed" if self._embedding.entered else "not entered"
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

    # Bound methods of the handle, so that while the asyncio host opens or closes it from a
    # worker thread the handle (the referent of its finalizer) stays alive.

    def _open(self) -> None:
        self._embedding.open(self)

    def _close(self, exc: BaseException | None) -> None:
        self._embedding.close(exc)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the Trio thread (awaited if it is async), blocking this thread."""
        return self._embedding.usable(self, "with").call(fn, *args)

    def _forward(self, row: Forward, *args: Any) -> Any:
        """One method of the contract (``args`` as the runner takes them), blocking this thread.

        Raises:
          RuntimeError: see `_embed_session._Embedding.usable`.
        """
        if row.from_states and self._embedding.exited():  # every call has its State
            return self.runner.state(args[0])
        try:
            return self._call(row.on(self.runner), *args)
        except RuntimeError:
            # The block was left while this request hopped: the portal had stopped.
            if row.from_states and self._embedding.exited():
                return self.runner.state(args[0])
            raise
        except concurrent.futures.CancelledError:
            if not (row.awaited and row.from_states):
                raise
            # The block was left by an exception while this thread waited: the portal's tasks
            # were cancelled after every call had been given its State.
            return self.runner.state(args[0])

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
        self._forward(CONTRACT.submit, key, call)
        return BackgroundFuture(self, key)

    def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        """Block until the call has finished and return its State; None if ``timeout`` seconds
        pass first (`BaseTaskRunner.wait`). A timeout never disturbs the call.

        Raises:
          KeyError: ``key`` is unknown.
          ValueError: ``timeout`` is negative or NaN.
        """
        state: State[Any] | None = self._forward(CONTRACT.wait, key, timeout)
        return state

    def state(self, key: Hashable) -> State[Any] | None:
        """The call's State if it has finished, else None. Does not wait for the call.

        Raises:
          KeyError: ``key`` is unknown.
        """
        state: State[Any] | None = self._forward(CONTRACT.state, key)
        return state

    def cancel(self, key: Hashable) -> bool:
        """Cancel one call (`BaseTaskRunner.cancel`); True if it was unfinished.

        Raises:
          KeyError: ``key`` is unknown.
        """
        cancelled: bool = self._forward(CONTRACT.cancel, key)
        return cancelled

    def cancel_all(self) -> int:
        """Cancel every unfinished call (`BaseTaskRunner.cancel_all`); return how many."""
        count: int = self._forward(CONTRACT.cancel_all)
        return count

    def release(self, key: Hashable) -> None:
        """Forget a finished call's State (`BaseTaskRunner.release`).

        Raises:
          KeyError: ``key`` is unknown.
          RuntimeError: the call has not finished.
        """
        self._forward(CONTRACT.release, key)

    def as_completed(self, keys: Iterable[Hashable]) -> Iterator[tuple[Hashable, State[Any]]]:
        """A plain iterator of ``(key, State)`` in the order the calls finish (finished ones
        first), over `BaseTaskRunner.as_completed`. Each step blocks until the next call
        finishes; ``close()`` (or a ``with`` block) stops listening early.

        Raises:
          KeyError: at once, if any key is unknown.
        """
        states: AsCompleted = self._forward(CONTRACT.as_completed, list(keys))
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
        if states is not None and self._background._embedding.live() is not None:
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
