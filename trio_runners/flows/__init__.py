"""The flow layer: ``@flow``, ``@task``, `TaskFuture`, `wait` / `as_completed` over futures.

Built on the public runner contract only (`trio_runners.abc.BaseTaskRunner`'s methods, among
them what a call may ask of its runner: `BaseTaskRunner.run_in_slot`,
`BaseTaskRunner.lend_slot`, `BaseTaskRunner.has_backpressure`, and `trio_runners.abc.LoopCall`),
`trio_runners.states` and `trio_runners.task_runners`: it imports nothing private from the core
(``tests/test_module_map.py`` checks it), so it runs on any runner, ours or a third party's, and
no runner knows about it. Everything here is importable from ``trio_runners`` too.

The path of one sync ``@task`` call inside a sync ``@flow`` (default `ConcurrentTaskRunner`, no
``max_workers``; the flow called from a thread with no Trio loop, e.g. ``greetings(names)`` at
top level). Per task call: about 35 functions (13 on the body's thread, 9 to submit, 14 to run
the task run; listed below), in 8 modules of the flow layer and 4 of the core (``_base``,
``_calls``, ``_execution``, ``_pool``: the runner's public methods and its backend hooks);
2 thread hops (to a worker thread for the function, and back), plus one one-way wake-up of the
Trio thread, only when the submission pump is idle. Once per flow call: the hop into the body's
thread and back. Each layer is one that a different runner or flow may need: the pump (the
body's thread never waits for the loop), the runner's submit and execute (any runner), the
task run (upstreams, retries, timeouts, hooks), ``run_in_slot`` (where the function runs).

1. Caller's thread: `Flow.__call__` (``_flows.py``) finds no flow run and no Trio loop and calls
   ``trio.run(Flow._run, ...)``: this thread becomes the Trio thread.
2. Trio thread, once per flow call: `Flow._run` -> `run_flow` -> `_attempt`
   (``_flow_engine.py``) starts ``task_runner.duplicate()`` (`BaseTaskRunner.start`), makes the
   `FlowRun` (``_flow_run.py``), sets ``current_flow_run``, starts `SubmissionPump.run`
   (``_submission.py``) in its nursery (not when ``runner.has_backpressure``), and `_body` runs
   the body with ``trio.to_thread.run_sync(..., abandon_on_cancel=True,
   limiter=CapacityLimiter(1))``: **the body's hop** into a worker thread (the context, so
   ``current_flow_run``, is copied).
3. Body thread, 13 functions in 8 modules: ``say_hello(name)`` is `Task.__call__` ->
   `Task.submit` (``_tasks.py``) -> ``flow_run_for`` and ``dispatch`` (``_task_submit.py``):
   not on the Trio thread (``on_trio_thread``, ``_flow_threads.py``) and not in a task run, so
   ``_pump_for`` gives the pump; ``_put`` -> ``_prepare`` names the run (``run_name``,
   ``_run_names.py``, else `FlowRun.next_name`), makes a ``uuid4`` key, a pending `TaskFuture`
   (``_futures.py``) and a `TaskRunCall` (``_task_run.py``), and `SubmissionPump.put` queues
   them under a ``threading.Lock``. If the pump is idle, **a one-way wake-up**:
   ``TrioToken.run_sync_soon(pump._kick)``. The body gets the future at once and goes on.
4. Trio thread, the runner's side, 9 functions (7 in the core): `SubmissionPump.run` takes the
   queue in FIFO order and awaits ``runner.submit(key, call)`` (`BaseTaskRunner.submit`:
   ``check_call``, ``CallTable.register``, then the backend's ``_submit``: here
   ``nursery.start_soon(runner._execute, record)``), then `TaskFuture._submitted`. In its own
   Trio task, ``_execute`` -> ``execute`` (``_execution.py``) sets the current call, opens the
   call's cancel scope and awaits ``runner._invoke(call)``: a `TaskRunCall` is an async
   `LoopCall`, so its coroutine runs right there, on the loop, on every runner (the process and
   Dask runners keep a `LoopCall` home and ship only what it passes to ``run_in_slot``).
5. Trio thread, the task run, 14 functions (5 in the core): `TaskRunCall.__call__` sets
   ``current_flow_run`` and ``task_run_of``, looks for futures in the arguments and ``wait_for``
   (``futures_in``, ``_future_args.py``; waiting for any goes through `TaskFuture._final_state`
   -> ``runner.wait``, which lends the worker slot), ``resolve_futures``, then `_attempts` ->
   `_attempt` -> ``runner.run_in_slot(partial(_Attempt(task), *args, **kwargs))`` (inside
   ``trio.move_on_after`` if the task has a timeout; it checks ``is_async_callable``) ->
   ``runner._invoke`` -> ``run_sync_in_thread`` (``_execution.py``) -> the run's worker
   threads, ``WorkerThreads.run_sync`` (``_worker_threads.py``), which queues the call.
   **Hop**: one of the run's long-lived worker threads takes it from the shared queue and
   runs `_Attempt.__call__` -> ``task.fn(*args, **kwargs)``; **hop back**: the thread lists
   the outcome, and one ``TrioToken.run_sync_soon`` per batch of finished calls reschedules
   their tasks.
6. Trio thread: `_attempts` returns the value (an `Exception` or a Failed State is retried
   while ``retries`` remain, after ``retry_delay_seconds`` slept inside ``runner.lend_slot()``);
   `TaskRunCall.__call__` makes ``Completed(value, "task run 'say_hello-0' completed")``, runs
   the task's state hooks (``_run_hooks``; none by default) and returns that State, which
   ``execute`` records (``CallTable.finish``), waking the key's waiters.
7. Body thread, only if it looks: ``future.result()`` reads the State (`TaskFuture._peek`, no
   hop once finished); otherwise one blocking round trip, ``trio.from_thread.run(
   TaskFuture._wait_state, ...)``, which awaits the pump's submission, then ``runner.wait``.
8. Once per flow call: the body returns (back to the Trio thread as its ``to_thread``
   returns); `_attempt` closes the pump, resolves futures in the return value, leaves
   ``runner.start()`` (which waits for every task run), reports Failed task runs nobody looked
   at (`FlowRunFailed`), and ``trio.run`` returns the value to the caller's thread.

With ``runner.has_backpressure`` (``max_pending``) there is no pump: step 3 is one blocking
round trip per task call instead, ``trio.from_thread.run(_submit_all, ...)``, so the runner's
backpressure blocks the body. A sync task calling a task from its worker thread (in a task run:
``task_run_of``) takes that round trip too, so that a task run never ends while a task run it
submitted is still queued.
"""

