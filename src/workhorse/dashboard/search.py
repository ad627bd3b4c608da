"""Job lists with filters: paging straight from the store when nothing is filtered,
and a capped scan when something is.

The stores list jobs by state and position only, so a search (by name, tag, owner,
failure reason or data) reads the state's jobs page by page, newest first, and
stops after ``limit`` jobs (``WORKHORSE_DASHBOARD_SCAN_LIMIT``, 5,000 by default);
the page says "scanned N of M" so an operator knows when older jobs were not
looked at.  A search by id is exact and cheap: one read per queue.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

from workhorse.job import Job, JobState
from workhorse.queue import Queue

SCAN_PAGE = 500
_PATH = re.compile(r"^[\w.\-]+$")
_MISSING = object()


class BadInput(ValueError):
    """A request parameter that cannot be used; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What to look for; every given criterion must match (case-insensitive).

    ``data`` is a text to find anywhere in the job's data, or ``path=value`` to
    compare one value (``filters.currency=USD``, ``reportId=40968``)."""

    id: str = ""
    name: str = ""
    tag: str = ""
    owner: str = ""
    reason: str = ""
    data: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> JobFilter:
        values = {}
        for f in fields(cls):
            value = params.get(f.name, "").strip()
            if len(value) > 500:
                raise BadInput(f.name, "at most 500 characters")
            values[f.name] = value
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def as_params(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def matches(self, job: Job) -> bool:
        return (
            (not self.id or job.id == self.id)
            and _contains(job.name, self.name)
            and (not self.tag or self.tag.lower() in (t.lower() for t in job.tags))
            and (not self.owner or (job.owner or "").lower() == self.owner.lower())
            and _contains(job.failed_reason or "", self.reason)
            and (not self.data or data_matches(job.data, self.data))
        )


def _contains(text: str, part: str) -> bool:
    return not part or part.lower() in text.lower()


def data_matches(data: Any, query: str) -> bool:
    """``path=value`` compares the value at that dotted path (as JSON, or as text);
    anything else is a text search in the data's JSON."""
    path, eq, wanted = query.partition("=")
    if eq and _PATH.match(path.strip()):
        found = _at(data, path.strip().split("."))
        return found is not _MISSING and _same(found, wanted.strip())
    text = orjson.dumps(data).decode().lower()
    return query.lower() in text


def _at(data: Any, path: Sequence[str]) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _same(found: Any, wanted: str) -> bool:
    try:
        if orjson.loads(wanted) == found:
            return True
    except orjson.JSONDecodeError:
        pass
    if isinstance(found, dict | list):
        return False
    return str(found).lower() == wanted.lower()


def sort_key(state: JobState | None) -> Callable[[Job], int]:
    """The time a merged list is ordered by: when jobs finished, are due, or were
    created."""
    if state in (JobState.COMPLETED, JobState.FAILED):
        return lambda j: j.finished_at or j.created_at
    if state is JobState.DELAYED:
        return lambda j: j.due_at or j.created_at
    return lambda j: j.created_at


@dataclass(slots=True)
class Listing:
    """One page of jobs.  ``total`` counts the matches (all jobs of the state when
    nothing is filtered); ``scanned`` of ``scannable`` says how far a search looked."""

    jobs: list[Job]
    total: int
    page: int
    per_page: int
    scanned: int = 0
    scannable: int = 0
    searched: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.jobs else 0

    @property
    def last(self) -> int:
        return self.first + len(self.jobs) - 1 if self.jobs else 0

    @property
    def capped(self) -> bool:
        return self.searched and self.scanned < self.scannable


Reader = Callable[[int, int], Awaitable[list[Job]]]


@dataclass(frozen=True, slots=True)
class Source:
    """Jobs read by position (newest first or as asked), ``size`` of them."""

    read: Reader
    size: int


