"""Entry point: ``python -m peers <name> <role> <out.json> '<params json>'``.

Imports ``peers.<name>`` (so job functions have an importable dotted path, which rq and
celery need), calls the role function with the params and writes what it returns to
``out.json``.  For the ``worker`` role the shared :data:`common.drain` recorder is armed
with ``n`` and writes ``out.json`` itself once the n-th job finished.
"""

import asyncio
import importlib
import importlib.metadata
import inspect
import json
import sys

from common import drain, emit


def main() -> None:
    name, role, out = sys.argv[1:4]
    params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    adapter = importlib.import_module(f"peers.{name}")
    if role == "version":
        emit(out, {"version": importlib.metadata.version(adapter.DIST)})
        return
    if role == "worker":
        drain.arm(params.pop("n"), out)
    result = getattr(adapter, role)(**params)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    if result is not None:
        emit(out, result)


main()