from ._annotations import allow_failure as allow_failure
from ._annotations import quote as quote
from ._annotations import unmapped as unmapped
from ._flow_errors import FlowRunFailed as FlowRunFailed
from ._flow_errors import FlowTimeout as FlowTimeout
from ._flow_errors import TaskTimeout as TaskTimeout
from ._flow_errors import UpstreamFailed as UpstreamFailed
from ._flows import Flow as Flow
from ._flows import flow as flow
from ._futures import TaskFuture as TaskFuture
from ._hooks import FlowRunInfo as FlowRunInfo
from ._hooks import TaskRunInfo as TaskRunInfo
from ._tasks import Task as Task
from ._tasks import task as task
from ._wait import ALL_COMPLETED as ALL_COMPLETED
from ._wait import FIRST_COMPLETED as FIRST_COMPLETED
from ._wait import FIRST_EXCEPTION as FIRST_EXCEPTION
from ._wait import as_completed as as_completed
from ._wait import wait as wait

__all__ = [
    "ALL_COMPLETED",
    "allow_failure",
    "as_completed",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "Flow",
    "flow",
    "FlowRunFailed",
    "FlowRunInfo",
    "FlowTimeout",
    "quote",
    "task",
    "Task",
    "TaskFuture",
    "TaskRunInfo",
    "TaskTimeout",
    "unmapped",
    "UpstreamFailed",
    "wait",
]
