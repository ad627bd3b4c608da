"""The ``workhorse`` command: thin argument parsing over library calls."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from workhorse.application import Workhorse
from workhorse.errors import InvalidTransition, StoreUnavailable
from workhorse.job import JobState
from workhorse.observability.logs import configure_logging
from workhorse.queue import Queue
from workhorse.store import DEFAULT_DB_PATH, connect, url_from_env
from workhorse.store.base import Store

if TYPE_CHECKING:
    from workhorse.app.settings import Settings


def load_app(target: str) -> Workhorse:
    """Import ``package.module:attribute`` and return the Workhorse object there, or
    the one a function of no arguments there returns (so building it -- reading
    settings, opening connections -- happens only in the worker, not on import)."""
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
    if callable(app) and not isinstance(app, Workhorse | type):
        app = app()
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
            await app.run_workers(
                queues, args.concurrency, burst=args.burst, processes=args.processes
            )
        finally:
            await app.close()

    asyncio.run(main())
    return 0


def _cmd_example(args: argparse.Namespace) -> int:
    from workhorse.example import run_example

    asyncio.run(run_example(args.url or url_from_env(), args.jobs))
    return 0


def _require_api() -> None:
    try:
        import fastapi  # noqa: F401
        import pydantic_settings  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise SystemExit(
            f"error: this command needs the web stack ({exc.name} is missing): "
            "pip install 'workhorse[api]'"
        ) from None


def _settings(args: argparse.Namespace) -> Settings:
    _require_api()
    from workhorse.app.settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "url", None):
        overrides["store_url"] = args.url
    if getattr(args, "data_dir", None):
        overrides["db_path"] = f"{args.data_dir.rstrip('/')}/workhorse.db"
    return Settings(**overrides)


def _reference_app(settings: Settings, mail: Any = None, base_url: str = "") -> Any:
    """The reference application (``workhorse_reference``) for ``settings``."""
    from workhorse_reference.app import from_env

    return from_env(settings, dict(os.environ), mail, base_url)


def _cmd_serve(args: argparse.Namespace) -> int:
    from workhorse.api import create_app

    settings = _settings(args)
    url = settings.url()
    _ping(url)  # a store that is down is one clear line, before the server starts
    settings.secret()  # created now, so `workhorse token` here signs with the same key
    reference = _reference_app(settings)

    def ready(base: str) -> None:
        print(f"Workhorse API at {base} (docs: {base}/docs) on {url}", flush=True)

    def build(base: str, on_ready: Callable[[], None]) -> Any:
        return create_app(
            settings,
            extensions=reference.extensions(),
            audit=reference.audit,
            on_ready=on_ready,
        )

    _run_server(args.host, args.port, build, ready)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    _require_api()
    from workhorse.api import create_app, mint_token
    from workhorse.app.demo import DEMO_USERS, banner, demo_settings
    from workhorse_reference.demo import DemoData, InProcessScheduler, MailSink
    from workhorse_reference.web.page import DemoPage

    settings = demo_settings(args.data_dir)
    secret = settings.secret()
    tokens = {user: mint_token(secret, user, admin=admin) for user, admin in DEMO_USERS}
    # The demo's e-mails go to files, unless an SMTP server is configured.
    sink = None if os.environ.get("WORKHORSE_SMTP_HOST") else MailSink(settings.data_dir / "mail")

    def build(base: str, on_ready: Callable[[], None]) -> Any:
        # Download links are absolute, to this server, so e-mails can carry them.
        reference = _reference_app(settings, sink.settings() if sink else None, base)
        return create_app(
            settings,
            processors=reference.processors(),
            extensions=[
                *reference.extensions(),
                DemoData(reference.db),
                *([sink] if sink else []),
                InProcessScheduler(),
                DemoPage(),
            ],
            audit=reference.audit,
            on_ready=on_ready,
        )

    mail_dir = str(sink.folder) if sink else None
    _run_server(
        args.host, args.port, build, lambda base: print(banner(base, tokens, mail_dir), flush=True)
    )
    return 0


def _cmd_scheduler(args: argparse.Namespace) -> int:
    from workhorse.schedule import Scheduler

    url = args.url or url_from_env()

    async def main() -> None:
        store = connect(url)
        scheduler = Scheduler(store, poll=args.poll)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(scheduler.close()))
        try:
            await store.ping()
            print(f"scheduler running on {url}", flush=True)
            await scheduler.run()
        finally:
            await store.close()

    asyncio.run(main())
    return 0


def _ping(url: str) -> None:
    async def ping() -> None:
        store = connect(url)
        try:
            await store.ping()
        finally:
            await store.close()

    asyncio.run(ping())


def _run_server(
    host: str,
    port: int,
    build: Callable[[str, Callable[[], None]], Any],
    ready: Callable[[str], None],
) -> None:
    """Serve the app built by ``build(base URL, on_ready)`` with uvicorn.  The socket
    is bound here so that port 0 (any free port) reports the port actually used."""
    import uvicorn

    sock = socket.create_server((host, port))
    base = f"http://{host}:{sock.getsockname()[1]}"
    app = build(base, lambda: ready(base))
    with sock:
        # Live streams (dashboard, SSE) must not hold a shutdown for long.
        uvicorn.run(app, fd=sock.fileno(), log_level="warning", timeout_graceful_shutdown=5)


def _cmd_token(args: argparse.Namespace) -> int:
    from workhorse.api import mint_token

    settings = _settings(args)
    ttl = settings.token_ttl if args.ttl is None else args.ttl
    token = mint_token(settings.secret(), args.user, admin=args.admin, ttl=ttl)
    if args.json:
        _print_json({"user": args.user, "admin": args.admin, "token": token})
    else:
        print(token)
    return 0


def _cmd_dashboard_user(args: argparse.Namespace) -> int:
    _require_api()
    from workhorse.dashboard.users import user_entry

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            raise SystemExit("error: the two passwords differ; run the command again")
    if len(password) < 8:
        raise SystemExit("error: the password must have at least 8 characters")
    print(user_entry(args.user, password, args.role))
    print(
        "put this object in the JSON list WORKHORSE_DASHBOARD_USERS, e.g. "
        "WORKHORSE_DASHBOARD_USERS='[{...}]', and restart `workhorse serve`",
        file=sys.stderr,
    )
    return 0


def _print_json(value: object) -> None:
    import orjson

    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _admin(args: argparse.Namespace, action: Callable[[Store], Awaitable[object]]) -> object:
    """Run ``action`` on the store the settings (or --url) name."""
    url = args.url or url_from_env()

    async def main() -> object:
        store = connect(url)
        try:
            await store.ping()
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(main())


def _cmd_queues(args: argparse.Namespace) -> int:
    from workhorse.app.admin import queue_counts

    rows = _admin(args, lambda store: queue_counts(store, []))
    assert isinstance(rows, list)
    if args.json:
        _print_json(rows)
        return 0
    from workhorse.app.console import table

    states = [s.value for s in JobState]
    print(
        table(
            ["queue", "paused", *states],
            [[r["queue"], r["paused"], *(r[s] for s in states)] for r in rows],
        )
        if rows
        else "no queues"
    )
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from workhorse.app.admin import job_row

    async def action(store: Store) -> object:
        jobs = await Queue(args.queue, store).list_jobs(args.state, 0, args.limit - 1)
        return [job_row(j) for j in jobs]

    rows = _admin(args, action)
    assert isinstance(rows, list)
    if args.json:
        _print_json(rows)
        return 0
    from workhorse.app.console import table

    cols = ["id", "name", "state", "owner", "attempts", "failedReason"]
    print(
        table(cols, [[r[c] for c in cols] for r in rows])
        if rows
        else f"no {args.state} jobs in {args.queue}"
    )
    return 0


def _cmd_job(args: argparse.Namespace) -> int:
    from workhorse.app.admin import job_detail

    detail = _admin(args, lambda store: job_detail(Queue(args.queue, store), args.id))
    if detail is None:
        print(f"error: no job {args.id!r} in queue {args.queue!r}", file=sys.stderr)
        return 1
    assert isinstance(detail, dict)
    if args.json:
        _print_json(detail)
        return 0
    for key, value in detail.items():
        if key in ("logs", "history", "stacktrace") or value in (None, [], {}):
            continue
        print(f"{key:>12}: {value}")
    for line in detail["logs"]:
        print(f"{'log':>12}: {line}")
    if detail["stacktrace"]:
        print(detail["stacktrace"])
    return 0


def _cmd_retry(args: argparse.Namespace) -> int:
    from workhorse.app.admin import retry_all
    from workhorse.app.console import ProgressBar

    state = JobState(args.state)

    async def action(store: Store) -> object:
        queue = Queue(args.queue, store)
        if args.id:
            await queue.retry_job(args.id, state)
            return 1
        total = (await queue.counts())[state]
        with ProgressBar(f"retrying {state.value} jobs", total) as bar:
            return await retry_all(queue, state, bar.advance)

    moved = _admin(args, action)
    _report(
        args, {"queue": args.queue, "retried": moved}, f"retried {moved} job(s) in {args.queue}"
    )
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    from workhorse.app.admin import clean
    from workhorse.app.console import ProgressBar

    state = JobState(args.state)

    async def action(store: Store) -> object:
        queue = Queue(args.queue, store)
        total = (await queue.counts())[state]
        if args.limit is not None:
            total = min(total, args.limit)
        with ProgressBar(f"cleaning {state.value} jobs", total) as bar:
            return await clean(queue, state, args.grace, args.limit, bar.advance)

    removed = _admin(args, action)
    _report(
        args,
        {"queue": args.queue, "state": state.value, "removed": removed},
        f"removed {removed} {state.value} job(s) from {args.queue}",
    )
    return 0


def _cmd_pause(args: argparse.Namespace) -> int:
    paused = args.command == "pause"

    async def action(store: Store) -> object:
        await store.set_paused(args.queue, paused)
        return None

    _admin(args, action)
    word = "paused" if paused else "resumed"
    _report(args, {"queue": args.queue, "paused": paused}, f"{args.queue} {word}")
    return 0


def _report(args: argparse.Namespace, data: dict[str, object], human: str) -> None:
    if args.json:
        _print_json(data)
    else:
        print(human)


def _add_admin_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="store URL (default: from the environment)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    states = [s.value for s in JobState]

    q = sub.add_parser("queues", parents=[common], help="counts per state of every queue")
    q.set_defaults(func=_cmd_queues)

    j = sub.add_parser("jobs", parents=[common], help="list a queue's jobs in one state")
    j.add_argument("queue")
    j.add_argument("--state", "-s", default="failed", choices=states)
    j.add_argument("--limit", "-n", type=int, default=20)
    j.set_defaults(func=_cmd_jobs)

    one = sub.add_parser("job", parents=[common], help="one job with its logs and errors")
    one.add_argument("queue")
    one.add_argument("id")
    one.set_defaults(func=_cmd_job)

    r = sub.add_parser("retry", parents=[common], help="retry one job, or all failed ones")
    r.add_argument("queue")
    r.add_argument("id", nargs="?", help="the job (default: every job in --state)")
    r.add_argument("--state", "-s", default="failed", choices=["failed", "completed"])
    r.set_defaults(func=_cmd_retry)

    c = sub.add_parser("clean", parents=[common], help="delete old jobs in a state")
    c.add_argument("queue")
    c.add_argument("--state", "-s", default="completed", choices=states)
    c.add_argument("--grace", type=float, default=0.0, help="keep jobs younger than this (s)")
    c.add_argument("--limit", type=int, default=None, help="at most this many")
    c.set_defaults(func=_cmd_clean)

    for name, text in (("pause", "stop workers taking jobs"), ("resume", "resume a paused queue")):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("queue")
        p.set_defaults(func=_cmd_pause)


def _add_web_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sc = sub.add_parser("scheduler", help="enqueue the due ticks of every schedule")
    sc.add_argument("--url", help="store URL (default: from the environment)")
    sc.add_argument(
        "--poll", type=float, default=1.0, help="seconds before a new schedule is noticed"
    )
    sc.set_defaults(func=_cmd_scheduler)

    s = sub.add_parser("serve", help="run the HTTP API with live progress (uvicorn)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="0: any free port")
    s.add_argument("--url", help="store URL (default: from the environment)")
    s.set_defaults(func=_cmd_serve)

    d = sub.add_parser("demo", help="API + workers on the embedded store, with demo users")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000, help="0: any free port")
    d.add_argument("--data-dir", default=".workhorse", help="where the store and secret live")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("token", help="mint a bearer token for a user")
    t.add_argument("user")
    t.add_argument("--admin", action="store_true", help="the admin role (sees every job)")
    t.add_argument("--ttl", type=float, help="lifetime in seconds (default WORKHORSE_TOKEN_TTL)")
    t.add_argument("--data-dir", help="the data directory of the server (default .workhorse)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_cmd_token)

    u = sub.add_parser(
        "dashboard-user", help="hash a dashboard login for WORKHORSE_DASHBOARD_USERS"
    )
    u.add_argument("user")
    u.add_argument("--role", choices=["admin", "viewer"], default="viewer")
    u.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (scripts)"
    )
    u.set_defaults(func=_cmd_dashboard_user)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workhorse", description="Heavy background jobs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run workers for an application's queues")
    w.add_argument("app", help="package.module:app, the Workhorse object to serve")
    w.add_argument("--queues", "-q", help="comma-separated queue names (default: all)")
    w.add_argument("--concurrency", "-c", type=int, help="jobs at once per queue")
    w.add_argument(
        "--processes", "-p", type=int, help="run each queue's jobs in a pool of N processes"
    )
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
    _add_web_parsers(sub)
    _add_admin_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = "DEBUG" if args.verbose else os.environ.get("WORKHORSE_LOG_LEVEL", "INFO")
    try:
        # JSON lines when stderr is not a terminal (WORKHORSE_LOG_FORMAT=auto|json|text).
        configure_logging(level.upper(), os.environ.get("WORKHORSE_LOG_FORMAT", "auto"))
        return int(args.func(args))
    except (StoreUnavailable, LookupError, ValueError, InvalidTransition) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
