"""Alerts: signed webhooks retried with backoff (against a real HTTP receiver),
dead letters throttled so a burst makes one alert, and thresholds that fire and
resolve."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import ValidationError

from tests.clocks import FakeClock
from tests.http_server import free_socket
from tests.observability.receiver import Receiver
from workhorse import Queue, Worker
from workhorse.app.settings import Settings
from workhorse.events import EventHooks
from workhorse.job import Job
from workhorse.observability.alerts import (
    DEAD_LETTER,
    FAILURE_RATE,
    NO_WORKERS,
    OLDEST_WAITING,
    Alert,
    AlertConfig,
    Alerter,
)
from workhorse.observability.webhooks import RetryPlan, WebhookSender, WebhookTarget, verify
from workhorse.store.base import Event, Store, WorkerInfo

SECRET = "s3cret-shared-with-the-receiver"
Q = "alerts"
QUICK = RetryPlan(attempts=3, delay=0.02, timeout=5)


class Mono:
    """A monotonic clock the test moves (throttle windows, failure windows)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.close()


def expected_signature(timestamp: str, body: bytes) -> str:
    """Computed here from the documented scheme, not with the code under test."""
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# ---- delivery -------------------------------------------------------------------------
async def test_delivery_is_signed_timestamped_and_retried_after_a_500(
    receiver: Receiver,
) -> None:
    receiver.statuses = [500, 503]
    sender = WebhookSender((WebhookTarget(receiver.url, SECRET),), QUICK)
    try:
        sender.send({"id": "alert-1", "kind": "dead_letter", "queue": "q"})
        got = await receiver.until(3)
    finally:
        await sender.close()
    assert [r.status for r in got] == [500, 503, 200]
    assert {r.headers["X-Workhorse-Delivery"] for r in got} == {"alert-1"}
    for r in got:
        assert r.json() == {"id": "alert-1", "kind": "dead_letter", "queue": "q"}
        assert r.headers["Content-Type"] == "application/json"
        ts = r.headers["X-Workhorse-Timestamp"]
        assert abs(int(ts) - time.time()) < 300
        assert r.headers["X-Workhorse-Signature"] == expected_signature(ts, r.body)
        assert verify(SECRET, r.body, ts, r.headers["X-Workhorse-Signature"])
    assert not verify("another-secret", got[0].body, ts, got[0].headers["X-Workhorse-Signature"])


async def test_a_refusal_is_not_retried_and_retries_are_bounded(receiver: Receiver) -> None:
    target = WebhookTarget(receiver.url, SECRET)
    sender = WebhookSender((target,), QUICK)
    try:
        receiver.statuses = [400]
        assert await sender.deliver(target, b"{}", "d1") is False
        assert len(receiver.requests) == 1
        receiver.statuses = [500, 500, 500]
        assert await sender.deliver(target, b"{}", "d2") is False
        assert len(receiver.requests) == 4  # 1 + the 3 attempts of d2
        receiver.statuses = [429]
        assert await sender.deliver(target, b"{}", "d3") is True
        assert [r.status for r in receiver.requests[-2:]] == [429, 200]
    finally:
        await sender.close()


async def test_an_unreachable_receiver_is_retried_then_given_up() -> None:
    sock = free_socket()  # bound, never listening: connections are refused
    try:
        target = WebhookTarget(f"http://127.0.0.1:{sock.getsockname()[1]}/hook", SECRET)
        sender = WebhookSender((target,), RetryPlan(attempts=2, delay=0.01, timeout=2))
        assert await sender.deliver(target, b"{}", "d") is False
        await sender.close()
    finally:
        sock.close()


# ---- dead letters, throttled ----------------------------------------------------------
@pytest.fixture
async def other(make_store: Callable[..., Store]) -> AsyncIterator[Store]:
    s = make_store()
    yield s
    await s.close()


async def broken(job: Job) -> None:
    raise RuntimeError(f"broken {job.id}")


