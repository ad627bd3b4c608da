"""Failures propagate along the dependencies.

A task that failed for good can never be done, so every task depending on it,
directly or through others, can never run: they are marked ``blocked`` with
``result = {"blockedBy": <failed task id>, "reason": ...}`` in the transaction that
marks the task failed (:func:`workflow.state.fail`).  Only ``pending`` and ``queued``
tasks are blocked: a dependent cannot have started, since it waits for the failed
one.

A failed task may run again (its job retried from the dashboard, or redriven from
the dead letters).  When it succeeds, the tasks it blocked are ``pending`` again, in
the transaction that marks it done (:func:`workflow.state.finish`), and are queued as
usual as their dependencies finish -- except those that still depend on another
failed task, which are blocked by that one instead.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import null, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from workhorse_reference.domain.models import TaskDependency, WorkflowTask

T = WorkflowTask
BLOCKED = "blocked"
_BLOCKABLE = ("pending", "queued")


def blocked_result(failed_id: str, error: str) -> dict[str, Any]:
    """The ``result`` of a task blocked by task ``failed_id``, failed with ``error``."""
    reason = f"depends on task {failed_id}, which failed"
    return {"blockedBy": failed_id, "reason": f"{reason}: {error}" if error else reason}


async def block_dependents(s: AsyncSession, failed_id: str, error: str) -> list[str]:
    """Block every task depending on ``failed_id``, transitively; their ids."""
    result = blocked_result(failed_id, error)
    blocked: list[str] = []
    frontier = [failed_id]
    while frontier:  # one level of dependents per round; blocked ones are not taken again
        stmt = (
            update(T)
            .where(
                T.status.in_(_BLOCKABLE),
                T.id.in_(
                    select(TaskDependency.task_id).where(TaskDependency.depends_on_id.in_(frontier))
                ),
            )
            .values(status=BLOCKED, result=result)
            .returning(T.id)
            .execution_options(synchronize_session=False)
        )
        frontier = sorted((await s.execute(stmt)).scalars())
        blocked.extend(frontier)
    return blocked


async def unblock_dependents(s: AsyncSession, done_id: str) -> None:
    """The tasks blocked by ``done_id`` (now done) back to ``pending``, except those
    still depending on another failed task, which it blocks instead."""
    stmt = (
        update(T)
        .where(T.status == BLOCKED, T.result["blockedBy"].as_string() == done_id)
        .values(status="pending", result=null())
        .returning(T.id)
        .execution_options(synchronize_session=False)
    )
    freed = set((await s.execute(stmt)).scalars())
    # Each round blocks the freed tasks with a failed or blocked dependency; a task
    # blocked in one round may block others in the next.
    while freed:
        again = await _blocked_by_a_dependency(s, freed)
        if not again:
            return
        for task_id, result in again.items():
            await s.execute(
                update(T)
                .where(T.id == task_id)
                .values(status=BLOCKED, result=result)
                .execution_options(synchronize_session=False)
            )
        freed -= again.keys()


async def _blocked_by_a_dependency(
    s: AsyncSession, task_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Of ``task_ids``, those with a failed or blocked dependency, and the result
    that blocks them (by the failed task, or by whatever blocks the dependency)."""
    other = aliased(T)
    rows = await s.execute(
        select(TaskDependency.task_id, other.id, other.status, other.result)
        .join(other, other.id == TaskDependency.depends_on_id)
        .where(TaskDependency.task_id.in_(task_ids), other.status.in_(("failed", BLOCKED)))
        .order_by(TaskDependency.task_id, other.id)
    )
    found: dict[str, dict[str, Any]] = {}
    for task_id, dep_id, status, result in rows:
        if status == "failed":
            blocking = blocked_result(dep_id, str((result or {}).get("error", "")))
        else:
            blocking = dict(result or blocked_result(dep_id, ""))
        found.setdefault(task_id, blocking)
    return found
