"""The kit's calls: what the kit submits, and what those calls raise.

`AsyncCall` (on the event loop, Trio or asyncio) and `SyncCall` (picklable, for threads,
processes and Dask) record their own ``start`` / ``end`` / ``unwound`` in a `CallLog`;
`make_raising` makes what a call raises when its spec says so, and `raised_kind` recognises it
in a Crashed State.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import attrs
import sniffio
import trio

from ._log import CallLog
from ._loop import primitives
from .strategies import CallSpec

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "AsyncCall",
    "BlockError",
    "CallError",
    "CallFactory",
    "KitBaseException",
    "SyncCall",
    "make_raising",
    "raised_kind",
]

#: Makes the call of index ``i`` from its spec, recording in the given log.
CallFactory = Callable[[CallLog, int, CallSpec], Callable[[], Any]]


class CallError(Exception):
    """What a call of the kit raises when its spec says it fails; ``args == (index,)``."""


class BlockError(Exception):
    """What the kit raises inside ``start()`` to leave the block by an exception."""


class KitBaseException(BaseException):
    """A `BaseException` that is neither cancellation, `KeyboardInterrupt` nor `SystemExit`."""


def _on_asyncio() -> bool:
    try:
        return sniffio.current_async_library() == "asyncio"
    except sniffio.AsyncLibraryNotFoundError:
        return False


def make_raising(kind: str) -> BaseException:
    """A fresh exception of one of `strategies.BASE_EXCEPTION_KINDS` (or ``fail``).

    ``stray_cancelled`` is the event loop's cancellation exception raised where nothing was
    cancelled: a `trio.Cancelled` (as a call re-raising a foreign one does), or, on asyncio,
    an `asyncio.CancelledError` raised with no cancellation requested."""
    if kind == "fail":
        return ValueError("a call's own error")
    if kind == "stray_cancelled":
        if _on_asyncio():
            return asyncio.CancelledError("a stray CancelledError, nothing was cancelled")
        return trio.Cancelled._create()  # what a call re-raising a foreign Cancelled does
    if kind == "custom_base":
        return KitBaseException("a call's own BaseException")
    if kind == "base_group":
        return BaseExceptionGroup("group", [KitBaseException("in a group"), ValueError("v")])
    if kind == "keyboard_interrupt":
        return KeyboardInterrupt()
    if kind == "system_exit":
        return SystemExit(3)
    if kind == "ki_group":
        return BaseExceptionGroup("group", [KeyboardInterrupt(), ValueError("v")])
    raise ValueError(f"unknown kind {kind!r}")


def raised_kind(exc: BaseException) -> str | None:
    """Which of `make_raising`'s non-propagating kinds a Crashed State's exception ``exc`` is
    (None: none of them). A stray cancellation may be kept as is, or as the cause of another
    exception (so that ``result()`` never raises a bare cancellation in its reader)."""
    cancelled = (trio.Cancelled, asyncio.CancelledError)
    if isinstance(exc, cancelled) or isinstance(exc.__cause__, cancelled):
        return "stray_cancelled"
    if isinstance(exc, KitBaseException):
        return "custom_base"
    if isinstance(exc, BaseExceptionGroup) and exc.subgroup(KitBaseException) is not None:
        return "base_group"
    return None


@attrs.frozen
class AsyncCall:
    """An async call of the kit: records ``start``, sleeps ``duration`` on the event loop's
    clock (Trio's or asyncio's), records ``end`` (or ``unwound`` if an exception, e.g.
    cancellation, interrupts it), then returns its index or raises `CallError` (or, with
    ``raises``, `make_raising` of it)."""

    log: CallLog
    index: int
    duration: float
    fails: bool
    raises: str | None = None
    #: ``"trio"``: the call runs on Trio (Trio's own sleep and clock); else, through anyio,
    #: on whatever loop runs it (asyncio, or a Trio thread that hosts the runner).
    loop: str = "trio"

    async def __call__(self) -> int:
        lib = primitives(self.loop)
        self.log.record("start", self.index, lib.current_time())
        try:
            await lib.sleep(self.duration)
        except BaseException:
            self.log.record("unwound", self.index, lib.current_time())
            raise
        self.log.record("end", self.index, lib.current_time())
        if self.raises is not None:
            raise make_raising(self.raises)
        if self.fails:
            raise CallError(self.index)
        return self.index


@attrs.frozen
class SyncCall:
    """A sync, picklable call of the kit, for runners that run calls in threads, processes or
    on a Dask cluster: records ``start``, sleeps ``duration`` real seconds, records ``end``."""

    log: CallLog
    index: int
    duration: float
    fails: bool
    raises: str | None = None

    def __call__(self) -> int:
        self.log.record("start", self.index)
        time.sleep(self.duration)
        self.log.record("end", self.index)
        if self.raises is not None:
            raise make_raising(self.raises)
        if self.fails:
            raise CallError(self.index)
        return self.index
