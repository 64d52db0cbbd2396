"""What travels by value when a call is shipped to another process, and what by reference.

The rule (docs/runners/processes.md and dask.md): every function, class, task and flow that a
call reaches when it is pickled (the call itself, what it wraps, its arguments, the globals of
what travels by value) is pickled **by value** when its module is ``__main__`` or was not loaded
from the Python installation (``sys.prefix``/``sys.base_prefix``: the standard library and
site-packages), and **by reference** otherwise (it must then be importable where the call runs;
trio-runners itself always is). Scripts, notebooks, test modules, local definitions and modules
run from a checkout therefore travel with the call. A module object itself (``import helpers``,
then ``helpers.f()``) travels by reference.

`dumps` applies it with cloudpickle: a module that travels by value is registered with
``cloudpickle.register_pickle_by_value`` when the pickler first meets one of its objects, for
the length of that one ``dumps``. Tasks and flows read that same registry to choose how they
pickle (``flows/_pickle_by_name.py``).
"""

from __future__ import annotations

import functools
import importlib
import io
import os
import pickle
import sys
import threading
import types
from typing import Any

__all__ = ["dumps", "travels_by_value"]

_INSTALLED = tuple(
    os.path.join(os.path.realpath(prefix), "")
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
)

#: Module name -> (module, travels by value): resolving paths costs system calls.
_BY_VALUE: dict[str, tuple[types.ModuleType, bool]] = {}

#: cloudpickle's registry is global: one `dumps` at a time changes it (re-entrant: a `dumps`
#: inside a ``__reduce__`` leaves registered what the outer one registered).
_REGISTRY_LOCK = threading.RLock()

#: Objects the pickler passes over at once (they never name a module).
_PLAIN = frozenset({str, bytes, bytearray, list, tuple, dict, set, frozenset, int, float, complex})


def travels_by_value(module: types.ModuleType) -> bool:
    """True if ``module`` travels by value: ``__main__``, or a file outside the installation."""
    name = module.__name__
    if name == "__main__":
        return True
    if name.split(".")[0] in ("trio_runners", "builtins"):
        return False
    cached = _BY_VALUE.get(name)
    if cached is not None and cached[0] is module:
        return cached[1]
    path = getattr(module, "__file__", None)
    # A built-in or namespace module (no file) is importable by name.
    by_value = isinstance(path, str) and not os.path.realpath(path).startswith(_INSTALLED)
    _BY_VALUE[name] = (module, by_value)
    return by_value


def _named_module(obj: Any) -> str | None:
    """The module ``obj`` names as its home, if it is a function, a class, or an object that
    names itself (``__module__`` in its own ``__dict__``, as `functools.update_wrapper` makes
    it: a task, a flow, a decorator's wrapper object)."""
    name: object
    if isinstance(obj, (types.FunctionType, type)):
        name = obj.__module__
    else:
        try:
            own = object.__getattribute__(obj, "__dict__")
        except AttributeError:
            return None
        name = own.get("__module__") if isinstance(own, dict) else None
    return name if isinstance(name, str) else None


@functools.cache
def _travel_pickler() -> type:
    """cloudpickle's pickler, registering each module that travels by value when it first
    meets an object of it (before that object is reduced)."""
    import cloudpickle

    class TravelPickler(cloudpickle.Pickler):  # type: ignore[misc]
        def __init__(self, file: io.BytesIO, registered: dict[str, types.ModuleType]) -> None:
            super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
            self.registered = registered  # registered by this dump, unregistered after it
            self.seen: set[str] = set()

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, types.ModuleType) and obj.__name__ in self.registered:
                # A module used as a module (``import helpers``, then ``helpers.f()``): by
                # reference, as it would be without this dump's registration (by value,
                # cloudpickle would take its whole namespace, locks and loggers included).
                return importlib.import_module, (obj.__name__,)
            if type(obj) not in _PLAIN:
                name = _named_module(obj)
                if name is not None and name not in self.seen:
                    self.seen.add(name)
                    module = sys.modules.get(name)
                    if (
                        module is not None
                        and travels_by_value(module)
                        and name not in cloudpickle.list_registry_pickle_by_value()
                    ):
                        cloudpickle.register_pickle_by_value(module)
                        self.registered[name] = module
            return super().reducer_override(obj)

    return TravelPickler


def dumps(obj: Any) -> bytes:
    """``obj`` pickled with cloudpickle by the travel rule (see the module docstring).

    Raises:
      Exception: whatever pickling ``obj`` raises.
    """
    import cloudpickle

    buffer = io.BytesIO()
    with _REGISTRY_LOCK:
        registered: dict[str, types.ModuleType] = {}
        try:
            _travel_pickler()(buffer, registered).dump(obj)
        finally:
            for module in registered.values():
                cloudpickle.unregister_pickle_by_value(module)
    return buffer.getvalue()
