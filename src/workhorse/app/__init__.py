"""The application layer: settings, the queue registry, the queue service with its
typed submitters, and the processor base class (needs the ``api`` extra:
``pip install workhorse[api]``)."""

from workhorse.app.errors import PayloadInvalid, UnknownQueue
from workhorse.app.queues import default_registry
from workhorse.app.registry import QueueConfig, QueueRegistry, RateLimitConfig
from workhorse.app.service import JobStatus, QueueService
from workhorse.app.settings import Settings
from workhorse.app.submit import JobSubmitter

__all__ = [
    "JobStatus",
    "JobSubmitter",
    "PayloadInvalid",
    "QueueConfig",
    "QueueRegistry",
    "QueueService",
    "RateLimitConfig",
    "Settings",
    "UnknownQueue",
    "default_registry",
]
