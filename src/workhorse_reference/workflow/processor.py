"""The ``workflow-tasks`` processor: runs one task (``run`` job, ``{taskId,
userId}``), then queues the tasks that depended on it and now have every dependency
done, each with its task id as job id (so never twice), as a job delayed until the
task's ``due_at`` when that is later (at once otherwise), and marked ``queued``.

A task already done is not run again (a retry, or a duplicate job, only queues its
dependents again, which is idempotent).  A task whose dependencies are not all done
completes its job with ``status: "waiting"`` and stays as it was; it is queued when
its last dependency finishes.

A task that fails for good (bad params, a record of another user, a refused e-mail,
attempts exhausted) is marked ``failed`` and the tasks depending on it, transitively,
``blocked``, in one transaction (:mod:`workflow.blocking`).  "For good" is decided
here, where the error is caught: an ``UnrecoverableError``, or any error on the
job's last attempt -- the same rule the worker applies next (this queue has no retry
policy), so the task is failed exactly when its job is.  Deciding here rather than
in a follower of the queue's ``failed``/``deadlettered`` events keeps the task's
failure and the blocking in the transaction of the error, needs no extra process,
and loses nothing when no follower runs.  What it cannot see: a last attempt ended
from outside the handler (over its time limit, its worker lost for good, the job
cancelled) leaves the task ``running`` and its dependents ``pending``; retrying the
job from the dashboard runs it again.
"""

from __future__ import annotations

from typing import Any

from workhorse.app.processor import Processor
from workhorse.app.service import QueueService
from workhorse.errors import UnrecoverableError
from workhorse.job import TERMINAL, Job
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.types import utcnow
from workhorse_reference.emails.jobs import check_owner, enqueue_once
from workhorse_reference.emails.processor import payload_of
from workhorse_reference.mail import Mailer
from workhorse_reference.workflow import kinds, state
from workhorse_reference.workflow.params import (
    FollowUpParams,
    ReminderParams,
    SetStatusParams,
    parse_params,
)
from workhorse_reference.workflow.payloads import PAYLOADS, QUEUE, RUN_JOB, WorkflowTaskPayload

STEPS = ("start", "run", "queue next")


class WorkflowTasksProcessor(Processor[WorkflowTaskPayload]):
    """``functools.partial(WorkflowTasksProcessor, db=db, mailer=mailer)`` is a
    processor factory for ``create_app``."""

    queue = QUEUE

    def __init__(self, service: QueueService, *, db: Database, mailer: Mailer) -> None:
        super().__init__(service)
        self.db = db
        self.mailer = mailer

    async def process(self, job: Job, payload: WorkflowTaskPayload) -> Any:
        data = payload_of(job, payload, PAYLOADS)
        assert isinstance(data, WorkflowTaskPayload)
        check_owner(job, data.user_id)
        steps = self.steps(job, STEPS)
        await steps.start("start")
        task = await state.start(self.db, data.task_id, data.user_id)
        if isinstance(task, state.NotReady):
            await steps.finish(f"waiting for {len(task.waiting_for)} task(s)")
            return {"taskId": data.task_id, "status": "waiting", "waitingFor": task.waiting_for}
        already_done = task.status == "done"
        if already_done:
            result = task.result
        else:
            await steps.start("run", task.kind)
            result = await self._run(job, task)
        await steps.start("queue next")
        queued = await self.queue_dependents(task.id)
        await steps.finish(f"{len(queued)} task(s) queued")
        return {
            "taskId": task.id,
            "kind": task.kind,
            "status": "done",
            "alreadyDone": already_done,
            "result": result,
            "queued": queued,
        }

    async def _run(self, job: Job, task: state.Task) -> dict[str, Any] | None:
        """Run the task and mark it done (its result), or failed when no retry
        follows: an unrecoverable error, or the job's last attempt."""
        last_attempt = job.attempts_made + 1 >= job.attempts
        try:
            return await self._effect(task, last_attempt)
        except UnrecoverableError as exc:
            await self._fail(job, task.id, str(exc))
            raise
        except Exception as exc:
            if last_attempt:
                await self._fail(job, task.id, f"{type(exc).__name__}: {exc}")
            raise

    async def _fail(self, job: Job, task_id: str, error: str) -> None:
        blocked = await state.fail(self.db, task_id, error)
        if blocked:
            await job.log(f"failed for good; blocked {len(blocked)} task(s): {', '.join(blocked)}")

    async def _effect(self, task: state.Task, last_attempt: bool) -> dict[str, Any] | None:
        params = parse_params(task.id, task.kind, task.params)
        if isinstance(params, ReminderParams):
            sent = await kinds.send_reminder(
                self.db, self.mailer, task, params, last_attempt=last_attempt
            )

            async def record(_s: Any) -> dict[str, Any]:
                return sent

            done = await state.finish(self.db, task.id, record)
        elif isinstance(params, SetStatusParams):
            done = await state.finish(self.db, task.id, lambda s: kinds.set_status(s, task, params))
        else:
            assert isinstance(params, FollowUpParams)
            done = await state.finish(
                self.db, task.id, lambda s: kinds.create_follow_up(s, task, params)
            )
        # None: a concurrent run of the same task finished it first; report its result.
        return done if done is not None else await state.result_of(self.db, task.id)

    async def queue_dependents(self, task_id: str) -> list[str]:
        """Queue every task waiting only for ``task_id`` (at its due time, if later)."""
        queued = []
        for ready in await state.ready_dependents(self.db, task_id):
            delay = 0.0
            if ready.due_at is not None:
                delay = max(0.0, (ready.due_at - utcnow()).total_seconds())
            if delay > 0:
                await self._drop_finished_job(ready.id)
            await enqueue_once(
                self.service,
                QUEUE,
                RUN_JOB,
                {"taskId": ready.id, "userId": ready.user_id},
                job_id=ready.id,
                owner=ready.user_id,
                delay=delay,
            )
            await state.mark_queued(self.db, ready.id)
            queued.append(ready.id)
        return queued

    async def _drop_finished_job(self, task_id: str) -> None:
        """Remove the task's finished job, if any (one that ran before the task was
        ready and found it waiting): ``enqueue_once`` would retry it, which runs it
        at once, whereas a task not due yet needs a new, delayed job.  Two
        dependencies finishing together may both remove and add: each adds after
        removing, so one job remains."""
        q = self.service.queue(QUEUE)
        existing = await q.get_job(task_id)
        if existing is not None and existing.state in TERMINAL:
            await q.remove(task_id)
