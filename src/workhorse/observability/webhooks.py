"""Signed webhook delivery: a JSON POST per alert and target, retried with backoff.

Every request carries::

    Content-Type: application/json
    X-Workhorse-Delivery: <id>              the same on every retry (deduplicate on it)
    X-Workhorse-Timestamp: <unix seconds>   when this attempt was signed
    X-Workhorse-Signature: sha256=<hex>     HMAC-SHA256(secret, "<timestamp>." + body)

A receiver recomputes the HMAC over the raw body with the shared secret, compares
in constant time, and rejects timestamps older than a few minutes (replays); see
:func:`verify`.  A delivery is retried on connection errors, timeouts, 5xx, 408 and
429 (honouring ``Retry-After`` in seconds), with exponential backoff; other 4xx
answers mean the receiver refuses it, and it is dropped with an error log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

log = logging.getLogger("workhorse.alerts")

DELIVERY_HEADER = "X-Workhorse-Delivery"
TIMESTAMP_HEADER = "X-Workhorse-Timestamp"
SIGNATURE_HEADER = "X-Workhorse-Signature"
_RETRY_STATUS = frozenset({408, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where alerts go: an http(s) URL and the secret shared with the receiver."""

    url: str
    secret: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url {self.url!r} is not an http:// or https:// URL")
        if not self.secret:
            raise ValueError(f"webhook {self.url}: a shared secret is required to sign alerts")


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """``attempts`` tries per delivery; waits ``delay * 2**n`` seconds (at most
    ``max_delay``) between them; ``timeout`` per request."""

    attempts: int = 6
    delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 10.0

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before try ``attempt + 1`` (``Retry-After`` wins when given)."""
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_delay)
        return min(self.delay * 2.0 ** (attempt - 1), self.max_delay)


class WebhookSender:
    """Delivers payloads to every target in background tasks (at most
    ``max_pending`` deliveries in flight; past that new ones are dropped with a
    warning, so a dead receiver cannot exhaust memory)."""

    def __init__(
        self,
        targets: tuple[WebhookTarget, ...],
        plan: RetryPlan | None = None,
        max_pending: int = 1000,
    ) -> None:
        self.targets = targets
        self.plan = plan or RetryPlan()
        self.max_pending = max_pending
        self._client = httpx.AsyncClient(timeout=self.plan.timeout)
        self._tasks: set[asyncio.Task[bool]] = set()

    def send(self, payload: Mapping[str, Any]) -> None:
        """Queue ``payload`` (JSON-serialisable) for every target; returns at once."""
        body = orjson.dumps(payload)
        delivery = str(payload.get("id") or uuid.uuid4().hex)
        for target in self.targets:
            if len(self._tasks) >= self.max_pending:
                log.warning(
                    "alert %s to %s dropped: too many deliveries pending", delivery, target.url
                )
                continue
            task = asyncio.create_task(self.deliver(target, body, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def deliver(self, target: WebhookTarget, body: bytes, delivery: str) -> bool:
        """POST ``body`` until the receiver accepts it or the attempts run out."""
        plan = self.plan
        for attempt in range(1, plan.attempts + 1):
            retry_after: str | None = None
            try:
                response = await self._post(target, body, delivery)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in _RETRY_STATUS:
                    log.error("alert %s refused by %s: %s", delivery, target.url, problem)
                    return False
                retry_after = response.headers.get("Retry-After")
            if attempt == plan.attempts:
                log.error(
                    "alert %s to %s failed %d times: %s", delivery, target.url, attempt, problem
                )
                return False
            wait = plan.wait(attempt, retry_after)
            log.warning(
                "alert %s to %s: %s; retrying in %.1f s", delivery, target.url, problem, wait
            )
            await asyncio.sleep(wait)
        return False

    async def _post(self, target: WebhookTarget, body: bytes, delivery: str) -> httpx.Response:
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery,
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(target.secret, ts, body),
        }
        return await self._client.post(target.url, content=body, headers=headers)

    async def close(self, grace: float = 5.0) -> None:
        """Let deliveries in flight finish within ``grace`` seconds, then stop."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await self._client.aclose()
