"""The ``workhorse`` command: thin argument parsing over library calls."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from workhorse.application import Workhorse
from workhorse.errors import StoreUnavailable
from workhorse.store import DEFAULT_DB_PATH, url_from_env


def load_app(target: str) -> Workhorse:
    """Import ``package.module:attribute`` and return the Workhorse object there."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(
            f"error: {target!r} is not of the form package.module:app "
            "(the module that defines your Workhorse object, and its name)"
        )
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"error: cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attr, None)
    if not isinstance(app, Workhorse):
        raise SystemExit(
            f"error: {target!r} is not a Workhorse object (found {type(app).__name__})"
        )
    return app


def _cmd_worker(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    queues = [q for q in args.queues.split(",") if q] if args.queues else None

    async def main() -> None:
        try:
            await app.store.ping()
            await app.run_workers(queues, args.concurrency, burst=args.burst)
        finally:
            await app.close()

    asyncio.run(main())
    return 0


def _cmd_example(args: argparse.Namespace) -> int:
    from workhorse.example import run_example

    asyncio.run(run_example(args.url or url_from_env(), args.jobs))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workhorse", description="Heavy background jobs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run workers for an application's queues")
    w.add_argument("app", help="package.module:app, the Workhorse object to serve")
    w.add_argument("--queues", "-q", help="comma-separated queue names (default: all)")
    w.add_argument("--concurrency", "-c", type=int, help="jobs at once per queue")
    w.add_argument("--burst", action="store_true", help="exit when the queues are idle")
    w.set_defaults(func=_cmd_worker)

    e = sub.add_parser("example", help="run a small example: jobs with progress and retries")
    e.add_argument(
        "--url",
        default=None,
        help="store URL (default: from the environment, else the embedded store "
        f"at {DEFAULT_DB_PATH})",
    )
    e.add_argument("--jobs", type=int, default=20)
    e.set_defaults(func=_cmd_example)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except (StoreUnavailable, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
