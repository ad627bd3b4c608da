"""Stores: where jobs live.  See :mod:`workhorse.store.base` for the contract."""

from __future__ import annotations

from workhorse.store.base import Event, NewJob, Outcome, OutcomeKind, Store, Waiter


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


__all__ = ["Event", "NewJob", "Outcome", "OutcomeKind", "Store", "Waiter", "connect"]
