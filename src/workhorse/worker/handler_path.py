"""Naming a handler by dotted path, so a pool process can import it.

Pool processes are started fresh ("spawn"), so they cannot receive a function
object: they import the handler by ``module:qualified.name``.  A lambda, a closure
or a function defined inside another function has no such name; the worker refuses
it up front with an error saying what to do.

Every pool process imports the handler's module, so whatever that module does at
import time happens once per process: keep heavy set-up (opening stores, loading
models) out of module level, or give pooled handlers a module of their own.  A
script that starts a pooled worker must do so under ``if __name__ == "__main__":``,
because each pool process imports the main module again.
"""

from __future__ import annotations

import importlib
from typing import Any


def handler_path(handler: Any) -> str:
    """``module:qualname`` of ``handler``; ``ValueError`` when it cannot be imported
    back under that name (lambda, closure, nested or replaced function)."""
    module = getattr(handler, "__module__", None)
    qualname = getattr(handler, "__qualname__", None)
    hint = (
        "a handler run in a process pool (processes=N) must be a function defined at "
        "the top level of an importable module (not a lambda, a closure or a method "
        "of a local class), because the pool's processes import it by name"
    )
    if not module or not qualname or "<" in qualname:
        raise ValueError(f"{hint}; got {handler!r}")
    path = f"{module}:{qualname}"
    try:
        found = resolve_handler(path)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{hint}; {path} cannot be imported: {exc}") from None
    if found is not handler:
        raise ValueError(f"{hint}; {path} names another object than {handler!r}")
    return path


def resolve_handler(path: str) -> Any:
    """The object at ``module:qualified.name``."""
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
