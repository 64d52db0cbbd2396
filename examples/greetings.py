"""The greetings example of the Prefect 2 task-runners reference page, unchanged but for imports.

Run it with ``python examples/greetings.py``: first on a SequentialTaskRunner (hello/goodbye pairs
in order), then on a ConcurrentTaskRunner and on a DaskTaskRunner (the same eight lines, possibly
interleaved).
"""

from typing import List  # noqa: UP035 (as on the reference page)

from trio_runners import flow, task
from trio_runners.task_runners import ConcurrentTaskRunner, SequentialTaskRunner


@task
def say_hello(name):  # type: ignore[no-untyped-def]
    print(f"hello {name}")


@task
def say_goodbye(name):  # type: ignore[no-untyped-def]
    print(f"goodbye {name}")


@flow(task_runner=SequentialTaskRunner())
def greetings(names: List[str]):  # type: ignore[no-untyped-def]  # noqa: UP006
    for name in names:
        say_hello(name)
        say_goodbye(name)


if __name__ == "__main__":
    greetings(["arthur", "trillian", "ford", "marvin"])

    # Switching runners: the same flow, now concurrent on the event loop...
    greetings.task_runner = ConcurrentTaskRunner()
    greetings(["arthur", "trillian", "ford", "marvin"])

    # ...and, as on the reference page, parallel on a Dask cluster (extra "dask"): a LocalCluster
    # of two worker processes, every socket on 127.0.0.1. The lines come out interleaved.
    try:
        from trio_runners.dask import DaskTaskRunner
    except ImportError:
        print("(pip install 'trio-runners[dask]' to run the flow on Dask)")
    else:
        greetings.task_runner = DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "host": "127.0.0.1", "dashboard_address": None}
        )
        greetings(["arthur", "trillian", "ford", "marvin"])