async def test_a_burst_of_dead_letters_sends_one_alert_then_one_summary(
    store: Store, other: Store, receiver: Receiver
) -> None:
    config = AlertConfig(
        (WebhookTarget(receiver.url, SECRET),),
        throttle=60,
        retry=QUICK,
        failure_rate=0,  # only dead letters here
        oldest_waiting=0,
        no_workers=False,
    )
    sender = WebhookSender(config.targets, config.retry)
    sent: list[Alert] = []

    def notify(alert: Alert) -> None:
        sent.append(alert)
        sender.send(alert.payload())

    clock = Mono()
    alerter = Alerter(store, [Q], config, notify, clock=clock)
    seen = asyncio.Event()
    dead: list[Event] = []

    async def count(event: Event) -> None:
        dead.append(event)
        seen.set()

    hooks = EventHooks(store, [Q])
    hooks.listen(alerter.observe)
    hooks.on("deadlettered", count)
    await hooks.start()
    try:
        burst = 20
        for i in range(burst):
            await Queue(Q, store).add("job", {"i": i}, attempts=1)
        await Worker(Queue(Q, other), broken, concurrency=5).run(burst=True)
        async with asyncio.timeout(20):
            while len(dead) < burst:
                seen.clear()
                await seen.wait()
        # Every dead letter was seen: one alert went out, the rest are held.
        [first] = await receiver.until(1)
        assert len(sent) == 1
        assert alerter.throttle.held((DEAD_LETTER, Q)) == burst - 1
        body = first.json()
        assert (body["kind"], body["status"], body["queue"], body["count"]) == (
            "dead_letter",
            "firing",
            Q,
            1,
        )
        [job] = body["details"]["jobs"]
        assert job["error"] == f"broken {job['id']}"
        # Within the window nothing more goes out; once it passes, one summary.
        await alerter.check()
        assert len(sent) == 1
        clock.now += 61
        await alerter.check()
        summary = (await receiver.until(2))[1].json()
        assert summary["kind"] == "dead_letter" and summary["count"] == burst - 1
        assert len(summary["details"]["jobs"]) == 10  # samples, not all of them
        await alerter.check()
        assert len(sent) == 2
    finally:
        await hooks.close()
        await sender.close()


# ---- thresholds -------------------------------------------------------------------------
def collecting(store: Store, clock: Mono, **config: object) -> tuple[Alerter, list[Alert]]:
    sent: list[Alert] = []
    target = WebhookTarget("http://127.0.0.1:9/unused", SECRET)
    cfg = AlertConfig((target,), **config)  # type: ignore[arg-type]
    return Alerter(store, [Q], cfg, sent.append, clock=clock), sent


def kinds(sent: list[Alert]) -> list[tuple[str, str]]:
    return [(a.kind, a.status) for a in sent]


async def test_failure_rate_fires_once_then_resolves(store: Store, other: Store) -> None:
    clock = Mono()
    alerter, sent = collecting(
        store,
        clock,
        failure_rate=0.5,
        failure_min=4,
        failure_window=300,
        oldest_waiting=0,
        no_workers=False,
        dead_letters=False,
    )
    finished = asyncio.Event()
    n_failed: list[Event] = []

    async def on_failed(event: Event) -> None:
        n_failed.append(event)
        finished.set()

    hooks = EventHooks(store, [Q])
    hooks.listen(alerter.observe)
    hooks.on("failed", on_failed)
    await hooks.start()
    try:
        for _ in range(3):
            await Queue(Q, store).add("bad", None, attempts=1)
        await Worker(Queue(Q, other), broken).run(burst=True)
        async with asyncio.timeout(20):
            while len(n_failed) < 3:
                finished.clear()
                await finished.wait()
        await alerter.check()
        assert sent == []  # 3 attempts: under the minimum of 4
        await Queue(Q, store).add("bad", None, attempts=1)
        await Worker(Queue(Q, other), broken).run(burst=True)
        async with asyncio.timeout(20):
            while len(n_failed) < 4:
                finished.clear()
                await finished.wait()
        await alerter.check()
        await alerter.check()  # still holds: throttled, no repeat
        assert kinds(sent) == [(FAILURE_RATE, "firing")]
        assert sent[0].details["failed"] == 4 and sent[0].details["attempts"] == 4
        clock.now += 301  # the failures leave the window
        await alerter.check()
        assert kinds(sent) == [(FAILURE_RATE, "firing"), (FAILURE_RATE, "resolved")]
    finally:
        await hooks.close()


