"""The Dask runner's cluster: its options (checked) and the cluster and client they describe.

`dask_options` checks a `DaskTaskRunner`'s options and makes its `DaskOptions`; `open_cluster`
creates (or reaches) the cluster and a client in worker threads for one run, and closes what it
made when the run is over. `on_dask_loop` runs a coroutine on the event loop of a Dask client or
cluster (which runs in a thread of its own) and waits for it from Trio.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, final

import attrs
import trio

from ._execution import is_async_callable

try:
    import distributed
except ImportError as exc:  # pragma: no cover
    raise ImportError("DaskTaskRunner needs distributed: pip install 'trio-runners[dask]'") from exc

__all__ = ["DaskOptions", "dask_options", "on_dask_loop", "open_cluster"]


def _resolve_cluster_class(cluster_class: type | str | None) -> Callable[..., Any]:
    """The cluster factory ``cluster_class`` names.

    Raises:
      TypeError: ``cluster_class`` is not a class, a dotted import path or None, or the path
        names something that is not callable.
      ValueError: the path is not dotted, or does not import.
    """
    if cluster_class is None:
        local: Callable[..., Any] = distributed.LocalCluster
        return local
    if isinstance(cluster_class, str):
        module_name, _, attribute = cluster_class.rpartition(".")
        if not module_name or not attribute:
            raise ValueError(
                f"cluster_class {cluster_class!r} must be a dotted import path like "
                "'distributed.LocalCluster'"
            )
        try:
            resolved = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"cluster_class {cluster_class!r} does not import: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(resolved):
            raise TypeError(
                f"cluster_class {cluster_class!r} names a {type(resolved).__name__}, not a "
                "cluster class"
            )
        factory: Callable[..., Any] = resolved
        return factory
    if not callable(cluster_class):
        raise TypeError(
            "cluster_class must be a cluster class, a dotted import path or None, not "
            f"{type(cluster_class).__name__}"
        )
    return cluster_class


def _check_kwargs(name: str, kwargs: object) -> dict[str, Any] | None:
    """A copy of an optional keyword-arguments option.

    Raises:
      TypeError: ``kwargs`` is not a mapping with str keys, or None.
    """
    if kwargs is None:
        return None
    if not isinstance(kwargs, Mapping):
        raise TypeError(
            f"{name} must be a mapping of keyword arguments or None, not {type(kwargs).__name__}"
        )
    bad = [key for key in kwargs if not isinstance(key, str)]
    if bad:
        raise TypeError(f"{name} keys must be str (keyword arguments), not {bad[0]!r}")
    return dict(kwargs)


#: What a LocalCluster the runner creates gets unless ``cluster_kwargs`` says otherwise: every
#: socket on the loopback interface. LocalCluster already puts the scheduler and the workers
#: on 127.0.0.1 (with tcp), but its scheduler dashboard listens on every interface (":8787"),
#: and so does each worker's HTTP server with ``processes=False``.
_LOCAL_CLUSTER_DEFAULTS = {
    "dashboard_address": "127.0.0.1:0",
    "worker_dashboard_address": "127.0.0.1:0",
}

#: The client of a LocalCluster the runner made fetches results straight from the workers (on
#: this machine, so always reachable): with Dask's default the scheduler relays every batch of
#: results, which adds a quarter to a half to its CPU time on trivial calls (docs/runners/dask.md).
_LOCAL_CLIENT_DEFAULTS = {"direct_to_workers": True}


@final
@attrs.frozen
class DaskOptions:
    """The options of `DaskTaskRunner` (checked by its constructor). The ``*_kwargs`` options
    are compared by value and take no part in the hash (dicts are not hashable)."""

    address: str | None
    cluster_class: type | str | None
    cluster_kwargs: dict[str, Any] | None = attrs.field(hash=False)
    adapt_kwargs: dict[str, Any] | None = attrs.field(hash=False)
    client_kwargs: dict[str, Any] | None = attrs.field(hash=False)


def dask_options(
    address: str | None,
    cluster_class: type | str | None,
    cluster_kwargs: Mapping[str, Any] | None,
    adapt_kwargs: Mapping[str, Any] | None,
    client_kwargs: Mapping[str, Any] | None,
) -> DaskOptions:
    """The checked options of a `DaskTaskRunner` (see its Raises: section)."""
    if address is not None:
        if not isinstance(address, str):
            raise TypeError(
                "address must be a str such as 'tcp://127.0.0.1:8786', or None, not "
                f"{type(address).__name__}"
            )
        if not address.strip():
            raise ValueError("address must not be empty (None creates a local cluster)")
    if address is not None and (cluster_class, cluster_kwargs, adapt_kwargs) != (
        None,
        None,
        None,
    ):
        raise ValueError(
            "address connects to an existing cluster: cluster_class, cluster_kwargs and "
            "adapt_kwargs are only for a cluster the runner creates"
        )
    _resolve_cluster_class(cluster_class)  # fails now, not at start(), if it is wrong
    checked_cluster_kwargs = _check_kwargs("cluster_kwargs", cluster_kwargs)
    if checked_cluster_kwargs and checked_cluster_kwargs.get("asynchronous"):
        raise ValueError(
            "cluster_kwargs: asynchronous=True is not supported: the runner creates its cluster "
            "synchronous, in a worker thread, and the cluster's event loop runs in a thread of "
            "its own (an async adapt is awaited there)"
        )
    return DaskOptions(
        address,
        cluster_class,
        checked_cluster_kwargs,
        _check_kwargs("adapt_kwargs", adapt_kwargs),
        _check_kwargs("client_kwargs", client_kwargs),
    )


@asynccontextmanager
async def open_cluster(options: DaskOptions) -> AsyncIterator[tuple[Any, Any]]:
    """Create (or reach) the cluster and a client in worker threads; yield ``(client,
    cluster)`` (cluster None with ``address``); close what we made (shielded) on exit."""
    cluster = None
    client_defaults: dict[str, Any] = {"set_as_default": False}
    if options.address is None:
        factory = _resolve_cluster_class(options.cluster_class)
        kwargs = dict(options.cluster_kwargs or {})
        if isinstance(factory, type) and issubclass(factory, distributed.LocalCluster):
            kwargs = {**_LOCAL_CLUSTER_DEFAULTS, **kwargs}
            client_defaults.update(_LOCAL_CLIENT_DEFAULTS)
        cluster = await trio.to_thread.run_sync(functools.partial(factory, **kwargs))
    try:
        if cluster is not None and options.adapt_kwargs is not None:
            await _adapt(cluster, options.adapt_kwargs)
        client_kwargs = {**client_defaults, **(options.client_kwargs or {})}
        client = await trio.to_thread.run_sync(
            functools.partial(
                distributed.Client,
                cluster if cluster is not None else options.address,
                **client_kwargs,
            )
        )
        try:
            yield client, cluster
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(client.close)
    finally:
        if cluster is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(cluster.close)


async def _adapt(cluster: Any, adapt_kwargs: dict[str, Any]) -> None:
    """Call ``cluster.adapt(**adapt_kwargs)`` and await what it returns, if it is awaitable.

    A sync ``adapt`` runs in a worker thread (it may block). An ``async def adapt`` (an
    asynchronous cluster class, such as dask-kubernetes' operator ``KubeCluster``), or an
    awaitable that a sync ``adapt`` returns, is awaited on the cluster's own event loop
    (`on_dask_loop`): the cluster is created synchronous (no ``asynchronous=True``), so its
    loop runs in a thread of its own, and its coroutines must run there.

    A checkpoint (unless it raises the TypeError). Cancelled: an ``adapt`` awaited on the
    cluster's loop is cancelled there.

    Raises:
      TypeError: ``adapt`` is async (or returned an awaitable) but the cluster has no event
        loop (``cluster.loop``) to await it on.
      Exception: what ``adapt`` raised.
    """
    adapt = cluster.adapt
    returned: object
    if is_async_callable(adapt):
        returned = adapt(**adapt_kwargs)  # a coroutine: nothing of adapt runs here
    else:
        # Boxed: Trio refuses a coroutine returned from a thread ("expected a sync function").
        (returned,) = await trio.to_thread.run_sync(
            _boxed, functools.partial(adapt, **adapt_kwargs)
        )
    if not inspect.isawaitable(returned):
        return
    if _asyncio_loop(cluster) is None:
        if inspect.iscoroutine(returned):
            returned.close()
        raise TypeError(
            f"adapt_kwargs: {type(cluster).__qualname__}.adapt is async (or returned an "
            "awaitable), but the cluster has no event loop (cluster.loop) to await it on"
        )
    coroutine = returned if inspect.iscoroutine(returned) else _awaited(returned)
    await on_dask_loop(cluster, trio.lowlevel.current_trio_token(), coroutine)


def _boxed(call: Callable[[], Any]) -> tuple[Any]:
    return (call(),)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _asyncio_loop(owner: object) -> asyncio.AbstractEventLoop | None:
    """The asyncio loop of a Dask client or cluster (``owner.loop.asyncio_loop``), if any."""
    loop = getattr(getattr(owner, "loop", None), "asyncio_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


async def on_dask_loop(
    owner: Any, token: trio.lowlevel.TrioToken, coroutine: Coroutine[Any, Any, Any]
) -> Any:
    """Run ``coroutine`` on the event loop of ``owner`` (a Dask client or cluster: its
    ``loop``, run in a thread of its own); wake this task when it is done.

    A checkpoint. Cancelled: the coroutine is cancelled on ``owner``'s loop.

    Raises:
      TypeError: ``owner`` has no event loop (no ``loop.asyncio_loop``); the coroutine is
        closed, never run.
      Exception: what the coroutine raised, or ``owner``'s loop is closed.
    """
    done = trio.Event()

    def wake(_: concurrent.futures.Future[Any]) -> None:
        # Called in the owner's loop thread.
        # If the Trio run is over, nobody is waiting any more.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(done.set)

    try:
        loop = _asyncio_loop(owner)
        if loop is None:
            raise TypeError(f"{type(owner).__qualname__} has no event loop (loop.asyncio_loop)")
        handle = asyncio.run_coroutine_threadsafe(coroutine, loop)
    except BaseException:
        coroutine.close()
        raise
    handle.add_done_callback(wake)
    try:
        await done.wait()
    except BaseException:
        handle.cancel()
        raise
    return handle.result()
