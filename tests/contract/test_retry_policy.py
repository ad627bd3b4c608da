"""Retry policy by error type: HTTP status, Retry-After, exception classes."""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.apps.pool_app import QuotaExceeded, pooled
from workhorse import Backoff, JobState, Queue, Worker
from workhorse.errors import HttpError
from workhorse.job import Job
from workhorse.retry import RetryPolicy, RetryRule, Verdict, parse_retry_after
from workhorse.worker import Handler

#: The seed's example: 429 -> wait Retry-After (or 60 s); 400 -> fail now;
#: anything else -> exponential, capped at 30 s.
SEED = RetryPolicy(
    RetryRule(status=429, retry_after=True, backoff=Backoff("fixed", delay=60)),
    RetryRule(status=400, retry=False),
    default=Backoff("exponential", delay=1, max_delay=30),
)


async def _first_failure(queue: Queue, handler: Handler, **options: Any) -> Job:
    """Run a worker until the first attempt has failed; return the job as stored."""
    worker = Worker(queue, handler, **options)
    failed = asyncio.Event()

    async def on_failure(job: Job, error: BaseException) -> None:
        failed.set()

    worker.on("retrying", on_failure)
    worker.on("failed", on_failure)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(failed.wait(), 20)
    await worker.close()
    await run
    (job,) = await queue.list_jobs(JobState.DELAYED) or await queue.list_jobs(JobState.FAILED)
    return job


async def _retry_delay_ms(queue: Queue, job: Job) -> int:
    """The delay the worker chose: due time minus the failed attempt's time."""
    assert job.state is JobState.DELAYED and job.due_at is not None
    history = await queue.get_history(job.id)
    return job.due_at - int(history[-1]["at"])


async def _raise(job: Job) -> None:
    kind = job.data["raise"]
    if kind == "http":
        raise HttpError(job.data["status"], "upstream", job.data.get("retry_after"))
    raise {"key": KeyError, "index": IndexError, "runtime": RuntimeError}[kind]("boom")


async def test_429_waits_for_retry_after(queue: Queue) -> None:
    await queue.add("x", {"raise": "http", "status": 429, "retry_after": 12}, attempts=3)
    job = await _first_failure(queue, _raise, retry_policy=SEED)
    assert abs(await _retry_delay_ms(queue, job) - 12_000) < 1000
    assert job.failed_reason == "upstream"


async def test_429_without_retry_after_uses_the_rule_backoff(queue: Queue) -> None:
    await queue.add("x", {"raise": "http", "status": 429}, attempts=3)
    job = await _first_failure(queue, _raise, retry_policy=SEED)
    assert abs(await _retry_delay_ms(queue, job) - 60_000) < 1000


async def test_400_fails_now_whatever_attempts_remain(queue: Queue) -> None:
    await queue.add("x", {"raise": "http", "status": 400}, attempts=5)
    job = await _first_failure(queue, _raise, retry_policy=SEED)
    assert job.state is JobState.FAILED and job.attempts_made == 1
    assert job.stacktrace is not None and "retry policy" in job.stacktrace


async def test_other_errors_back_off_exponentially_capped(queue: Queue) -> None:
    await queue.add("x", {"raise": "runtime"}, attempts=3, backoff=Backoff("fixed", delay=99))
    job = await _first_failure(queue, _raise, retry_policy=SEED)
    assert abs(await _retry_delay_ms(queue, job) - 1000) < 500, "the policy before the job's own"
    assert SEED.decide(RuntimeError(), 7, {}) == Verdict(retry=True, delay=30.0)
    assert SEED.decide(RuntimeError(), 2, {}) == Verdict(retry=True, delay=2.0)


async def test_attempts_still_bound_a_retrying_rule(queue: Queue) -> None:
    await queue.add("x", {"raise": "http", "status": 429, "retry_after": 1}, attempts=1)
    job = await _first_failure(queue, _raise, retry_policy=SEED)
    assert job.state is JobState.FAILED and job.attempts_made == 1


