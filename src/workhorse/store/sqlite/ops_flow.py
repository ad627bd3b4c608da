"""Flows on the embedded store: one file holds every queue, so a whole flow is added,
and a child's end recorded on its parent, in one transaction (``Tx.on`` gives the
same transaction's view of another queue)."""

from __future__ import annotations

from collections.abc import Sequence

from workhorse.store.base import FlowNode, split_ref
from workhorse.store.sqlite.ops_worker import add
from workhorse.store.sqlite.tx import Tx, marks


def add_flow(tx: Tx, nodes: Sequence[FlowNode]) -> list[bool]:
    out: list[bool] = []
    for node in nodes:
        sub = tx.on(node.queue)
        ((job_id, created),) = add(sub, [node.job], hold=bool(node.children))
        out.append(created)
        if not created:
            continue
        if node.children and node.job.delay_ms > 0:
            sub.conn.execute(
                "UPDATE jobs SET hold_delay = ? WHERE queue = ? AND id = ?",
                (node.job.delay_ms, sub.queue, job_id),
            )
        if node.parent_id:
            sub.conn.execute(
                "UPDATE jobs SET pq = ?, pid = ?, fpf = ? WHERE queue = ? AND id = ?",
                (node.parent_queue, node.parent_id, int(node.fail_parent), sub.queue, job_id),
            )
        sub.conn.executemany(
            "INSERT OR IGNORE INTO children (queue, parent, ref, state) "
            "VALUES (?, ?, ?, 'pending')",
            [(sub.queue, job_id, ref) for ref in node.children],
        )
    return out


def pending_children(tx: Tx, job_id: str) -> list[str]:
    rows = tx.conn.execute(
        "SELECT ref FROM children WHERE queue = ? AND parent = ? AND state = 'pending' "
        "ORDER BY ref",
        (tx.queue, job_id),
    )
    return [str(ref) for (ref,) in rows]


def awaited(tx: Tx, parents: Sequence[str]) -> list[tuple[Tx, str]]:
    """The children the ``parents`` (ids in ``tx.queue``) still wait for, each as
    ``(its queue's Tx, its id)``."""
    out = []
    for i in range(0, len(parents), 500):
        chunk = parents[i : i + 500]
        for (ref,) in tx.conn.execute(
            f"SELECT ref FROM children WHERE queue = ? AND parent IN ({marks(len(chunk))}) "
            "AND state = 'pending' ORDER BY parent, ref",
            (tx.queue, *chunk),
        ):
            queue, child = split_ref(str(ref))
            out.append((tx.on(queue), child))
    return out


def children_results(tx: Tx, job_id: str) -> tuple[dict[str, bytes], dict[str, str]]:
    values: dict[str, bytes] = {}
    failures: dict[str, str] = {}
    for ref, state, value in tx.conn.execute(
        "SELECT ref, state, value FROM children WHERE queue = ? AND parent = ? "
        "AND state != 'pending'",
        (tx.queue, job_id),
    ):
        if state == "c":
            values[str(ref)] = str(value).encode()
        else:
            failures[str(ref)] = str(value)
    return values, failures
