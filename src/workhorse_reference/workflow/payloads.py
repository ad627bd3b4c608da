"""The ``workflow-tasks`` queue's names and payload model (the model is the app
layer's contract, :mod:`workhorse.app.payloads`)."""

from __future__ import annotations

from pydantic import BaseModel

from workhorse.app.payloads import WorkflowTaskPayload
from workhorse.app.queues import RUN_TASK_JOB, WORKFLOW_TASKS

QUEUE = WORKFLOW_TASKS
#: Runs one workflow task: ``{taskId, userId}``; its job id is the task id.
RUN_JOB = RUN_TASK_JOB

#: The payload model of each job name (as in the queue's registry entry).
PAYLOADS: dict[str, type[BaseModel]] = {RUN_JOB: WorkflowTaskPayload}

__all__ = ["PAYLOADS", "QUEUE", "RUN_JOB", "WorkflowTaskPayload"]
