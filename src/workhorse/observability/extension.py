"""Observability in the API process: one :class:`~workhorse.events.EventHooks` over
the registry's queues feeds the metrics (``GET /metrics``) and the alerts; other
code adds its own hooks on :attr:`Observability.events` once started.

It is an API :class:`~workhorse.api.extension.Extension`, which ``create_app``
always installs; its settings are the ``WORKHORSE_METRICS_*`` / ``WORKHORSE_ALERT_*``
variables (:class:`~workhorse.app.settings.Settings`)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from workhorse.app.service import QueueService
from workhorse.app.settings import Settings
from workhorse.events import EventHooks
from workhorse.observability.alerts import Alert, AlertConfig, Alerter
from workhorse.observability.metrics import JobMetrics
from workhorse.observability.webhooks import WebhookSender


class Observability:
    def __init__(self, settings: Settings) -> None:
        self.metrics_token = settings.metrics_token
        self.alert_config = AlertConfig.from_settings(settings)  # bad settings fail here
        self._events: EventHooks | None = None
        self._metrics: JobMetrics | None = None
        self.alerter: Alerter | None = None
        self.sender: WebhookSender | None = None

    @property
    def events(self) -> EventHooks:
        """Hooks on every queue of the registry (register with ``on`` / ``listen``)."""
        if self._events is None:
            raise RuntimeError("observability is not started: the API's lifespan starts it")
        return self._events

    @property
    def metrics(self) -> JobMetrics:
        if self._metrics is None:
            raise RuntimeError("observability is not started: the API's lifespan starts it")
        return self._metrics

    def routers(self) -> Sequence[APIRouter]:
        router = APIRouter(tags=["observability"])

        @router.get(
            "/metrics",
            summary="Prometheus metrics of every queue, worker and job of the store",
            response_class=Response,
        )
        async def metrics(request: Request) -> Response:
            self._authorize(request)
            body = await self.metrics.render()
            # Every metric name is a legacy (ASCII) one, so the classic text format,
            # which every Prometheus version reads, describes the body exactly.
            return Response(content=body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

        return [router]

    def _authorize(self, request: Request) -> None:
        if self.metrics_token is None:
            return
        given = request.headers.get("authorization", "")
        expected = f"Bearer {self.metrics_token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(
                401,
                "GET /metrics needs the header 'Authorization: Bearer <WORKHORSE_METRICS_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def start(self, service: QueueService) -> None:
        names = [q.name for q in service.queues]
        events = EventHooks(service.store, names)
        self._metrics = JobMetrics(service.store, names)
        events.listen(self._metrics.observe)
        config = self.alert_config
        if config is not None:
            self.sender = WebhookSender(config.targets, config.retry)
            self.alerter = Alerter(service.store, names, config, self._send)
            events.listen(self.alerter.observe)
            await self.alerter.start()
        self._events = events
        await events.start()

    def _send(self, alert: Alert) -> None:
        assert self.sender is not None
        self.sender.send(alert.payload())

    async def close(self) -> None:
        if self._events is not None:
            await self._events.close()
        if self.alerter is not None:
            await self.alerter.close()
        if self.sender is not None:
            await self.sender.close()
