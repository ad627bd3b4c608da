"""The ``workflow-tasks`` job type: run one workflow task (a reminder e-mail, a
follow-up task, a quote or invoice status change) and queue the tasks that waited
for it.

- :mod:`~workhorse_reference.workflow.payloads`: queue and job names, payload model;
- :mod:`~workhorse_reference.workflow.params`: each kind's params;
- :mod:`~workhorse_reference.workflow.state`: the task row's transitions;
- :mod:`~workhorse_reference.workflow.blocking`: a failure blocks the dependents;
- :mod:`~workhorse_reference.workflow.kinds`: what each kind does;
- :mod:`~workhorse_reference.workflow.processor`: the queue's processor.
"""

from workhorse_reference.workflow.params import (
    STATUSES,
    FollowUpParams,
    ReminderParams,
    SetStatusParams,
)
from workhorse_reference.workflow.payloads import PAYLOADS, QUEUE, RUN_JOB, WorkflowTaskPayload
from workhorse_reference.workflow.processor import WorkflowTasksProcessor

__all__ = [
    "PAYLOADS",
    "QUEUE",
    "RUN_JOB",
    "STATUSES",
    "FollowUpParams",
    "ReminderParams",
    "SetStatusParams",
    "WorkflowTaskPayload",
    "WorkflowTasksProcessor",
]
