"""Socket.IO live progress: event ``queue:job:progress``.

The handshake must carry a token (``auth={"token": …}`` or an ``Authorization:
Bearer`` header); a client then receives the updates of **its own** jobs.  Emitting
``subscribe`` with ``{queue, jobId}`` answers (ack) with the job's current state,
also sent as a ``queue:job:progress`` event -- what a client does after
(re)connecting; an admin subscribing to someone else's job receives its updates
too.  A job the caller may not see answers ``{ok: false, error: "not found"}``.
"""

from __future__ import annotations

from typing import Any

import socketio  # type: ignore[import-untyped]
from starlette.datastructures import State

from workhorse.api.auth import AuthError, Principal, bearer, decode_token
from workhorse.api.hub import JobUpdate, Sink
from workhorse.api.progress import EVENT_NAME, from_job
from workhorse.app.errors import UnknownQueue
from workhorse.app.service import QueueService


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def job_room(queue: str, job_id: str) -> str:
    return f"job:{queue}:{job_id}"


def create_socket_server(secret: str, state: State) -> socketio.AsyncServer:
    """The Socket.IO server; ``state`` is the web app's state, whose ``service`` is
    set by the lifespan before the first connection is served."""
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        token = token or bearer(environ.get("HTTP_AUTHORIZATION"))
        if not token:
            raise socketio.exceptions.ConnectionRefusedError("missing token")
        try:
            principal = decode_token(secret, str(token))
        except AuthError as exc:
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        await sio.save_session(sid, {"principal": principal})
        await sio.enter_room(sid, user_room(principal.user_id))

    async def subscribe(sid: str, data: Any) -> dict[str, Any]:
        principal: Principal = (await sio.get_session(sid))["principal"]
        queue, job_id = _target(data)
        if queue is None or job_id is None:
            return {"ok": False, "error": "send {queue, jobId}"}
        service: QueueService = state.service
        try:
            job = await service.queue(queue).get_job(job_id)
        except UnknownQueue:
            job = None
        if job is None or not principal.may_see(job):
            return {"ok": False, "error": "not found"}
        if job.owner != principal.user_id:
            await sio.enter_room(sid, job_room(queue, job_id))
        current = from_job(job)
        await sio.emit(EVENT_NAME, current, to=sid)
        return {"ok": True, "state": current}

    async def unsubscribe(sid: str, data: Any) -> dict[str, Any]:
        queue, job_id = _target(data)
        if queue is not None and job_id is not None:
            await sio.leave_room(sid, job_room(queue, job_id))
        return {"ok": True}

    sio.on("connect", connect)
    sio.on("subscribe", subscribe)
    sio.on("unsubscribe", unsubscribe)
    return sio


def deliverer(sio: socketio.AsyncServer) -> Sink:
    """The hub sink sending each update to its owner's room and its watchers'."""

    async def deliver(update: JobUpdate) -> None:
        rooms = [job_room(update.queue, update.job_id)]
        if update.owner:
            rooms.append(user_room(update.owner))
        await sio.emit(EVENT_NAME, update.payload, to=rooms)

    return deliver


def _target(data: Any) -> tuple[str | None, str | None]:
    if not isinstance(data, dict):
        return None, None
    queue, job_id = data.get("queue"), data.get("jobId")
    if not isinstance(queue, str) or not isinstance(job_id, str):
        return None, None
    return queue, job_id
