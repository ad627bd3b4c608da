"""Flows: a parent job that waits for its children, possibly in other queues.

    await add_flow(store, FlowJob("reports", "merge", {...}, children=[
        FlowJob("exports", "export", {"part": 1}),
        FlowJob("exports", "export", {"part": 2}, fail_parent_on_failure=False),
    ]))

The parent is stored in state ``waiting-children`` and becomes ready once every child
has finished; its handler reads their results with ``await job.children_values()``
(``{"queue:id": result}``) and ``await job.children_failures()``.  A child that fails
for good fails its parent at once (reason ``child <queue:id> failed: <reason>``)
unless it was added with ``fail_parent_on_failure=False``: then it counts as finished
and its reason is in ``children_failures()``.  Children may have children (any depth).

Design
------
* **Adding** is one step per job, parents before children, each carrying its id, and
  the whole flow is applied at once: on Redis the steps go in one MULTI/EXEC
  transaction (all of them or, if the producer dies before EXEC, none; no other
  client sees a parent without its children), on the embedded store in one
  transaction.  A parent is stored with the refs of the children it waits for, so a
  child that finishes at once always finds it.  A step for an id that exists changes
  nothing, so ``add_flow`` is idempotent: ids are the given ``job_id``\\ s, or
  derived from the root's (``<root>.0``, ``<root>.0.1`` ...); give the root a
  ``job_id`` and a producer that lost the reply can call again safely.  (The queues
  of a flow must live on one Redis node: MULTI/EXEC does not span cluster nodes.)
* **A child's end** is recorded in the step that finishes it (complete, fail for
  good, stall out, cancel) as a notice in the child queue's *outbox*.  The store then
  delivers it to the parent's queue in a second step, which removes the child's ref
  from the parent's pending set -- a repeated notice finds the ref gone and changes
  nothing -- stores the result, and makes the parent ready (none pending) or fails
  it.  Only then is the notice deleted.  A process that dies in between leaves the
  notice, and every worker's periodic stalled-job check delivers what it finds, so a
  parent is never left waiting for a child that has finished.  A parent failed this
  way notifies its own parent the same way.

A child deleted before it finished (remove, clean, drain) or cancelled counts as
failed, with reason ``removed`` / ``cancelled``, so its parent never waits forever.

A parent's ``delay`` runs from the moment its children are done (it then waits in
``delayed``, with a ``delayed`` event), not from when the flow was added.

Not covered (yet): obliterating a queue leaves parents elsewhere waiting for its
unfinished jobs; removing or retrying a parent does not touch its children.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workhorse.job import Job, JobState
from workhorse.options import JobOptions
from workhorse.queue import Queue
from workhorse.store.base import FlowNode, Store, check_queue_name, job_ref


@dataclass(frozen=True, slots=True)
class FlowJob:
    """One job of a flow and its children.  ``fail_parent_on_failure``: this job's
    failure (for good) fails its parent; False lets the parent go on."""

    queue: str
    name: str
    data: Any = None
    options: JobOptions | None = None
    children: Sequence[FlowJob] = ()
    fail_parent_on_failure: bool = True


@dataclass(slots=True)
class FlowTree:
    """The jobs of an added flow, shaped like the :class:`FlowJob` tree."""

    job: Job
    children: list[FlowTree] = field(default_factory=list)
    created: bool = True


async def add_flow(store: Store, flow: FlowJob) -> FlowTree:
    """Add a parent with its children (see the module doc); returns the jobs.  Every
    job is validated before anything is stored."""
    root_id = flow.options.job_id if flow.options and flow.options.job_id else None
    nodes: list[FlowNode] = []
    tree = _plan(store, flow, root_id or f"flow-{uuid.uuid4().hex}", None, nodes)
    created = await store.add_flow(nodes)
    _mark_created(tree, iter(created))
    return tree


def _plan(
    store: Store,
    flow: FlowJob,
    job_id: str,
    parent: tuple[str, str] | None,
    nodes: list[FlowNode],
) -> FlowTree:
    """Validate ``flow`` and append its nodes to ``nodes``, parents first."""
    for child in flow.children:
        if not isinstance(child, FlowJob):
            raise ValueError(f"children must be FlowJob instances, got {child!r}")
    check_queue_name(flow.queue)
    queue = Queue(flow.queue, store)
    base = flow.options or queue.default_options
    if base.job_id:
        job_id = base.job_id
    opts = dataclasses.replace(base, job_id=job_id)
    new = queue._new_job(flow.name, flow.data, opts)
    child_ids = [
        (c.options.job_id if c.options and c.options.job_id else f"{job_id}.{i}")
        for i, c in enumerate(flow.children)
    ]
    nodes.append(
        FlowNode(
            queue=flow.queue,
            job=new,
            parent_queue=parent[0] if parent else "",
            parent_id=parent[1] if parent else "",
            fail_parent=flow.fail_parent_on_failure,
            children=tuple(
                job_ref(c.queue, cid) for c, cid in zip(flow.children, child_ids, strict=True)
            ),
        )
    )
    job = queue._local_job(job_id, flow.name, flow.data, opts)
    if flow.children:
        job.state = JobState.WAITING_CHILDREN
    tree = FlowTree(job)
    for child, cid in zip(flow.children, child_ids, strict=True):
        tree.children.append(_plan(store, child, cid, (flow.queue, job_id), nodes))
    return tree


def _mark_created(tree: FlowTree, created: Any) -> None:
    tree.created = next(created)
    for child in tree.children:
        _mark_created(child, created)
