"""Structured logs: one JSON object per line when not on a terminal, readable text
on one.

Workhorse logs with ``extra`` fields (``queue``, ``job_id``, ``job_name``,
``user_id``, ``attempt``, ``seconds``, ``job_event`` ...; see
:mod:`workhorse.app.processor`); the JSON formatter writes them as top-level keys
next to ``time``, ``level``, ``logger`` and ``message``, so a log shipper can index
them without parsing the text.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["auto", "json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", <extra fields>, "exc"?}`` on one line.
    Values that are not JSON types are written as their ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (so a second call replaces it)."""


def use_json(log_format: str, stream: TextIO) -> bool:
    """JSON for ``json``; for ``auto``, JSON unless ``stream`` is a terminal."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {log_format!r}")
    if log_format == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (isatty is not None and isatty())
    return log_format == "json"


def configure_logging(
    level: int | str = "INFO",
    log_format: str = "auto",
    *,
    stream: TextIO | None = None,
    logger: logging.Logger | None = None,
) -> logging.Handler:
    """Send ``logger``'s records (default: the root logger's, i.e. everything) to
    ``stream`` (default stderr) as JSON lines or text, see :func:`use_json`.  Calling
    it again replaces the handler it installed before.  Returns the handler."""
    target = logger if logger is not None else logging.getLogger()
    out = stream if stream is not None else sys.stderr
    handler = _Handler(out)
    json_lines = use_json(log_format, out)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    for old in [h for h in target.handlers if isinstance(h, _Handler)]:
        target.removeHandler(old)
    target.addHandler(handler)
    target.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
