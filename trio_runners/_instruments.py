"""Lifecycle instruments: observe every call of a runner, in Trio's `Instrument` style."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import trio

from ._states import State

__all__ = ["EVENTS", "Instrument"]

LOGGER = logging.getLogger("trio_runners")

#: The runner an event is about: a `BaseTaskRunner`. Typed `Any` so that this module needs no
#: import of the runners (which import it), and so that an instrument may annotate the argument
#: as `BaseTaskRunner` or as its own runner class.
Runner = Any

#: The lifecycle events of a call, in the order they can happen.
EVENTS = ("submitted", "admitted", "started", "cancel_requested", "finished", "released")


class Instrument:
    """Base class for runner instruments (like `trio.abc.Instrument`).

    Override only the events you care about; the runner calls just the methods a subclass
    defines, so an instrument costs nothing for the events it ignores, and a runner with no
    instrument pays one falsy check per event. Every method is synchronous, runs on the Trio
    thread at the instant of the event (``time`` is `trio.current_time()`, or NaN outside a
    Trio run), and must not block or raise: an instrument that raises is removed from the runner
    and the error is logged to the ``trio_runners`` logger, as Trio does for its own instruments.

    Events of one call, in order: ``submitted``; ``admitted`` (it got a worker slot, or the
    sequential lock); ``started`` (its code is about to run); ``cancel_requested`` (``cancel``,
    ``cancel_all`` or the run's exit; may come before ``admitted``); ``finished`` (its terminal
    State is recorded); ``released``. A call cancelled while queued is never admitted/started.
    """

    def submitted(self, runner: Runner, key: Hashable, time: float) -> None:
        """The call was registered under ``key``."""

    def admitted(self, runner: Runner, key: Hashable, time: float) -> None:
        """The call got its worker slot."""

    def started(self, runner: Runner, key: Hashable, time: float) -> None:
        """The call's code is about to run."""

    def cancel_requested(self, runner: Runner, key: Hashable, time: float) -> None:
        """The call is being cancelled (its State becomes Cancelled at once)."""

    def finished(self, runner: Runner, key: Hashable, state: State[Any], time: float) -> None:
        """The call's terminal ``state`` was recorded."""

    def released(self, runner: Runner, key: Hashable, time: float) -> None:
        """The finished call's State was released."""


def _now() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # outside a Trio run (e.g. release() after trio.run returned)
        return math.nan


class Instruments:
    """The hooks of a runner's instruments, per event (only the overridden methods).

    ``hooks`` is only ever mutated in place, so a runner may keep a reference to it and test it
    for truth (a C-level check) on its hot paths: that is the whole cost of having no instrument.
    """

    __slots__ = ("hooks", "instruments")

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self.instruments: list[Instrument] = []
        self.hooks: dict[str, list[Callable[..., None]]] = {}
        for instrument in instruments:
            self.add(instrument)

    def add(self, instrument: Instrument) -> None:
        if not isinstance(instrument, Instrument):
            raise TypeError(
                f"instruments must be trio_runners.abc.Instrument instances, not "
                f"{type(instrument).__name__}"
            )
        if instrument in self.instruments:
            return
        self.instruments.append(instrument)
        for event in EVENTS:
            if getattr(type(instrument), event) is not getattr(Instrument, event):
                self.hooks.setdefault(event, []).append(getattr(instrument, event))

    def remove(self, instrument: Instrument) -> None:
        """Raises KeyError if ``instrument`` is not attached."""
        if instrument not in self.instruments:
            raise KeyError(f"{instrument!r} is not attached to this runner")
        self.instruments.remove(instrument)
        for event in list(self.hooks):
            hooks = [h for h in self.hooks[event] if getattr(h, "__self__", None) is not instrument]
            if hooks:
                self.hooks[event] = hooks
            else:
                del self.hooks[event]

    def emit(self, event: str, runner: Runner, key: Hashable, *extra: Any) -> None:
        hooks = self.hooks.get(event)
        if not hooks:
            return
        time = _now()
        for hook in list(hooks):
            try:
                hook(runner, key, *extra, time)
            except Exception:
                instrument = hook.__self__  # type: ignore[attr-defined]
                LOGGER.exception("instrument %r raised in %s(); removing it", instrument, event)
                if instrument in self.instruments:
                    self.remove(instrument)
