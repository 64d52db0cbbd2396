"""The greetings example of the Prefect 2 task-runners reference page, unchanged but for imports.

Run it with ``python examples/greetings.py``: first on a SequentialTaskRunner (hello/goodbye pairs
in order), then on a ConcurrentTaskRunner (the same eight lines, possibly interleaved).
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

    # Switching runners: the same flow, now concurrent (the reference page switches to Dask).
    greetings.task_runner = ConcurrentTaskRunner()
    greetings(["arthur", "trillian", "ford", "marvin"])
