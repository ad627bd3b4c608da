"""The ASGI application: FastAPI (OpenAPI at ``/docs``) with Socket.IO at
``/socket.io``.  Its resources -- store, queue service, live progress hub and, for
the demo, in-process workers -- are created in the lifespan and kept on
``app.state``; nothing is global."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import socketio  # type: ignore[import-untyped]
from fastapi import FastAPI

from workhorse.api.errors import install_error_handlers
from workhorse.api.extension import Extension, ProcessorFactory
from workhorse.api.hub import ProgressHub
from workhorse.api.limits import BodyLimit
from workhorse.api.routes import router
from workhorse.api.sockets import create_socket_server, deliverer
from workhorse.api.sse import router as sse_router
from workhorse.app.audit import AuditLog, LoggingAuditLog
from workhorse.app.queues import default_registry
from workhorse.app.registry import QueueRegistry
from workhorse.app.service import QueueService
from workhorse.app.settings import Settings
from workhorse.dashboard.extension import Dashboard
from workhorse.observability.extension import Observability
from workhorse.store import connect
from workhorse.store.base import Store
from workhorse.worker import Worker


def create_app(
    settings: Settings,
    *,
    registry: QueueRegistry | None = None,
    store: Store | None = None,
    processors: Sequence[ProcessorFactory] = (),
    extensions: Sequence[Extension] = (),
    audit: AuditLog | None = None,
    on_ready: Callable[[], None] | None = None,
) -> socketio.ASGIApp:
    """The API for ``settings``.  ``store``: use this one (the caller closes it)
    instead of connecting to ``settings.url()``; ``processors``: run a worker for
    each in this process (the demo); ``extensions``: routes and resources of the
    application; ``audit``: where admin actions are recorded (default: the log);
    ``on_ready``: called once started."""
    registry = (registry or default_registry()).for_environment(settings.environment)
    secret = settings.secret()
    # The dashboard at /admin/queues: started and closed like the application's parts.
    dashboard = Dashboard()
    extensions = (dashboard, *extensions)
    # GET /metrics, alerts and event hooks over every queue (docs/observability.md).
    observability = Observability(settings)
    extensions = (observability, *extensions)

    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        own = store is None
        st = connect(settings.url()) if store is None else store
        service = QueueService(st, registry)
        hub = ProgressHub(service)
        workers: list[Worker] = []
        runners: list[asyncio.Task[None]] = []
        started: list[Extension] = []
        try:
            await st.ping()
            api.state.service, api.state.hub = service, hub
            hub.add_sink(deliverer(sio))
            await hub.start()
            for name, config in registry.items():
                await config.apply_limits(service.queue(name))
            for ext in extensions:
                await ext.start(service)
                started.append(ext)
            for factory in processors:
                processor = factory(service)
                worker = Worker(
                    service.queue(processor.queue),
                    processor.handle,
                    registry[processor.queue].worker_options(retry_policy=processor.retry_policy),
                )
                workers.append(worker)
                runners.append(asyncio.create_task(worker.run()))
            if on_ready is not None:
                on_ready()
            yield
        finally:
            for worker in workers:
                await worker.close(grace=5)
            await asyncio.gather(*runners, return_exceptions=True)
            for ext in reversed(started):
                await ext.close()
            await hub.close()
            await service.close()
            if own:
                await st.close()

    api = FastAPI(
        title="Workhorse",
        summary="Heavy background jobs: enqueue, follow progress live, cancel.",
        lifespan=lifespan,
    )
    api.state.secret = secret
    api.state.settings = settings
    api.state.audit = audit if audit is not None else LoggingAuditLog()
    api.state.dashboard = dashboard
    api.state.observability = observability
    install_error_handlers(api)
    api.include_router(router)
    api.include_router(sse_router)
    for ext in extensions:
        for ext_router in ext.routers():
            api.include_router(ext_router)
    sio = create_socket_server(secret, api.state)
    return socketio.ASGIApp(sio, BodyLimit(api, settings.max_payload_bytes))
