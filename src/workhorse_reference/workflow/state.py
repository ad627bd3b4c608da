"""A workflow task's row through its run: ``pending``/``queued`` -> ``running`` ->
``done`` (with its ``result``) | ``failed``; a task depending on a failed one is
``blocked`` (see ``workflow.blocking``), and a failed task whose job is retried runs
again (``failed`` -> ``running``).

Every change is a conditional ``UPDATE`` as its transaction's first statement, so
two runs of one task (a retry overlapping a stalled attempt, a duplicate job) agree
on the row: only one can move it to ``done``.  A task's database effect (a status
change, a follow-up task) is applied in the same transaction that marks it done, so
it happens exactly once; a reminder e-mail cannot be in a transaction and goes
through the scheduled e-mails' claim instead (see ``workflow.kinds``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import exists, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.expression import Exists

from workhorse.errors import UnrecoverableError
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import TaskDependency, WorkflowTask
from workhorse_reference.domain.types import utcnow
from workhorse_reference.workflow import blocking

T = WorkflowTask
Effect = Callable[[AsyncSession], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Task:
    """What a run needs of its task."""

    id: str
    user_id: str
    kind: str
    title: str
    params: dict[str, Any]
    status: str
    result: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class NotReady:
    """Tasks this one still waits for (not ``done`` yet)."""

    waiting_for: list[str]


def _task(row: WorkflowTask) -> Task:
    return Task(row.id, row.user_id, row.kind, row.title, dict(row.params), row.status, row.result)


def _open_dependencies(task: str | InstrumentedAttribute[str]) -> Exists:
    """``EXISTS`` a dependency of ``task`` (an id, or the outer query's task id
    column) that is not done."""
    dep, other = aliased(TaskDependency), aliased(WorkflowTask)
    return exists(
        select(dep.task_id)
        .join(other, other.id == dep.depends_on_id)
        .where(dep.task_id == task, other.status != "done")
    )


async def _rowcount(session: AsyncSession, stmt: Update) -> int:
    result = cast("CursorResult[Any]", await session.execute(stmt))
    return int(result.rowcount)


async def start(db: Database, task_id: str, user_id: str) -> Task | NotReady:
    """Move the task to ``running`` when every task it depends on is done.  Returns
    the task (``running``, or ``done`` when an earlier run finished it) or what it
    waits for; ``UnrecoverableError`` when it does not exist, is not the user's, or
    is blocked.

    A ``failed`` task runs again: its job only runs after failing for good when
    someone asked (a dashboard retry, a redrive), and a success then unblocks its
    dependents (:func:`finish`)."""
    stmt = (
        update(T)
        .where(
            T.id == task_id,
            T.user_id == user_id,
            T.status.in_(("pending", "queued", "failed")),
            ~_open_dependencies(task_id),
        )
        .values(status="running")
        .execution_options(synchronize_session=False)
    )
    async with db.session() as s:
        await _rowcount(s, stmt)
        row = await s.get(T, task_id, populate_existing=True)
        if row is None or row.user_id != user_id:
            raise UnrecoverableError(f"workflow task {task_id!r} of user {user_id!r} not found")
        task = _task(row)
        if task.status in ("pending", "queued"):
            return NotReady(await _waiting_for(s, task_id))
    if task.status in ("running", "done"):
        return task
    reason = (task.result or {}).get("reason", "")
    raise UnrecoverableError(f"workflow task {task_id!r} is {task.status}: {reason}".rstrip(": "))


async def _waiting_for(s: AsyncSession, task_id: str) -> list[str]:
    stmt = (
        select(T.id)
        .join(TaskDependency, TaskDependency.depends_on_id == T.id)
        .where(TaskDependency.task_id == task_id, T.status != "done")
        .order_by(T.id)
    )
    return list((await s.execute(stmt)).scalars())


async def finish(db: Database, task_id: str, effect: Effect) -> dict[str, Any] | None:
    """Mark the running task done and apply ``effect`` in the same transaction; its
    return value is the task's result.  The tasks it blocked when it failed before
    are unblocked in that transaction too.  None when another run finished it
    first.  When ``effect`` raises, nothing is changed."""
    async with db.session() as s:
        mark = (
            update(T)
            .where(T.id == task_id, T.status == "running")
            .values(status="done", done_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if await _rowcount(s, mark) != 1:
            return None
        result = await effect(s)
        await s.execute(
            update(T)
            .where(T.id == task_id)
            .values(result=result)
            .execution_options(synchronize_session=False)
        )
        await blocking.unblock_dependents(s, task_id)
    return result


async def result_of(db: Database, task_id: str) -> dict[str, Any] | None:
    async with db.session() as s:
        row = await s.get(T, task_id)
    return None if row is None else row.result


async def fail(db: Database, task_id: str, error: str) -> list[str] | None:
    """Mark the running task failed for good, keeping the error in its result, and
    block every task depending on it, in one transaction.  The blocked tasks' ids;
    None when the task was not running (a concurrent run finished it)."""
    async with db.session() as s:
        mark = (
            update(T)
            .where(T.id == task_id, T.status == "running")
            .values(status="failed", result={"error": error})
            .execution_options(synchronize_session=False)
        )
        if await _rowcount(s, mark) != 1:
            return None
        return await blocking.block_dependents(s, task_id, error)


@dataclass(frozen=True, slots=True)
class Ready:
    id: str
    user_id: str
    due_at: dt.datetime | None


async def ready_dependents(db: Database, task_id: str) -> list[Ready]:
    """The ``pending`` tasks that depend on ``task_id`` and on nothing not done."""
    stmt = (
        select(T.id, T.user_id, T.due_at)
        .join(TaskDependency, TaskDependency.task_id == T.id)
        .where(
            TaskDependency.depends_on_id == task_id,
            T.status == "pending",
            ~_open_dependencies(T.id),
        )
        .order_by(T.id)
    )
    async with db.session() as s:
        return [Ready(r.id, r.user_id, r.due_at) for r in await s.execute(stmt)]


async def mark_queued(db: Database, task_id: str) -> bool:
    """``pending`` -> ``queued`` (False when its run already started)."""
    async with db.session() as s:
        stmt = (
            update(T)
            .where(T.id == task_id, T.status == "pending")
            .values(status="queued")
            .execution_options(synchronize_session=False)
        )
        return await _rowcount(s, stmt) == 1