async def test_rules_match_classes_and_names_first_match_wins(queue: Queue) -> None:
    policy = RetryPolicy(
        RetryRule(errors=KeyError, retry=False),
        RetryRule(errors="LookupError", backoff=Backoff("fixed", delay=5)),
    )
    key = await queue.add("k", {"raise": "key"}, attempts=3)
    job = await _first_failure(queue, _raise, retry_policy=policy)
    assert job.id == key.id and job.state is JobState.FAILED
    await queue.add("i", {"raise": "index"}, attempts=3)
    job = await _first_failure(queue, _raise, retry_policy=policy)
    assert abs(await _retry_delay_ms(queue, job) - 5000) < 500
    # No rule matches and no default: the job's own backoff.
    no_match = RetryPolicy(RetryRule(errors=KeyError, retry=False))
    assert no_match.decide(RuntimeError(), 1, {}) == Verdict(retry=True, delay=None)


async def test_pooled_errors_are_classified_by_type_and_status(queue: Queue) -> None:
    policy = RetryPolicy(
        RetryRule(errors=QuotaExceeded, backoff=Backoff("fixed", delay=7)),
        RetryRule(status=429, retry_after=True),
        RetryRule(status=400, retry=False),
    )
    pool = {"processes": 1, "retry_policy": policy}
    quota = await queue.add("quota", None, attempts=3)
    job = await _first_failure(queue, pooled, **pool)
    assert job.id == quota.id
    assert abs(await _retry_delay_ms(queue, job) - 7000) < 500
    await queue.remove(job.id)
    await queue.add("http", {"status": 429, "retry_after": 3}, attempts=3)
    job = await _first_failure(queue, pooled, **pool)
    assert abs(await _retry_delay_ms(queue, job) - 3000) < 500
    await queue.remove(job.id)
    await queue.add("http", {"status": 400}, attempts=3)
    job = await _first_failure(queue, pooled, **pool)
    assert job.state is JobState.FAILED and job.attempts_made == 1


class _TooManyRequests(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(429)
        self.send_header("Retry-After", "9")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def busy_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TooManyRequests)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_real_http_429_from_urllib_honours_retry_after(
    queue: Queue, busy_server: str
) -> None:
    def fetch(job: Job) -> None:
        try:
            with urllib.request.urlopen(job.data["url"], timeout=5):
                pass
        except urllib.error.HTTPError as exc:
            exc.close()  # its status and headers stay readable; the socket is freed
            raise

    await queue.add("get", {"url": busy_server}, attempts=2)
    job = await _first_failure(queue, fetch, retry_policy=SEED)
    assert abs(await _retry_delay_ms(queue, job) - 9000) < 1000


async def test_real_http_429_from_httpx_honours_retry_after(queue: Queue, busy_server: str) -> None:
    httpx = pytest.importorskip("httpx")

    async def fetch(job: Job) -> None:
        async with httpx.AsyncClient() as client:
            (await client.get(job.data["url"])).raise_for_status()

    await queue.add("get", {"url": busy_server}, attempts=2)
    job = await _first_failure(queue, fetch, retry_policy=SEED)
    assert abs(await _retry_delay_ms(queue, job) - 9000) < 1000


def test_retry_after_as_an_http_date() -> None:
    date = email.utils.formatdate(time.time() + 120, usegmt=True)
    seconds = parse_retry_after(date)
    assert seconds is not None and 100 < seconds <= 120
    assert parse_retry_after("soon") is None
    assert parse_retry_after(" 5 ") == 5.0


async def test_bad_policies_are_refused_with_the_field_named(queue: Queue) -> None:
    with pytest.raises(ValueError, match="give errors= and/or status="):
        RetryRule()
    with pytest.raises(ValueError, match="status must be an HTTP code"):
        RetryRule(status=999)
    with pytest.raises(ValueError, match=r"status must be an HTTP code.*'429'"):
        RetryRule(status="429")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errors must be exception classes"):
        RetryRule(errors=(int,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mean nothing with retry=False"):
        RetryRule(status=400, retry=False, backoff=Backoff())
    with pytest.raises(ValueError, match="RetryRule"):
        RetryPolicy("429")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retry_policy must be a RetryPolicy"):
        Worker(queue, _raise, retry_policy={429: 60})
    assert RetryRule(status=range(500, 600)).matches(HttpError(503))
    assert not RetryRule(status=range(500, 600)).matches(HttpError(404))
