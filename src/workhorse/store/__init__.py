"""Stores: where jobs live.  See :mod:`workhorse.store.base` for the contract."""

from __future__ import annotations

from workhorse.store.base import Event, NewJob, Outcome, OutcomeKind, Store, Waiter


def connect(url: str, **kwargs: object) -> Store:
    """A store from its URL: ``redis://host:port/db`` or ``rediss://`` (TLS)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        from workhorse.store.redis import RedisStore

        return RedisStore(url, **kwargs)  # type: ignore[arg-type]
    raise ValueError(
        f"unsupported store URL {url!r}: use redis://host:port/db (e.g. redis://127.0.0.1:6379/0)"
    )


__all__ = ["Event", "NewJob", "Outcome", "OutcomeKind", "Store", "Waiter", "connect"]
