"""Structured logs: the JSON lines of a real processor run by a real worker parse and
carry the job's fields; text on a terminal; one handler however often configured."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from workhorse import Worker
from workhorse.app import QueueService, default_registry
from workhorse.app.payloads import ExportPayload
from workhorse.app.processor import Processor
from workhorse.app.queues import EXPORT_JOB, EXPORTS
from workhorse.job import Job
from workhorse.observability import JsonFormatter, configure_logging
from workhorse.store.base import Store


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Exporter(Processor[ExportPayload]):
    queue = EXPORTS

    async def process(self, job: Job, payload: ExportPayload) -> Any:
        if job.attempts_made == 0:
            raise ConnectionError("database went away")
        steps = self.steps(job, ["query", "write"])
        await steps.start("query")
        await steps.update(50, "half way")
        return {"rows": 3}


@pytest.fixture
def workhorse_logger() -> Iterator[logging.Logger]:
    """The ``workhorse`` logger, put back as it was afterwards."""
    logger = logging.getLogger("workhorse")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


async def test_json_lines_of_a_job_carry_queue_job_user_attempt_and_duration(
    store: Store, workhorse_logger: logging.Logger
) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out, logger=workhorse_logger)
    service = QueueService(store, default_registry())
    try:
        data = {"entity": "quotes", "format": "csv", "userId": "alice"}
        job = await service.add(EXPORTS, EXPORT_JOB, data, owner="alice", backoff=None)
        worker = Worker(service.queue(EXPORTS), Exporter(service).handle)
        runner = asyncio.create_task(worker.run(burst=True))
        assert await job.result(timeout=20) == {"rows": 3}
        await runner
    finally:
        await service.close()
    records = [r for r in lines(out) if r.get("job_id") == job.id]
    by_event = [(r["job_event"], r.get("attempt")) for r in records]
    assert by_event == [
        ("started", 1),
        ("failed", 1),
        ("started", 2),
        ("progress", None),
        ("progress", None),
        ("completed", None),
    ]
    for r in records:
        assert r["logger"] == "workhorse.processor"
        assert (r["queue"], r["user_id"], r["job_name"]) == (EXPORTS, "alice", EXPORT_JOB)
        assert r["time"].endswith("+00:00")
        assert r["message"].startswith(f"job {r['job_event']}: {EXPORTS}/{job.id}")
    failed = records[1]
    assert failed["level"] == "WARNING"
    assert "ConnectionError: database went away" in failed["message"]
    assert isinstance(failed["seconds"], float)
    assert isinstance(records[-1]["seconds"], float)
    assert records[4]["step"] == "query" and records[4]["overall"] == 25


def test_auto_is_json_off_a_terminal_and_text_on_one(workhorse_logger: logging.Logger) -> None:
    piped, tty = io.StringIO(), Tty()
    log = workhorse_logger.getChild("test")
    configure_logging("DEBUG", "auto", stream=piped, logger=workhorse_logger)
    log.debug("to a pipe", extra={"queue": "q"})
    configure_logging("DEBUG", "auto", stream=tty, logger=workhorse_logger)
    log.debug("to a terminal", extra={"queue": "q"})
    [record] = lines(piped)
    assert (record["message"], record["queue"], record["level"]) == ("to a pipe", "q", "DEBUG")
    text = tty.getvalue()
    assert "DEBUG workhorse.test: to a terminal" in text
    assert not text.lstrip().startswith("{")
    # The second call replaced the first handler: nothing more went to the pipe.
    assert len(lines(piped)) == 1
    assert sum(1 for h in workhorse_logger.handlers if h.stream in (piped, tty)) == 1  # type: ignore[attr-defined]


def test_exceptions_and_odd_values_are_kept() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "workhorse.x", logging.ERROR, __file__, 1, "boom %s", ("now",), exc_info
    )
    record.__dict__["job_id"] = "42"
    record.__dict__["when"] = object()
    out = orjson.loads(JsonFormatter().format(record))
    assert out["message"] == "boom now"
    assert out["job_id"] == "42"
    assert out["when"].startswith("<object object")
    assert "KeyError: 'missing'" in out["exc"]


def test_an_unknown_format_is_a_clear_error(workhorse_logger: logging.Logger) -> None:
    with pytest.raises(ValueError, match=r"log format must be one of \('auto', 'json', 'text'\)"):
        configure_logging("INFO", "yaml", logger=workhorse_logger)
