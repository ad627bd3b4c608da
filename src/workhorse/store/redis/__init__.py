"""The Redis store (production, multi-machine)."""

from workhorse.store.redis.store import RedisStore

__all__ = ["RedisStore"]