async def test_oldest_waiting_fires_reminds_and_resolves(
    make_store: Callable[..., Store],
) -> None:
    store_clock = FakeClock()
    store = make_store(clock=store_clock)
    clock = Mono()
    alerter, sent = collecting(
        store, clock, oldest_waiting=5, throttle=60, failure_rate=0, no_workers=False
    )
    try:
        await Queue(Q, store).add("waits", None)
        store_clock.advance(3)
        await alerter.check()
        assert sent == []
        store_clock.advance(7)
        await alerter.check()
        assert kinds(sent) == [(OLDEST_WAITING, "firing")]
        assert sent[0].details["age_seconds"] == 10
        clock.now += 61  # still waiting a throttle window later: a reminder
        await alerter.check()
        assert kinds(sent) == [(OLDEST_WAITING, "firing")] * 2
        await store.fetch(Q, "w", [], 1, 60_000)
        await alerter.check()
        assert kinds(sent)[-1] == (OLDEST_WAITING, "resolved")
    finally:
        await store.close()


async def test_no_workers_fires_for_a_queue_with_jobs_and_resolves_when_one_starts(
    store: Store,
) -> None:
    clock = Mono()
    alerter, sent = collecting(store, clock, failure_rate=0, oldest_waiting=0)
    await alerter.check()
    assert sent == []  # no jobs: nothing to serve
    await Queue(Q, store).add("j", None)
    await alerter.check()
    assert kinds(sent) == [(NO_WORKERS, "firing")]
    assert sent[0].details == {"jobs": 1}
    now = store.clock()
    elsewhere = WorkerInfo("w-other", "h", 1, ("other-queue",), 1, 0, now, now)
    await store.register_worker(elsewhere, 60_000)
    await alerter.check()
    assert len(sent) == 1  # a worker of another queue does not serve this one
    await store.register_worker(WorkerInfo("w", "h", 1, (Q,), 1, 0, now, now), 60_000)
    await alerter.check()
    assert kinds(sent) == [(NO_WORKERS, "firing"), (NO_WORKERS, "resolved")]


# ---- configuration ----------------------------------------------------------------------
def test_settings_without_webhooks_mean_no_alerts() -> None:
    assert AlertConfig.from_settings(Settings()) is None


def test_settings_give_the_alert_config() -> None:
    settings = Settings(
        alert_webhooks="https://a.example/hook, http://b.example:8080/x",
        alert_secret=SECRET,
        alert_throttle=120,
        alert_failure_rate=0.25,
        alert_oldest_waiting=0,
    )
    config = AlertConfig.from_settings(settings)
    assert config is not None
    assert [t.url for t in config.targets] == ["https://a.example/hook", "http://b.example:8080/x"]
    assert {t.secret for t in config.targets} == {SECRET}
    assert (config.throttle, config.failure_rate, config.oldest_waiting) == (120, 0.25, 0)


def test_bad_alert_settings_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="WORKHORSE_ALERT_SECRET is required"):
        AlertConfig.from_settings(Settings(alert_webhooks="https://a.example/hook"))
    with pytest.raises(ValueError, match=r"WORKHORSE_ALERT_WEBHOOKS: .*'ftp://x' is not an http"):
        AlertConfig.from_settings(Settings(alert_webhooks="ftp://x", alert_secret=SECRET))
    with pytest.raises(ValidationError, match="WORKHORSE_ALERT_FAILURE_RATE"):
        Settings(WORKHORSE_ALERT_FAILURE_RATE=2)
    with pytest.raises(ValidationError, match="WORKHORSE_ALERT_SECRET"):
        Settings(WORKHORSE_ALERT_SECRET="short")
