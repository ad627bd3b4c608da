"""Small store-wide values shared by the processes of a deployment (the dashboard's
sign-outs): kept for their time to live, found by key prefix."""

from __future__ import annotations

from collections.abc import Callable

from tests.clocks import FakeClock
from workhorse.store.base import Store


async def test_values_are_found_by_prefix_and_replaced(
    clocked_store: tuple[Store, FakeClock],
) -> None:
    store, _ = clocked_store
    assert await store.values("signout:") == {}
    await store.put_value("signout:ops", b"1", ttl_ms=60_000)
    await store.put_value("signout:watcher", b"2", ttl_ms=60_000)
    await store.put_value("other:ops", b"3", ttl_ms=60_000)
    await store.put_value("signout:ops", b"4", ttl_ms=60_000)
    assert await store.values("signout:") == {"signout:ops": b"4", "signout:watcher": b"2"}
    assert await store.values("") == {
        "signout:ops": b"4",
        "signout:watcher": b"2",
        "other:ops": b"3",
    }


async def test_values_expire_and_are_seen_by_another_process(
    clocked_store: tuple[Store, FakeClock], make_store: Callable[..., Store]
) -> None:
    store, clock = clocked_store
    await store.put_value("k:short", b"s", ttl_ms=1_000)
    await store.put_value("k:long", b"l", ttl_ms=10_000)
    other = make_store(clock=clock)
    try:
        assert await other.values("k:") == {"k:short": b"s", "k:long": b"l"}
        clock.advance(1.0)
        assert await other.values("k:") == {"k:long": b"l"}
        await other.put_value("k:new", b"n", ttl_ms=1_000)  # drops the expired one
        assert await store.values("k:") == {"k:long": b"l", "k:new": b"n"}
    finally:
        await other.close()
