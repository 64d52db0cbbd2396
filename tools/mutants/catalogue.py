"""The mutants `make mutants` plants, one at a time, in a copy of the repository.

Each mutant is a realistic bug of the kind a reviewer could miss: a one-line slip in the core
(off by one, a forgotten wake-up, a swallowed exception, the wrong State), written as exact edits
of the source. An edit's ``old`` text must occur exactly once in its file: when the core changes
and a snippet no longer matches, the mutant is reported **stale** and must be updated here (never
loosened into a pattern that could silently match something else).

Keep snippets short (the changed line plus the least context that makes it unique), so that
unrelated edits of the core do not make them stale.
"""

from __future__ import annotations

import dataclasses

__all__ = ["MUTANTS", "Mutant"]

BASE = "trio_runners/_base.py"
CALLS = "trio_runners/_calls.py"
EXECUTION = "trio_runners/_execution.py"
SLOTS = "trio_runners/_slots.py"
WORKER_THREADS = "trio_runners/_worker_threads.py"
SEQUENTIAL = "trio_runners/_sequential.py"
STATES = "trio_runners/_states.py"
CONCURRENT = "trio_runners/_concurrent.py"
THREADS = "trio_runners/_threads.py"


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One planted bug: exact ``(old, new)`` edits of one file, and the bug it models."""

    id: str
    file: str
    description: str
    edits: tuple[tuple[str, str], ...]


def one(id: str, file: str, old: str, new: str, description: str) -> Mutant:
    """A mutant made of a single edit."""
    return Mutant(id, file, description, ((old, new),))


MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------ admission (_pool.py)
    one(
        "pool-max-workers-off-by-one",
        SLOTS,
        "self._slots = trio.Semaphore(limit)",
        "self._slots = trio.Semaphore(limit + 1)",
        "off by one in max_workers: one more call runs at once than allowed",
    ),
    Mutant(
        "pool-lifo-admission",
        SLOTS,
        "the dispatcher admits the newest queued call first (a stack instead of a FIFO queue)",
        (
            (
                "                    record = receive.receive_nowait()\n",
                "                    record = _newest(receive)\n",
            ),
            (
                "@final\nclass Slots:\n",
                "_STACKS: dict[int, list[Any]] = {}\n\n\n"
                "def _newest(receive: Any) -> Any:\n"
                "    stack = _STACKS.setdefault(id(receive), [])\n"
                "    while True:\n"
                "        try:\n"
                "            stack.append(receive.receive_nowait())\n"
                "        except (trio.WouldBlock, trio.EndOfChannel):\n"
                "            break\n"
                "    return stack.pop() if stack else receive.receive_nowait()\n\n\n"
                "@final\nclass Slots:\n",
            ),
        ),
    ),
    one(
        "pool-slot-leak-on-cancel-while-waiting",
        SLOTS,
        "                            slots.release()\n                            continue\n",
        "                            continue\n",
        "a call cancelled while the dispatcher waited for a slot keeps that slot for ever",
    ),
    one(
        "pool-max-pending-off-by-one",
        SLOTS,
        "self._room = None if pending is None else trio.Semaphore(pending)",
        "self._room = None if pending is None else trio.Semaphore(pending + 1)",
        "off by one in max_pending: submit blocks one accepted call too late",
    ),
    one(
        "pool-cancelled-queued-call-keeps-room",
        CALLS,
        "            record.room.release()\n            record.room = None\n",
        "            pass\n",
        "a cancelled queued call keeps its pending room: submit stays blocked by backpressure "
        "for a call that will never run",
    ),
    one(
        "pool-room-not-given-back-at-admission",
        SLOTS,
        "            record.room = None\n            room.release()\n        table = self._table\n",
        "            record.room = None\n        table = self._table\n",
        "an admitted call does not give its pending room back: after max_pending calls, "
        "submit blocks for ever",
    ),
    one(
        "pool-slot-not-lent",
        SLOTS,
        "        if record.lent == 1:\n            self._slots.release()\n",
        "        if record.lent == 1:\n            pass\n",
        "a call waiting on its own runner keeps its worker slot (nested waits deadlock)",
    ),
    Mutant(
        "pool-thread-token-not-lent",
        SLOTS,
        "a sync call waiting on its own runner lends its slot but not its thread token "
        "(a child sync call cannot get a thread)",
        (
            ("threads.total_tokens += 1", "threads.total_tokens += 0"),
            ("threads.total_tokens -= 1", "threads.total_tokens -= 0"),
        ),
    ),
    # ------------------------------------------------------------------ options of the leaves
    one(
        "concurrent-max-pending-ignored",
        CONCURRENT,
        "    def _pending_limit(self) -> int | None:\n        return self._config.max_pending\n",
        "    def _pending_limit(self) -> int | None:\n        return None\n",
        "ConcurrentTaskRunner ignores max_pending: submit never applies backpressure",
    ),
    one(
        "threads-max-workers-ignored",
        THREADS,
        "PoolOptions(max_workers), instruments=instruments",
        "PoolOptions(None), instruments=instruments",
        "ThreadPoolTaskRunner ignores max_workers and uses the default worker count",
    ),
    one(
        "sequential-submitters-skip-the-lock",
        SEQUENTIAL,
        "        async with lock:\n            # In a copy",
        "        if True:\n            # In a copy",
        "the sequential runner's submitters do not take its lock: calls of two submitter tasks "
        "run at once",
    ),
    one(
        "sequential-call-in-the-submitters-own-context",
        SEQUENTIAL,
        "task of its own.\n            await in_context(contextvars.copy_context(), "
        "self._execute(record))\n",
        "task of its own.\n            await self._execute(record)\n",
        "a call run inside submit() runs in its submitter's own context, not a copy: what it "
        "sets leaks into the submitter",
    ),
    one(
        "sequential-nested-call-takes-the-lock",
        SEQUENTIAL,
        "            current is not None and current[0] is self\n",
        "            current is not None and current[0] is not self\n",
        "a nested call is not recognised: it waits for the lock its own caller holds (deadlock)",
    ),
    # ------------------------------------------------------------------ executing (_base.py)
    # Not a mutant: deleting the "cancelled while queued: never starts" guard of _execution is
    # equivalent code (finishing a call clears record.call, and the executor's fallback for a
    # missing call never runs it), so no test can tell. The promise is checked by every
    # schedule that cancels a call right after its submit returns.
    one(
        "execute-exception-recorded-crashed",
        EXECUTION,
        "        table.finish(record, Failed(exc))",
        "        table.finish(record, Crashed(exc))",
        "the wrong State: a call that raised an Exception is recorded Crashed, not Failed",
    ),
    one(
        "execute-swallows-base-exception",
        EXECUTION,
        "                table.finish(record, state_for_base_exception(exc))\n"
        "                raise\n",
        "                table.finish(record, state_for_base_exception(exc))\n",
        "swallowing Cancelled: a call ended by an enclosing cancel (or KeyboardInterrupt) "
        "records its State and returns normally",
    ),
    one(
        "execute-stray-cancelled-cancels-the-run",
        EXECUTION,
        "(holds_cancelled(exc) and _enclosing_scope_cancelled())",
        "holds_cancelled(exc)",
        "every trio.Cancelled is taken for an enclosing cancel: a stray one raised by a call "
        "propagates and cancels the run",
    ),
    one(
        "execute-enclosing-cancel-taken-for-stray",
        EXECUTION,
        "    return trio.current_effective_deadline() == -math.inf\n",
        "    return trio.current_effective_deadline() < -math.inf\n",
        "an enclosing cancel is taken for a stray Cancelled: the call is Crashed and the "
        "cancellation is swallowed",
    ),
    one(
        "execute-keyboardinterrupt-in-group-swallowed",
        EXECUTION,
        "        return exc.subgroup((KeyboardInterrupt, SystemExit)) is not None\n",
        "        return False\n",
        "a KeyboardInterrupt inside a BaseExceptionGroup raised by a call is kept as its Crashed "
        "State and does not propagate",
    ),
    one(
        "execute-returned-state-wrapped",
        EXECUTION,
        "        elif isinstance(result, State):",
        "        elif isinstance(result, State) and result.is_completed():",
        "a call that returns a non-Completed State gets Completed(<that State>)",
    ),
    # execute-current-call-not-reset (the current call not reset after a call ends) was
    # removed: every call now runs in a context of its own (a task's, or a copy for a call the
    # sequential runner runs inside submit), so what it leaves set is never seen again; an
    # equivalent mutant no test can catch.
    one(
        "thread-limiter-global",
        BASE,
        "        return trio.CapacityLimiter(_DEFAULT_THREADS)\n",
        "        return trio.to_thread.current_default_thread_limiter()\n",
        "a run without max_workers uses Trio's global thread limiter: its abandoned threads "
        "starve other trio.to_thread users and the next run",
    ),
    one(
        "thread-not-abandoned-on-cancel",
        WORKER_THREADS,
        "            worker = None\n            with self._lock:\n",
        "            worker = None\n            if job.state == _TAKEN:\n"
        "                return trio.lowlevel.Abort.FAILED\n            with self._lock:\n",
        "a cancelled sync call's thread is waited for instead of abandoned (cancel is late)",
    ),
    # ------------------------------------------------------------------ recording States
    one(
        "finish-first-state-does-not-win",
        CALLS,
        "        if record.state is not None:\n            return\n        record.state = state\n",
        "        record.state = state\n",
        "first State wins broken: a later ending overwrites a recorded State (and counts twice)",
    ),
    one(
        "cancel-bypasses-finish",
        CALLS,
        "        self.finish(record, Cancelled(message))\n",
        "        record.state = Cancelled(message)\n",
        "cancel() records the Cancelled State itself: waiters are not woken, nothing is counted",
    ),
    one(
        "cancel-finished-call-reports-true",
        BASE,
        "        if record.state is not None:\n            return False\n"
        '        self._table.cancel(record, "cancelled by cancel()")\n',
        '        self._table.cancel(record, "cancelled by cancel()")\n',
        "cancel() of a call that already finished returns True",
    ),
    one(
        "cancel-unfinished-skips-queued",
        CALLS,
        "unfinished = [r for r in self.records.values() if r.state is None]",
        "unfinished = [r for r in self.records.values() if r.scope is not None]",
        "cancel_all() and leaving start() by an exception cancel only running calls, "
        "not queued ones",
    ),
    one(
        "submit-swallows-cancellation",
        BASE,
        "            self._abort(record, exc)\n            raise\n",
        "            self._abort(record, exc)\n",
        "not re-raising enclosing cancellation: a submitter cancelled during submit returns "
        "normally",
    ),
    # ------------------------------------------------------------------ waiting
    one(
        "wait-new-event-per-waiter",
        CALLS,
        "        if event is None:\n            event = record.event = trio.Event()\n",
        "        event = record.event = trio.Event()\n",
        "forgetting to wake waiters: each waiter replaces the key's Event, so earlier waiters "
        "on the same key are never woken",
    ),
    one(
        "wait-waiters-leak-on-cancel",
        CALLS,
        "        finally:\n            self.waiters -= 1\n",
        "        except trio.Cancelled:\n            raise\n        self.waiters -= 1\n",
        "waiter count leaking on a cancelled waiter: statistics().waiters is decremented only "
        "when wait returns",
    ),
    one(
        "wait-fast-path-no-checkpoint",
        BASE,
        "        if record.state is not None:  # finished: nothing to wait for, no slot to lend\n"
        "            await trio.lowlevel.checkpoint()\n",
        "        if record.state is not None:  # finished: nothing to wait for, no slot to lend\n",
        "wait() on a finished call does not checkpoint",
    ),
    one(
        "reclaim-slot-not-shielded",
        SLOTS,
        "                with trio.CancelScope(shield=True):\n"
        "                    await self._slots.acquire()\n",
        "                with trio.CancelScope():\n"
        "                    await self._slots.acquire()\n",
        "a nested waiter cancelled while taking its slot back resumes without a slot "
        "(the slot count grows)",
    ),
    # ------------------------------------------------------------------ as_completed, release
    one(
        "as-completed-loses-item-on-cancelled-step",
        CALLS,
        "        async with self._lent():\n"
        "            item = await self._receive.receive()\n"
        "        self._remaining -= 1\n",
        "        self._remaining -= 1\n"
        "        async with self._lent():\n"
        "            item = await self._receive.receive()\n",
        "as_completed loses an item on a cancelled step (counted before it is received)",
    ),
    one(
        "as-completed-duplicate-keys",
        CALLS,
        "        records = list({id(record): record for record in records}.values())",
        "        pass",
        "as_completed reports a duplicate key twice",
    ),
    one(
        "as-completed-aclose-breaks-runner",
        CALLS,
        "with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):",
        "with contextlib.suppress(trio.ClosedResourceError):",
        "a call finishing after its as_completed consumer called aclose() crashes the run",
    ),
    one(
        "release-unfinished-call",
        CALLS,
        "        if record.state is None:\n"
        '            raise RuntimeError(f"call {key!r} has not finished',
        '        if False:\n            raise RuntimeError(f"call {key!r} has not finished',
        "release() of an unfinished call forgets it (its waiters and its State are lost)",
    ),
    one(
        "release-keeps-state",
        CALLS,
        "        del self.records[key]\n",
        "        self.records[key] = record\n",
        "release() keeps the State: memory grows with every call",
    ),
    one(
        "statistics-queued-counts-running",
        CALLS,
        "queued=self.unfinished - self.running,",
        "queued=self.unfinished,",
        "statistics off by the running calls: queued counts calls that are running",
    ),
    one(
        "state-unknown-key-is-none",
        BASE,
        "        return self._table.lookup(key).state\n",
        "        record = self._table.records.get(key)\n"
        "        return None if record is None else record.state\n",
        "state() of an unknown (or released) key returns None instead of raising KeyError",
    ),
    # ------------------------------------------------------------------ States (_states.py)
    one(
        "states-enclosing-cancel-recorded-crashed",
        STATES,
        '        return Cancelled("cancelled by an enclosing cancel scope")',
        "        return Crashed(exc)",
        "the wrong State: a call cancelled by an enclosing scope is recorded Crashed",
    ),
    one(
        "states-group-with-keyboardinterrupt-is-cancellation",
        STATES,
        "        return rest is None\n",
        "        return True\n",
        "a BaseExceptionGroup holding a KeyboardInterrupt is taken for a cancellation "
        "(Cancelled, not Crashed)",
    ),
    one(
        "states-result-does-not-raise",
        STATES,
        "            if raise_on_failure:\n                raise result.error\n",
        "            if not raise_on_failure:\n                raise result.error\n",
        "State.result() returns the exception instead of raising it (and the reverse)",
    ),
)
