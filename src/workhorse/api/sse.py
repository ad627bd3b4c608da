"""Server-Sent Events: one job's ``queue:job:progress`` updates for clients without
Socket.IO (a browser's ``EventSource``, which cannot set headers, passes the token
as ``?token=``).  The current state comes first; the stream ends after the job
completes or fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from workhorse.api.auth import authenticate, bearer
from workhorse.api.hub import ProgressHub, is_final
from workhorse.api.progress import EVENT_NAME, from_job
from workhorse.api.routes import service_of, visible_job

router = APIRouter()
KEEPALIVE_S = 15.0


def _frame(payload: dict[str, Any]) -> bytes:
    return b"event: " + EVENT_NAME.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


@router.get(
    "/api/queues/{queue}/jobs/{job_id}/events",
    tags=["jobs"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(
    queue: str,
    job_id: str,
    request: Request,
    token: Annotated[str | None, Query(description="for EventSource clients")] = None,
) -> StreamingResponse:
    user = authenticate(
        request.app.state.secret, token or bearer(request.headers.get("authorization"))
    )
    service = service_of(request)
    hub: ProgressHub = request.app.state.hub
    await visible_job(service, user, queue, job_id)  # 404 before the stream starts

    async def stream() -> AsyncIterator[bytes]:
        async with hub.watch(queue, job_id) as inbox:
            current = from_job(await visible_job(service, user, queue, job_id))
            yield _frame(current)
            if is_final(current):
                return
            while True:
                try:
                    update = await asyncio.wait_for(inbox.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield _frame(update.payload)
                if is_final(update.payload):
                    return

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
