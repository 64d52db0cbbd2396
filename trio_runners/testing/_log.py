"""The kit's call log: what the kit's own calls and the driver did, in the order it happened.

Not to be confused with a runner's *lifecycle trace* (`trio_runners.testing.TraceRecorder`,
the dicts a runner's instruments see, in `Report.lifecycle`): the call log is written by the
kit's calls themselves (``start``, ``end``, ``unwound``) and by the driver (``submit``,
``cancel``, ``cancel_all``, ``scope``, ``raise``, ``got_state``), so it needs nothing from the
runner and is in `Report.log`.
"""

from __future__ import annotations

import os
import threading

import attrs

__all__ = ["CallEvent", "CallLog", "FileCallLog", "MemoryCallLog"]


@attrs.frozen
class CallEvent:
    """One event: ``kind`` (start, end, unwound: the call; submit, cancel, cancel_all, scope,
    raise: the driver; got_state: a waiter received the call's State), the call index (-1 for
    none) and the event loop's time if known."""

    kind: str
    call: int
    time: float | None


class CallLog:
    """Where calls and the driver record events, in the order they happen."""

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        """Append an event."""
        raise NotImplementedError

    def events(self) -> list[CallEvent]:
        """Every event recorded so far, in order."""
        raise NotImplementedError


@attrs.define(eq=False)
class MemoryCallLog(CallLog):
    """A log in memory, for calls that run in this process (on the loop or in threads)."""

    _events: list[CallEvent] = attrs.Factory(list)
    _lock: threading.Lock = attrs.Factory(threading.Lock)

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        with self._lock:
            self._events.append(CallEvent(kind, call, at))

    def events(self) -> list[CallEvent]:
        with self._lock:
            return list(self._events)


@attrs.frozen
class FileCallLog(CallLog):
    """A log in a file opened with ``O_APPEND``: each event is one short ``write``, which
    POSIX makes atomic, so calls running in threads or other processes on this machine (process
    pools, a local Dask cluster) record in the real order. Picklable."""

    path: str

    def record(self, kind: str, call: int, at: float | None = None) -> None:
        line = f"{kind} {call} {'-' if at is None else repr(at)}\n".encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:  # an abandoned call outlived its example; nothing to record
            return
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def events(self) -> list[CallEvent]:
        with open(self.path, encoding="ascii") as f:
            lines = f.read().splitlines()
        events = []
        for line in lines:
            kind, call, at = line.split()
            events.append(CallEvent(kind, int(call), None if at == "-" else float(at)))
        return events
