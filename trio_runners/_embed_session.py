"""The embedding session: one runner started on a Trio loop in a thread of its own.

An anyio blocking portal (`anyio.from_thread.start_blocking_portal`) hosts the Trio loop in a
daemon thread; a task of the portal holds ``runner.start()`` open until the session is closed.
`_Embedding` is the session's lifetime as a handle sees it: opened once, used only while open
and never from the Trio thread itself, closed by the handle's block (normally, or by cancelling
the calls) or, for a handle nobody closed, by its finalizer. Both hosts (`_embed_sync`,
`_embed_asyncio`) are built on it; nothing here knows which host is in use.
"""

from __future__ import annotations

import concurrent.futures
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any, final

import anyio.abc
import anyio.from_thread
import outcome
import trio

from ._base import BaseTaskRunner
from ._states import _is_cancellation

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup


def _plain_keyboard_interrupt(exc: BaseException) -> BaseException:
    """A group holding a `KeyboardInterrupt` becomes a plain one, as the flows layer does:
    a host that is not Trio should not have to unpack groups to see Ctrl-C."""
    if isinstance(exc, BaseExceptionGroup) and exc.split(KeyboardInterrupt)[0] is not None:
        interrupt = KeyboardInterrupt()
        interrupt.__cause__ = exc
        return interrupt
    return exc


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
        # Requests on their way into the portal, and whether the portal is being stopped:
        # the portal is stopped only once no request is on its way (see `start_task_soon`).
        self._hops = threading.Condition()
        self._hopping = 0
        self._stopping = False
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
        """``fn(*args)`` on the Trio thread (awaited if it is async), blocking this thread.

        Raises:
          RuntimeError: the portal is stopping or has stopped.
        """
        return self.start_task_soon(fn, *args).result()

    def start_task_soon(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Spawn ``fn(*args)`` on the Trio thread; its future, once the task is spawned.

        A request never races the portal's stop: the stop waits for the requests on their
        way in, and a request that comes once the stop has begun is refused here. (Racing it,
        anyio's portal can find its nursery closed after it made the task's coroutine, which
        is then left unawaited: a `RuntimeWarning` in the host.)

        Raises:
          RuntimeError: the portal is stopping or has stopped.
        """
        with self._hops:
            if self._stopping:
                raise RuntimeError("the runner's portal has stopped: its block has exited")
            self._hopping += 1
        try:
            return self._portal.start_task_soon(fn, *args)
        finally:
            with self._hops:
                self._hopping -= 1
                if not self._hopping:
                    self._hops.notify_all()

    def _stop_portal(self, exc: BaseException | None) -> None:
        """Refuse new requests, wait for those on their way into the portal, then stop it
        (cancelling the requests still running in it) and join its thread."""
        with self._hops:
            self._stopping = True
            self._hops.notify_all()
            self._hops.wait_for(lambda: not self._hopping)
        if exc is None:
            self._manager.__exit__(None, None, None)
        else:
            self._manager.__exit__(type(exc), exc, exc.__traceback__)

    def close(self) -> None:
        """Leave the runner's block once every call has finished, then stop the portal.

        A `KeyboardInterrupt` (or any exception) while the calls drain cancels them (see
        `cancel_and_close`) and is re-raised; a failure of the run is raised (a group holding
        a `KeyboardInterrupt` as a plain one).
        """
        try:
            self.call(self._stop.set)
            ended = self._serving.result()
        except BaseException as interrupted:  # e.g. Ctrl-C while the calls drain
            self.cancel_and_close(interrupted)
            raise
        self.closed = True
        self._stop_portal(None)
        if isinstance(ended, outcome.Error):
            raise _plain_keyboard_interrupt(ended.error)

    def cancel_and_close(self, reason: BaseException) -> None:
        """Cancel the runner's block (every unfinished call becomes Cancelled), wait until it
        has ended, then stop the portal (cancelling requests still in it). The run's own
        failure, if any, yields to ``reason`` (which the caller re-raises, or not)."""
        try:
            self.call(self._scope.cancel)
            self._serving.result()
        finally:
            self.closed = True
            self._stop_portal(reason)


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
class _Embedding:
    """The lifetime of one handle's session: never entered, open, then exited (for good).

    A handle (a `BackgroundRunner`, which an `AsyncBackgroundRunner` wraps) owns one. It holds
    no reference to its handle: the handle's finalizer, registered at `open`, closes a session
    that nobody closed when the handle is collected.
    """

    def __init__(self, runner: BaseTaskRunner) -> None:
        self.runner = runner
        #: True once `open` was called (even if opening failed): a handle is entered once.
        self.entered = False
        self._session: _Session | None = None
        self._finalizer: weakref.finalize[[_Session, str], object] | None = None

    def open(self, handle: object) -> None:
        """Start the session for ``handle``, which is then closed by `close`, or by the
        finalizer registered here when ``handle`` is collected unclosed. Blocks until the
        runner has started.

        Raises:
          RuntimeError: ``handle`` was already entered, or the runner is already started.
        """
        if self.entered:
            raise RuntimeError(f"{handle!r} was already entered: call run_in_background again")
        self.entered = True
        session = _Session(self.runner)
        self._session = session
        self._finalizer = weakref.finalize(handle, _close_unclosed, session, repr(handle))

    def close(self, exc: BaseException | None) -> None:
        """Leave the runner's block, then stop the portal.

        ``exc is None``: wait for every call; a `KeyboardInterrupt` (or any exception) while
        waiting cancels them and is re-raised; a failure of the run is raised. ``exc`` given
        (the host's block raised it): cancel every unfinished call (each becomes Cancelled)
        and return, so that the caller re-raises ``exc`` unchanged. Closing a session that is
        not open (never entered, already closed, or closed by its finalizer) does nothing.
        """
        session, finalizer = self._session, self._finalizer
        if session is None or finalizer is None or finalizer.detach() is None:
            return
        if exc is None:
            session.close()
        else:
            session.cancel_and_close(exc)

    def live(self) -> _Session | None:
        """The session while the runner's block is open, else None."""
        session = self._session
        return None if session is None or session.closed else session

    def exited(self) -> bool:
        """True once the block has been left: every call has its State."""
        return self.entered and self.live() is None

    def usable(self, handle: object, block: str) -> _Session:
        """The session, if ``handle`` may use it from this thread.

        Raises:
          RuntimeError: the block was never entered or has exited, or this is the runner's
            own Trio thread (a blocking request from there would wait for the loop it blocks).
        """
        session = self.live()
        if session is None:
            done = "has exited" if self.entered else "was never entered"
            raise RuntimeError(f"{handle!r} {done}: use it inside its '{block}' block")
        if session.on_loop_thread():
            raise RuntimeError(
                f"{handle!r} was used from its runner's own Trio thread (inside an async call "
                "of the runner?), where a request through the handle would deadlock the loop: "
                "talk to the runner itself there, e.g. 'await runner.submit(key, call)', "
                "'await runner.wait(key)'"
            )
        return session