def budgets(sizes: Sequence[int], limit: int) -> list[int]:
    """How many jobs to read from each source, at most ``limit`` in all: an equal
    share each, and what a small source does not need goes to the others."""
    out = [0] * len(sizes)
    left = limit
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for n, i in enumerate(order):
        out[i] = min(sizes[i], left // (len(sizes) - n))
        left -= out[i]
    return out


async def scan(
    sources: Sequence[Source], match: Callable[[Job], bool], limit: int
) -> tuple[list[Job], int]:
    """The jobs of ``sources`` (each read page by page from its start) that match,
    looking at no more than ``limit`` jobs in all (see :func:`budgets`).  Returns the
    matches and how many jobs were read."""
    matched: list[Job] = []
    scanned = 0
    for source, budget in zip(sources, budgets([s.size for s in sources], limit), strict=True):
        start = 0
        while start < budget:
            size = min(SCAN_PAGE, budget - start)
            page = await source.read(start, start + size - 1)
            scanned += len(page)
            matched.extend(j for j in page if match(j))
            if len(page) < size:
                break
            start += size
    return matched, scanned


@dataclass(frozen=True, slots=True)
class ListRequest:
    queues: Sequence[Queue]
    states: Sequence[JobState]
    flt: JobFilter
    page: int
    per_page: int
    desc: bool
    limit: int


async def list_jobs(req: ListRequest) -> Listing:
    """One page of the jobs of ``req.queues`` in ``req.states`` that match."""
    if req.flt.id:
        return await _by_id(req)
    if len(req.queues) == 1 and len(req.states) == 1 and not req.flt.active:
        return await _direct(req.queues[0], req.states[0], req)
    sources = []
    for q in req.queues:
        counts = await q.counts()
        sources += [_source(q, s, req.desc, counts.get(s, 0)) for s in req.states]
    key = sort_key(req.states[0] if len(req.states) == 1 else None)
    start = (req.page - 1) * req.per_page
    if not req.flt.active:
        # Nothing to match: the first pages of each source are enough to merge.
        newest = [await s.read(0, start + req.per_page - 1) for s in sources]
        merged = sorted((j for page in newest for j in page), key=key, reverse=req.desc)
        total = sum(s.size for s in sources)
        jobs = merged[start : start + req.per_page]
        return Listing(jobs, total, req.page, req.per_page)
    matched, scanned = await scan(sources, req.flt.matches, req.limit)
    if len(sources) > 1:  # one source is in the store's own order already
        matched.sort(key=key, reverse=req.desc)
    return Listing(
        jobs=matched[start : start + req.per_page],
        total=len(matched),
        page=req.page,
        per_page=req.per_page,
        scanned=scanned,
        scannable=sum(s.size for s in sources),
        searched=True,
    )


def _source(queue: Queue, state: JobState, desc: bool, size: int) -> Source:
    async def read(start: int, end: int) -> list[Job]:
        return await queue.list_jobs(state, start, end, desc)

    return Source(read, size)


async def _direct(queue: Queue, state: JobState, req: ListRequest) -> Listing:
    start = (req.page - 1) * req.per_page
    jobs = await queue.list_jobs(state, start, start + req.per_page - 1, req.desc)
    total = (await queue.counts()).get(state, 0)
    return Listing(jobs, total, req.page, req.per_page)


async def _by_id(req: ListRequest) -> Listing:
    found = []
    for queue in req.queues:
        job = await queue.get_job(req.flt.id)
        if job is not None and job.state in req.states and req.flt.matches(job):
            found.append(job)
    n = len(req.queues)
    return Listing(found, len(found), 1, req.per_page, n, n, True)


def dead_match(name: str, reason: str) -> Callable[[Job], bool]:
    """The dead letters that ``Queue.redrive_all(name, reason)`` would redrive: the
    job name is ``name`` (exactly) and the failure reason contains ``reason``."""

    def match(job: Job) -> bool:
        return (not name or job.name == name) and (
            not reason or reason in (job.failed_reason or "")
        )

    return match


def _dead_source(queue: Queue, size: int) -> Source:
    async def read(start: int, end: int) -> list[Job]:
        return await queue.dead_letters(start, end, desc=True)

    return Source(read, size)


async def dead_listing(
    queues: Sequence[Queue], name: str, reason: str, page: int, per_page: int, limit: int
) -> Listing:
    """One page of the dead letters of ``queues`` that match, newest first."""
    start = (page - 1) * per_page
    counts = [await q.dead_letter_count() for q in queues]
    if len(queues) == 1 and not name and not reason:
        jobs = await queues[0].dead_letters(start, start + per_page - 1)
        return Listing(jobs, counts[0], page, per_page)
    sources = [_dead_source(q, n) for q, n in zip(queues, counts, strict=True)]
    matched, scanned = await scan(sources, dead_match(name, reason), limit)
    matched.sort(key=lambda j: j.dead_lettered_at or 0, reverse=True)
    return Listing(
        jobs=matched[start : start + per_page],
        total=len(matched),
        page=page,
        per_page=per_page,
        scanned=scanned,
        scannable=sum(counts),
        searched=True,
    )
