"""Stores: where jobs live.  See :mod:`workhorse.store.base` for the contract."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote

from workhorse.store.base import Event, NewJob, Outcome, OutcomeKind, Store, Waiter

#: Where the embedded store lives when nothing says otherwise (relative to the
#: working directory); ``WORKHORSE_DB_PATH`` moves it.
DEFAULT_DB_PATH = ".workhorse/workhorse.db"
_FALSE = ("0", "false", "no", "off")


def url_from_env(env: Mapping[str, str] | None = None) -> str:
    """The store URL the environment asks for, with the original system's variables.

    1. ``WORKHORSE_STORE_URL`` wins when set (``redis://…`` or ``sqlite:///…``).
    2. ``REDIS_ENABLED=false`` selects the embedded store.
    3. ``REDIS_URL``, or ``REDIS_HOST`` (default ``redis``) / ``REDIS_PORT`` (6379) /
       ``REDIS_PASSWORD`` when any of them or ``REDIS_ENABLED=true`` is set, select
       Redis.
    4. Otherwise no Redis is configured: the embedded store at ``WORKHORSE_DB_PATH``
       (default ``.workhorse/workhorse.db``).
    """
    env = os.environ if env is None else env
    if env.get("WORKHORSE_STORE_URL"):
        return env["WORKHORSE_STORE_URL"]
    enabled = env.get("REDIS_ENABLED", "").strip().lower()
    sqlite_url = "sqlite:///" + env.get("WORKHORSE_DB_PATH", DEFAULT_DB_PATH)
    if enabled in _FALSE and enabled:
        return sqlite_url
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    if enabled or any(env.get(k) for k in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")):
        host = env.get("REDIS_HOST") or "redis"
        port = env.get("REDIS_PORT") or "6379"
        password = env.get("REDIS_PASSWORD")
        auth = f":{quote(password, safe='')}@" if password else ""
        return f"redis://{auth}{host}:{port}/0"
    return sqlite_url


def connect(url: str, **kwargs: object) -> Store:
    """A store from its URL: ``redis://host:port/db``, ``rediss://`` (TLS), or
    ``sqlite:///path/to/file.db`` for the embedded store.

    SQLite paths follow the usual Python convention: what comes after
    ``sqlite:///`` is the path, so ``sqlite:///jobs.db`` is relative to the current
    directory and ``sqlite:////var/lib/app/jobs.db`` (four slashes) is absolute.
    ``?synchronous=FULL`` fsyncs every commit (default ``NORMAL``)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        from workhorse.store.redis import RedisStore

        return RedisStore(url, **kwargs)  # type: ignore[arg-type]
    if scheme == "sqlite":
        return _sqlite(url, **kwargs)
    raise ValueError(
        f"unsupported store URL {url!r}: use redis://host:port/db (e.g. "
        "redis://127.0.0.1:6379/0) or sqlite:///path/to/file.db"
    )


def _sqlite(url: str, **kwargs: object) -> Store:
    from urllib.parse import parse_qsl

    from workhorse.store.sqlite import SqliteStore

    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise ValueError(
            f"invalid SQLite URL {url!r}: use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    path, _, query = rest[1:].partition("?")
    options: dict[str, object] = {k.lower(): v for k, v in parse_qsl(query)}
    unknown = sorted(set(options) - {"synchronous"})
    if unknown:
        raise ValueError(f"unknown SQLite URL option(s) {', '.join(unknown)} in {url!r}")
    return SqliteStore(path, **{**options, **kwargs})  # type: ignore[arg-type]


__all__ = [
    "DEFAULT_DB_PATH",
    "Event",
    "NewJob",
    "Outcome",
    "OutcomeKind",
    "Store",
    "Waiter",
    "connect",
    "url_from_env",
]
