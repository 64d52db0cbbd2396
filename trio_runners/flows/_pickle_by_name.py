"""How a task or a flow pickles: by name, as a function does, or by value.

It reads cloudpickle's public registry of modules to pickle by value, which the out-of-process
runners fill for the length of one ``dumps`` by the travel rule (``_travel.py``, documented in
docs/runners/processes.md). It imports nothing from trio_runners: it goes where the flow layer
goes.
"""

from __future__ import annotations

import copyreg
import sys
from typing import Any

__all__ = ["reduce_by_name_or_value"]


def _registered_by_value(name: str) -> bool:
    """True if cloudpickle is to pickle module ``name`` (or a package of it) by value."""
    cloudpickle = sys.modules.get("cloudpickle")
    if cloudpickle is None:
        return False
    registry = cloudpickle.list_registry_pickle_by_value()
    parts = name.split(".")
    return any(".".join(parts[:end]) in registry for end in range(1, len(parts) + 1))


def reduce_by_name_or_value(obj: Any) -> str | tuple[Any, ...]:
    """``obj.__reduce__()`` for an object that names itself by ``__module__`` and
    ``__qualname__`` (a task, a flow): by reference, as pickle does functions, when that name
    leads back to this very object and its module is not to be pickled by value (registered
    with cloudpickle, as ``_travel.dumps`` does for ``__main__`` and modules outside the
    installation); otherwise by value: its class (by reference) and its state
    (``__getstate__``, by default its ``__dict__``), function included."""
    name = obj.__dict__.get("__module__")
    qualname = obj.__dict__.get("__qualname__")
    module = sys.modules.get(name) if isinstance(name, str) else None
    if module is not None and isinstance(qualname, str) and not _registered_by_value(name):
        found: Any = module
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is obj:
            return qualname
    getstate = getattr(obj, "__getstate__", None)  # (object has none before Python 3.11)
    state = getstate() if getstate is not None else dict(obj.__dict__)
    # (copyreg.__newobj__ pickles as the NEWOBJ opcode: cls.__new__(cls), then the state.)
    return copyreg.__newobj__, (type(obj),), state  # type: ignore[attr-defined]
