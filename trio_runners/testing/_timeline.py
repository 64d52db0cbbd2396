"""`Timeline`: what happened to each call of a played example, read off the kit's call log.

Positions in `Report.log` of each call's starts, its first ending, the first cancellation that
applied to it while it was unfinished and where waiters received its State: the raw material
of every judge in `_checks`.
"""

from __future__ import annotations

import math

import attrs

from ._report import CancelAction, Report

__all__ = ["Timeline", "applies", "submitted", "timelines"]

_MARKERS = ("cancel", "cancel_all", "scope", "raise")


@attrs.define
class Timeline:
    """Positions (in the call log) of what happened to one call."""

    starts: list[int] = attrs.Factory(list)
    start_times: list[float | None] = attrs.Factory(list)
    end: int | None = None  # first end or unwound event
    cancel: int | None = None  # first cancel action that applied while it was unfinished
    cancel_action: CancelAction | None = None
    got_state: list[int] = attrs.Factory(list)  # where waiters received the State
    api_cancel: int | None = None  # first cancel() / cancel_all() that applied
    unwound: bool = False  # the call's checkpoint raised (its first ending was "unwound")
    exact: bool = True

    def ghost(self) -> bool:
        """The call's code began after the runner had cancelled it.

        After ``cancel()`` / ``cancel_all()`` (which decide the State at once) a call must
        never begin. After a scope cancel or an exception in the block, a call already being
        handed over may begin and end at its first checkpoint, as Trio's rules say; a call in a
        thread or process may also begin after it was abandoned. Such ghosts do not count as
        running (they hold no worker slot), except a call on the loop under exact timing, whose
        run is recorded to its end.
        """
        if not self.starts:
            return False
        first = self.starts[0]
        if self.api_cancel is not None and first > self.api_cancel:
            return True
        return not self.exact and self.cancel is not None and first > self.cancel

    def started(self) -> bool:
        return bool(self.starts) and not self.ghost()

    def stop(self) -> float:
        """Where the call stopped running: its end, or the cancel that ended it, if earlier."""
        if not self.started():
            return math.inf
        first = self.starts[0]
        candidates = [p for p in (self.end, self.cancel) if p is not None and p > first]
        return min(candidates, default=math.inf)


def applies(action: CancelAction, i: int) -> bool:
    if action.snapshot.get(i, False) is not None:
        return False  # not registered, or already finished
    if action.kind == "cancel":
        return action.target == i and action.returned is True
    if action.kind == "cancel_all":
        return True
    return action.before_exit  # scope, raise


def timelines(report: Report) -> list[Timeline]:
    timelines = [Timeline(exact=report.exact) for _ in range(report.n)]
    markers = []
    for position, event in enumerate(report.log):
        if event.kind in _MARKERS:
            markers.append(position)
        elif event.kind == "start":
            timelines[event.call].starts.append(position)
            timelines[event.call].start_times.append(event.time)
        elif event.kind in ("end", "unwound") and timelines[event.call].end is None:
            timelines[event.call].end = position
            timelines[event.call].unwound = event.kind == "unwound"
        elif event.kind == "got_state":
            timelines[event.call].got_state.append(position)
    if len(markers) != len(report.cancels):
        raise RuntimeError("the kit's call log and its recorded actions disagree")
    for action, position in zip(report.cancels, markers, strict=True):
        for i in range(report.n):
            if not applies(action, i):
                continue
            if timelines[i].cancel is None:
                timelines[i].cancel = position
                timelines[i].cancel_action = action
            if timelines[i].api_cancel is None and action.kind in ("cancel", "cancel_all"):
                timelines[i].api_cancel = position
    return timelines


def submitted(report: Report) -> list[int]:
    return [i for i in range(report.n) if report.registered[i]]
