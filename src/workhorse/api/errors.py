"""Mapping of application errors to HTTP answers: unknown queue or job → 404, a bad
payload → 422 naming each field (FastAPI's own ``detail`` shape)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from workhorse.app.errors import PayloadInvalid, UnknownQueue
from workhorse.errors import JobNotFound


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnknownQueue)
    async def unknown_queue(_: Request, exc: UnknownQueue) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(JobNotFound)
    async def unknown_job(_: Request, exc: JobNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"job {exc.job_id!r} not found"}, status_code=404)

    @app.exception_handler(PayloadInvalid)
    async def bad_payload(_: Request, exc: PayloadInvalid) -> JSONResponse:
        detail = [
            {"loc": ["body", *e["field"].split(".")], "msg": e["message"], "type": "payload"}
            for e in exc.errors
        ]
        return JSONResponse({"detail": detail}, status_code=422)
