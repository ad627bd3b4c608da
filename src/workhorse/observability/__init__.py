"""Metrics, alerts, hooks and structured logs (docs/observability.md)."""

from workhorse.observability.logs import JsonFormatter, configure_logging

__all__ = ["JsonFormatter", "configure_logging"]
