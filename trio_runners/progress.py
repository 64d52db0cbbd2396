"""A live progress bar for long runs (extra ``progress``, on `rich`)."""

from __future__ import annotations

import time as _time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, final

from ._instruments import Instrument
from ._states import State, StateType

if TYPE_CHECKING:
    from rich.console import Console

    from ._base import BaseTaskRunner

__all__ = ["ProgressBar"]


@final
class ProgressBar(Instrument):
    """An instrument that shows live submitted / running / done / failed / cancelled counts and
    a bar of finished calls over submitted calls.

    Use it as a context manager around the run, and attach it to the runner::

        with ProgressBar() as bar:
            runner = ConcurrentTaskRunner(instruments=[bar])
            ...

    It is disabled automatically (every event returns at once, nothing is drawn) when the
    console is not a terminal, e.g. when stdout is piped; ``enabled=True`` forces it on.
    Redraws are throttled to ``refresh_per_second``; the bar never blocks the event loop for
    longer than one redraw and starts no thread.

    Args:
      description: the label in front of the bar.
      console: a `rich.console.Console` (default: one on stdout).
      enabled: None (default) draws only on a terminal.
      refresh_per_second: the most redraws per second.
    """

    def __init__(
        self,
        description: str = "calls",
        *,
        console: Console | None = None,
        enabled: bool | None = None,
        refresh_per_second: float = 10,
    ) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = console if console is not None else Console()
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.submitted_count = 0
        self._running_keys: set[Hashable] = set()
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self._interval = 1 / refresh_per_second
        self._last_draw = 0.0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            console=self.console,
            auto_refresh=False,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=0, counts="")

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            self._draw(force=True)
            self._progress.stop()

    @property
    def running(self) -> int:
        """Calls started and not finished."""
        return len(self._running_keys)

    @property
    def finished_count(self) -> int:
        """Calls that have a terminal State."""
        return self.completed + self.failed + self.cancelled

    def counts_line(self) -> str:
        """The counts as shown next to the bar."""
        return (
            f"submitted {self.submitted_count}  running {self.running}  done {self.completed}"
            f"  failed {self.failed}  cancelled {self.cancelled}"
        )

    def _draw(self, force: bool = False) -> None:
        now = _time.monotonic()
        if not force and now - self._last_draw < self._interval:
            return
        self._last_draw = now
        self._progress.update(
            self._task,
            total=self.submitted_count,
            completed=self.finished_count,
            counts=self.counts_line(),
        )
        self._progress.refresh()

    def submitted(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.submitted_count += 1
        if self.enabled:
            self._draw()

    def started(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self._running_keys.add(key)
        if self.enabled:
            self._draw()

    def finished(
        self, runner: BaseTaskRunner, key: Hashable, state: State[Any], time: float
    ) -> None:
        self._running_keys.discard(key)
        kind = state.type
        if kind is StateType.COMPLETED:
            self.completed += 1
        elif kind is StateType.CANCELLED:
            self.cancelled += 1
        else:
            self.failed += 1
        if self.enabled:
            self._draw()
