"""The reference application's workers, for ``workhorse worker``::

    workhorse worker workhorse_reference.worker:create [--queues exports,...]

:func:`create` builds the application from the environment (the same variables as
the API: store, domain database, exports, SMTP, Google) with one processor per
queue, each with its queue's worker options (concurrency) and retry policy; a queue
with ``processes`` whose processor names a pooled handler (exports) runs its jobs in
a pool of that many processes (:mod:`workhorse_reference.pooled`)."""

from __future__ import annotations

import os

from workhorse.app.queues import default_registry
from workhorse.app.service import QueueService
from workhorse.app.settings import Settings
from workhorse.application import Workhorse
from workhorse.worker import Handler
from workhorse.worker.handler_path import resolve_handler
from workhorse_reference.app import from_env


def create() -> Workhorse:
    settings = Settings()
    app = Workhorse(settings.url())
    registry = default_registry().for_environment(settings.environment)
    service = QueueService(app.store, registry)
    reference = from_env(settings, dict(os.environ))
    for factory in reference.processors():
        processor = factory(service)
        config = registry[processor.queue]
        options = config.worker_options(retry_policy=processor.retry_policy)
        handler: Handler = processor.handle
        if config.processes and processor.pooled:
            # CPU-bound queues run in a pool of processes that build their own.
            handler = resolve_handler(processor.pooled)
            options = config.worker_options(
                retry_policy=processor.retry_policy, processes=config.processes
            )
        app.add_processor(processor.queue, handler, options)
    app.on_startup(reference.db.create)
    app.on_shutdown(service.close)
    app.on_shutdown(reference.db.close)
    return app
