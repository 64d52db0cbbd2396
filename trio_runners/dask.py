"""DaskTaskRunner: calls run on a Dask cluster (``distributed``), driven from Trio.

Needs the ``dask`` extra: ``pip install 'trio-runners[dask]'``.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, final

import trio

from ._base import TaskConcurrencyType
from ._dask_cluster import DaskOptions, dask_options, on_dask_loop, open_cluster
from ._instruments import Instrument
from ._remote import PickledCall, RemoteTaskRunner, run_pickled
from ._states import Crashed

try:
    from distributed.client import FutureCancelledError
except ImportError as exc:  # pragma: no cover
    raise ImportError("DaskTaskRunner needs distributed: pip install 'trio-runners[dask]'") from exc

__all__ = ["DaskTaskRunner"]

_UNSAFE_KEY_CHARACTERS = re.compile(r"[^\w.]+")


class _Crash:
    """Marker: the Dask machinery, not the call, ended the call (carries the exception)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@final
class _Waker:
    """Sets Trio events from Dask's threads, for one Trio run: events to set while the Trio
    thread has not yet set the previous ones share one ``TrioToken.run_sync_soon`` (a burst of
    calls finishing on Dask wakes the Trio thread once, not once per call)."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._events: list[trio.Event] = []

    def set_soon(self, event: trio.Event) -> None:
        """From any thread: set ``event`` on the Trio thread soon. If the Trio run is over,
        nobody waits for it any more."""
        with self._lock:
            self._events.append(event)
            first = len(self._events) == 1
        if first:
            with contextlib.suppress(trio.RunFinishedError):
                self.token.run_sync_soon(self._set_all)

    def _set_all(self) -> None:
        with self._lock:
            events, self._events = self._events, []
        for event in events:
            event.set()


async def _gather(client: Any, future: Any) -> Any:
    """Runs on the client's event loop: what `run_pickled` returned on the worker, or a
    `_Crash`. The future is released afterwards.

    `run_pickled` returns whatever the call raised, so an error here is Dask's own (the
    scheduler gave up, the future was cancelled, the result could not travel): a crash."""
    try:
        return await client.gather(future, asynchronous=True)
    except (Exception, FutureCancelledError) as exc:  # the latter is an asyncio.CancelledError
        return _Crash(exc)
    finally:
        future.release()


async def _gather_many(client: Any, futures: list[Any]) -> list[Any]:
    """Runs on the client's event loop: fetch the results of finished futures in one batch.

    If the batch fails (a worker holding a result died, say), each future is fetched alone so
    that every call gets its own answer.
    """
    try:
        values = await client.gather(futures, asynchronous=True)
    except (Exception, FutureCancelledError):  # the latter is an asyncio.CancelledError
        return [await _gather(client, future) for future in futures]
    for future in futures:
        future.release()
    return list(values)


@final
class _Fetch:
    """One finished future waiting for its result to be fetched by the batch fetcher."""

    __slots__ = ("done", "future", "result")

    def __init__(self, future: Any) -> None:
        self.future = future
        self.done = trio.Event()
        self.result: Any = None  # set before ``done``


@final
class DaskTaskRunner(RemoteTaskRunner):
    """Runs calls on a Dask cluster through a `distributed.Client`.

    Args:
      address: the address of a running Dask scheduler (e.g. ``"tcp://127.0.0.1:8786"``).
        ``start()`` connects a client to it and, on exit, closes only that client.
      cluster_class: with no ``address``, the cluster ``start()`` creates: a class or a dotted
        import string (``"dask_jobqueue.SLURMCluster"``, imported at construction). Default:
        `distributed.LocalCluster`. The runner closes the cluster it created when ``start()``
        exits. A `distributed.LocalCluster` keeps every socket on 127.0.0.1: its dashboards
        (scheduler's and workers') default to ``"127.0.0.1:0"`` unless ``cluster_kwargs`` sets
        ``dashboard_address`` / ``worker_dashboard_address``.
      cluster_kwargs: keyword arguments for ``cluster_class``.
      adapt_kwargs: if given, ``cluster.adapt(**adapt_kwargs)`` is called on the new cluster
        (in a worker thread); an async ``adapt``, or an awaitable it returns, is awaited on
        the cluster's own event loop.
      client_kwargs: keyword arguments for `distributed.Client` (``set_as_default`` is False
        unless given; for a `distributed.LocalCluster` the runner creates, so is
        ``direct_to_workers`` True: results are fetched from the workers, not relayed by the
        scheduler).
      instruments: `trio_runners.abc.Instrument` objects observing every call.

    Raises:
      TypeError: an option has the wrong type (``address`` not a str, a ``*_kwargs`` option
        not a mapping with str keys, ``cluster_class`` not a class, import path or None); the
        message names the option.
      ValueError: ``address`` is empty or given with a cluster option, ``cluster_class`` is
        not a dotted path that imports, or ``cluster_kwargs`` asks for an asynchronous cluster.

    Dask's client has its own event loop in its own thread. The runner uses a synchronous
    client, created and closed in a worker thread, so the Trio loop never blocks on it; the
    client (and the cluster) lives until every call of the run has its State. Each call is
    pickled with cloudpickle at `submit` (a call that cannot be pickled is refused with
    `TypeError` naming the key; see docs/runners/dask.md for which modules travel by value)
    and sent with ``client.submit(..., pure=False)``; trio-runners must be importable on the
    workers. The result is gathered by a coroutine on the client's loop whose completion
    reaches Trio through a done-callback and ``TrioToken.run_sync_soon`` (no polling). Each
    Dask future is released as soon as its State is recorded, so a long run does not
    accumulate results on the cluster. An async callable runs under its own ``trio.run`` on
    the worker.

    States: value -> Completed; an `Exception` from the call -> Failed (it comes back as a
    value, with its traceback: Dask logs no worker error for it). Any other `BaseException`
    from the call (``KeyboardInterrupt``, ``SystemExit``, a stray `trio.Cancelled`, a
    `BaseExceptionGroup`) -> Crashed; the run goes on. A worker that dies mid-call: the
    scheduler reruns the call on another worker (up to
    ``distributed.scheduler.allowed-failures`` times, default 3), so the call usually ends
    Completed -- calls must tolerate running more than once. When the scheduler gives up
    (`distributed.scheduler.KilledWorker`), the future is cancelled by Dask (e.g. the
    scheduler connection is lost), or the machinery fails otherwise, the call ends Crashed
    with a message; never Failed.

    Cancellation: ``cancel(key)``, a cancelled enclosing scope, or leaving `start()` by an
    exception decides the State (Cancelled) at once and cancels the Dask future. A call that
    has not started on a worker never starts. A call already running on a worker **cannot be
    interrupted** (Dask runs it in a worker thread): it runs to its end on the worker and its
    result is discarded.
    """

    def __init__(
        self,
        address: str | None = None,
        cluster_class: type | str | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        adapt_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        *,
        instruments: Iterable[Instrument] = (),
    ) -> None:
        options = dask_options(address, cluster_class, cluster_kwargs, adapt_kwargs, client_kwargs)
        super().__init__(instruments=instruments)
        self._config = options
        self._client: Any = None
        self._cluster: Any = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._fetches: trio.MemorySendChannel[_Fetch] | None = None
        self._run_id = ""
        self._submitted = 0
        self._soon: list[Callable[[], None]] = []
        self._soon_lock = threading.Lock()
        self._waker: _Waker | None = None

    _config: DaskOptions

    # ------------------------------------------------------------------ configuration

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.PARALLEL

    @property
    def address(self) -> str | None:
        """The ``address`` option."""
        return self._config.address

    @property
    def cluster_class(self) -> type | str | None:
        """The ``cluster_class`` option."""
        return self._config.cluster_class

    @property
    def cluster_kwargs(self) -> dict[str, Any] | None:
        """The ``cluster_kwargs`` option."""
        return self._config.cluster_kwargs

    @property
    def adapt_kwargs(self) -> dict[str, Any] | None:
        """The ``adapt_kwargs`` option."""
        return self._config.adapt_kwargs

    @property
    def client_kwargs(self) -> dict[str, Any] | None:
        """The ``client_kwargs`` option."""
        return self._config.client_kwargs

    @property
    def client(self) -> Any:
        """The run's `distributed.Client` (None outside a run)."""
        return self._client

    @property
    def cluster(self) -> Any:
        """The cluster this run created (None outside a run, or with ``address``)."""
        return self._cluster

    # ------------------------------------------------------------------ lifecycle

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        """The run's cluster and client (`open_cluster`) and its result fetcher; the fetcher stops
        and the client (then the cluster) closes when the run is over (every call has its
        State)."""
        async with super()._backend(nursery):
            token = self._token = trio.lowlevel.current_trio_token()
            self._run_id = uuid.uuid4().hex[:12]
            self._submitted = 0
            async with open_cluster(self._config) as (client, cluster):
                self._client, self._cluster = client, cluster
                send, receive = trio.open_memory_channel[_Fetch](math.inf)
                self._fetches = send
                nursery.start_soon(self._fetch_results, receive, client, token)
                try:
                    yield
                finally:
                    self._fetches = None
                    send.close()
                    self._client = self._cluster = None

    async def _fetch_results(
        self,
        receive: trio.MemoryReceiveChannel[_Fetch],
        client: Any,
        token: trio.lowlevel.TrioToken,
    ) -> None:
        """Fetch the results of finished calls in batches, one batch at a time: every call
        that finished while the previous batch travelled shares the next ``gather`` (as a raw
        ``client.gather`` of many futures does). One batch at a time costs the least CPU."""
        async with receive:
            async for first in receive:
                batch = [first]
                while True:
                    try:
                        batch.append(receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):  # none waiting, or run over
                        break
                results: list[Any]
                try:
                    results = await on_dask_loop(
                        client, token, _gather_many(client, [fetch.future for fetch in batch])
                    )
                except Exception as exc:  # the client itself failed: these calls are lost
                    results = [_Crash(exc)] * len(batch)
                for fetch, result in zip(batch, results, strict=True):
                    fetch.result = result
                    fetch.done.set()

    # ------------------------------------------------------------------ execution

    async def _run_remotely(self, call: PickledCall) -> Any:
        client = self._client
        token = self._token
        if client is None or token is None:
            return Crashed(
                RuntimeError(f"{self!r} has no Dask client: its run is over"),
                message=f"{call.name} reached the runner after its Dask client was closed",
            )
        try:
            result = await self._compute(client, token, call)
        except Exception as exc:  # the machinery failed (run_pickled never raises)
            return Crashed(exc, message=f"Dask could not run {call.name}: {exc!r}")
        if isinstance(result, _Crash):
            return Crashed(result.exc, message=f"Dask could not run {call.name}: {result.exc!r}")
        return result

    async def _compute(self, client: Any, token: trio.lowlevel.TrioToken, call: PickledCall) -> Any:
        """Submit ``call`` to Dask and fetch what `run_pickled` returned there, or a `_Crash`.

        A checkpoint. Cancelled: the Dask future is cancelled (on the client's loop) and
        `trio.Cancelled` propagates.

        Raises:
          Exception: the client failed (its loop is closed, say): the machinery's error.
        """
        self._submitted += 1
        name = _UNSAFE_KEY_CHARACTERS.sub("_", call.name)[:64] or "call"
        key = f"{name}-{self._run_id}-{self._submitted}"
        done = trio.Event()
        handle: dict[str, Any] = {}

        waker = self._waker
        if waker is None or waker.token is not token:  # the first call of this run
            waker = self._waker = _Waker(token)

        def wake(_: Any = None) -> None:
            # Runs in Dask's callback thread (or the client's loop thread).
            waker.set_soon(done)

        def submit() -> None:
            # Runs on the client's loop thread: submitting there, and registering the
            # done-callback there, costs no cross-thread wake-up.
            try:
                future = handle["future"] = client.submit(
                    run_pickled, call.payload, pure=False, key=key
                )
                future.add_done_callback(wake)
            except Exception as exc:
                handle["error"] = exc
                wake()

        async def cancel() -> None:
            # Runs on the client's loop thread, after submit() (callbacks run in order).
            future = handle.get("future")
            if future is not None:
                await client.cancel([future], asynchronous=True)
                future.release()

        finished = False
        try:
            self._on_loop_soon(client, submit)
            await done.wait()
            if "error" in handle:
                error = handle["error"]
                return _Crash(error)
            future = handle["future"]
            await trio.lowlevel.checkpoint_if_cancelled()
            fetch = _Fetch(future)
            fetches = self._fetches
            queued = False
            if future.status == "finished" and fetches is not None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    fetches.send_nowait(fetch)
                    queued = True
            if queued:
                await fetch.done.wait()
                result = fetch.result
            else:  # error, cancelled, lost: the client already holds the reason
                result = await on_dask_loop(client, token, _gather(client, future))
            finished = True
        finally:
            if not finished:  # cancelled (or the runner failed): the call is no longer wanted
                # A client whose loop is already closed has no future to cancel; its error
                # must not replace the exception propagating here (trio.Cancelled, say).
                with contextlib.suppress(RuntimeError):
                    client.loop.add_callback(cancel)
        return result

    def _on_loop_soon(self, client: Any, function: Callable[[], None]) -> None:
        """Run ``function`` on the client's loop thread soon, in order. Functions queued while
        the loop has not yet run the previous ones share one wake-up of the loop (each wake-up
        from another thread costs a system call and a GIL hand-off)."""
        with self._soon_lock:
            self._soon.append(function)
            wake = len(self._soon) == 1
        if wake:
            client.loop.add_callback(self._run_soon)

    def _run_soon(self) -> None:
        with self._soon_lock:
            functions, self._soon = self._soon, []
        for function in functions:
            function()
