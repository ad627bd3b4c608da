"""The dashboard's pages (GET only: nothing here changes anything)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response, StreamingResponse

from workhorse.app.errors import UnknownQueue
from workhorse.dashboard.guard import (
    dashboard_of,
    finish_page,
    page_context,
    service_of,
    session_of,
    settings_of,
    to_login,
)
from workhorse.dashboard.render import json_script
from workhorse.dashboard.search import BadInput, JobFilter, ListRequest, dead_listing, list_jobs
from workhorse.dashboard.session import BASE, Session, same_token
from workhorse.dashboard.stats import STATE_ORDER, WINDOW_S, summarize_all
from workhorse.dashboard.views import actions_for, job_page
from workhorse.job import JobState
from workhorse.queue import Queue
from workhorse.schedule import list_schedules


def _mark_live_position(request: Request) -> None:
    """Note the live feed's position before the page reads the store: events after
    it are replayed to the page, so none can fall between its data and its feed."""
    request.state.live_after = dashboard_of(request).feed.position()


router = APIRouter(include_in_schema=False, dependencies=[Depends(_mark_live_position)])
PER_PAGE = (10, 25, 50, 100)
ALL = "all"


def render(
    request: Request, session: Session, template: str, status: int = 200, **context: Any
) -> Response:
    html = dashboard_of(request).renderer.html(
        template, page_context(request, session, **context), status
    )
    return finish_page(request, html)


def error_page(request: Request, session: Session, status: int, message: str) -> Response:
    return render(request, session, "error.html", status, code=status, message=message)


async def posted_form(request: Request) -> tuple[Session, FormData] | Response:
    """The session and form of a dashboard POST, or the answer refusing it: 401
    without a session, 403 without the session's CSRF token (form field ``csrf`` or
    header ``X-CSRF-Token``)."""
    session = session_of(request)
    if session is None:
        return Response("log in first", status_code=401)
    form = await request.form()
    given = str(form.get("csrf", "")) or request.headers.get("x-csrf-token")
    if not same_token(session.csrf, given):
        return error_page(
            request, session, 403, "csrf: missing or wrong token; reload the page and try again"
        )
    return session, form


@router.get(BASE)
async def overview(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    service = service_of(request)
    summaries = await summarize_all(service.queues)
    totals = {s.value: sum(q.counts[s.value] for q in summaries) for s in STATE_ORDER}
    workers = await service.store.workers()
    return render(
        request,
        session,
        "overview.html",
        nav="overview",
        summaries=summaries,
        totals=totals,
        dead_total=sum(q.dead for q in summaries),
        workers=workers,
        states=STATE_ORDER,
        counts_json=json_script({q.name: q.counts for q in summaries}),
        window_min=WINDOW_S // 60,
    )


def _queues(request: Request, name: str) -> list[Queue]:
    service = service_of(request)
    if not name:
        return service.queues
    try:
        return [service.queue(name)]
    except UnknownQueue as exc:
        raise BadInput("queue", str(exc)) from None


def _int(params: Mapping[str, str], name: str, default: int, allowed: range) -> int:
    raw = params.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) not in allowed:
        raise BadInput(name, f"must be a whole number from {allowed.start} to {allowed.stop - 1}")
    return int(raw)


def _states(raw: str) -> list[JobState]:
    if raw in ("", ALL):
        return list(STATE_ORDER)
    try:
        return [JobState(raw)]
    except ValueError:
        known = ", ".join([ALL, *(s.value for s in STATE_ORDER)])
        raise BadInput("state", f"unknown state {raw!r}; known: {known}") from None


def _list_request(request: Request) -> tuple[ListRequest, dict[str, str]]:
    p = request.query_params
    order = p.get("order", "desc")
    if order not in ("desc", "asc"):
        raise BadInput("order", "must be desc (newest first) or asc (oldest first)")
    per_page = _int(p, "per_page", 25, range(1, 101))
    if per_page not in PER_PAGE:
        raise BadInput("per_page", f"must be one of {', '.join(map(str, PER_PAGE))}")
    req = ListRequest(
        queues=_queues(request, p.get("queue", "")),
        states=_states(p.get("state", "")),
        flt=JobFilter.from_params(p),
        page=_int(p, "page", 1, range(1, 1_000_000)),
        per_page=per_page,
        desc=order == "desc",
        limit=settings_of(request).dashboard_scan_limit,
    )
    params = {
        "queue": p.get("queue", ""),
        "state": p.get("state", "") if p.get("state") != ALL else "",
        "order": "" if order == "desc" else order,
        "per_page": "" if per_page == 25 else str(per_page),
        **req.flt.as_params(),
    }
    return req, params


@router.get(BASE + "/jobs")
async def jobs(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    try:
        req, params = _list_request(request)
    except BadInput as exc:
        return error_page(request, session, 400, str(exc))
    listing = await list_jobs(req)
    per_queue = {q.name: await q.counts() for q in req.queues}
    counts = {s.value: sum(c.get(s, 0) for c in per_queue.values()) for s in STATE_ORDER}
    single = req.queues[0] if params["queue"] else None
    template = "_jobs_table.html" if request.query_params.get("fragment") else "jobs.html"
    return render(
        request,
        session,
        template,
        nav="jobs",
        listing=listing,
        params=params,
        queue=params["queue"],
        paused=await single.is_paused() if single else False,
        state=params["state"] or ALL,
        counts=counts,
        counts_json=json_script(
            {name: {s.value: n for s, n in c.items()} for name, c in per_queue.items()}
        ),
        states=STATE_ORDER,
        flt=req.flt,
        actions_for=actions_for,
        per_page_options=PER_PAGE,
    )


@router.get(BASE + "/job/{queue}/{job_id:path}")
async def job(request: Request, queue: str, job_id: str) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    try:
        q = service_of(request).queue(queue)
    except UnknownQueue as exc:
        return error_page(request, session, 404, str(exc))
    found = await q.get_job(job_id)
    if found is None:
        message = f"no job {job_id!r} in queue {queue!r} (never added, or removed)"
        return error_page(request, session, 404, message)
    page = await job_page(q, found)
    template = "_job_detail.html" if request.query_params.get("fragment") else "job.html"
    return render(request, session, template, nav="jobs", page=page, job=found, queue=queue)


@router.get(BASE + "/dead")
async def dead(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    p = request.query_params
    try:
        queues = _queues(request, p.get("queue", ""))
        page = _int(p, "page", 1, range(1, 1_000_000))
    except BadInput as exc:
        return error_page(request, session, 400, str(exc))
    name, reason = p.get("name", "").strip(), p.get("reason", "").strip()
    limit = settings_of(request).dashboard_scan_limit
    listing = await dead_listing(queues, name, reason, page, 25, limit)
    params = {"queue": p.get("queue", ""), "name": name, "reason": reason}
    template = "_dead_table.html" if p.get("fragment") else "dead.html"
    return render(
        request,
        session,
        template,
        nav="dead",
        listing=listing,
        params=params,
        queue=params["queue"],
    )


@router.get(BASE + "/schedules")
async def schedules(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    queue = request.query_params.get("queue", "")
    everything = await list_schedules(service_of(request).store)
    return render(
        request,
        session,
        "schedules.html",
        nav="schedules",
        schedules=[s for s in everything if not queue or s.queue == queue],
        schedule_queues=sorted({s.queue for s in everything}),
        queue=queue,
    )


@router.get(BASE + "/audit")
async def audit(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_login(request)
    entries = await request.app.state.audit.recent(200)
    return render(request, session, "audit.html", nav="audit", entries=entries)


@router.get(BASE + "/live")
async def live(request: Request) -> Response:
    """Server-Sent Events for the open page (see :mod:`workhorse.dashboard.live`)."""
    if session_of(request) is None:
        return Response("log in first", status_code=401)
    feed = dashboard_of(request).feed
    last = request.headers.get("last-event-id") or request.query_params.get("after")
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(feed.stream(last), media_type="text/event-stream", headers=headers)


@router.get(BASE + "/static/{name}")
async def static(request: Request, name: str) -> Response:
    asset = dashboard_of(request).renderer.asset(name)
    if asset is None:
        return Response("not found", status_code=404)
    body, media_type = asset
    return Response(
        body,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
