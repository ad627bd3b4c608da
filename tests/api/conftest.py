"""A real API server (uvicorn on a free port, in the test's event loop) on the
test's store, and real HTTP / Socket.IO clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http_server import serving
from workhorse.api import create_app, mint_token
from workhorse.api.extension import Extension, ProcessorFactory
from workhorse.app import QueueService, Settings
from workhorse.app.audit import AuditLog
from workhorse.app.registry import QueueRegistry
from workhorse.store.base import Store

SECRET = "test-secret-" + "x" * 32


@dataclass
class Api:
    url: str
    settings: Settings
    service: QueueService
    tokens: dict[str, str] = field(default_factory=dict)
    #: What ``create_app`` put on the FastAPI app's state (its parts, for tests).
    state: Any = None

    def headers(self, who: str) -> dict[str, str]:
        """``anonymous`` → no header; ``alice`` / ``bob`` users; ``admin`` admin."""
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def serve(
    store: Store,
    tmp_path: Path,
    processors: Sequence[ProcessorFactory] = (),
    *,
    extensions: Sequence[Extension] = (),
    registry: QueueRegistry | None = None,
    audit: AuditLog | None = None,
    **settings: object,
) -> AsyncIterator[Api]:
    """A running API on ``store``; the keyword arguments are ``create_app``'s, the
    rest are :class:`Settings` fields."""
    config = Settings(
        secret_key=SECRET, db_path=str(tmp_path / "unused.db"), environment="test", **settings
    )
    app = create_app(
        config,
        store=store,
        processors=processors,
        extensions=extensions,
        registry=registry,
        audit=audit,
    )
    async with serving(app) as url:
        fastapi_app = app.other_asgi_app.app  # socketio.ASGIApp → BodyLimit → FastAPI
        api = Api(url, config, fastapi_app.state.service)
        api.state = fastapi_app.state
        api.tokens = {
            "alice": mint_token(SECRET, "alice"),
            "bob": mint_token(SECRET, "bob"),
            "admin": mint_token(SECRET, "admin", admin=True),
        }
        yield api


@pytest.fixture
async def api(store: Store, tmp_path: Path) -> AsyncIterator[Api]:
    async for running in serve(store, tmp_path):
        yield running


@pytest.fixture
async def http(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        yield client
